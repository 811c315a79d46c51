"""listen_overflows: the kernel is dropping SYNs because accept queues overflow.

``ListenOverflows`` (accept queue full) and ``ListenDrops`` (every SYN dropped at a
listener, overflows included) in ``/proc/net/netstat`` count since boot. Growth
between the samples of this scan, or since the last recorded scan (history), means
clients are losing connection attempts now: a warning, critical when it grew by
``critical_delta`` or more. A nonzero count with no growth seen is only info: it
happened some time since boot.

The fullest accept queue of the snapshot is named as the likely culprit
(``listen_queue_full`` judges it on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.history import counter_key
from netdiag.model import Listener, Snapshot
from netdiag.results import Finding, Severity
from netdiag.rules import culprit

COUNTERS = ("ListenOverflows", "ListenDrops")


@dataclass(frozen=True, slots=True)
class Options:
    # Every dropped SYN is a client waiting a retransmit (1 s, then 3 s...): any growth counts.
    min_delta: int = option(1, "growth between samples or scans that warns")
    # A hundred drops in one scan's interval is a sustained overload, not a burst.
    critical_delta: int = option(100, "growth that is critical")
    # Past drops are worth a line (the overload may come back) but not a page.
    report_since_boot: bool = option(True, "report a nonzero count since boot as info")


def _value(snap: Snapshot, name: str) -> int | None:
    return snap.counters.get("TcpExt", {}).get(name)


def _fullest(ctx: HostContext) -> Listener | None:
    known = [lst for lst in ctx.index().listeners() if lst.backlog is not None and lst.queue > 0]
    return max(known, key=lambda lst: (lst.queue / max(lst.backlog or 1, 1), lst.queue), default=None)


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    grew: list[str] = []
    delta = 0
    since_boot = {}
    for name in COUNTERS:
        now = _value(snap, name)
        if now is None:
            continue
        since_boot[name] = now
        first = _value(ctx.earliest, name) if len(ctx.samples) > 1 else None
        if first is not None and now - first > 0:  # a smaller value means a reboot: no delta
            secs = ctx.sampled_seconds()
            span = f"{secs:g} s" if secs is not None else f"{len(ctx.samples)} samples"
            grew.append(f"{name} grew by {now - first} between samples ({span})")
            delta = max(delta, now - first)
        recorded = ctx.series(counter_key("TcpExt", name))
        if recorded and now - recorded[-1][1] > 0:
            d = int(now - recorded[-1][1])
            grew.append(f"{name} grew by {d} since the last scan ({recorded[-1][0]})")
            delta = max(delta, d)
    if not since_boot:
        return
    lst = _fullest(ctx)
    c = culprit(lst.socket, snap) if lst is not None else None
    suspect = ""
    if lst is not None and c is not None:
        owner = f", {c.label}" if c.known else ""
        suspect = f"; fullest accept queue: {lst.socket.local} {lst.queue}/{lst.backlog}{owner}"
    if delta >= opts.min_delta:
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if delta >= opts.critical_delta else Severity.WARNING,
            message="SYNs are being dropped now: " + "; ".join(grew) + suspect,
            process=c.name if c is not None else None,
            pid=c.pid if c is not None else None,
            local=str(lst.socket.local) if lst is not None else None,
            value=delta,
            threshold=opts.min_delta,
            evidence=[lst.socket] if lst is not None else [],
            confidence="high" if lst is not None else "medium",
        )
    elif opts.report_since_boot and any(since_boot.values()):
        seen = ", ".join(f"{n} {v}" for n, v in since_boot.items())
        how = "no growth between samples" if len(ctx.samples) > 1 else "one sample: cannot tell when"
        yield ctx.finding(
            RULE,
            severity=Severity.INFO,
            message=f"SYNs were dropped at some time since boot ({seen}; {how}){suspect}",
            value=max(since_boot.values()),
            threshold=None,
            remedy="Nothing now; scan with --samples (or keep history) to see whether the drops recur.",
        )


RULE = Rule(
    id="listen_overflows",
    title="SYNs dropped by overflowing accept queues",
    severity=Severity.WARNING,
    explanation=(
        "The kernel counts every connection attempt it dropped because a listener's accept queue "
        "was full. A growing count means clients are timing out on connect right now, retrying "
        "after 1, 3, 7 seconds."
    ),
    remedy=(
        "Find the listener whose queue fills (listen_queue_full, `ss -ltn`) and why its process "
        "accepts too slowly; net.ipv4.tcp_abort_on_overflow=1 makes clients fail fast instead of "
        "waiting, which helps diagnosis, not the cause."
    ),
    options=Options,
    check=check,
)
