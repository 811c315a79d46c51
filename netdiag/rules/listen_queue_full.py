"""listen_queue_full: a listening socket's accept queue is (nearly) full.

On a LISTEN socket ``ss`` shows the accept queue as Recv-Q and the effective backlog
(listen()'s argument capped by ``net.core.somaxconn``) as Send-Q. Connections wait
there, already established, until the application calls accept(); when the queue
is full (Recv-Q above Send-Q, the kernel admits backlog + 1) new SYNs are dropped
and clients time out.

Fires when the queue reaches ``warn_share`` of the backlog, as a warning; critical
when it is full. Notes when the backlog equals ``somaxconn`` (listen()'s request was
probably capped). Only ``ss`` tells the backlog; with netstat or /proc as the socket
source this rule cannot judge (``collection_incomplete`` says so).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.results import Finding, Severity
from netdiag.rules import culprit, process_names


@dataclass(frozen=True, slots=True)
class Options:
    # The common warning share (issue 4: "80% and 95% are common"); a healthy listener's
    # queue is near empty, so 80% already means accept() is falling behind.
    warn_share: float = option(0.8, "share of the backlog at which the queue warns")


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    somaxconn = snap.sysctl_int("net.core.somaxconn")
    names = process_names(snap)
    earlier_full = [
        {lst.socket.local for lst in ctx.index(s).listeners() if lst.full} for s in ctx.samples[:-1]
    ]
    for lst in ctx.index().listeners():
        if lst.backlog is None or lst.queue == 0:
            continue
        fire_at = max(1, math.ceil(opts.warn_share * lst.backlog))
        if lst.queue < fire_at:
            continue
        c = culprit(lst.socket, snap, names)
        where = str(lst.socket.local)
        state = "full" if lst.full else f"{100 * lst.queue / max(lst.backlog, 1):.0f}% full"
        message = (
            f"{c.label if c.known else 'the listener'} on {where} has {lst.queue} connections waiting "
            f"in an accept queue of {lst.backlog} ({state}; warns at {fire_at})"
        )
        if lst.full:
            message += ": new SYNs are being dropped"
        if earlier_full and lst.full and all(lst.socket.local in e for e in earlier_full):
            message += f"; full in all {len(ctx.samples)} samples"
        if somaxconn is not None and lst.backlog == somaxconn:
            message += (
                f"; the backlog equals net.core.somaxconn ({somaxconn}), so listen() probably asked "
                "for more and was capped"
            )
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if lst.full else Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=where,
            value=lst.queue,
            threshold=fire_at,
            evidence=[lst.socket],
            confidence="high",
        )


RULE = Rule(
    id="listen_queue_full",
    title="Accept queue full or nearly full",
    severity=Severity.WARNING,
    explanation=(
        "Connections are established by the kernel and wait in the listener's accept queue until "
        "the application calls accept(). This queue is filling up, so the application accepts "
        "slower than clients arrive; once it is full new SYNs are dropped and clients time out."
    ),
    remedy=(
        "Find why the process is not accepting (blocked or saturated workers, fd limit reached: see "
        "fd_exhaustion); raise listen()'s backlog and net.core.somaxconn only if bursts are the "
        "cause, as a bigger queue also means longer waits."
    ),
    options=Options,
    check=check,
)
