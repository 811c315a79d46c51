"""Rules read sockets as columns: the same findings from a ``SocketTable`` as from a plain
tuple of the same sockets, and the column helpers equal the row-by-row code they replace."""

from __future__ import annotations

import dataclasses
import gc
import ipaddress
from collections import Counter
from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.engine import RuleConfig, rules_by_id, run_rules
from netdiag.model import (
    Collection,
    Endpoint,
    HostInfo,
    Owner,
    Process,
    Snapshot,
    Socket,
    SocketTable,
    TcpState,
    Timer,
    address_key,
)
from netdiag.results import Finding, HostResult, Outcome
from netdiag.rules import (
    RowColumns,
    colon_keys,
    fullest_rows,
    grouped,
    in_range,
    rows_in,
    sorted_rows,
    sorted_sockets,
    take,
    top,
)

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

LOW, HIGH = 32768, 32867  # a 100-port range, so time_wait_exhaustion fires on a few sockets

# Spellings that meet under address_key (mapped, uncompressed), loopback, scoped, and a name.
LOCALS = ["10.0.0.1", "::ffff:10.0.0.1", "127.0.0.1", "::1", "2001:db8::1", "fe80::1", "0.0.0.0", "*"]
PEERS = [
    "10.0.0.1", "10.0.0.2", "::ffff:10.0.0.2", "10.0.0.9", "::ffff:10.0.0.9", "127.0.0.1", "::1",
    "::ffff:127.0.0.1", "2001:db8::1", "2001:0db8::1", "2001:db8::2", "::ffff:102:304", "1.2.3.4",
    "::1.2.3.4", "fe80::2", "localhost", "123.456.78.90",
]  # fmt: skip
STATES = [TcpState.CLOSE_WAIT] * 5 + [TcpState.FIN_WAIT2] * 3 + [TcpState.TIME_WAIT] * 3 + list(TcpState)
PROCS = [(100, "nginx"), (101, "nginx"), (200, "java"), (300, None)]

ports = st.sampled_from([80, 443, 8080, None, LOW - 1, HIGH + 1, *range(LOW, LOW + 30)])
owners = st.lists(
    st.builds(Owner, st.sampled_from([100, 101, 200, 300, None]), st.sampled_from(["nginx", "java", None]),
              st.integers(3, 9)),
    max_size=2,
).map(tuple)  # fmt: skip
timers = st.one_of(
    st.none(),
    st.builds(Timer, st.sampled_from(["timewait", "on", "keepalive"]), st.sampled_from([None, 0.2, 30.0]),
              st.integers(0, 2)),
)  # fmt: skip
scopes = st.sampled_from([None, None, None, None, "eth0", ""])
sockets = st.builds(
    Socket,
    st.sampled_from(STATES),
    st.sampled_from([0, 0, 1, 2, 7, 140]),
    st.integers(0, 200),
    st.builds(Endpoint, st.sampled_from(LOCALS), ports, scopes),
    st.builds(Endpoint, st.sampled_from(PEERS), ports, scopes),
    timers,
    st.sampled_from([None, 0, 1000]),
    st.sampled_from([None, 0, 7, 8, 9]),
    owners,
)


def _snapshot(socks: Sequence[Socket], *, host: str, address: str, at: str, visibility: str) -> Snapshot:
    return Snapshot(
        host=HostInfo(name=host, address=address, collected_at=at),
        sockets=SocketTable(socks),
        processes=tuple(Process(pid, name or "x", "", 900, 1000) for pid, name in PROCS),
        sysctls={"net.ipv4.ip_local_port_range": f"{LOW} {HIGH}", "net.ipv4.tcp_max_orphans": "4"},
        sockstat={"TCP": {"orphan": 4}},
        collection=Collection(socket_source="ss", process_visibility=visibility),
    )


def _host(name: str, address: str, *samples: Sequence[Socket], visibility: str = "full") -> HostResult:
    """One host's result, its samples a minute apart."""
    snaps = tuple(
        _snapshot(s, host=name, address=address, at=f"2025-01-01T00:0{i}:00+00:00", visibility=visibility)
        for i, s in enumerate(samples)
    )
    return HostResult(name, address, Outcome.OK, None, snaps)


def _as_tuples(result: HostResult) -> HostResult:
    samples = tuple(dataclasses.replace(s, sockets=tuple(s.sockets)) for s in result.samples)
    return dataclasses.replace(result, samples=samples)


class _History:
    """A rising series for every key, so the history branches run."""

    def series(self, host: str, key: str, netns: str = "host", limit: int = 10) -> list[tuple[str, float]]:
        return [("2025-01-01T00:00:00+00:00", 1.0), ("2025-01-01T01:00:00+00:00", 2.0)][-limit:]


# Small thresholds, so every rule has something to say about a few dozen sockets.
OPTIONS: dict[str, dict[str, Any]] = {
    "close_wait_leak": {"threshold": 2, "growth_min": 1},
    "close_wait_unread": {"threshold": 2},
    "close_wait_growth": {"below": 1000, "growth_min": 1},
    "fin_wait2_pileup": {"threshold": 2},
    "cross_host_leak": {"threshold": 1},
    "ephemeral_port_collision": {"threshold": 1},
    "time_wait_exhaustion": {"warn_share": 0.05},
}
CONFIG = RuleConfig(options={rid: rules_by_id()[rid].options(**opts) for rid, opts in OPTIONS.items()})


def _both(results: list[HostResult], history: Any = None) -> tuple[list[Finding], list[Finding]]:
    table = run_rules(results, CONFIG, history)
    plain = run_rules([_as_tuples(r) for r in results], CONFIG, history)
    return table, plain


@SETTINGS
@given(
    st.lists(st.lists(sockets, max_size=60), min_size=1, max_size=2),  # samples of host a
    st.lists(sockets, max_size=60),  # host b
    st.sampled_from(["full", "partial", "none"]),
    st.booleans(),
)
def test_a_table_and_a_tuple_of_the_same_sockets_give_the_same_findings(samples, other, visibility, history):
    a = _host("a", "10.0.0.1", *samples, visibility=visibility)
    b = _host("b", "10.0.0.2", other, visibility=visibility)
    table, plain = _both([a, b], _History() if history else None)
    assert table == plain
    assert not [f for f in table if f.rule == "rule_error"]


def _cw(local: Endpoint, peer: Endpoint, recv_q: int = 0, *owners: Owner) -> Socket:
    return Socket(TcpState.CLOSE_WAIT, recv_q, 0, local, peer, owners=owners)


def test_a_crowded_snapshot_fires_most_rules_alike_on_both():
    """The property above on one fixed snapshot where the rules do fire (so equality is not vacuous)."""
    java = Owner(200, "java", 3)
    server, loopback = Endpoint("10.0.0.1", 8080), Endpoint("127.0.0.1", 5000)
    socks = [
        *(_cw(server, Endpoint("10.0.0.2", LOW + q), q % 3, java._replace(fd=q)) for q in range(12)),
        *(_cw(loopback, Endpoint("::ffff:127.0.0.1", LOW + q), 5) for q in range(4)),
        Socket(TcpState.SYN_SENT, 0, 1, Endpoint("127.0.0.1", LOW + 1), loopback),
        *(Socket(TcpState.FIN_WAIT2, 0, 0, Endpoint("10.0.0.1", LOW + q), Endpoint("2001:0db8::1", 443))
          for q in range(6)),
        *(Socket(TcpState.TIME_WAIT, 0, 0, Endpoint("10.0.0.1", LOW + 40 + q), Endpoint("10.0.0.9", 443),
                 Timer("timewait", 30.0)) for q in range(10)),
        Socket(TcpState.LISTEN, 130, 128, Endpoint("0.0.0.0", 8080), Endpoint("*", None), owners=(java,)),
    ]  # fmt: skip
    peer = [Socket(TcpState.FIN_WAIT2, 0, 0, Endpoint("10.0.0.2", LOW + q), server) for q in range(5)]
    table, plain = _both([_host("a", "10.0.0.1", socks), _host("b", "10.0.0.2", peer)], _History())
    assert table == plain
    assert {f.rule for f in table} >= {
        "close_wait_leak", "close_wait_unread", "close_wait_growth", "cross_host_leak",
        "ephemeral_port_collision", "fin_wait2_pileup", "time_wait_exhaustion", "listen_queue_full",
        "fd_exhaustion", "orphan_sockets",
    }  # fmt: skip


def test_run_rules_leaves_the_garbage_collector_as_it_found_it():
    result = _host("a", "10.0.0.1", [])
    assert gc.isenabled()
    run_rules([result])
    assert gc.isenabled()
    gc.disable()
    try:
        run_rules([result])
        assert not gc.isenabled()
    finally:
        gc.enable()


# -- the helpers, against the row-by-row code they replace ------------------------


@SETTINGS
@given(st.lists(sockets, max_size=80), st.integers(0, 25))
def test_sorted_and_fullest_rows_are_the_row_sorts_first_items(socks, limit):
    table = SocketTable(socks)
    rows = [i for i, s in enumerate(socks) if s.state is not TcpState.LISTEN]
    picked = [socks[i] for i in rows]
    assert table.rows(sorted_rows(table, rows, limit)) == sorted_sockets(picked)[:limit]
    fullest = sorted(sorted_sockets(picked), key=lambda s: -s.recv_q)[:limit]
    assert table.rows(fullest_rows(table, rows, limit)) == fullest
    plain = RowColumns(socks)
    assert plain.rows(sorted_rows(plain, rows, limit)) == sorted_sockets(picked)[:limit]


KEYS = st.one_of(st.integers(0, 6), st.none(), st.tuples(st.integers(0, 2), st.none()))


@SETTINGS
@given(st.lists(KEYS, max_size=60), st.integers(1, 4), st.booleans())
def test_grouped_is_a_setdefault_loop_keeping_groups_of_a_size(keys, at_least, some):
    positions = list(range(0, len(keys), 2)) if some else list(range(len(keys)))
    naive: dict[Any, list[int]] = {}
    for p in positions:
        naive.setdefault(keys[p], []).append(p)
    expected = {k: ps for k, ps in naive.items() if len(ps) >= at_least}
    got = grouped(keys, positions if some else None, at_least)
    assert got == expected and list(got) == list(expected)


@SETTINGS
@given(st.lists(st.one_of(st.sampled_from(["a", "b", "10", "9"]), st.integers(0, 12)), max_size=40),
       st.integers(0, 5))  # fmt: skip
def test_top_is_the_full_sort_by_count_then_text(items, n):
    counts = Counter(items)
    assert top(items, n) == sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


@st.composite
def ipv6_texts(draw: st.DrawFn) -> str:
    """One IPv6 address in one of its spellings: compressed, exploded, upper case, mapped, compatible."""
    form = draw(st.sampled_from(["v6", "mapped", "compat"]))
    if form == "v6":
        ip = ipaddress.IPv6Address(draw(st.integers(0, 2**128 - 1)))
    else:
        v4 = draw(st.integers(0, 2**32 - 1))
        ip = ipaddress.IPv6Address((0xFFFF << 32 if form == "mapped" else 0) | v4)
    spelling = draw(st.sampled_from(["compressed", "exploded", "upper", "dotted"]))
    if spelling == "exploded":
        return ip.exploded
    if spelling == "upper":
        return ip.compressed.upper()
    if spelling == "dotted" and form != "v6":
        prefix = "::ffff:" if form == "mapped" else "::"
        return prefix + str(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    return ip.compressed


ODD = st.sampled_from(["fe80::1%eth0", "::ffff:1.2.3.4%lo", "a:b:c", "::g"])  # scoped, not addresses


@SETTINGS
@given(st.lists(st.one_of(ipv6_texts(), ODD), min_size=1, max_size=20))
def test_colon_keys_are_address_key(texts):
    assert colon_keys(texts) == [address_key(t) for t in texts]


@given(st.lists(st.one_of(st.none(), st.integers(LOW - 3, HIGH + 3)), max_size=30))
def test_in_range_and_rows_in_are_their_comprehensions(values):
    assert in_range(values, LOW, HIGH) == [v is not None and LOW <= v <= HIGH for v in values]
    states = [TcpState.CLOSE_WAIT if v is None else TcpState.LISTEN for v in values]
    assert rows_in(states, TcpState.CLOSE_WAIT) == [i for i, v in enumerate(values) if v is None]
    assert take(values, range(0, len(values), 3)) == values[::3]
