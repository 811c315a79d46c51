"""time_wait_exhaustion: outgoing connections toward one destination are running out of source ports.

TIME_WAIT is the normal end of a connection closed by this side, and thousands of
them are no problem by themselves (seed 003): this rule never warns about TIME_WAIT
as such. It does warn when the sockets from one local address toward one
destination address and port, whose local ports come from ``ip_local_port_range``,
approach the size of that range: each holds its source port, and when none is free
connect() fails with EADDRNOTAVAIL.

Fires at ``warn_share`` of the range (warning), critical at ``critical_share``.
Server-side TIME_WAIT (the local port is a listening port, outside the range) does
not use ephemeral ports and is not counted.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import contains, itemgetter, mod

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Endpoint, Socket, SocketTable, TcpState, address_key
from netdiag.results import Finding, Severity
from netdiag.rules import addr_key, culprit, port_range, process_names, sorted_sockets, top


@dataclass(frozen=True, slots=True)
class Options:
    # 80% and 95% are the common warning and critical shares (issue 4); below that the
    # kernel still finds free ports quickly.
    warn_share: float = option(0.8, "share of ip_local_port_range in use toward one destination that warns")
    critical_share: float = option(0.95, "share that is critical")


def _crowded(sockets: Sequence[Socket], fire_at: int) -> list[Socket]:
    """The sockets that might be in a group of ``fire_at`` or more, in snapshot order.

    A group shares a peer port and a peer address, so its sockets are among those
    whose port occurs ``fire_at`` times, and whose address key falls in a hash bucket
    that holds ``fire_at`` of them. Counting those in C loops first spares the
    grouping below a million Python-level steps; it still sees every socket that
    can matter.
    """
    table = sockets if isinstance(sockets, SocketTable) else None
    ports = table.peer_port if table is not None else list(map(_PORT, map(_PEER, sockets)))
    counts = Counter(ports)
    hot_ports = {p for p, n in counts.items() if p is not None and n >= fire_at}
    if not hot_ports:
        return []
    mask = list(map(hot_ports.__contains__, ports))
    if table is not None:  # rows and addresses from the columns: no socket made yet
        rows = list(compress(range(len(table)), mask))
        addresses = list(compress(table.peer_address, mask))
    else:
        sockets = list(compress(sockets, mask))
        addresses = list(map(_ADDRESS, map(_PEER, sockets)))
    # Spellings of one address share its key: a dotted quad is its own, only text with
    # a colon (IPv6, IPv4-mapped) may be another spelling of some address.
    colon = set(compress(addresses, map(contains, addresses, repeat(":"))))
    keys = {a: address_key(a) for a in colon}
    buckets = list(map(mod, map(hash, map(keys.get, addresses, addresses)), repeat(_BUCKETS)))
    hot = {b for b, n in Counter(buckets).items() if n >= fire_at}
    if not hot:
        return []
    if table is not None:
        return table.rows(compress(rows, map(hot.__contains__, buckets)))
    return list(compress(sockets, map(hot.__contains__, buckets)))


_BUCKETS = 256  # small ints: Python shares them, so a million bucket numbers cost no memory
_PEER = itemgetter(4)  # Socket.peer
_PORT = itemgetter(1)  # Endpoint.port
_ADDRESS = itemgetter(0)  # Endpoint.address


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    (low, high), range_known = port_range(snap)
    size = high - low + 1
    if size <= 0:
        return
    fire_at = max(1, math.ceil(opts.warn_share * size))
    groups: dict[tuple[str, str, int], list[Socket]] = {}
    for s in _crowded(snap.sockets, fire_at):
        if (
            s.state is not TcpState.LISTEN
            and s.peer.port is not None
            and s.local.port is not None
            and low <= s.local.port <= high
        ):
            groups.setdefault((addr_key(s.local), addr_key(s.peer), s.peer.port), []).append(s)
    names = process_names(snap)
    for (laddr, paddr, pport), socks in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        used = len(socks)
        if used < fire_at:
            break  # sorted by size: the rest are smaller
        waiting = [s for s in socks if s.state is TcpState.TIME_WAIT]
        if not waiting:
            continue  # not TIME_WAIT's doing: every port held by a live connection
        dest = str(Endpoint(paddr, pport))
        owners = top((c for s in socks if (c := culprit(s, snap, names)).known), 1)
        who = owners[0][0] if owners else None
        message = (
            f"{used} of the {size} ports of ip_local_port_range {low}-{high}"
            f"{'' if range_known else ' (kernel default assumed)'} are in use from {laddr} toward "
            f"{dest}, {len(waiting)} of them in TIME_WAIT (warns at {fire_at}): new connections "
            "there fail with EADDRNOTAVAIL once none is free"
        )
        if who is not None:
            message += f"; the live ones belong mostly to {who.label}"
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if used >= opts.critical_share * size else Severity.WARNING,
            message=message,
            process=who.name if who else None,
            pid=who.pid if who else None,
            local=laddr,
            peer=dest,
            value=used,
            threshold=fire_at,
            evidence=sorted_sockets(socks),
            confidence="high" if range_known else "medium",
        )


RULE = Rule(
    id="time_wait_exhaustion",
    title="Source ports toward one destination running out",
    severity=Severity.WARNING,
    explanation=(
        "Each connection from this host to one destination address and port needs its own source "
        "port from ip_local_port_range, and a closed one keeps it for about 60 s in TIME_WAIT. "
        "Nearly all of them are taken, so new connections to that destination will fail with "
        "EADDRNOTAVAIL."
    ),
    remedy=(
        "Reuse connections (keep-alive, pooling) instead of opening one per request; widen "
        "net.ipv4.ip_local_port_range or enable net.ipv4.tcp_tw_reuse=1 for outgoing connections. "
        "Do not shorten TIME_WAIT by other means."
    ),
    options=Options,
    check=check,
)
