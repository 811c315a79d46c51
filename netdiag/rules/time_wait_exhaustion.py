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
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Endpoint, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    SocketIndex,
    culprit_of,
    in_range,
    port_range,
    sorted_rows,
    take,
    top,
)

Destination = tuple[str, str, int]  # local address key, peer address key, peer port


@dataclass(frozen=True, slots=True)
class Options:
    # 80% and 95% are the common warning and critical shares (issue 4); below that the
    # kernel still finds free ports quickly.
    warn_share: float = option(0.8, "share of ip_local_port_range in use toward one destination that warns")
    critical_share: float = option(0.95, "share that is critical")


def _crowded(index: SocketIndex, fire_at: int) -> list[int]:
    """Rows toward a peer port, from a local address, that might hold ``fire_at`` sockets of one destination.

    A destination shares a peer port and a local (and peer) address key, so its
    sockets are among those whose port occurs ``fire_at`` times, and among those,
    from local addresses with one key that do: counted in C loops over columns
    whose values a host repeats (ports, its few local addresses), so no peer
    address is read unless that much is crowded.
    """
    cols = index.columns
    ports = cols.peer_port
    hot = {p for p, n in Counter(ports).items() if p is not None and n >= fire_at}
    if not hot:
        return []
    mask = list(map(hot.__contains__, ports))
    pairs = Counter(zip(compress(ports, mask), compress(cols.local_address, mask), strict=True))
    texts = list({a for _, a in pairs})
    key_of = dict(zip(texts, index.keys(texts), strict=True))
    by_key: Counter[tuple[int | None, str]] = Counter()
    for (port, address), n in pairs.items():
        by_key[(port, key_of[address])] += n  # spellings of one local address count together
    crowded = {pair for pair in pairs if by_key[(pair[0], key_of[pair[1]])] >= fire_at}
    if not crowded:
        return []
    rows = list(compress(range(len(ports)), mask))
    found = zip(take(ports, rows), take(cols.local_address, rows), strict=True)
    return list(compress(rows, map(crowded.__contains__, found)))


def _destinations(index: SocketIndex, low: int, high: int, fire_at: int) -> dict[Destination, list[int]]:
    """Rows by destination, for the destinations with ``fire_at`` sockets or more, in snapshot order.

    Counted are the sockets that hold an ephemeral port: not LISTEN, a peer port,
    a local port in ``low..high``.
    """
    cols = index.columns
    rows = _crowded(index, fire_at)
    if not rows:
        return {}
    wanted = in_range(take(cols.local_port, rows), low, high)
    wanted = list(map(bool.__and__, wanted, map(is_not, take(cols.state, rows), repeat(TcpState.LISTEN))))
    rows = list(compress(rows, wanted))
    keys = list(
        zip(
            index.keys(take(cols.local_address, rows)),
            index.keys(take(cols.peer_address, rows)),
            take(cols.peer_port, rows),
            strict=True,
        )
    )
    firing = {k for k, n in Counter(keys).items() if n >= fire_at}
    groups: dict[Destination, list[int]] = {}
    for row, k in zip(rows, keys, strict=True):
        if k in firing:
            groups.setdefault(k, []).append(row)  # type: ignore[arg-type]  # the peer port is known
    return groups


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    (low, high), range_known = port_range(snap)
    size = high - low + 1
    if size <= 0:
        return
    fire_at = max(1, math.ceil(opts.warn_share * size))
    index = ctx.index()
    cols = index.columns
    names = index.names()
    for (laddr, paddr, pport), group in sorted(
        _destinations(index, low, high, fire_at).items(), key=lambda kv: -len(kv[1])
    ):
        used = len(group)
        waiting = take(cols.state, group).count(TcpState.TIME_WAIT)
        if not waiting:
            continue  # not TIME_WAIT's doing: every port held by a live connection
        dest = str(Endpoint(paddr, pport))
        owned = [r for r in group if r in cols.owners]
        owners = top(
            (c for r in owned if (c := culprit_of(cols.owners[r], cols.local_port[r], names)).known), 1
        )
        who = owners[0][0] if owners else None
        message = (
            f"{used} of the {size} ports of ip_local_port_range {low}-{high}"
            f"{'' if range_known else ' (kernel default assumed)'} are in use from {laddr} toward "
            f"{dest}, {waiting} of them in TIME_WAIT (warns at {fire_at}): new connections "
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
            evidence=cols.rows(sorted_rows(cols, group)),
            evidence_total=used,
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
