"""fin_wait2_pileup: many FIN_WAIT_2 sockets toward one peer: the remote end is not closing.

FIN_WAIT_2 is the half of a connection that has sent its FIN and waits for the
peer's: the peer application has not closed its side, so the fault is on the peer,
where the other half sits in CLOSE_WAIT. An orphaned FIN_WAIT_2 (its process
already closed it; no owner, ``timewait`` timer) dies after ``tcp_fin_timeout``;
one still owned by a process that only called shutdown() never times out.

Sockets are grouped by peer address and port. Fires at ``threshold`` toward one
peer, as a warning; critical at ``critical_factor`` times the threshold, or when at
least ``persist_share`` of them are still-owned sockets already there in the first
sample (they never expire, so the pile only grows).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Socket, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    addr_key,
    critical_note,
    culprit,
    most_common,
    over_threshold,
    persisted,
    process_names,
    sorted_sockets,
    top,
    tuple4,
)


@dataclass(frozen=True, slots=True)
class Options:
    # The other half of a CLOSE_WAIT leak, judged like it (close_wait_leak's 50): orphans
    # live tcp_fin_timeout (60 s), so 50 needs a peer failing to close almost once a second.
    threshold: int = option(50, "FIN_WAIT_2 sockets toward one peer that fire")
    # 4x, as close_wait_leak.
    critical_factor: float = option(4.0, "critical at this many times the threshold")
    # Owned FIN_WAIT_2 never time out; if most were there a sample ago they are stuck.
    persist_share: float = option(0.5, "critical when this share is owned and was there in the first sample")


def _orphaned(s: Socket, visible: bool) -> bool | None:
    """True if orphaned, False if owned, None when it cannot be told."""
    if s.owners:
        return False
    if (s.timer is not None and s.timer.kind == "timewait") or visible:
        return True
    return None


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    visible = snap.collection.process_visibility == "full"
    groups: dict[tuple[str, int | None], list[Socket]] = {}
    for s in ctx.index().in_state(TcpState.FIN_WAIT2):
        groups.setdefault((addr_key(s.peer), s.peer.port), []).append(s)
    before = set()
    if len(ctx.samples) > 1:
        before = {tuple4(s) for s in ctx.index(ctx.earliest).in_state(TcpState.FIN_WAIT2) if s.owners}
    fin_timeout = snap.sysctl_int("net.ipv4.tcp_fin_timeout")
    names = process_names(snap)
    for _, socks in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        n = len(socks)
        if n < opts.threshold:
            continue
        peer = most_common(str(s.peer) for s in socks) or "?"
        kinds = [_orphaned(s, visible) for s in socks]
        orphans = kinds.count(True)
        owned = [s for s, k in zip(socks, kinds, strict=True) if k is False]
        unknown = kinds.count(None)
        owners = top((culprit(s, snap, names) for s in owned), 1)
        who = owners[0][0] if owners else None
        parts = []
        if orphans:
            timeout = f"{fin_timeout} s" if fin_timeout is not None else "60 s by default"
            parts.append(f"{orphans} orphaned (they expire after tcp_fin_timeout, {timeout})")
        if owned:
            parts.append(f"{len(owned)} still owned{f' by {who.label}' if who else ''} (they never time out)")
        if unknown:
            parts.append(f"{unknown} of unknown ownership (process information not visible)")
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        kept = sum(1 for s in owned if tuple4(s) in before)
        if persisted(kept, n, opts.persist_share):
            why.append(f"{kept} owned ones were already there in the first sample")
        message = (
            f"{n} FIN_WAIT_2 sockets toward {peer} (threshold {opts.threshold}): the remote end is "
            f"not closing its side; {', '.join(parts)}"
        )
        message += critical_note(why)
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if why else Severity.WARNING,
            message=message,
            process=who.name if who else None,
            pid=who.pid if who else None,
            local=most_common(str(s.local) for s in socks) if len({s.local for s in socks}) == 1 else None,
            peer=peer,
            value=n,
            threshold=opts.threshold,
            evidence=sorted_sockets(socks),
        )


RULE = Rule(
    id="fin_wait2_pileup",
    title="FIN_WAIT_2 sockets piling up toward one peer",
    severity=Severity.WARNING,
    explanation=(
        "This host closed these connections, but the peer never closed its side: the fault is on "
        "the peer, where the other half of each connection sits in CLOSE_WAIT. Orphaned FIN_WAIT_2 "
        "sockets expire after tcp_fin_timeout; those still owned by a process never do."
    ),
    remedy=(
        "Look at the named peer for a process leaking CLOSE_WAIT sockets (netdiag scan it, or "
        "`ss -tanp state close-wait` there). Locally, a process that shut down its side but keeps "
        "the socket open should close() it."
    ),
    options=Options,
    check=check,
)
