"""ephemeral_port_collision: stale CLOSE_WAIT sockets occupy 4-tuples the kernel will hand out again.

When a client on the same host closes its side, its FIN_WAIT_2 half times out after
``tcp_fin_timeout`` and its source port returns to ``ip_local_port_range``; the
listener's leaked CLOSE_WAIT half stays. A later connect() that gets that port
builds the very same 4-tuple and meets the stale socket: on recent kernels it is
delayed until a challenge ACK resets it, where that ACK is lost or filtered (older
kernels, firewalls) it hangs in SYN_SENT and fails with ETIMEDOUT (seed 001:
Cloudflare's 522s).

Looks at CLOSE_WAIT sockets whose peer is local (loopback, or one of the host's own
addresses as seen on its sockets) and whose peer port lies inside
``ip_local_port_range``, grouped by owning process (or local port). Fires at
``threshold`` of them as a warning. Critical, whatever the count, when a SYN_SENT
socket's 4-tuple is a CLOSE_WAIT's reversed: the collision is happening now.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import contains

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Socket, TcpState
from netdiag.results import Finding, Related, Severity
from netdiag.rules import (
    EVIDENCE_LIMIT,
    SocketIndex,
    Tuple4,
    biggest_first,
    culprit,
    culprit_from_key,
    grouped,
    in_range,
    is_local_peer,
    most_common_text,
    peer_endpoint,
    port_range,
    sorted_rows,
    take,
)

CW = TcpState.CLOSE_WAIT


@dataclass(frozen=True, slots=True)
class Options:
    # Each stale socket is one mine among ~28,000 ports; a single one is a race a healthy host
    # can show for a moment, ten from one listener are a leak that will be stepped on.
    threshold: int = option(10, "local-peer CLOSE_WAIT sockets with ephemeral peer ports that fire")


def _stale(index: SocketIndex, low: int, high: int) -> list[int]:
    """Positions in ``index.rows(CLOSE_WAIT)`` whose peer is local with a port in ``low..high``.

    Only a peer key that is one of the host's addresses, looks like loopback, or is
    scoped (ipaddress's way) gets the exact test: each of those is picked by a C pass.
    """
    cols = index.columns
    rows = index.rows(CW)
    keys = index.peer_keys(CW)
    own = index.local_addresses()
    everywhere = range(len(keys))
    maybe = set(compress(everywhere, map((own | {"::1"}).__contains__, keys)))
    maybe.update(compress(everywhere, map(str.startswith, keys, repeat("127."))))
    maybe.update(compress(everywhere, map(contains, keys, repeat("%"))))  # a scope stays in the key
    positions = sorted(maybe)
    ports = in_range(take(cols.peer_port, take(rows, positions)), low, high)
    return [p for p in compress(positions, ports) if is_local_peer(peer_endpoint(cols, rows[p]), own)]


def _collisions(index: SocketIndex, stale: list[int]) -> dict[Tuple4, int]:
    """CLOSE_WAIT 4-tuple -> the row of a SYN_SENT socket with the reversed 4-tuple (the last one)."""
    cols = index.columns
    cw = index.tuples(CW)
    by_tuple = set(take(cw, stale))
    local_ports = {t[1] for t in by_tuple}
    syn_rows = index.rows(TcpState.SYN_SENT)
    near = list(map(local_ports.__contains__, take(cols.peer_port, syn_rows)))  # a C pass first
    found: dict[Tuple4, int] = {}
    if not any(near):
        return found
    syn = index.tuples(TcpState.SYN_SENT)
    for position in compress(range(len(syn_rows)), near):
        la, lp, pa, pp = syn[position]
        if (pa, pp, la, lp) in by_tuple:
            found[(pa, pp, la, lp)] = syn_rows[position]
    return found


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    index = ctx.index()
    cols = index.columns
    (low, high), range_known = port_range(snap)
    stale = _stale(index, low, high)
    if not stale:
        return
    rows = index.rows(CW)
    colliding = _collisions(index, stale)
    tuples = index.tuples(CW)  # made by _collisions already
    names = index.names()
    for key, positions in biggest_first(grouped(index.culprit_keys(CW), stale)):
        c = culprit_from_key(key)
        hit_positions = [p for p in positions if tuples[p] in colliding] if colliding else []
        n = len(positions)
        if n < opts.threshold and not hit_positions:
            continue
        group = take(rows, positions)
        hits: list[tuple[Socket, Socket]] = list(
            zip(
                cols.rows(colliding[tuples[p]] for p in hit_positions),
                cols.rows(take(rows, hit_positions)),
                strict=True,
            )
        )
        local = most_common_text(take(index.local(CW), positions)) or "?"
        message = (
            f"{c.label} holds {n} CLOSE_WAIT sockets on {local} from local peers whose ports lie in "
            f"ip_local_port_range {low}-{high}{'' if range_known else ' (kernel default assumed)'} "
            f"(threshold {opts.threshold}): a new connect() from one of those ports to {local} "
            "can stall or hang in SYN_SENT"
        )
        related = []
        if hits:
            syn, _ = hits[0]
            who = culprit(syn, snap, names)
            message = (
                f"{len(hits)} SYN_SENT connection(s) collide with stale CLOSE_WAIT sockets of {c.label} "
                f"now, e.g. {syn.local} -> {syn.peer} by {who.label if who.known else 'an unknown process'}; "
                + message
            )
            seen = set()
            for syn, _ in hits:
                w = culprit(syn, snap, names)
                if w.known and w not in seen:
                    seen.add(w)
                    related.append(Related(host=ctx.host, process=w.name, pid=w.pid))
        hit_cw = {tuples[p] for p in hit_positions}
        rest = [r for r, p in zip(group, positions, strict=True) if tuples[p] not in hit_cw]
        evidence: list[Socket] = [x for pair in hits for x in pair]
        room = EVIDENCE_LIMIT - len(evidence)
        if room > 0:
            evidence += cols.rows(sorted_rows(cols, rest, room))
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if hits else Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=local,
            peer=str(hits[0][0].local) if hits else None,
            value=n,
            threshold=opts.threshold,
            evidence=evidence,
            evidence_total=2 * len(hits) + len(rest),
            related=related,
            confidence="high" if range_known or hits else "medium",
        )


RULE = Rule(
    id="ephemeral_port_collision",
    title="Leaked CLOSE_WAIT sockets on ports the kernel reuses",
    severity=Severity.WARNING,
    explanation=(
        "These CLOSE_WAIT sockets came from clients on this host, whose source ports the kernel "
        "hands out again once their side has timed out. A new connection that gets such a port "
        "meets the stale socket: depending on kernel and filtering it is delayed or hangs in "
        "SYN_SENT until ETIMEDOUT, a failure that appears on the client, not on the leaking server."
    ),
    remedy=(
        "Fix the listener's missing close() (see close_wait_leak); meanwhile restarting it clears "
        "the stale sockets, and moving the listener's port or narrowing ip_local_port_range away "
        "from the clients' ports lowers the odds."
    ),
    options=Options,
    check=check,
)
