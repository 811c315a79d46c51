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

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Socket, TcpState
from netdiag.results import Finding, Related, Severity
from netdiag.rules import (
    culprit,
    group_by_culprit,
    is_local_peer,
    most_common_text,
    port_range,
    process_names,
    reversed4,
    sorted_sockets,
    tuple4,
)


@dataclass(frozen=True, slots=True)
class Options:
    # Each stale socket is one mine among ~28,000 ports; a single one is a race a healthy host
    # can show for a moment, ten from one listener are a leak that will be stepped on.
    threshold: int = option(10, "local-peer CLOSE_WAIT sockets with ephemeral peer ports that fire")


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    index = ctx.index()
    own = index.local_addresses()
    (low, high), range_known = port_range(snap)
    stale = [
        s
        for s in index.in_state(TcpState.CLOSE_WAIT)
        if s.peer.port is not None and low <= s.peer.port <= high and is_local_peer(s.peer, own)
    ]
    if not stale:
        return
    by_tuple = {tuple4(s): s for s in stale}
    colliding: dict[tuple[str, int | None, str, int | None], Socket] = {}  # CLOSE_WAIT 4-tuple -> SYN_SENT
    for s in index.in_state(TcpState.SYN_SENT):
        if reversed4(s) in by_tuple:
            colliding[reversed4(s)] = s
    names = process_names(snap)
    for c, socks in sorted(group_by_culprit(stale, snap).items(), key=lambda kv: -len(kv[1])):
        hits = [(colliding[tuple4(s)], s) for s in socks if tuple4(s) in colliding]
        n = len(socks)
        if n < opts.threshold and not hits:
            continue
        local = most_common_text(s.local for s in socks) or "?"
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
        hit_cw = {tuple4(cw) for _, cw in hits}
        evidence: list[Socket] = [x for pair in hits for x in pair]
        evidence += [s for s in sorted_sockets(socks) if tuple4(s) not in hit_cw]
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
