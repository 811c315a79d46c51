"""``SocketTable``: columns that read back as exactly the sockets they were built from,
and rules that find the same on a table as on a plain tuple of the same sockets."""

from __future__ import annotations

import dataclasses
import json

import pytest

from netdiag.engine import run_rules
from netdiag.model import Endpoint, EndpointColumn, Owner, Snapshot, Socket, SocketTable, TcpState, Timer
from netdiag.results import Finding, HostResult, Outcome
from tests.snapbuild import T0, many, parse_table, row, snap, users

ROWS = [
    row("ESTAB", "10.0.0.1:22", "10.0.0.2:50000", extra="timer:(keepalive,1min,0) uid:1000 ino:123 <->"),
    row("TIME-WAIT", "10.0.0.1:40000", "10.0.0.9:80", extra="timer:(timewait,30sec,0) ino:0"),
    row("LISTEN", "0.0.0.0:80", "0.0.0.0:*", 3, 128, extra=f"ino:55 {users('nginx', 8, 12)}"),
    row("CLOSE-WAIT", "[::1]:5000", "[::ffff:127.0.0.1]:40001", 5, extra="ino:77"),
    row("SYN-SENT", "fe80::1%eth0:41000", "[fe80::2]%eth0:443"),
]


def _sockets() -> list[Socket]:
    return [
        Socket(TcpState.ESTABLISHED, 0, 0, Endpoint("10.0.0.1", 22), Endpoint("10.0.0.2", 5)),
        Socket(
            TcpState.CLOSE_WAIT, 1, 2, Endpoint("::1", 80), Endpoint("fe80::2", 9, "eth0"),
            Timer("on", 0.2, 1), 0, 7, (Owner(3, "x", 4),),
        ),
        Socket(TcpState.LISTEN, 0, 128, Endpoint("*", None), Endpoint("*", None), uid=None, inode=0),
    ]


def test_table_reads_back_every_field_and_equals_its_rows() -> None:
    socks = _sockets()
    table = SocketTable(socks)
    assert len(table) == 3
    assert list(table) == socks  # iteration
    assert [table[i] for i in range(3)] == socks  # indexing
    assert table[-1] == socks[-1]
    assert table[1:] == socks[1:]
    assert table == tuple(socks) and tuple(socks) == table and table == socks
    assert table != tuple(socks[:2])
    assert table.owners == {1: (Owner(3, "x", 4),)}  # sparse: rows without owners hold nothing
    assert table.peer_scope == {1: "eth0"}


def test_local_columns_and_their_endpoint_view_read_back_every_local_endpoint() -> None:
    socks = [
        *_sockets(),
        Socket(TcpState.LISTEN, 0, 5, Endpoint("fe80::1", 22, "eth0"), Endpoint("::", None)),
    ]
    table = SocketTable(socks)
    assert table.local_address == ["10.0.0.1", "::1", "*", "fe80::1"]
    assert table.local_port == [22, 80, None, 22]
    assert table.local_scope == {3: "eth0"}  # sparse, as the peer's
    local = table.local
    assert isinstance(local, EndpointColumn) and len(local) == 4
    want = [s.local for s in socks]
    assert list(local) == want  # iteration
    assert [local[i] for i in range(-4, 4)] == want + want  # indexing, negative too
    assert local[1:3] == want[1:3]
    with pytest.raises(IndexError):
        local[4]
    table[3] = socks[0]  # a set row moves the columns with it, scope included
    assert table.local_scope == {} and list(table.local) == [*want[:3], want[0]]
    assert table.rows([3, 0]) == [socks[0], socks[0]]


def test_setting_a_row_and_the_rare_list_operations() -> None:
    socks = _sockets()
    table = SocketTable(socks)
    table[1] = socks[0]
    assert list(table) == [socks[0], socks[0], socks[2]]
    assert table.owners == {} and table.peer_scope == {}
    table.insert(0, socks[1])
    del table[1]
    assert list(table) == [socks[1], socks[0], socks[2]]


def test_with_owners_shares_columns_and_leaves_the_original_alone() -> None:
    table = SocketTable(_sockets())
    owned = table.with_owners({0: (Owner(9, "y", 1),), 2: ()})
    assert owned[0].owners == (Owner(9, "y", 1),) and owned[2].owners == ()
    assert table[0].owners == ()
    assert owned.state is table.state and owned.local_port is table.local_port


def test_parse_ss_builds_a_table_equal_to_the_line_by_line_reading() -> None:
    from netdiag.parsers.ss import parse_ss_lines

    table = parse_table(ROWS)
    assert isinstance(table, SocketTable)
    text = "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n" + "\n".join(ROWS)
    assert table == parse_ss_lines(text).records


def _both(s: Snapshot) -> tuple[Snapshot, Snapshot]:
    assert isinstance(s.sockets, SocketTable)
    return s, dataclasses.replace(s, sockets=tuple(s.sockets))


def test_snapshot_views_agree_on_a_table_and_a_tuple() -> None:
    lines = [
        *ROWS,
        *many(60, "CLOSE-WAIT", "10.0.0.1:8080", "10.0.0.7", owner=("java", 41)),
        *many(60, "FIN-WAIT-2", "10.0.0.1:0", "10.0.0.8:80", vary="local"),
    ]
    table, plain = _both(snap(lines))
    assert table.state_counts() == plain.state_counts()
    assert table.listeners == plain.listeners
    assert json.dumps(table.to_dict()) == json.dumps(plain.to_dict())
    assert Snapshot.from_dict(table.to_dict()) == plain


def test_every_rule_finds_the_same_on_a_table_and_a_tuple() -> None:
    rng = "32768\t32867"  # a 100-port range, so time_wait_exhaustion fires on a few rows
    lines = [
        *ROWS,
        *many(60, "CLOSE-WAIT", "10.0.0.1:8080", "10.0.0.7", owner=("java", 41)),
        *many(60, "FIN-WAIT-2", "10.0.0.1:0", "10.0.0.8:80", vary="local"),
        *many(90, "TIME-WAIT", "10.0.0.1:0", "10.0.0.9:443", vary="local", first_port=32768),
        *many(8, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", recv_q=7, first_port=33000),
    ]
    sysctls = {"net.ipv4.ip_local_port_range": rng, "net.ipv4.tcp_max_orphans": "10"}
    table, plain = _both(snap(lines, sysctls=sysctls, visibility="partial", at=T0))

    def findings(s: Snapshot) -> list[Finding]:
        return run_rules([HostResult(name="web1", address="10.0.0.1", outcome=Outcome.OK, samples=(s,))])

    got = findings(table)
    assert got == findings(plain)
    assert {f.rule for f in got} >= {"close_wait_leak", "fin_wait2_pileup", "time_wait_exhaustion"}
