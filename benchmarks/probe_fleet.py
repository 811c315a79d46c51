"""The fleet benchmark's profile: where one ``netdiag scan`` of the test fleet spends its time.

``python -m benchmarks.probe_fleet [HOSTS]`` starts the same fleet as ``fleet.py``
and runs the scan's phases in this process, timing each: importing netdiag,
the parallel collection, rules, terminal text, HTML; then the per-host
collection time and the script's slowest steps as the hosts reported them.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path


def main() -> None:
    hosts = int(sys.argv[1]) if len(sys.argv) > 1 else 40
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.nsfleet import Fleet

    fleet = Fleet.start(plain=hosts)
    try:
        config = fleet.root / "probe-ssh-config"
        config.touch()
        t0 = time.perf_counter()
        from netdiag.engine import run_rules
        from netdiag.inventory import Target
        from netdiag.render.html import render_html
        from netdiag.render.terminal import render_text
        from netdiag.scan import ScanOptions, scan_result
        from netdiag.transport.ssh import SshOptions

        t1 = time.perf_counter()
        options = ScanOptions(
            forks=20,
            netns="host",
            ssh=SshOptions(
                user="root",
                key_file=str(fleet.client_key),
                known_hosts=str(fleet.known_hosts),
                config_file=str(config),
            ),
        )
        targets = [Target(name=h.address, host=h.address) for h in fleet.plain]
        result = scan_result(targets, options)
        t2 = time.perf_counter()
        result.findings = run_rules(result.hosts)
        t3 = time.perf_counter()
        render_text(result)
        t4 = time.perf_counter()
        render_html(result)
        t5 = time.perf_counter()
        print(
            f"import {t1 - t0:.3f}s  scan {t2 - t1:.3f}s  rules {t3 - t2:.3f}s  text {t4 - t3:.3f}s  "
            f"html {t5 - t4:.3f}s  (outcomes: {sorted({h.outcome.value for h in result.hosts})})"
        )
        per_host = [h.seconds for h in result.hosts]
        print(f"per-host seconds: median {statistics.median(per_host):.3f} max {max(per_host):.3f}")
        steps: dict[str, list[float]] = defaultdict(list)
        total: list[float] = []
        for h in result.hosts:
            snap = h.latest
            if snap is None:
                continue
            total.append(snap.collection.seconds)
            for c in snap.collection.commands:
                steps[c.name].append(c.seconds)
        print(f"script run as seen by the transport: median {statistics.median(total):.3f}s")
        top = sorted(steps.items(), key=lambda kv: -statistics.median(kv[1]))[:8]
        print("script steps (median s): " + ", ".join(f"{k} {statistics.median(v):.2f}" for k, v in top))
    finally:
        fleet.stop()


if __name__ == "__main__":
    main()
