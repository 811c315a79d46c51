"""close_wait_leak: one process holds many CLOSE_WAIT sockets, so it is not calling close().

A socket enters CLOSE_WAIT when the peer's FIN arrives and leaves it only when the
local application closes it: there is no timer. A correct server holds one for the
moment between reading end-of-file and calling close(), so many owned by one process
are a leak. Sockets are grouped by owning process; where owners are unknown (no
root, no process visibility) by local port.

Fires at ``threshold`` sockets in one group, as a warning. Critical when:

- the count is ``critical_factor`` times the threshold or more;
- at least ``persist_share`` of the sockets were already there, same 4-tuple, in
  the first sample (``--samples``): sockets that survive between samples are leaked;
- the count grew by ``growth_min`` or more across the samples without ever falling,
  or across the last ``history_scans`` recorded scans (history). Below the
  threshold, growth across the recorded scans is ``close_wait_growth``'s finding.

The message tells Recv-Q 0 (the application read end-of-file and forgot close())
from Recv-Q 1 (it never even read end-of-file: it stopped reading the socket), and
shows the process's open fds against its limit and its top peers.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.history import close_wait_key, metrics
from netdiag.model import Endpoint, Snapshot, Socket, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    Culprit,
    addr_key,
    critical_note,
    fd_note,
    group_by_culprit,
    most_common,
    most_common_text,
    over_threshold,
    persisted,
    plural,
    rising,
    sorted_sockets,
    top,
    tuple4,
)


@dataclass(frozen=True, slots=True)
class Options:
    # DOMAIN.md: a healthy host shows few or none, "dozens owned by one process are already
    # suspicious"; 50 sits above any close() race a busy server can show in one snapshot.
    threshold: int = option(50, "CLOSE_WAIT sockets in one process (or local port) that fire")
    # 4 x 50 = 200: a fifth of the usual 1024-fd limit (seed 001) spent on dead connections.
    critical_factor: float = option(4.0, "critical at this many times the threshold")
    # DOMAIN.md: "any that persist between two samples are leaked"; requiring half of them
    # leaves room for sockets a slow but correct server was about to close.
    persist_share: float = option(0.5, "critical when this share survived since the first sample")
    # A busy server's CLOSE_WAIT count wobbles by a few between samples; ten more, never
    # fewer, is a trend.
    growth_min: int = option(10, "critical when the count rose by this much across samples/scans")
    # Three points make a trend, two a coincidence (issue 6: "grown across the last scans").
    history_scans: int = option(3, "recorded scans (this one included) that must show growth")


def _close_waits(ctx: HostContext, snap: Snapshot) -> list[Socket]:
    return ctx.index(snap).in_state(TcpState.CLOSE_WAIT)


def _history_key(c: Culprit, socks: list[Socket]) -> str:
    """Stable across restarts: the process name and its main local port, not the pid."""
    return close_wait_key(c.name, most_common(s.local.port for s in socks))


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    groups = group_by_culprit(_close_waits(ctx, snap), snap)
    earlier = [group_by_culprit(_close_waits(ctx, s), s) for s in ctx.samples[:-1]]
    now = metrics(snap) if ctx.history is not None else {}  # counted as history counts
    first_tuples = {tuple4(s) for s in _close_waits(ctx, ctx.earliest)} if earlier else set()
    for c, socks in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        n = len(socks)
        if n < opts.threshold:
            continue
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        if earlier:
            kept = sum(1 for s in socks if tuple4(s) in first_tuples)
            if persisted(kept, n, opts.persist_share):
                age = ctx.sampled_seconds()
                since = f"{age:g} s earlier" if age is not None else "in the first sample"
                why.append(f"{kept} of them were already there {since}")
            counts = [float(len(g.get(c, ()))) for g in earlier] + [float(n)]
            if rising(counts, opts.growth_min):
                why.append("the count grew across samples: " + " -> ".join(f"{v:g}" for v in counts))
        key = _history_key(c, socks)
        recorded = [v for _, v in ctx.series(key)]
        counted = now.get(key) if recorded else None
        current = float(n) if counted is None else counted.value
        trend = [*recorded[-(opts.history_scans - 1) :], current] if opts.history_scans > 1 else []
        if len(trend) >= max(opts.history_scans, 2) and rising(trend, opts.growth_min):
            why.append("the count grew over the last scans: " + " -> ".join(f"{v:g}" for v in trend))

        local = most_common_text(s.local for s in socks) or "?"
        n_local = len({str(e) for e in {s.local for s in socks}})
        peers = top((addr_key(s.peer) for s in socks), 3)
        peer_ports = {s.peer.port for s in socks if addr_key(s.peer) == peers[0][0]}
        peer = Endpoint(peers[0][0], peer_ports.pop() if len(peer_ports) == 1 else None)
        queue = Counter(min(s.recv_q, 2) for s in socks)
        parts = []
        if queue[0]:
            parts.append(f"{queue[0]} with Recv-Q 0 (read end-of-file, never called close())")
        if queue[1]:
            parts.append(f"{queue[1]} with Recv-Q 1 (never read end-of-file: it stopped reading)")
        if queue[2]:
            parts.append(f"{queue[2]} with unread data")
        where = local if n_local == 1 else f"{local} and {plural(n_local - 1, 'other local endpoint')}"
        message = f"{c.label} holds {n} CLOSE_WAIT sockets on {where} (threshold {opts.threshold}): "
        message += "; ".join(parts)
        fds = fd_note(snap, c.pid)
        if fds:
            message += f"; {fds}"
        message += "; top peers " + ", ".join(f"{a} ({k})" for a, k in peers)
        message += critical_note(why)
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if why else Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=local,
            peer=str(peer),
            value=n,
            threshold=opts.threshold,
            evidence=sorted_sockets(socks),
            confidence="high" if c.known else "medium",
            series=(*recorded, current) if recorded else (),
        )


RULE = Rule(
    id="close_wait_leak",
    title="CLOSE_WAIT sockets piling up in one process",
    severity=Severity.WARNING,
    explanation=(
        "The peers closed these connections but the local process never called close(), so each "
        "socket stays in CLOSE_WAIT, holding a file descriptor, until the process exits. The count "
        "only grows; at the fd limit accept() fails with EMFILE, and on loopback the stale 4-tuples "
        "can make new connections hang (ephemeral_port_collision)."
    ),
    remedy=(
        "Find where the process drops a connection without close() (error paths, early responses "
        "before reading the request body, keep-alive handling); restarting it frees the sockets "
        "only until the leak refills them."
    ),
    options=Options,
    check=check,
)
