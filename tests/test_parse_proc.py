"""The /proc parsers on hand-written text: one test per quirk, plus this machine's own files."""

# ruff: noqa: E501 (kernel rows are kept whole, as the kernel prints them)

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from netdiag.model import Endpoint, TcpState, Timer
from netdiag.parsers import Parsed
from netdiag.parsers.counters import parse_counters
from netdiag.parsers.limits import Limit, nofile, parse_limits
from netdiag.parsers.proc_tcp import parse_proc_tcp
from netdiag.parsers.sockstat import parse_sockstat
from netdiag.parsers.sysctl import PREFIX, SYSCTLS, parse_sysctls

TCP_HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)
TCP6_HEADER = (
    "  sl  local_address                         remote_address                        st tx_queue "
    "rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
)


def sysctl_path(name: str) -> str:
    """The /proc/sys file of a sysctl name (the inverse of what the parser does)."""
    return PREFIX + "/".join(part.replace("/", ".") for part in name.split("."))


def kernel_hex(address: str) -> str:
    """An address as a little-endian kernel prints it: native u32 words, %08X each.

    Written independently of the parser (struct, not byte slicing) so the two can disagree.
    """
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    packed = socket.inet_pton(family, address)
    words = struct.unpack(f"<{len(packed) // 4}I", packed)
    return "".join(f"{w:08X}" for w in words)


def row(local: str, lport: int, peer: str, pport: int, rest: str, sl: int = 0) -> str:
    return f"{sl:4d}: {kernel_hex(local)}:{lport:04X} {kernel_hex(peer)}:{pport:04X} {rest}\n"


# -- /proc/net/tcp ------------------------------------------------------------


def test_known_hex_addresses_decode_like_inet_ntop() -> None:
    text = (
        TCP_HEADER
        + "   0: 0100007F:0050 1C00000A:DDCB 01 00000000:00000000 00:00000000 00000000  0  0 1 1 0 20 4 1 10 -1\n"
        + TCP6_HEADER
        + "   0: 4606012600F1019E000000004C3A0000:E700 8028032A830031F10CB0CEFADE250000:0050 "
        "01 00000000:00000000 00:00000000 00000000     0        0 7 1 ffff8c7a0dee0000 100 0 0 10 0\n"
    )
    p = parse_proc_tcp(text)
    assert p.warnings == []
    v4, v6 = p.records
    assert v4.local.address == socket.inet_ntop(socket.AF_INET, bytes([127, 0, 0, 1]))
    assert v4.peer == Endpoint(socket.inet_ntop(socket.AF_INET, bytes([10, 0, 0, 28])), 0xDDCB)
    want_local = socket.inet_ntop(socket.AF_INET6, bytes.fromhex("260106469e01f1000000000000003a4c"))
    want_peer = socket.inet_ntop(socket.AF_INET6, bytes.fromhex("2a032880f1310083faceb00c000025de"))
    assert (v6.local.address, v6.local.port) == (want_local, 0xE700)
    assert (v6.peer.address, v6.peer.port) == (want_peer, 80)
    assert want_local == "2601:646:9e01:f100::3a4c"  # what the capture's peer (jc) also read
    assert (v4.family, v6.family) == (4, 6)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "255.254.253.1",
        "0.0.0.0",
        "::",
        "::1",
        "fe80::1",
        "2001:db8::dead:beef",
        "1::",
    ],
)
def test_address_round_trip(address: str) -> None:
    p = parse_proc_tcp(row(address, 443, address, 1, "01 00000000:00000000 00:00000000 00000000 0 0 5 1 0"))
    assert p.warnings == []
    assert p.records[0].local == Endpoint(address, 443)


def test_ipv4_mapped_tcp6_address() -> None:
    # ::ffff:192.0.2.7 listening and a mapped peer: ss prints [::ffff:a.b.c.d]
    p = parse_proc_tcp(
        TCP6_HEADER
        + row(
            "::ffff:192.0.2.7",
            8080,
            "::ffff:198.18.0.9",
            40000,
            "01 00000000:00000000 00:00000000 0 0 0 9 1 0",
        )
    )
    assert p.warnings == []
    s = p.records[0]
    assert s.local == Endpoint("::ffff:192.0.2.7", 8080)
    assert s.peer == Endpoint("::ffff:198.18.0.9", 40000)
    assert str(s.local.ip) == socket.inet_ntop(socket.AF_INET, bytes([192, 0, 2, 7]))
    assert kernel_hex("::ffff:192.0.2.7") == "0000000000000000FFFF0000070200C0"


def test_close_wait_keeps_rx_queue() -> None:
    # CLOSE_WAIT (08) with 0x52 unread bytes and a keepalive timer
    p = parse_proc_tcp(
        TCP_HEADER
        + "   3: 802AA8C0:D450 2104C798:01BB 08 00000000:00000052 02:00000A6F 00000000  1000        0 "
        "149098 2 0000000000000000 20 4 0 10 -1\n"
    )
    (s,) = p.records
    assert s.state is TcpState.CLOSE_WAIT
    assert (s.recv_q, s.send_q) == (0x52, 0)
    assert s.local == Endpoint("192.168.42.128", 0xD450)
    assert s.peer == Endpoint("152.199.4.33", 443)
    assert s.timer == Timer("keepalive", 0xA6F / 100, 0)
    assert (s.uid, s.inode) == (1000, 149098)


def test_fin_wait2_minisocket_has_timewait_timer_and_12_fields() -> None:
    # An orphaned FIN_WAIT2 lives on as a time-wait minisocket: state 05, timer 3, no inode.
    line = "   1: 1C00000A:A462 6C000C40:0050 05 00000000:00000000 03:00000BB8 00000000     0        0 0 3 ffff8c7a12d31aa0\n"
    assert len(line.split()) == 12
    (s,) = parse_proc_tcp(TCP_HEADER + line).records
    assert s.state is TcpState.FIN_WAIT2
    assert s.timer == Timer("timewait", 30.0, 0)
    assert s.inode is None


def test_syn_recv_request_sock() -> None:
    # A pending connection request: 12 fields, state 03, the SYN-ACK retransmit timer, no inode.
    p = parse_proc_tcp(
        TCP_HEADER
        + "   4: 0100007F:1F90 0100007F:C350 03 00000000:00000000 01:00000064 00000002  1000        0 0 1 0000000000000000\n"
    )
    (s,) = p.records
    assert s.state is TcpState.SYN_RECV
    assert s.timer == Timer("on", 1.0, 2)
    assert (s.uid, s.inode) == (1000, None)
    assert s.peer == Endpoint("127.0.0.1", 50000)


def test_time_wait_row_of_12_fields() -> None:
    p = parse_proc_tcp(
        TCP_HEADER
        + "   2: 1C00000A:97D0 412AF468:0050 06 00000000:00000000 03:000007C5 00000000     0        0 0 3 ffff8c7a12d31aa0\n"
    )
    (s,) = p.records
    assert s.state is TcpState.TIME_WAIT
    assert s.timer == Timer("timewait", 19.89, 0)
    assert (s.uid, s.inode, s.recv_q, s.send_q) == (0, None, 0, 0)


def test_listen_with_accept_queue() -> None:
    # rx_queue of a LISTEN row is the accept-queue length; tx_queue is kept but is not the backlog.
    p = parse_proc_tcp(
        TCP_HEADER
        + "   0: 00000000:1F90 00000000:0000 0A 00000000:00000081 00:00000000 00000000   33        0 4242 1 "
        "0000000000000000 100 0 0 10 128\n"
    )
    (s,) = p.records
    assert s.state is TcpState.LISTEN
    assert s.recv_q == 129
    assert s.local == Endpoint("0.0.0.0", 8080)
    assert s.peer == Endpoint("0.0.0.0", None)  # port 0 is '*', as ss prints it
    assert s.timer is None
    assert (s.uid, s.inode) == (33, 4242)


@pytest.mark.parametrize(
    ("code", "kind"),
    [("01", "on"), ("02", "keepalive"), ("03", "timewait"), ("04", "persist"), ("07", "unknown")],
)
def test_timer_codes(code: str, kind: str) -> None:
    p = parse_proc_tcp(
        TCP_HEADER
        + f"   0: 0100007F:0050 0100007F:9C40 01 00000010:00000000 {code}:00000015 00000003 0 0 77 1 0 21 4 30 10 -1\n"
    )
    assert p.records[0].timer == Timer(kind, 0.21, 3)


def test_overdue_timer_printed_negative_by_old_kernels_is_due_now() -> None:
    p = parse_proc_tcp(
        TCP_HEADER
        + "   0: 0100007F:0050 0100007F:9C40 01 00000000:00000000 01:FFFFFFFFFFFFFFF6 00000001 0 0 7 1 0\n"
    )
    assert p.records[0].timer == Timer("on", 0.0, 1)


def test_concatenated_dumps_repeat_header_and_sl() -> None:
    body = (
        "   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0 100 0 0 10 0\n"
    )
    p = parse_proc_tcp(TCP_HEADER + body + "\n" + TCP_HEADER + body + TCP6_HEADER)
    assert p.warnings == []
    assert len(p.records) == 2
    assert p.accounted == 5


def test_udp6_table_saved_as_tcp6_gives_warnings_not_sockets() -> None:
    text = (
        "  sl  local_address                         remote_address                        st tx_queue rx_queue "
        "tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        " 1315: 00000000000000000000000000000000:14EB 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000   981        0 21040 2 0000000013726323 0\n"
    )
    p = parse_proc_tcp(text)
    assert p.records == []
    assert [w.line_no for w in p.warnings] == [1, 2]
    assert "ref pointer drops" in p.warnings[1].reason


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("   0: 0100007F:0050 00000000:0000 0A 00000000:00000000", "at least 10 fields"),
        ("   0: 0100007:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1", "bad address"),
        (
            "   0: 0100007F:0050 00000000:0000 0D 00000000:00000000 00:00000000 00000000 0 0 1",
            "unknown state",
        ),
        ("   0: 0100007F:0050 00000000:0000 0A 0000000G:00000000 00:00000000 00000000 0 0 1", "bad hex"),
        ("   0: 0100007F:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 x 0 1", "bad decimal"),
        (
            "   0: 0100007F:0050 00000000000000000000000000000000:0000 01 0:0 00:0 0 0 0 1",
            "different families",
        ),
    ],
)
def test_bad_rows_warn_and_keep_the_rest(bad: str, reason: str) -> None:
    good = "   1: 0100007F:0051 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 1 1 0\n"
    p = parse_proc_tcp(TCP_HEADER + bad + "\n" + good)
    assert len(p.records) == 1
    assert p.records[0].local.port == 0x51
    (w,) = p.warnings
    assert (w.line_no, w.text) == (2, bad)
    assert reason in w.reason
    assert p.accounted == 3


def test_endpoints_are_shared_between_rows() -> None:
    """One Endpoint object per distinct HEX:PORT keeps a million-row snapshot compact."""
    body = "".join(
        f"{i:4d}: 0100007F:1F90 0100007F:{40000 + i:04X} 01 0:0 00:0 0 0 0 {i + 1} 1 0\n" for i in range(3)
    )
    p = parse_proc_tcp(TCP_HEADER + body)
    assert len(p.records) == 3
    assert p.records[0].local is p.records[2].local
    assert [s.peer.port for s in p.records] == [40000, 40001, 40002]


# -- counters -------------------------------------------------------------------

SNMP = """\
Ip: Forwarding DefaultTTL InReceives
Ip: 2 64 18446744073709551617
IcmpMsg: InType3 OutType3
IcmpMsg: 5 5
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails EstabResets CurrEstab
Tcp: 1 200 120000 -1 23 2 0 0 0
"""


def test_counters_snmp_negative_and_huge_values() -> None:
    p = parse_counters(SNMP)
    assert p.warnings == []
    assert p.accounted == 6
    got = dict(p.records)
    assert got["Tcp"]["MaxConn"] == -1
    assert got["Tcp"]["ActiveOpens"] == 23
    assert got["Ip"]["InReceives"] == 2**64 + 1
    assert [g for g, _ in p.records] == ["Ip", "IcmpMsg", "Tcp"]


def test_counters_mismatch_names_both_lines_and_keeps_other_groups() -> None:
    text = "TcpExt: A B C\nTcpExt: 1 2\nIpExt: X Y\nIpExt: 7 8\n"
    p = parse_counters(text)
    assert p.records == [("IpExt", {"X": 7, "Y": 8})]
    assert [w.line_no for w in p.warnings] == [1, 2]
    for w in p.warnings:
        assert "line 1" in w.reason
        assert "line 2" in w.reason
    assert p.accounted == 4


def test_counters_lone_header_and_orphan_values() -> None:
    text = "TcpExt: A B\nIpExt: X\nIpExt: 1\nMPTcpExt: 4 5\nTcp: Q\n"
    p = parse_counters(text)
    assert p.records == [("IpExt", {"X": 1})]
    assert sorted((w.line_no, w.reason) for w in p.warnings) == [
        (1, "TcpExt header without a value line"),
        (4, "MPTcpExt values without a header line"),
        (5, "Tcp header without a value line"),
    ]
    assert p.accounted == 5


def test_counters_garbage_and_non_integer_values() -> None:
    p = parse_counters("garbage here\nTcp: A B\nTcp: 1 x\n")
    assert p.records == []
    assert len(p.warnings) == 3
    assert p.accounted == 3


# -- sockstat ---------------------------------------------------------------------


def test_sockstat_lines_including_rhel4_and_v6() -> None:
    text = (
        "sockets: used 123\nTCP: inuse 5 orphan 0 tw 2 alloc 7 mem 1\nUDP: inuse 0\n"
        "FRAG: inuse 0 memory 0\nTCP6: inuse 17\nRAW6: inuse 1\n"
    )
    p = parse_sockstat(text)
    assert p.warnings == []
    got = dict(p.records)
    assert got["sockets"] == {"used": 123}
    assert got["TCP"] == {"inuse": 5, "orphan": 0, "tw": 2, "alloc": 7, "mem": 1}
    assert got["UDP"] == {"inuse": 0}
    assert got["TCP6"] == {"inuse": 17}
    assert p.accounted == 6


@pytest.mark.parametrize(
    "bad", ["In valid data is present", "TCP: inuse", "TCP: inuse 5 orphan", "TCP: inuse -1", "TCP: 5 inuse"]
)
def test_sockstat_garbage_warns(bad: str) -> None:
    p = parse_sockstat(f"sockets: used 1\n{bad}\n")
    assert p.records == [("sockets", {"used": 1})]
    assert [w.line_no for w in p.warnings] == [2]


# -- limits -----------------------------------------------------------------------

LIMITS = """\
Limit                     Soft Limit           Hard Limit           Units     
Max stack size            8388608              unlimited            bytes     
Max open files            1024                 524288               files     
Max locked memory         18446744073708503040 18446744073708503040 bytes     
Max nice priority         0                    0                    
Max realtime timeout      unlimited            unlimited            us        
"""  # noqa: W291 (the kernel pads the Units column)


def test_limits_rows() -> None:
    p = parse_limits(LIMITS)
    assert p.warnings == []
    assert p.accounted == 6
    assert p.records == [
        Limit("Max stack size", 8388608, None, "bytes"),
        Limit("Max open files", 1024, 524288, "files"),
        Limit("Max locked memory", 18446744073708503040, 18446744073708503040, "bytes"),
        Limit("Max nice priority", 0, 0, ""),
        Limit("Max realtime timeout", None, None, "us"),
    ]
    assert nofile(p) == (1024, 524288)


def test_limits_unlimited_nofile_and_missing_nofile() -> None:
    assert nofile(parse_limits("Max open files  unlimited  unlimited  files\n")) == (None, None)
    assert nofile(parse_limits("Max processes  9  99  processes\n")) is None


def test_limits_cat_error_is_a_warning() -> None:
    p = parse_limits("cat: /proc/1100/limits: No such file or directory\n")
    assert p.records == []
    assert len(p.warnings) == 1
    assert p.warnings[0].text.startswith("cat:")
    assert nofile(p) is None


# -- sysctls ----------------------------------------------------------------------


def test_sysctls_from_grep_h() -> None:
    text = (
        "/proc/sys/net/ipv4/tcp_fin_timeout:60\n"
        "/proc/sys/net/ipv4/ip_local_port_range:32768\t60999\n"
        "/proc/sys/net/ipv4/conf/eth0.100/rp_filter:1\n"
        "grep: /proc/sys/net/core/nope: No such file or directory\n"
        "/proc/sys/net/core/somaxconn:4096   \n"
    )
    p = parse_sysctls(text)
    assert p.records == [
        ("net.ipv4.tcp_fin_timeout", "60"),
        ("net.ipv4.ip_local_port_range", "32768 60999"),
        ("net.ipv4.conf.eth0/100.rp_filter", "1"),
        ("net.core.somaxconn", "4096"),
    ]
    assert [w.line_no for w in p.warnings] == [4]
    assert p.accounted == 5


def test_sysctls_names_map_to_paths_and_back() -> None:
    assert len(SYSCTLS) == 6
    assert "net.ipv4.tcp_abort_on_overflow" in SYSCTLS
    text = "".join(f"{sysctl_path(n)}:1\n" for n in (*SYSCTLS, "net.ipv4.conf.eth0/100.rp_filter"))
    assert [n for n, _ in parse_sysctls(text).records] == [*SYSCTLS, "net.ipv4.conf.eth0/100.rp_filter"]


# -- this machine's own files -------------------------------------------------------

OWN: dict[str, Callable[[str], Parsed[Any]]] = {
    "/proc/net/tcp": parse_proc_tcp,
    "/proc/net/tcp6": parse_proc_tcp,
    "/proc/net/netstat": parse_counters,
    "/proc/net/snmp": parse_counters,
    "/proc/net/sockstat": parse_sockstat,
    "/proc/self/limits": parse_limits,
}


@pytest.mark.parametrize("path", sorted(OWN))
def test_this_machines_proc_files(path: str) -> None:
    text = Path(path).read_text()
    p = OWN[path](text)
    assert p.warnings == []
    assert p.accounted == sum(1 for line in text.splitlines() if line.strip())


def test_this_machines_sockets_match_a_listener_we_open() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(7)
        port = srv.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as cli:
            cport = cli.getsockname()[1]
            deadline = time.monotonic() + 2
            while True:  # the server side of the handshake completes asynchronously
                socks = parse_proc_tcp(Path("/proc/net/tcp").read_text()).records
                listen = [s for s in socks if s.local == Endpoint("127.0.0.1", port) and s.peer.port is None]
                if [s.recv_q for s in listen] == [1] or time.monotonic() > deadline:
                    break
                time.sleep(0.01)
    assert [(s.state, s.recv_q) for s in listen] == [(TcpState.LISTEN, 1)]  # one waits in the accept queue
    server_side = [s for s in socks if s.local.port == port and s.peer == Endpoint("127.0.0.1", cport)]
    assert [s.state for s in server_side] == [TcpState.ESTABLISHED]
    est = [s for s in socks if s.local == Endpoint("127.0.0.1", cport)]
    assert [(s.state, s.peer) for s in est] == [(TcpState.ESTABLISHED, Endpoint("127.0.0.1", port))]


def test_this_machines_sysctls() -> None:
    text = "".join(f"{sysctl_path(n)}:{Path(sysctl_path(n)).read_text()}" for n in SYSCTLS)
    p = parse_sysctls(text)
    assert p.warnings == []
    got = dict(p.records)
    assert set(got) == set(SYSCTLS)
    low, high = (int(x) for x in got["net.ipv4.ip_local_port_range"].split(" "))
    assert 0 < low < high < 65536
