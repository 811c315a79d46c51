"""The host benchmark's profile: each of the collection script's commands alone on the big host.

``python -m benchmarks.probe_host [SOCKETS]`` builds the same namespace host as
``host.py`` and times (CPU, wall, bytes) every command ``collect.sh`` runs and
the alternatives worth considering, so a miss can be pinned on one step.
Not a ratio benchmark: a one-off breakdown, run when ``host`` misses.
"""

from __future__ import annotations

import sys

from benchmarks.baselines import cache_dir
from benchmarks.host import namespace_host
from benchmarks.measure import run_child
from netdiag.collectors import script_bytes

FD_DIRS = "printf '%s\\n' /proc/[0-9]*/fd | xargs"
VARIANTS = {
    "ss -tan": "ss -tan",
    "ss -tanoe (the script's)": "ss -tanoe",
    "ss -tanoe | gzip -1": "ss -tanoe | gzip -1",
    "ss -tanoe | gzip -6": "ss -tanoe | gzip -6",
    "fd map: ls -l (the script's)": f"{FD_DIRS} ls -l /dev/null",
    "fd map: ls -ln (numeric ids)": f"{FD_DIRS} ls -ln /dev/null",
    "fd map: ls -lnU (numeric, unsorted)": f"{FD_DIRS} ls -lnU /dev/null",
    "fd map: find -lname socket:* -printf": "find /proc/[0-9]*/fd -lname 'socket:*' -printf '%h %f %l\\n'",
    "collect.sh (whole)": "sh -s < {script}",
    "collect.sh | gzip -1": "sh -s < {script} | gzip -1",
}


def main() -> None:
    sockets = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    script = cache_dir() / "collect.sh"
    script.write_bytes(script_bytes())
    with namespace_host(sockets) as ns:
        for name, command in VARIANTS.items():
            cmd = command.format(script=script) + " 2>/dev/null"
            r = run_child(["nsenter", f"--net=/run/netns/{ns}", "sh", "-c", cmd], check=False)
            print(f"{name:<40} cpu {r.cpu:6.2f}s  wall {r.wall:6.2f}s  {len(r.stdout):>11,} B", flush=True)


if __name__ == "__main__":
    main()
