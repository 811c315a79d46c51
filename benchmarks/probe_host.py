"""The host benchmark's profile: each step of the collection script alone on the big host.

``python -m benchmarks.probe_host [SOCKETS] [ROUNDS]`` builds the same namespace
host as ``host.py`` and times (CPU: min over ROUNDS, wall, bytes) each thing
``collect.sh`` runs, through the script's own functions (its text less the last
line, which calls main, followed by one step), the alternatives worth
considering, and the whole script as committed (``git show HEAD:...``) beside
the working tree's, so a change is measured against what it replaces in one run.
Not a ratio benchmark: a one-off breakdown, run when ``host`` misses.

``python -m benchmarks.probe_host --tiny [RUNS]`` is the other end, a fleet's
small host: a network namespace (``ip netns exec``, so no cgroup2 mount, as on
the fleet benchmark's hosts) and a PID namespace of its own, one process
holding a listener and two connected pairs; the HEAD and working-tree scripts
run RUNS times each, alternating, min and median of CPU and wall printed,
then the commands and forks of one run of each (``strace -f``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.baselines import cache_dir
from benchmarks.host import namespace_host
from benchmarks.measure import Run, run_child
from netdiag.collectors import script_bytes

SCRIPT_PATH = "netdiag/collectors/collect.sh"
# the script's functions and constants, then STEP, with the state main() would have set
PRELUDE = "LC_ALL=C; export LC_ALL; netns=host; inuse=; exec 3>&1\n"
FIND_EXPR = "\\( -type d -printf 'D %p\\n' \\) -o -printf '%l %f\\n'"
# name -> (shell snippet run after the script's functions, or a whole-script run "@ARGS")
STEPS = {
    "ss -tan": "ss -tan",
    "ss -tanoe (sockets step)": "ss -tanoe",
    "fd map: find -printf alone": f"fd_dirs; find $PATHS {FIND_EXPR} >/dev/null 2>&1",
    "fd map: ls -l alone": "fd_dirs; ls -l $PATHS >/dev/null 2>&1",
    "fd map: ls -lU alone": "fd_dirs; ls -lU $PATHS >/dev/null 2>&1",
    "fd map step: find | awk": "fd_dirs; fd_pass find",
    "fd map step: ls -l | awk": "fd_dirs; fd_pass ls",
    "gzip -1 of the uncompressed output": "@gzip",
    "collect.sh --netns=host (HEAD)": "@HEAD --netns=host",
    "collect.sh --netns=host --compress (HEAD)": "@HEAD --netns=host --compress",
    "collect.sh --netns=host": "@tree --netns=host",
    "collect.sh --netns=host --compress": "@tree --netns=host --compress",
}


def _head_script() -> bytes | None:
    repo = Path(__file__).resolve().parents[1]
    r = subprocess.run(
        ["git", "-C", str(repo), "show", f"HEAD:{SCRIPT_PATH}"], capture_output=True, check=False
    )
    return r.stdout if r.returncode == 0 else None


def main() -> None:
    if sys.argv[1:2] == ["--tiny"]:
        tiny(int(sys.argv[2]) if len(sys.argv) > 2 else 20)
        return
    sockets = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    rounds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    tree = script_bytes()
    functions = tree[: tree.rstrip(b"\n").rindex(b"\n") + 1]
    d = cache_dir()
    paths = {"tree": d / "collect.sh", "HEAD": d / "collect-head.sh"}
    paths["tree"].write_bytes(tree)
    head = _head_script()
    if head is not None:
        paths["HEAD"].write_bytes(head)
    with namespace_host(sockets) as ns:
        enter = ["nsenter", f"--net=/run/netns/{ns}"]
        plain = run_child([*enter, "sh", "-s", "--", "--netns=host"], stdin=paths["tree"]).stdout
        (d / "collect-output.txt").write_bytes(plain)
        for name, step in STEPS.items():
            if step.startswith("@HEAD") and head is None:
                continue
            best: Run | None = None
            for _ in range(rounds):
                r = _run(enter, step, functions, paths, d)
                if best is None or r.cpu < best.cpu:
                    best = r
            assert best is not None
            print(
                f"{name:<42} cpu {best.cpu:6.3f}s  wall {best.wall:6.3f}s  {len(best.stdout):>11,} B",
                flush=True,
            )


def _run(enter: list[str], step: str, functions: bytes, paths: dict[str, Path], d: Path) -> Run:
    if step == "@gzip":
        return run_child([*enter, "gzip", "-c", "-1"], stdin=d / "collect-output.txt")
    if step.startswith("@"):
        which, *args = step[1:].split()
        return run_child([*enter, "sh", "-s", "--", *args], stdin=paths[which])
    snippet = d / "collect-step.sh"
    snippet.write_bytes(functions + PRELUDE.encode() + step.encode() + b"\n")
    return run_child([*enter, "sh", "-s"], stdin=snippet, check=False)


# Runs inside the tiny host: holds its sockets, runs each script (argv: RUNS then
# NAME=PATH...) RUNS times alternating, and prints one line per script and arguments.
TINY_RUNNER = r"""
import os, resource, shutil, socket, statistics, subprocess, sys, time
runs, scripts = int(sys.argv[1]), dict(a.split("=", 1) for a in sys.argv[2:])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(16)
held = [srv]
for _ in range(2):
    c = socket.create_connection(srv.getsockname()); s, _ = srv.accept(); held += (c, s)
cases = [(n, p, a) for a in (["--netns=host", "--compress"], ["--netns=host"]) for n, p in scripts.items()]
cpu = {c[:1] + (" ".join(c[2]),): [] for c in cases}
wall = {k: [] for k in cpu}
size = {}
for _ in range(runs):
    for name, path, args in cases:
        key = (name, " ".join(args))
        with open(path, "rb") as f:
            script = f.read()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        r = subprocess.run(["sh", "-s", "--", *args], input=script, capture_output=True, check=True)
        wall[key].append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[key].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        size[key] = (len(r.stdout), r.stdout[:2] == b"\x1f\x8b")
for key in cpu:
    c, w = cpu[key], wall[key]
    print(f"{key[0]:<5} {key[1]:<22} cpu min {min(c) * 1e3:6.1f} ms med {statistics.median(c) * 1e3:6.1f} ms"
          f"  wall min {min(w) * 1e3:6.1f} ms med {statistics.median(w) * 1e3:6.1f} ms"
          f"  {size[key][0]:>6} B{' gzip' if size[key][1] else ''}", flush=True)
strace = shutil.which("strace")
for name, path in scripts.items() if strace else ():
    with open(path, "rb") as f:
        r = subprocess.run([strace, "-f", "-qq", "-z", "-e", "trace=execve,fork,vfork,clone,clone3", "-o",
                            "/dev/stderr", "sh", "-s", "--", "--netns=host", "--compress"], input=f.read(),
                           capture_output=True, check=True)
    lines = r.stderr.decode().splitlines()
    execs = [x.split('"')[1].rsplit("/", 1)[-1] for x in lines if " execve(" in x]
    forks = sum(1 for x in lines if " clone(" in x or " clone3(" in x or "fork(" in x)
    print(f"{name:<5} --netns=host --compress: {len(execs) - 1} commands {sorted(execs[1:])}, {forks} forks")
"""


def tiny(runs: int) -> None:
    """The script's cost on a small host, HEAD against the working tree (see the module's doc)."""
    if os.geteuid() != 0:
        raise SystemExit("the tiny host needs root (network and PID namespaces)")
    d = cache_dir()
    scripts = {"tree": d / "collect.sh"}
    scripts["tree"].write_bytes(script_bytes())
    head = _head_script()
    if head is not None:
        scripts["HEAD"] = d / "collect-head.sh"
        scripts["HEAD"].write_bytes(head)
    ns = f"ndb{os.getpid()}t"
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        argv = ["ip", "netns", "exec", ns, "unshare", "--mount", "--pid", "--fork", "--mount-proc"]
        argv += ["--propagation", "private", sys.executable, "-c", TINY_RUNNER, str(runs)]
        argv += [f"{name}={path}" for name, path in sorted(scripts.items())]
        assert shutil.which("unshare") is not None, "unshare (util-linux) is needed"
        subprocess.run(argv, check=True)
    finally:
        subprocess.run(["ip", "netns", "del", ns], check=False)


if __name__ == "__main__":
    main()
