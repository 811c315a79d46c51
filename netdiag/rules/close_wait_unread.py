"""close_wait_unread: CLOSE_WAIT sockets still holding unread data: the application stopped reading.

On a CLOSE_WAIT socket Recv-Q counts the bytes the application has not read, and
the peer's FIN counts as one of them until end-of-file is read. Recv-Q 2 or more
therefore means data besides the FIN lies unread: the application stopped reading
these connections altogether (seed 002: the IMAP backend behind nginx).
``close_wait_leak`` covers the Recv-Q 0 and 1 cases.

Sockets are grouped by owning process (by local port when owners are unknown).
Fires at ``threshold`` such sockets in one group, as a warning; critical at
``critical_factor`` times the threshold, or when at least ``persist_share`` of them
still held unread data, same 4-tuple, in the first sample.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress, repeat
from operator import ge

from netdiag.engine import HostContext, Rule, option
from netdiag.model import TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    SocketIndex,
    biggest_first,
    critical_note,
    culprit_from_key,
    fd_note,
    fullest_rows,
    grouped,
    most_common_text,
    over_threshold,
    peer_counts,
    persisted,
    take,
    top,
)

CW = TcpState.CLOSE_WAIT


@dataclass(frozen=True, slots=True)
class Options:
    # A snapshot may catch a socket between the FIN's arrival and the application's last
    # read, but seldom more than one or two at once; five in one process is not that race.
    threshold: int = option(5, "CLOSE_WAIT sockets with Recv-Q >= 2 in one process that fire")
    # 4x, as close_wait_leak: far enough above that it is no longer a matter of timing.
    critical_factor: float = option(4.0, "critical at this many times the threshold")
    # Unread data that is still there a sample later is data nobody will read.
    persist_share: float = option(0.5, "critical when this share was already unread in the first sample")


def _unread(index: SocketIndex) -> list[int]:
    """Positions in ``index.rows(CLOSE_WAIT)`` of the sockets with Recv-Q 2 or more."""
    queues = index.recv_q(CW)
    return list(compress(range(len(queues)), map(ge, queues, repeat(2))))


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    index = ctx.index()
    cols = index.columns
    rows = index.rows(CW)
    unread = _unread(index)
    before: set[tuple[str, int | None, str, int | None]] = set()
    if len(ctx.samples) > 1:
        first = ctx.index(ctx.earliest)
        before = set(take(first.tuples(CW), _unread(first)))
    tuples = index.tuples(CW) if before else []
    peer_keys = index.peer_keys(CW)
    local_at, peer_port_at, recv_q_at = index.local(CW), index.peer_port(CW), index.recv_q(CW)
    for key, positions in biggest_first(grouped(index.culprit_keys(CW), unread, opts.threshold)):
        c = culprit_from_key(key)
        n = len(positions)
        group = take(rows, positions)
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        kept = sum(map(before.__contains__, take(tuples, positions))) if before else 0
        if persisted(kept, n, opts.persist_share):
            why.append(f"{kept} of them already held unread data in the first sample")
        local = most_common_text(take(local_at, positions)) or "?"
        queues = take(recv_q_at, positions)
        unread_bytes = sum(queues) - n  # the FIN is not data
        message = (
            f"{c.label} holds {n} CLOSE_WAIT sockets with unread data on {local} "
            f"(threshold {opts.threshold}; {unread_bytes} bytes unread in all, "
            f"largest Recv-Q {max(queues)}): it stopped reading these connections"
        )
        fds = fd_note(snap, c.pid)
        if fds:
            message += f"; {fds}"
        message += "; top peers " + ", ".join(f"{a} ({k})" for a, k in top(take(peer_keys, positions)))
        message += critical_note(why)
        one_port = len(set(take(peer_port_at, positions))) == 1  # else more than one peer, surely
        peers = list(peer_counts(cols, group)) if one_port else []
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if why else Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=local,
            peer=str(peers[0]) if len(peers) == 1 else None,
            value=n,
            threshold=opts.threshold,
            evidence=cols.rows(fullest_rows(cols, group, queues=queues)),
            evidence_total=n,
            confidence="high" if c.known else "medium",
        )


RULE = Rule(
    id="close_wait_unread",
    title="CLOSE_WAIT sockets with unread data",
    severity=Severity.WARNING,
    explanation=(
        "The peer sent data and then closed, but the local application never read that data, let "
        "alone the end-of-file behind it: it has stopped reading these connections. Recv-Q counts "
        "the unread bytes plus one for the FIN."
    ),
    remedy=(
        "Look for the code path that abandons a connection without draining it (a handler that "
        "gave up, a stuck worker, a response sent before the request body was read); take a "
        "thread dump of the process to see where its readers are blocked."
    ),
    options=Options,
    check=check,
)
