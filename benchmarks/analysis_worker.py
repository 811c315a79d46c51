"""The netdiag side of the analysis benchmark, run as its own process so its peak RSS is its own.

``python -m benchmarks.analysis_worker ss FILE``: ``parse_ss`` an ``ss -tanoe`` listing
from the open file (it reads in blocks), wrap the sockets in a snapshot and run every rule.
``... collection FILE``: the same from a whole ``collect.sh`` output through
``assemble`` (sections, fd-map owner join, /proc files) instead.
Prints one JSON line of phase timings; ``--profile OUT`` writes cProfile stats.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import time
from pathlib import Path

from benchmarks.measure import peak_rss_mib
from netdiag.engine import run_rules
from netdiag.model import Collection, HostInfo, Snapshot, SocketTable
from netdiag.parsers.ss import parse_ss
from netdiag.results import HostResult, Outcome


def work(mode: str, path: Path) -> dict[str, float]:
    t0 = time.perf_counter()
    host = HostInfo(name="big", address="big", collected_at="2024-01-01T00:00:00Z")
    if mode == "ss":
        # parse_ss reads the open file in blocks (the listing is never held whole beside
        # its records), so reading is part of parse_s here and read_s is only the open.
        # newline="": the text as it came, as a scan hands it over (assemble's section
        # reader); text mode's newline translation would add 0.28 s that no scan pays.
        with path.open(newline="") as listing:
            t1 = time.perf_counter()
            parsed = parse_ss(listing)
        # parse_ss gives a SocketTable: kept as it is (tuple() would make every Socket).
        snap = Snapshot(host=host, sockets=parsed.records, collection=Collection(socket_source="ss"))
        warnings = len(parsed.warnings)
        del parsed
    else:
        # imported here: the ss mode is charged for no more than it runs
        from netdiag.collectors.assemble import assemble

        output = path.read_bytes()  # bytes, as the transport hands a scan's output over
        t1 = time.perf_counter()
        snap = assemble(output, host, "2024-01-01T00:00:00Z")
        del output
        warnings = len(snap.collection.warnings)
    t2 = time.perf_counter()
    findings = run_rules([HostResult(name="big", address="big", outcome=Outcome.OK, samples=(snap,))])
    t3 = time.perf_counter()
    errors = sum(1 for f in findings if f.rule == "rule_error")
    return {
        "read_s": t1 - t0,
        "parse_s": t2 - t1,
        "rules_s": t3 - t2,
        "sockets": float(len(snap.sockets)),
        "owned": float(_owned(snap)),
        "warnings": float(warnings),
        "findings": float(len(findings)),
        "rule_errors": float(errors),
        "maxrss_mib": peak_rss_mib(),
    }


def _owned(snap: Snapshot) -> int:
    """Sockets with an owner, counted from the table's owner column (not by building every row)."""
    sockets = snap.sockets
    if isinstance(sockets, SocketTable):
        return len(sockets.owners)
    return sum(1 for s in sockets if s.owners)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("ss", "collection"))
    ap.add_argument("file", type=Path)
    ap.add_argument("--profile", type=Path)
    args = ap.parse_args()
    if args.profile:
        prof = cProfile.Profile()
        result = prof.runcall(work, args.mode, args.file)
        prof.dump_stats(str(args.profile))
    else:
        result = work(args.mode, args.file)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
