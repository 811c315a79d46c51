"""Sections and assembly on text: the exact join, and no exception on garbage or cut output."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.collectors import script_bytes
from netdiag.collectors.assemble import assemble
from netdiag.collectors.fdmap import parse_fdmap
from netdiag.collectors.sections import split_sections
from netdiag.model import HostInfo, Owner, Snapshot, TcpState

HOST = HostInfo("web1", "10.0.0.1")
STATUSES = {"ok", "missing", "failed", "denied", "truncated"}


def section(name: str, body: str, status: str = "ok", cmd: str = "x", stderr: tuple[str, ...] = ()) -> str:
    """One section framed as collect.sh frames it (its own newline before the closing lines)."""
    tail = "".join(f"==netdiag== stderr {name} {line}\n" for line in stderr)
    rc = {"ok": 0, "missing": 127}.get(status, 1)
    end = f"==netdiag== end {name} status={status} rc={rc} t=0.03 cmd={cmd}\n"
    return f"==netdiag== begin {name}\n{body}\n{tail}{end}"


SS = """State      Recv-Q Send-Q Local Address:Port  Peer Address:Port Process
LISTEN     0      128        0.0.0.0:8080       0.0.0.0:*     ino:100 sk:1 <->
CLOSE-WAIT 1      0          10.0.0.1:8080      10.0.0.9:40000 ino:101 sk:2 -->
ESTAB      0      0          10.0.0.1:55000     10.0.0.7:5432  timer:(keepalive,1min,0) uid:1000 ino:102 <->
TIME-WAIT  0      0          10.0.0.1:55001     10.0.0.7:5432  timer:(timewait,30sec,0) ino:0 sk:4
"""
FDMAP = """S 10 6 100
S 11 6 100
P 10 40 1
P 11 12 1
S 10 9 101
S 20 3 102
P 20 7 1
V 50 0 0
"""
COMM = "/proc/10/comm:nginx: master\n/proc/11/comm:nginx (worker)\n/proc/20/comm:app\n"
LIMITS = (
    "/proc/10/limits:Max open files            1024                 4096                 files     \n"
    "/proc/11/limits:Max open files            unlimited            unlimited            files     \n"
)
CMDLINE = (
    "==> /dev/null <==\n\n==> /proc/10/cmdline <==\nnginx: master process\0-g\0daemon off;\0\n"
    "==> /proc/11/cmdline <==\n\n==> /proc/20/cmdline <==\n/usr/bin/app\0--port=5432\0"
)
GOOD = "".join(
    [
        section("script", "version=1\nsockets=auto"),
        section("host", "hostname=web1.example\nkernel=5.15.0-91-generic\nuid=0\ntime=1700000000"),
        section("sockets", "", "failed", "ss -tanoe", ("Cannot open netlink socket",)),
        section("sockets", SS.rstrip("\n"), cmd="ss -tanoe"),
        section("fdmap", FDMAP.rstrip("\n"), cmd="ls -l /proc/[0-9]*/fd | awk"),
        section("comm", COMM.rstrip("\n")),
        section("limits", LIMITS.rstrip("\n")),
        section("cmdline", CMDLINE),
        section(
            "sysctls",
            "/proc/sys/net/ipv4/tcp_fin_timeout:60\n/proc/sys/net/ipv4/ip_local_port_range:32768\t60999",
        ),
        section("proc_net_netstat", "TcpExt: ListenOverflows ListenDrops\nTcpExt: 17 18"),
        section("proc_net_snmp", "Tcp: ActiveOpens AttemptFails\nTcp: 5 1"),
        section("sockstat", "TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nTCP6: inuse 3"),
        "==netdiag== done\n",
    ]
)


def test_split_reads_bodies_stderr_and_commands() -> None:
    sections, warnings = split_sections(GOOD)
    assert warnings == []
    assert [s.name for s in sections][:4] == ["script", "host", "sockets", "sockets"]
    failed, ok = sections[2], sections[3]
    assert (failed.status, failed.rc, failed.text, failed.stderr) == (
        "failed",
        1,
        "",
        ("Cannot open netlink socket",),
    )
    assert (ok.status, ok.command, ok.seconds, ok.text) == ("ok", "ss -tanoe", 0.03, SS)
    cmdline = next(s for s in sections if s.name == "cmdline")
    assert cmdline.text == CMDLINE + "\n"  # the body had no final newline; it gets one, nothing else
    assert GOOD.split("\n")[ok.line_no - 1] == SS.split("\n")[0]


def test_split_keeps_a_cut_section_and_flags_it() -> None:
    text = section("host", "hostname=a") + "==netdiag== begin sockets\nState Recv-Q\nLISTEN 0 12\n"
    sections, warnings = split_sections(text)
    assert [(s.name, s.status, s.complete) for s in sections] == [
        ("host", "ok", True),
        ("sockets", "truncated", False),
    ]
    assert sections[1].text == "State Recv-Q\nLISTEN 0 12\n"
    assert [w.reason for w in warnings] == ["output ends inside this section"]
    _, warnings = split_sections(text[:-4])
    assert next((w.text, w.reason) for w in warnings) == ("LISTEN 0", "output ends mid-line")
    _, warnings = split_sections(section("host", "hostname=a"))
    assert [w.reason for w in warnings] == ["output ends before the script's done line"]


def test_split_begin_inside_a_section_and_stray_lines() -> None:
    text = (
        "login banner\n==netdiag== begin a\nx\n==netdiag== begin b\ny\n\n"
        "==netdiag== end b status=ok rc=0 t=0.00 cmd=c\nz\n==netdiag== done\n"
    )
    sections, warnings = split_sections(text)
    assert [(s.name, s.status, s.text) for s in sections] == [("a", "truncated", "x\n"), ("b", "ok", "y\n")]
    assert [(w.line_no, w.text) for w in warnings] == [
        (1, "login banner"),
        (4, "==netdiag== begin b"),
        (8, "z"),
    ]


def test_assemble_joins_owners_by_inode_and_fills_processes() -> None:
    snap = assemble(GOOD.encode(), HOST, "2024-01-01T00:00:00Z", seconds=1.5)
    assert snap.host == HostInfo(
        "web1",
        "10.0.0.1",
        "web1.example",
        "5.15.0-91-generic",
        "2024-01-01T00:00:00Z",
        "2023-11-14T22:13:20Z",
    )
    by_port = {(s.state, s.local.port): s for s in snap.sockets}
    listen = by_port[TcpState.LISTEN, 8080]
    assert listen.owners == (Owner(10, "nginx: master", 6), Owner(11, "nginx (worker)", 6))
    assert by_port[TcpState.CLOSE_WAIT, 8080].owners == (Owner(10, "nginx: master", 9),)
    assert by_port[TcpState.ESTABLISHED, 55000].owners == (Owner(20, "app", 3),)
    assert by_port[TcpState.TIME_WAIT, 55001].owners == ()
    procs = {p.pid: p for p in snap.processes}
    assert set(procs) == {10, 11, 20}
    assert (procs[10].cmdline, procs[10].fd_count, procs[10].nofile_soft, procs[10].nofile_hard) == (
        "nginx: master process -g daemon off;",
        40,
        1024,
        4096,
    )
    assert (procs[11].cmdline, procs[11].nofile_soft, procs[11].nofile_hard) == ("", None, None)
    assert (procs[20].cmdline, procs[20].nofile_soft) == ("/usr/bin/app --port=5432", None)
    assert snap.sysctls == {"net.ipv4.tcp_fin_timeout": "60", "net.ipv4.ip_local_port_range": "32768 60999"}
    assert snap.counters == {
        "TcpExt": {"ListenOverflows": 17, "ListenDrops": 18},
        "Tcp": {"ActiveOpens": 5, "AttemptFails": 1},
    }
    assert snap.sockstat["TCP6"] == {"inuse": 3}
    c = snap.collection
    assert (c.socket_source, c.uid, c.process_visibility, c.seconds) == ("ss", 0, "full", 1.5)
    assert [(x.name, x.status) for x in c.commands][2:4] == [("sockets", "failed"), ("sockets", "ok")]
    assert c.commands[2].detail == "Cannot open netlink socket"
    assert c.warnings == ()
    assert c.bytes_received == len(GOOD.encode())
    assert Snapshot.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap


@pytest.mark.parametrize(("uid", "visibility"), [("1000", "own"), ("0", "partial")])
def test_refused_processes_set_visibility(uid: str, visibility: str) -> None:
    text = GOOD.replace("uid=0", f"uid={uid}").replace("V 50 0 0", "V 50 7 2")
    c = assemble(text, HOST).collection
    assert c.process_visibility == visibility
    assert "7 processes denied" in c.owner_method or "7 of the processes denied" in c.owner_method
    assert "7 fd directories denied, 2 vanished" in next(x.detail for x in c.commands if x.name == "fdmap")


def test_netstat_and_proc_sections_use_their_parsers() -> None:
    netstat = (
        "Active Internet connections (servers and established)\n"
        "Proto Recv-Q Send-Q Local Address  Foreign Address  State   User  Inode  Timer\n"
        "tcp        0      0 0.0.0.0:8080   0.0.0.0:*        LISTEN  0     100    off (0.00/0/0)"
    )
    proc = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 100 1 0"
    )
    for body, cmd, source in ((netstat, "netstat -tanoeW", "netstat"), (proc, "cat /proc/net/tcp", "proc")):
        text = GOOD.replace(SS.rstrip("\n"), body).replace("cmd=ss -tanoe", f"cmd={cmd}")
        snap = assemble(text, HOST)
        assert snap.collection.socket_source == source
        assert [(s.state, s.local.port, s.owners[0].pid) for s in snap.sockets] == [
            (TcpState.LISTEN, 8080, 10)
        ]


def test_garbage_gives_warnings_and_an_empty_snapshot() -> None:
    snap = assemble(b"\xff\xfe garbage\n\x00\x01 more\n==netdiag== end nothing\n", HOST)
    assert snap.sockets == () and snap.processes == ()
    assert [w.line_no for w in snap.collection.warnings] == [1, 2, 3, 4]  # and no done line
    assert snap.collection.process_visibility == "none"


def test_garbage_inside_sections_is_warned_with_section_and_line() -> None:
    text = GOOD.replace("S 20 3 102", "S 20 three 102").replace("TcpExt: 17 18", "TcpExt: 17")
    snap = assemble(text, HOST)
    got = {(w.source, w.line_no, w.text) for w in snap.collection.warnings}
    assert ("fdmap", 6, "S 20 three 102") in got
    assert ("proc_net_netstat", 2, "TcpExt: 17") in got
    assert snap.counters == {"Tcp": {"ActiveOpens": 5, "AttemptFails": 1}}
    assert next(s for s in snap.sockets if s.local.port == 55000).owners == ()  # its owner line was bad


@pytest.fixture(scope="module")
def real_output() -> bytes:
    r = subprocess.run(["sh", "-s", "--"], input=script_bytes(), capture_output=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_real_output_cut_anywhere_keeps_what_came_before(real_output: bytes) -> None:
    full = assemble(real_output, HOST)
    assert full.collection.warnings == ()
    sysctls_end = real_output.index(b"==netdiag== end procfs")
    for cut in range(0, len(real_output), max(1, len(real_output) // 97)):
        snap = assemble(real_output[:cut], HOST)
        statuses = {c.status for c in snap.collection.commands}
        assert statuses <= STATUSES
        if cut > sysctls_end + 40:  # the sysctls section closed before the cut
            assert snap.sysctls == full.sysctls
            assert len(snap.sockets) == len(full.sockets)
        if 0 < cut < len(real_output) - 1:
            assert "truncated" in statuses or snap.collection.warnings, cut


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from([*"S PVE01\n:=-/abc\0", "==netdiag== ", "begin fdmap\n", "end ", "status=ok"]))
)
def test_random_text_never_raises(tokens: list[str]) -> None:
    text = "".join(tokens)
    snap = assemble(text, HOST)
    assert Snapshot.from_dict(snap.to_dict()) == snap


# Edits drawn whole, before any line is seen (positions taken modulo the lines left):
# a strategy that depended on the output would vary with the machine's sockets.
_EDITS = st.lists(
    st.tuples(
        st.integers(0, 1 << 20),
        st.sampled_from(["drop", "dup", "garble", "cut"]),
        st.binary(max_size=40),
        st.integers(0, 1 << 20),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=200, deadline=None)
@given(edits=_EDITS)
def test_mutated_real_output_never_raises(
    real_output: bytes, edits: list[tuple[int, str, bytes, int]]
) -> None:
    lines = real_output.split(b"\n")
    for at, op, garbage, keep in edits:
        i = at % len(lines)
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, lines[i])
        elif op == "garble":
            lines[i] = garbage
        else:
            lines[i] = lines[i][: keep % max(1, len(lines[i]))]
        if not lines:
            lines = [b""]
    snap = assemble(b"\n".join(lines), HOST)
    assert {c.status for c in snap.collection.commands} <= STATUSES
    assert Snapshot.from_dict(json.loads(json.dumps(snap.to_dict()))) == snap


def test_fdmap_accounts_for_every_line() -> None:
    text = FDMAP + "E ls: something odd\nnonsense\n\nS 1 2\n"
    fdmap, parsed = parse_fdmap(text)
    assert parsed.accounted == len([line for line in text.splitlines() if line.strip()])
    assert [w.line_no for w in parsed.warnings] == [10, 12]
    assert list(zip(fdmap.inode, fdmap.pid, fdmap.fd, strict=True)) == [
        (100, 10, 6),
        (100, 11, 6),
        (101, 10, 9),
        (102, 20, 3),
    ]
    assert fdmap.holders({10: "nginx"})[100] == (Owner(10, "nginx", 6), Owner(11, None, 6))
    assert fdmap.fd_counts == {10: 40, 11: 12, 20: 7}
    assert fdmap.messages == ["ls: something odd"]
    assert (fdmap.readable, fdmap.denied, fdmap.gone, fdmap.visibility(0)) == (50, 0, 0, "full")


def _combined(text: str) -> str:
    """GOOD as the script prints it since version 2: comm and limits in one `owners` grep, every
    /proc file (and /proc/stat's btime, for the host clock) in one `procfs` grep."""
    sysctls = "/proc/sys/net/ipv4/tcp_fin_timeout:60\n/proc/sys/net/ipv4/ip_local_port_range:32768\t60999\n"
    procfs = (
        sysctls
        + "/proc/net/netstat:TcpExt: ListenOverflows ListenDrops\n/proc/net/netstat:TcpExt: 17 18\n"
        + "/proc/net/snmp:Tcp: ActiveOpens AttemptFails\n/proc/net/snmp:Tcp: 5 1\n"
        + "/proc/net/sockstat:TCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\n/proc/net/sockstat6:TCP6: inuse 3\n"
        + "/proc/stat:ctxt 5\n/proc/stat:btime 1699990000\n/proc/stat:processes 9\n"
    )
    # a limits row other than "Max open files" that got through is not read as the nofile limit
    owners = COMM + LIMITS + "/proc/10/limits:Max processes             63405                63405     \n"
    head, _, rest = text.partition(section("comm", COMM.rstrip("\n")))
    rest = rest.replace(section("limits", LIMITS.rstrip("\n")), section("owners", owners.rstrip("\n")))
    rest = rest[: rest.index("==netdiag== begin sysctls")] + section("procfs", procfs.rstrip("\n"))
    head = head.replace("time=1700000000", "uptime=10000.99")
    return head + rest + "==netdiag== done\n"


def test_combined_sections_give_the_same_snapshot() -> None:
    old = assemble(GOOD, HOST)
    new_text = _combined(GOOD)
    assert "begin comm" not in new_text and "begin sysctls" not in new_text and "\ntime=" not in new_text
    new = assemble(new_text, HOST)
    assert new.collection.warnings == ()
    assert new.host == old.host  # host_time: btime 1699990000 + uptime 10000 = 1700000000
    assert (new.sockets, new.processes) == (old.sockets, old.processes)
    assert (new.sysctls, new.counters, new.sockstat) == (old.sysctls, old.counters, old.sockstat)
    assert [c.name for c in new.collection.commands] == [
        "script", "host", "sockets", "sockets", "fdmap", "owners", "cmdline", "procfs",
    ]  # fmt: skip


def test_real_output_reads_uid_and_clock_without_commands() -> None:
    """uid from /proc/<shell>/status, time from btime + uptime: what `id -u` and `date +%s` say
    (both truncated, so at most a second behind)."""
    before = time.time()
    argv = ["sh", "-s", "--", "--netns=host"]
    r = subprocess.run(argv, input=script_bytes(), capture_output=True, timeout=60)
    after = time.time()
    snap = assemble(r.stdout, HOST)
    assert snap.collection.uid == os.geteuid()
    host_time = datetime.strptime(snap.host.host_time, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert int(before) - 2 <= host_time.timestamp() <= after
