"""close_wait_growth: one process's CLOSE_WAIT count rises scan after scan, still below the leak threshold.

CLOSE_WAIT has no timer: a socket leaves it only when its process calls close().
A steady pool of a few is a busy server between reading end-of-file and closing;
a count that only rises across the recorded scans (``netdiag scan`` with history,
e.g. hourly from cron) is a leak caught early, before it reaches
``close_wait_leak``'s threshold and long before the fd limit.

Needs history: fires when the last ``history_scans`` scans (this one included)
show the count of one process (by name and local port, so a series survives a
restart) never falling and up by ``growth_min`` or more, while the count is
below ``below``. At or above ``below`` the growth is ``close_wait_leak``'s to
report (it escalates to critical), so keep ``below`` equal to
``close_wait_leak.threshold`` when you change that one. The finding carries
the recorded series, drawn as a sparkline in the HTML report.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option, seconds_between
from netdiag.model import TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import biggest_first, fd_note, most_common_text, ports_of, rising, sorted_rows, take
from netdiag.rules.close_wait_leak import Options as LeakOptions
from netdiag.rules.close_wait_leak import close_wait_groups, history_key

_LEAK = LeakOptions()


@dataclass(frozen=True, slots=True)
class Options:
    # The hand-over point to close_wait_leak; its default, so the two rules meet with no gap.
    below: int = option(_LEAK.threshold, "counts at or above this are close_wait_leak's (keep them equal)")
    # Same trend test as close_wait_leak's history escalation: ten more, never fewer.
    growth_min: int = option(_LEAK.growth_min, "rise across the scans that fires")
    history_scans: int = option(_LEAK.history_scans, "recorded scans (this one included) that must rise")


def _rate(times: list[str], values: list[float]) -> str:
    """``"+12 per hour"`` over the trend's time span, when the scan times are readable."""
    span = seconds_between(times[0], times[-1]) if len(times) >= 2 else None
    if not span or span <= 0:
        return ""
    per_hour = (values[-1] - values[0]) / span * 3600
    return f" (about {per_hour:+.3g} per hour)"


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    if ctx.history is None or opts.history_scans < 2:
        return
    snap = ctx.latest
    from netdiag.history import metrics  # here: history (sqlite3, click) only when it is kept

    now = metrics(snap)  # counted exactly as the recorded series were
    index = ctx.index()
    cols = index.columns
    rows = index.rows(TcpState.CLOSE_WAIT)
    for c, positions in biggest_first(close_wait_groups(index)):
        n = len(positions)
        if n >= opts.below:
            continue
        group = take(rows, positions)
        local_eps = take(index.local(TcpState.CLOSE_WAIT), positions)
        key = history_key(c, ports_of(local_eps))
        points = ctx.series(key)
        if not points:
            continue
        counted = now.get(key)
        current = float(n) if counted is None else counted.value
        recorded = [v for _, v in points]
        trend = [*recorded[-(opts.history_scans - 1) :], current]
        if len(trend) < opts.history_scans or not rising(trend, opts.growth_min):
            continue
        times = [t for t, _ in points[-(opts.history_scans - 1) :]] + [snap.host.collected_at]
        local = most_common_text(local_eps) or "?"
        message = (
            f"{c.label} holds {n} CLOSE_WAIT sockets on {local}, below the leak threshold "
            f"({opts.below}) but growing over the last {len(trend)} scans: "
            + " -> ".join(f"{v:g}" for v in trend)
            + _rate(times, trend)
        )
        fds = fd_note(snap, c.pid)
        if fds:
            message += f"; {fds}"
        yield ctx.finding(
            RULE,
            severity=Severity.WARNING,
            message=message,
            process=c.name,
            pid=c.pid,
            local=local,
            value=current,
            threshold=opts.below,
            evidence=cols.rows(sorted_rows(cols, group)),
            evidence_total=n,
            confidence="high" if c.known else "medium",
            series=(*recorded, current),
        )


RULE = Rule(
    id="close_wait_growth",
    title="CLOSE_WAIT count of one process growing across scans",
    severity=Severity.WARNING,
    explanation=(
        "Each scan recorded more CLOSE_WAIT sockets for this process than the one before. A socket "
        "leaves CLOSE_WAIT only when the process calls close(), so a count that never falls is a "
        "leak: still small, but it will reach the fd limit at this pace."
    ),
    remedy=(
        "Look for a code path that drops a connection without close() (error paths, responses sent "
        "before reading the whole request, keep-alive timeouts); `netdiag history HOST --key "
        "'close_wait:*'` shows the series."
    ),
    options=Options,
    check=check,
)
