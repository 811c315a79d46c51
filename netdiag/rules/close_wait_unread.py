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

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Socket, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import (
    addr_key,
    critical_note,
    fd_note,
    group_by_culprit,
    most_common,
    most_common_text,
    over_threshold,
    persisted,
    sorted_sockets,
    top,
    tuple4,
)


@dataclass(frozen=True, slots=True)
class Options:
    # A snapshot may catch a socket between the FIN's arrival and the application's last
    # read, but seldom more than one or two at once; five in one process is not that race.
    threshold: int = option(5, "CLOSE_WAIT sockets with Recv-Q >= 2 in one process that fire")
    # 4x, as close_wait_leak: far enough above that it is no longer a matter of timing.
    critical_factor: float = option(4.0, "critical at this many times the threshold")
    # Unread data that is still there a sample later is data nobody will read.
    persist_share: float = option(0.5, "critical when this share was already unread in the first sample")


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    unread = [s for s in ctx.index().in_state(TcpState.CLOSE_WAIT) if s.recv_q >= 2]
    before: set[tuple[str, int | None, str, int | None]] = set()
    if len(ctx.samples) > 1:
        before = {tuple4(s) for s in ctx.index(ctx.earliest).in_state(TcpState.CLOSE_WAIT) if s.recv_q >= 2}
    for c, socks in sorted(group_by_culprit(unread, snap).items(), key=lambda kv: -len(kv[1])):
        n = len(socks)
        if n < opts.threshold:
            continue
        why = over_threshold(n, opts.threshold, opts.critical_factor)
        kept = sum(1 for s in socks if tuple4(s) in before)
        if persisted(kept, n, opts.persist_share):
            why.append(f"{kept} of them already held unread data in the first sample")
        local = most_common_text(s.local for s in socks) or "?"
        unread_bytes = sum(s.recv_q - 1 for s in socks)  # the FIN is not data
        message = (
            f"{c.label} holds {n} CLOSE_WAIT sockets with unread data on {local} "
            f"(threshold {opts.threshold}; {unread_bytes} bytes unread in all, "
            f"largest Recv-Q {max(s.recv_q for s in socks)}): it stopped reading these connections"
        )
        fds = fd_note(snap, c.pid)
        if fds:
            message += f"; {fds}"
        message += "; top peers " + ", ".join(f"{a} ({k})" for a, k in top(addr_key(s.peer) for s in socks))
        message += critical_note(why)
        fullest_first: list[Socket] = sorted(sorted_sockets(socks), key=lambda s: -s.recv_q)
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if why else Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=local,
            peer=most_common(str(s.peer) for s in socks) if len({s.peer for s in socks}) == 1 else None,
            value=n,
            threshold=opts.threshold,
            evidence=fullest_first,
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
