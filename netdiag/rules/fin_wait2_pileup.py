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

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.model import TcpState, Timer
from netdiag.results import Finding, Severity
from netdiag.rules import (
    Tuple4,
    critical_note,
    culprit_of,
    grouped,
    local_endpoints,
    over_threshold,
    peer_counts,
    persisted,
    sorted_rows,
    take,
    text_counts,
    top,
    top_counted,
)

FW2 = TcpState.FIN_WAIT2


@dataclass(frozen=True, slots=True)
class Options:
    # The other half of a CLOSE_WAIT leak, judged like it (close_wait_leak's 50): orphans
    # live tcp_fin_timeout (60 s), so 50 needs a peer failing to close almost once a second.
    threshold: int = option(50, "FIN_WAIT_2 sockets toward one peer that fire")
    # 4x, as close_wait_leak.
    critical_factor: float = option(4.0, "critical at this many times the threshold")
    # Owned FIN_WAIT_2 never time out; if most were there a sample ago they are stuck.
    persist_share: float = option(0.5, "critical when this share is owned and was there in the first sample")


def _orphaned(owned: bool, timer: Timer | None, visible: bool) -> bool | None:
    """True if orphaned, False if owned, None when it cannot be told."""
    if owned:
        return False
    if (timer is not None and timer.kind == "timewait") or visible:
        return True
    return None


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    visible = snap.collection.process_visibility == "full"
    index = ctx.index()
    cols = index.columns
    rows = index.rows(FW2)
    keys = index.peer_keys(FW2)
    counts = Counter(keys)  # a peer holds at least as many as any of its ports: counted in C first
    if not counts or max(counts.values()) < opts.threshold:
        return
    peers = list(zip(keys, index.peer_port(FW2), strict=True))
    before: set[Tuple4] = set()
    if len(ctx.samples) > 1:
        first = ctx.index(ctx.earliest)
        owners = first.columns.owners
        before = set(take(first.tuples(FW2), (i for i, r in enumerate(first.rows(FW2)) if r in owners)))
    tuples = index.tuples(FW2) if before else []
    fin_timeout = snap.sysctl_int("net.ipv4.tcp_fin_timeout")
    names = index.names()
    owners_of = cols.owners
    for positions in sorted(grouped(peers, at_least=opts.threshold).values(), key=lambda g: -len(g)):
        group = take(rows, positions)
        n = len(group)
        best = top_counted(text_counts(peer_counts(cols, group)), 1)
        peer = best[0][0] if best else "?"
        kinds = [_orphaned(r in owners_of, cols.timer[r], visible) for r in group]
        orphans = kinds.count(True)
        owned = [r for r, k in zip(group, kinds, strict=True) if k is False]
        unknown = kinds.count(None)
        who_top = top((culprit_of(owners_of[r], cols.local_port[r], names) for r in owned), 1)
        who = who_top[0][0] if who_top else None
        parts = []
        if orphans:
            timeout = f"{fin_timeout} s" if fin_timeout is not None else "60 s by default"
            parts.append(f"{orphans} orphaned (they expire after tcp_fin_timeout, {timeout})")
        if owned:
            parts.append(f"{len(owned)} still owned{f' by {who.label}' if who else ''} (they never time out)")
        if unknown:
            parts.append(f"{unknown} of unknown ownership (process information not visible)")
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        kept = 0
        if before:  # owned ones with the same 4-tuple in the first sample
            kept = sum(1 for p, k in zip(positions, kinds, strict=True) if k is False and tuples[p] in before)
        if persisted(kept, n, opts.persist_share):
            why.append(f"{kept} owned ones were already there in the first sample")
        message = (
            f"{n} FIN_WAIT_2 sockets toward {peer} (threshold {opts.threshold}): the remote end is "
            f"not closing its side; {', '.join(parts)}"
        )
        message += critical_note(why)
        locals_ = set(local_endpoints(cols, group))
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if why else Severity.WARNING,
            message=message,
            process=who.name if who else None,
            pid=who.pid if who else None,
            local=str(locals_.pop()) if len(locals_) == 1 else None,
            peer=peer,
            value=n,
            threshold=opts.threshold,
            evidence=cols.rows(sorted_rows(cols, group)),
            evidence_total=n,
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
