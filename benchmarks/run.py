"""The one benchmark command: ``python -m benchmarks [analysis report host fleet] [--rounds N] [--quick]``.

It builds what each benchmark needs (generated listings, a 200,000-socket
namespace host, a fleet of namespace hosts with sshd, a venv of baseline
tools), runs netdiag and the baselines alternately for several rounds, and
prints every ratio with its median, min and max, plus peak memory. Needs root
for ``host`` and ``fleet`` (network namespaces). The last report is also
written to ``<cache>/last-run.txt``.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.baselines import cache_dir
from benchmarks.measure import Ratio

ALL = ("analysis", "report", "host", "fleet")


def _machine() -> str:
    load = os.getloadavg()
    mem = ""
    try:
        with Path("/proc/meminfo").open() as f:
            mem = f.readline().split()[1]
        mem = f", {int(mem) // 1024} MiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    cpu = platform.processor() or platform.machine()
    try:
        with Path("/proc/cpuinfo").open() as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load avg at start {load[0]:.1f}/{load[1]:.1f}/{load[2]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    ap.add_argument("which", nargs="*", help="benchmarks to run (default: all)")
    ap.add_argument("--rounds", type=int, help="rounds per benchmark (default 5, --quick 2)")
    ap.add_argument(
        "--quick",
        action="store_true",
        help="a first pass: smaller inputs (200k sockets, 40k-socket host, 10 hosts), 2 rounds",
    )
    ap.add_argument(
        "--sockets", type=int, help="analysis: sockets in the generated listing (default 1,000,000)"
    )
    ap.add_argument("--host-sockets", type=int, help="host: TCP sockets in the namespace (default 200,000)")
    ap.add_argument("--hosts", type=int, help="fleet: namespace hosts (default 40)")
    ap.add_argument("--no-jc", action="store_true", help="analysis: skip the jc baseline")
    ap.add_argument("--no-ansible", action="store_true", help="fleet: skip the ansible baseline")
    args = ap.parse_args(argv)
    which = [w for w in ALL if w in args.which] if args.which else list(ALL)
    rounds = args.rounds or (2 if args.quick else 5)
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        f"netdiag benchmarks, {started}",
        f"machine: {_machine()}",
        f"command: python -m benchmarks {shlex.join(argv if argv is not None else sys.argv[1:])}",
        f"rounds: {rounds}",
    ]
    for line in header:
        print(line, file=sys.stderr, flush=True)
    results: list[Ratio] = []
    details: list[str] = []
    t0 = time.monotonic()
    for name in which:
        b0 = time.monotonic()
        if name == "analysis":
            from benchmarks import analysis

            sockets = args.sockets or (200_000 if args.quick else 1_000_000)
            r, d = analysis.bench(sockets, rounds, with_jc=not args.no_jc)
        elif name == "report":
            from benchmarks import report

            r, d = report.bench(rounds, 0.5 if args.quick else 1.0)
        elif name == "host":
            from benchmarks import host

            r, d = host.bench(args.host_sockets or (40_000 if args.quick else 200_000), rounds)
        else:
            from benchmarks import fleet

            r, d = fleet.bench(
                args.hosts or (10 if args.quick else 40), rounds, with_ansible=not args.no_ansible
            )
        results += r
        details += [f"  {name} ({time.monotonic() - b0:.0f} s):", *d]
    lines = [
        *header,
        "",
        "ratios and measures (per-round values summarised):",
        *(r.line() for r in results),
        "",
        "absolute values:",
        *details,
        f"total {time.monotonic() - t0:.0f} s",
    ]
    text = "\n".join(lines)
    print(text)
    (cache_dir() / "last-run.txt").write_text(text + "\n")
    return 0
