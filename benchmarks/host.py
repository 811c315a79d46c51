"""Target 2: a namespace host with 200,000 TCP sockets; the collection script's CPU and bytes vs ``ss``.

The host is a network namespace of our own (``ndb<pid>h``) where ``HELPERS``
processes each hold an equal share of connected loopback pairs (two sockets a
pair) on their own listener and loopback address, so owners are spread over
many processes as on a busy server. A tenth of the pairs are half-closed
(client ``shutdown(SHUT_WR)``): CLOSE-WAIT on one side, FIN-WAIT-2 on the
other, both stable. Each contender runs inside the namespace through
``nsenter --net`` and is charged the CPU (user+sys, children included) that
``wait4`` reports; the namespace and every helper are removed afterwards.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.measure import Ratio, Run, Series, alternate, log, plain, ratio, run_child, summary
from netdiag.collectors import GZIP_MAGIC, ZSTD_MAGIC, script_bytes

HELPERS = 50

# One helper: a listener on 127.0.0.<k>:5000, `pairs` connections to it, all kept open;
# prints "ready" and then holds everything until its stdin closes.
HELPER = r"""
import resource, socket, sys
k, pairs = int(sys.argv[1]), int(sys.argv[2])
need = 2 * pairs + 64
resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
addr = ("127.0.%d.%d" % (k // 250, k % 250 + 1), 5000)
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(addr); srv.listen(4096)
held = []
for i in range(pairs):
    c = socket.create_connection(addr)
    s, _ = srv.accept()
    if i % 10 == 9:
        c.shutdown(socket.SHUT_WR)  # s: CLOSE-WAIT, c: FIN-WAIT-2
    held += (c, s)
print("ready", flush=True)
sys.stdin.read()
"""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True)


@contextlib.contextmanager
def namespace_host(sockets: int) -> Iterator[str]:
    """The namespace name, with ``sockets`` TCP sockets held open in it; torn down on exit."""
    ns = f"ndb{os.getpid()}h"
    pairs = sockets // 2
    per = -(-pairs // HELPERS)
    helpers: list[subprocess.Popen[bytes]] = []
    _raise_nr_open(2 * per + 64)
    _ip("netns", "add", ns)
    try:
        _ip("-n", ns, "link", "set", "lo", "up")
        subprocess.run(
            ["ip", "netns", "exec", ns, "sysctl", "-q", "-w", "net.ipv4.ip_local_port_range=1024 65535"],
            check=True,
        )
        t0 = time.monotonic()
        left = pairs
        for k in range(HELPERS):
            n = min(per, left)
            left -= n
            if n <= 0:
                break
            helpers.append(
                subprocess.Popen(
                    ["ip", "netns", "exec", ns, sys.executable, "-c", HELPER, str(k), str(n)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                )
            )
        for h in helpers:
            assert h.stdout is not None
            if h.stdout.readline().strip() != b"ready":
                raise RuntimeError("a socket helper failed to start")
        took = time.monotonic() - t0
        log(f"[host] {ns}: {pairs * 2:,} sockets held by {len(helpers)} processes in {took:.1f}s")
        yield ns
    finally:
        for h in helpers:
            if h.stdin is not None:
                with contextlib.suppress(OSError):
                    h.stdin.close()
        for h in helpers:
            try:
                h.wait(timeout=30)
            except subprocess.TimeoutExpired:
                h.kill()
                h.wait()
        subprocess.run(["ip", "netns", "del", ns], check=False)


def _raise_nr_open(need: int) -> None:
    path = Path("/proc/sys/fs/nr_open")
    if int(path.read_text()) < need:
        path.write_text(str(need))


def _in_ns(ns: str, argv: list[str], stdin: Path | None = None) -> Run:
    """``argv`` in the namespace's network stack only, as on a real host.

    Not ``ip netns exec``: it remounts /sys, hiding the cgroup2 mount, and then
    ``ss -e`` looks for that mount once per socket and prints "Failed to find
    cgroup2 mount" 200,000 times (10x its normal CPU) -- which is what a host
    without cgroup2 (cgroup v1 only) does too, but not the common case.
    """
    return run_child(["nsenter", f"--net=/run/netns/{ns}", *argv], stdin=stdin)


def bench(sockets: int, rounds: int) -> tuple[list[Ratio], list[str]]:
    if os.geteuid() != 0:
        raise SystemExit("host benchmark needs root (network namespaces)")
    from benchmarks.baselines import cache_dir

    script = cache_dir() / "collect.sh"
    script.write_bytes(script_bytes())
    scan_args = ["--netns=host", "--compress"]  # what `netdiag scan` runs over SSH, this namespace only
    plain_args = ["--netns=host"]
    with namespace_host(sockets) as ns:
        count = _in_ns(ns, ["ss", "-tanH"]).stdout.count(b"\n")
        log(f"[host] ss sees {count:,} TCP sockets")
        gz_name, raw_name = "collect.sh " + " ".join(scan_args), "collect.sh " + " ".join(plain_args)
        series = alternate(
            {
                gz_name: lambda: _in_ns(ns, ["sh", "-s", "--", *scan_args], stdin=script),
                raw_name: lambda: _in_ns(ns, ["sh", "-s", "--", *plain_args], stdin=script),
                "ss -tan": lambda: _in_ns(ns, ["ss", "-tan"]),
                "ss -tanp": lambda: _in_ns(ns, ["ss", "-tanp"]),
            },
            rounds,
            "host",
        )
        nd, nd_raw, tan, tanp = series[gz_name], series[raw_name], series["ss -tan"], series["ss -tanp"]
        sent = [len(r.stdout) for r in nd.runs]
        raw = [len(r.stdout) for r in tan.runs]
        head = nd.runs[-1].stdout[:4]
        compressed = "zstd" if head == ZSTD_MAGIC else "gzip" if head[:2] == GZIP_MAGIC else ""
        sections = _section_bytes(nd_raw.runs[-1].stdout)
        uncompressed = len(nd_raw.runs[-1].stdout)
    results = [
        ratio("host", "collect.sh (as scan runs it) cpu / ss -tan cpu", nd, tan, "cpu", at_most=3),
        ratio("host", "ss -tanp cpu / collect.sh cpu", tanp, nd, "cpu", at_least=4),
        ratio("host", "collect.sh without compression cpu / ss -tan cpu", nd_raw, tan, "cpu"),
        ratio("host", "collect.sh wall / ss -tan wall", nd, tan, "wall"),
        ratio("host", "ss -tanp wall / collect.sh wall", tanp, nd, "wall"),
        plain(
            "host",
            "bytes sent / raw ss -tan bytes",
            [a / b for a, b in zip(sent, raw, strict=True)],
            at_most=1 / 3,
            note=f"{compressed} on the host" if compressed else "NOT compressed: no zstd or gzip there?",
        ),
        plain("host", "uncompressed output / raw ss -tan bytes", [uncompressed / raw[-1]]),
    ]
    details = [
        f"    sockets in namespace: {count:,}",
        *summary(series, "cpu"),
        *summary(series, "wall"),
        f"    sent {sent[-1]:,} B, uncompressed {uncompressed:,} B, ss -tan {raw[-1]:,} B",
        "    script output by section: " + ", ".join(f"{k} {v:,} B" for k, v in sections.items()),
    ]
    details += _step_times(nd_raw)
    return results, details


def _section_bytes(output: bytes) -> dict[str, int]:
    sizes: dict[str, int] = {}
    current = None
    for line in output.split(b"\n"):
        if line.startswith(b"==netdiag== begin "):
            current = line.split()[2].decode()
            sizes[current] = 0
        elif line.startswith(b"==netdiag== end "):
            current = None
        elif current is not None:
            sizes[current] += len(line) + 1
    return sizes


def _step_times(series: Series) -> list[str]:
    """The script's own per-step times (``t=`` of each end marker) from the last run."""
    steps = []
    for line in series.runs[-1].stdout.split(b"\n"):
        if line.startswith(b"==netdiag== end "):
            f = line.decode(errors="replace").split()
            t = next((w[2:] for w in f if w.startswith("t=")), "?")
            steps.append(f"{f[2]} {t}s")
    return ["    collect.sh step wall times (last run): " + ", ".join(steps)]
