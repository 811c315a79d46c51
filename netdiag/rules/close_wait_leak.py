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
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import eq
from typing import TYPE_CHECKING

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Endpoint, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    Culprit,
    SocketIndex,
    biggest_first,
    critical_note,
    culprit_from_key,
    fd_note,
    grouped,
    most_common,
    over_threshold,
    persisted,
    plural,
    ports_of,
    rising,
    sorted_rows,
    take,
    text_counts,
    top,
    top_counted,
)

if TYPE_CHECKING:
    from netdiag.history import Metric

CW = TcpState.CLOSE_WAIT


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


def close_wait_groups(index: SocketIndex, at_least: int = 1) -> dict[Culprit, list[int]]:
    """CLOSE_WAIT sockets by culprit (groups of ``at_least``), as positions in ``index.rows(CLOSE_WAIT)``."""
    groups = grouped(index.culprit_keys(CW), at_least=at_least)
    return {culprit_from_key(k): positions for k, positions in groups.items()}


def history_key(c: Culprit, local_ports: Iterable[int | None]) -> str:
    """Stable across restarts: the process name and its main local port, not the pid."""
    from netdiag.history import close_wait_key  # here: history (sqlite3, click) only when it is kept

    return close_wait_key(c.name, most_common(local_ports))


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    index = ctx.index()
    cols = index.columns
    rows = index.rows(CW)
    groups = grouped(index.culprit_keys(CW), at_least=opts.threshold)
    earlier = [Counter(ctx.index(s).culprit_keys(CW)) for s in ctx.samples[:-1]]
    now: dict[str, Metric] = {}
    if ctx.history is not None:
        from netdiag.history import metrics  # here: history (sqlite3, click) only when it is kept

        now = metrics(snap)  # counted as history counts
    first_tuples = set(ctx.index(ctx.earliest).tuples(CW)) if earlier else set()
    tuples = index.tuples(CW) if earlier else []
    peer_keys = index.peer_keys(CW)
    local_at, peer_port_at, recv_q_at = index.local(CW), index.peer_port(CW), index.recv_q(CW)
    for culprit_key, positions in biggest_first(groups):
        c = culprit_from_key(culprit_key)
        n = len(positions)
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        if earlier:
            kept = sum(map(first_tuples.__contains__, take(tuples, positions)))
            if persisted(kept, n, opts.persist_share):
                age = ctx.sampled_seconds()
                since = f"{age:g} s earlier" if age is not None else "in the first sample"
                why.append(f"{kept} of them were already there {since}")
            counts = [float(g[culprit_key]) for g in earlier] + [float(n)]
            if rising(counts, opts.growth_min):
                why.append("the count grew across samples: " + " -> ".join(f"{v:g}" for v in counts))
        local_eps = take(local_at, positions)
        recorded: list[float] = []
        counted = None
        if ctx.history is not None:  # without it there is no series to read
            key = history_key(c, ports_of(local_eps))
            recorded = [v for _, v in ctx.series(key)]
            counted = now.get(key) if recorded else None
        current = float(n) if counted is None else counted.value
        trend = [*recorded[-(opts.history_scans - 1) :], current] if opts.history_scans > 1 else []
        if len(trend) >= max(opts.history_scans, 2) and rising(trend, opts.growth_min):
            why.append("the count grew over the last scans: " + " -> ".join(f"{v:g}" for v in trend))

        endpoints = Counter(local_eps)
        local_counts = text_counts(endpoints)  # by text
        local = top_counted(local_counts, 1)[0][0]
        n_local = len(local_counts)
        keys = take(peer_keys, positions)
        peers = top(keys, 3)
        best = peers[0][0]
        peer_ports = set(take(peer_port_at, compress(positions, map(eq, keys, repeat(best)))))
        peer = Endpoint(best, peer_ports.pop() if len(peer_ports) == 1 else None)
        queue = Counter(map(min, take(recv_q_at, positions), repeat(2)))
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
            evidence=cols.rows(sorted_rows(cols, positions, local=local_eps, row_of=rows, counts=endpoints)),
            evidence_total=n,
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
