"""Generated inputs: a realistic ``ss -tanoe`` listing of N sockets and a whole collection around it.

Why generated and not captured: a million-socket host is not at hand, and a
seeded generator gives the same bytes on every machine. The mix follows what
sick hosts show: mostly ESTAB and TIME-WAIT, a CLOSE-WAIT leak concentrated on
a few processes, a FIN-WAIT-2 pile-up, some full accept queues, IPv6 and
IPv4-mapped addresses, keepalive/retransmit/timewait timers, ``uid:`` on
non-root sockets, ``ino:0`` on minisockets, ~50 owning processes and a few
hundred listening ports. Files are written once to the cache dir and reused.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from benchmarks.baselines import cache_dir

SEED = 7
HEADER = (
    "State      Recv-Q Send-Q                Local Address:Port                   Peer Address:Port Process"
)
# (ss spelling, weight) for non-listening sockets
STATES = (
    ("ESTAB", 55),
    ("TIME-WAIT", 25),
    ("CLOSE-WAIT", 8),
    ("FIN-WAIT-2", 5),
    ("SYN-SENT", 2),
    ("SYN-RECV", 1),
    ("FIN-WAIT-1", 2),
    ("LAST-ACK", 1),
    ("CLOSING", 1),
)
PROCESSES = 50
LISTENERS = 300
LOCAL_V4 = ("10.0.0.1", "10.0.0.2", "172.16.5.10", "192.168.1.20")
LOCAL_V6 = ("2001:db8::1", "2001:db8::2")
ANY_V4 = "0.0.0.0"  # noqa: S104 (text in a listing, not a bind)


@dataclass(frozen=True, slots=True)
class Proc:
    pid: int
    name: str
    uid: int


def _procs(rng: random.Random) -> list[Proc]:
    names = (
        "nginx",
        "java",
        "postgres",
        "redis-server",
        "node",
        "python3",
        "envoy",
        "haproxy",
        "sshd",
        "php-fpm",
    )
    out = []
    for i in range(PROCESSES):
        uid = 0 if i % 7 == 0 else rng.choice((33, 999, 1000, 1001, 1002))
        out.append(Proc(1000 + i * 37, f"{names[i % len(names)]}", uid))
    return out


def _timer(rng: random.Random, state: str) -> str:
    if state == "TIME-WAIT":
        return f"timer:(timewait,{rng.randint(1, 59)}sec,0) "
    r = rng.random()
    if state == "ESTAB" and r < 0.5:
        mins = rng.randint(0, 119)
        secs = rng.randint(0, 59)
        return f"timer:(keepalive,{f'{mins}min' if mins else ''}{secs}sec,0) "
    if state in ("FIN-WAIT-1", "SYN-SENT", "LAST-ACK", "CLOSING") or r < 0.55:
        return f"timer:(on,{rng.randint(1, 999)}ms,{rng.randint(0, 5)}) "
    if state == "FIN-WAIT-2":
        return f"timer:(timewait,{rng.randint(1, 59)}sec,0) "
    return ""


def _col(host: str, port: int | str, width: int) -> str:
    """An ``Address:Port`` cell as ss aligns it: address right-aligned, port left-aligned."""
    shown = f"[{host}]" if ":" in host else host
    return f"{shown:>{width}}:{port!s:<5}"


@dataclass(frozen=True, slots=True)
class Generated:
    text: str
    inodes: dict[int, list[int]]  # pid -> socket inodes it holds


def generate(n: int, seed: int = SEED) -> Generated:
    """``n`` socket rows (plus the header) of ``ss -tanoe``, and which pid holds which inode."""
    rng = random.Random(seed)
    procs = _procs(rng)
    lines = [HEADER]
    inodes: dict[int, list[int]] = {p.pid: [] for p in procs}
    next_ino = 100_000
    sk = 0
    listeners: list[tuple[str, int, Proc]] = []
    for i in range(min(LISTENERS, n)):
        proc = procs[i % len(procs)]
        port = 1024 + i * 97 % 60000 if i >= 10 else (22, 80, 443, 5432, 6379, 8080, 8443, 3306, 9090, 25)[i]
        host = rng.choice((ANY_V4, "*", "::", "127.0.0.1", *LOCAL_V4))
        backlog = rng.choice((128, 511, 4096))
        queue = backlog + 1 if i % 50 == 3 else rng.randint(0, 3)  # a few full queues
        listeners.append((host, port, proc))
        next_ino += 1
        sk += 1
        inodes[proc.pid].append(next_ino)
        uid = f"uid:{proc.uid} " if proc.uid else ""
        peer = "::" if ":" in host else ("*" if host == "*" else ANY_V4)
        lines.append(
            f"LISTEN     {queue:<6} {backlog:<6} {_col(host, port, 30)} {_col(peer, '*', 30)} "
            f"{uid}ino:{next_ino} sk:{sk:x} cgroup:/system.slice/{proc.name}.service <->"
        )
    states = [s for s, w in STATES for _ in range(w)]
    leakers = procs[3:6]  # the CLOSE-WAIT leak sits on three processes
    for _ in range(n - len(listeners)):
        state = rng.choice(states)
        inbound = rng.random() < 0.6
        r = rng.random()
        if r < 0.1:
            local_host = rng.choice(LOCAL_V6)
            peer_host = f"2001:db8:{rng.randint(1, 255):x}::{rng.randint(1, 4000):x}"
        elif r < 0.15:
            local_host = "::ffff:" + rng.choice(LOCAL_V4)
            peer_host = f"::ffff:10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        else:
            local_host = rng.choice(LOCAL_V4)
            peer_host = f"10.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        if inbound:
            _, lport, proc = rng.choice(listeners)
            local_port, peer_port = lport, rng.randint(32768, 60999)
        else:
            proc = rng.choice(procs)
            local_port, peer_port = rng.randint(32768, 60999), rng.choice((80, 443, 5432, 6379, 3306, 9092))
        if state == "CLOSE-WAIT" and rng.random() < 0.8:
            proc = rng.choice(leakers)
        recv_q = rng.randint(1, 4096) if state == "CLOSE-WAIT" and rng.random() < 0.3 else 0
        send_q = rng.randint(1, 65536) if state in ("ESTAB", "FIN-WAIT-1") and rng.random() < 0.05 else 0
        minisocket = state in ("TIME-WAIT", "SYN-RECV")
        sk += 1
        if minisocket:
            extras = f"{_timer(rng, state)}ino:0 sk:{sk:x}"
        else:
            next_ino += 1
            inodes[proc.pid].append(next_ino)
            uid = f"uid:{proc.uid} " if proc.uid else ""
            extras = (
                f"{_timer(rng, state)}{uid}ino:{next_ino} sk:{sk:x} "
                f"cgroup:/system.slice/{proc.name}.service <->"
            )
        spelled = state
        lines.append(
            f"{spelled:<10} {recv_q:<6} {send_q:<6} {_col(local_host, local_port, 30)} "
            f"{_col(peer_host, peer_port, 30)} {extras}"
        )
    lines.append("")
    return Generated("\n".join(lines), inodes)


def _section(name: str, body: str, cmd: str) -> str:
    body = body if body.endswith("\n") or not body else body + "\n"
    return f"==netdiag== begin {name}\n{body}\n==netdiag== end {name} status=ok rc=0 t=0.10 cmd={cmd}\n"


def collection_output(gen: Generated) -> str:
    """What ``collect.sh`` would print on the host whose sockets ``gen`` lists."""
    fd_lines = []
    for pid, inos in gen.inodes.items():
        for fd, ino in enumerate(inos, start=10):
            fd_lines.append(f"S {pid} {fd} {ino}")
        fd_lines.append(f"P {pid} {len(inos) + 10} {len(inos)}")
    fd_lines.append(f"V {len(gen.inodes) + 40} 0 0")
    pids = list(gen.inodes)
    procs = {p.pid: p for p in _procs(random.Random(SEED))}
    comm = "".join(f"/proc/{pid}/comm:{procs[pid].name}\n" for pid in pids)
    limits = "".join(
        f"/proc/{pid}/limits:Max open files            1048576              1048576              files\n"
        for pid in pids
    )
    cmdline = "".join(f"==> /proc/{pid}/cmdline <==\n/usr/bin/{procs[pid].name}\0--serve\0\n" for pid in pids)
    sysctls = (
        "/proc/sys/net/ipv4/tcp_fin_timeout:60\n"
        "/proc/sys/net/ipv4/ip_local_port_range:32768\t60999\n"
        "/proc/sys/net/core/somaxconn:4096\n"
        "/proc/sys/net/ipv4/tcp_max_syn_backlog:1024\n"
        "/proc/sys/net/ipv4/tcp_max_orphans:65536\n"
        "/proc/sys/net/ipv4/tcp_abort_on_overflow:0\n"
    )
    netstat = Path("/proc/net/netstat").read_text()
    snmp = Path("/proc/net/snmp").read_text()
    sockstat = Path("/proc/net/sockstat").read_text()
    return "".join(
        (
            _section("script", "version=1\nsockets=auto", "collect.sh"),
            _section("host", "hostname=big\nkernel=6.1.0\nuid=0\ntime=1700000000", "host_info"),
            _section("sockets", gen.text, "ss -tanoe"),
            _section("fdmap", "\n".join(fd_lines), "ls -l /proc/[0-9]*/fd | awk"),
            _section("comm", comm, "grep comm"),
            _section("limits", limits, "grep limits"),
            _section("cmdline", cmdline, "head cmdline"),
            _section("sysctls", sysctls, "grep sysctls"),
            _section("proc_net_netstat", netstat, "cat /proc/net/netstat"),
            _section("proc_net_snmp", snmp, "cat /proc/net/snmp"),
            _section("sockstat", sockstat, "cat /proc/net/sockstat"),
            "==netdiag== done\n",
        )
    )


def cached_inputs(n: int) -> tuple[Path, Path]:
    """(``ss -tanoe`` text, whole collection output) for ``n`` sockets, generated on first use."""
    ss_path = cache_dir() / f"ss-tanoe-{n}.txt"
    col_path = cache_dir() / f"collection-{n}.txt"
    if not (ss_path.exists() and col_path.exists()):
        gen = generate(n)
        tmp = ss_path.with_suffix(".tmp")
        tmp.write_text(gen.text)
        col_tmp = col_path.with_suffix(".tmp")
        col_tmp.write_text(collection_output(gen))
        tmp.replace(ss_path)
        col_tmp.replace(col_path)
    return ss_path, col_path


def head_lines(path: Path, lines: int) -> Path:
    """The first ``lines`` lines of ``path`` as their own cached file (for slow baselines)."""
    out = path.with_name(f"{path.stem}.head{lines}{path.suffix}")
    if not out.exists():
        with path.open() as src, out.open("w") as dst:
            for i, line in enumerate(src):
                if i >= lines:
                    break
                dst.write(line)
    return out
