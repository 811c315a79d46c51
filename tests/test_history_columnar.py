"""``history.metrics`` reads a ``SocketTable``'s columns: the same numbers, in the same order,
as from the same sockets given as plain ``Socket`` rows, and as the row-by-row count it replaced."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.history import Metric, close_wait_key, fin_wait2_key, metrics, state_key
from netdiag.model import Collection, Endpoint, HostInfo, Owner, Snapshot, Socket, SocketTable, TcpState

STATES = [TcpState.CLOSE_WAIT, TcpState.FIN_WAIT2, TcpState.ESTABLISHED, TcpState.LISTEN, TcpState.TIME_WAIT]
pids = st.sampled_from([None, 10, 11, 700])
names = st.sampled_from([None, "nginx", "java"])
owners = st.lists(st.builds(Owner, pids, names, st.integers(3, 9)), max_size=3).map(tuple)
locals_ = st.builds(
    Endpoint, st.sampled_from(["10.0.0.1", "::1", "0.0.0.0"]), st.sampled_from([None, 22, 8080])
)
peer_addresses = st.sampled_from(["10.0.0.7", "::ffff:10.0.0.7", "fe80::1", "*"])
peers = st.builds(Endpoint, peer_addresses, st.sampled_from([None, 443]), st.sampled_from([None, "eth0"]))
sockets = st.builds(
    Socket,
    state=st.sampled_from(STATES),
    recv_q=st.integers(0, 200),
    send_q=st.integers(0, 200),
    local=locals_,
    peer=peers,
    owners=owners,
)


def snap(rows: object) -> Snapshot:
    return Snapshot(
        host=HostInfo(name="web1", address="local"),
        sockets=rows,  # type: ignore[arg-type]
        collection=Collection(socket_source="ss"),
    )


def row_by_row(rows: list[Socket]) -> dict[str, Metric]:
    """The socket counts as ``metrics`` made them before it read columns: one pass over the rows."""
    out: dict[str, Metric] = {}
    close_wait: dict[str, tuple[int, set[int]]] = {}
    fin_wait2: dict[str, int] = {}
    states: dict[str, int] = {}
    for s in rows:
        k = state_key(s.state)
        states[k] = states.get(k, 0) + 1
        if s.state is TcpState.CLOSE_WAIT:
            for name in {o.name for o in s.owners} or {None}:
                key = close_wait_key(name, s.local.port)
                n, pids = close_wait.get(key, (0, set()))
                pids.update(o.pid for o in s.owners if o.name == name and o.pid is not None)
                close_wait[key] = (n + 1, pids)
        elif s.state is TcpState.FIN_WAIT2:
            k = fin_wait2_key(s.peer.address)
            fin_wait2[k] = fin_wait2.get(k, 0) + 1
    out.update((key, Metric(n, tuple(sorted(pids)))) for key, (n, pids) in close_wait.items())
    out.update((k, Metric(n)) for k, n in fin_wait2.items())
    out.update((k, Metric(n)) for k, n in states.items())
    return out


@settings(max_examples=200, deadline=None)
@given(st.lists(sockets, max_size=40))
def test_table_and_rows_give_the_same_metrics_in_the_same_order(rows: list[Socket]) -> None:
    table = SocketTable(rows)
    assert list(table) == rows  # the table holds exactly these rows, owners and scopes included
    from_table = metrics(snap(table))
    from_rows = metrics(snap(tuple(rows)))
    assert list(from_table.items()) == list(from_rows.items())
    counted = row_by_row(rows)
    assert list(from_rows.items())[: len(counted)] == list(counted.items())


def test_table_counts_close_wait_per_name_and_port_with_pids() -> None:
    shared = (Owner(10, "nginx", 5), Owner(11, "nginx", 6), Owner(700, "java", 7))
    rows = [
        Socket(TcpState.CLOSE_WAIT, 1, 0, Endpoint("10.0.0.1", 8080), Endpoint("10.0.0.9", 1), owners=shared),
        Socket(TcpState.CLOSE_WAIT, 1, 0, Endpoint("10.0.0.1", 8080), Endpoint("10.0.0.9", 2)),
        Socket(TcpState.FIN_WAIT2, 0, 0, Endpoint("10.0.0.1", 4000), Endpoint("10.0.0.7", 443)),
        Socket(TcpState.FIN_WAIT2, 0, 0, Endpoint("10.0.0.1", 4001), Endpoint("10.0.0.7", 443)),
    ]
    m = metrics(snap(SocketTable(rows)))
    assert m[close_wait_key("nginx", 8080)] == Metric(1, (10, 11))
    assert m[close_wait_key("java", 8080)] == Metric(1, (700,))
    assert m[close_wait_key(None, 8080)] == Metric(1)
    assert m[fin_wait2_key("10.0.0.7")] == Metric(2)
    assert (m[state_key(TcpState.CLOSE_WAIT)], m[state_key(TcpState.FIN_WAIT2)]) == (Metric(2), Metric(2))
    assert state_key(TcpState.ESTABLISHED) not in m
