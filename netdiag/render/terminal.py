"""The terminal summary an on-call engineer reads: hosts table, findings, one-line recap.

Host-supplied text (process names, host names, messages) passes through
:func:`clean` first: a process named with an ANSI escape or a newline must not
repaint the operator's terminal or break the table.
"""

from __future__ import annotations

from collections.abc import Sequence

from tabulate import tabulate

from netdiag.render import (
    QueueFill,
    findings_by_host,
    fullest_queue,
    host_worst,
    number,
    severity_counts,
    sort_findings,
    state_counts,
    visible,
)
from netdiag.results import Finding, HostResult, ScanResult, Severity

#: The states the table shows, with their column headings; the rest are in JSON/HTML.
TABLE_STATES: tuple[tuple[str, str], ...] = (
    ("ESTABLISHED", "ESTAB"),
    ("CLOSE_WAIT", "CLOSE_WAIT"),
    ("FIN_WAIT2", "FIN_WAIT2"),
    ("TIME_WAIT", "TIME_WAIT"),
    ("SYN_SENT", "SYN_SENT"),
)
#: Evidence lines shown per finding with -v; the rest are counted, not printed.
EVIDENCE_LINES = 10

_RESET = "\x1b[0m"
_STYLE = {
    "critical": "\x1b[1;31m",
    "warning": "\x1b[33m",
    "info": "\x1b[36m",
    "ok": "\x1b[32m",
    "failed": "\x1b[1;35m",
    "dim": "\x1b[2m",
}


def clean(text: str) -> str:
    """Host text made safe to print on one line: control characters become visible ``\\xNN``."""
    return visible(text, one_line=True)


def _paint(text: str, style: str, color: bool) -> str:
    return f"{_STYLE[style]}{text}{_RESET}" if color else text


def _first_line(text: str) -> str:
    """The first line (or sentence, for a long paragraph) of a remedy."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    if len(line) > 160 and ". " in line[:160]:
        line = line[: line.index(". ", 0, 160) + 1]
    return line


def _queue(fill: QueueFill | None) -> str:
    if fill is None:
        return "-"
    return f"{fill.text} {clean(fill.local)}"


def _host_row(host: HostResult, findings: Sequence[Finding], color: bool) -> list[str]:
    views = host.views()
    verdict = host_worst(host, findings)
    if views:
        counts = state_counts(views)
        numbers = [str(counts[state]) for state, _ in TABLE_STATES]
        fill = fullest_queue(views)
        queue = _queue(fill)
        if fill is not None and fill.full:
            queue = _paint(queue, "critical", color)
    else:
        numbers = ["-"] * len(TABLE_STATES)
        queue = "-"
    if verdict is None:
        worst_text = "-"
    else:
        top = max(findings, key=lambda f: f.severity, default=None)
        worst_text = verdict.label if top is None else f"{verdict.label}: {top.rule}"
        worst_text = _paint(worst_text, verdict.label, color)
    outcome = host.outcome.value
    if not host.outcome.scanned:
        outcome = _paint(outcome, "failed", color)
    elif host.outcome.value != "ok":
        outcome = _paint(outcome, "warning", color)
    return [clean(host.name), outcome, *numbers, queue, worst_text]


def _finding_lines(f: Finding, color: bool, verbose: bool) -> list[str]:
    where = [clean(f.host)]
    if f.netns:
        where.append(f"netns {clean(f.netns)}")
    if f.process or f.pid is not None:
        who = clean(f.process or "?")
        where.append(who if f.pid is None else f"{who}[{f.pid}]")
    if f.local:
        where.append(clean(f.local) + (f" -> {clean(f.peer)}" if f.peer else ""))
    elif f.peer:
        where.append(f"peer {clean(f.peer)}")
    measure = ""
    if f.value is not None:
        measure = f"  {number(f.value)}"
        if f.threshold is not None:
            measure += f" (threshold {number(f.threshold)})"
    badge = _paint(f.severity.label.upper(), f.severity.label, color)
    head = f"{badge} {clean(f.rule)}  {'  '.join(where)}{measure}"
    lines = [head, f"    {clean(f.message)}"]
    if f.confidence != "high":
        lines.append(f"    confidence: {clean(f.confidence)}")
    for r in f.related:
        who = clean(r.process or "?") + ("" if r.pid is None else f"[{r.pid}]")
        lines.append(f"    related: {clean(r.host)} {who}")
    remedy = _first_line(f.remedy)
    if remedy:
        lines.append(f"    fix: {clean(remedy)}")
    if verbose and f.evidence:
        shown = f.evidence[:EVIDENCE_LINES]
        total = max(f.evidence_total, len(f.evidence))
        lines.append(_paint(f"    evidence ({len(shown)} of {total}):", "dim", color))
        lines.extend(f"      {clean(e)}" for e in shown)
        if total > len(shown):
            lines.append(_paint(f"      ... {total - len(shown)} more", "dim", color))
    return lines


def recap(result: ScanResult) -> str:
    """One line: hosts scanned and failed, findings by severity."""
    failed = [h for h in result.hosts if not h.outcome.scanned]
    partial = sum(1 for h in result.hosts if h.outcome.value == "partial")
    scanned = len(result.hosts) - len(failed)
    hosts = f"{len(result.hosts)} host{'s' if len(result.hosts) != 1 else ''}: {scanned} scanned"
    if partial:
        hosts += f" ({partial} partial)"
    hosts += f", {len(failed)} failed"
    counts = severity_counts(result.findings)
    found = ", ".join(f"{n} {sev.label}" for sev, n in counts.items())
    return f"{hosts}; findings: {found}"


def render_text(result: ScanResult, *, color: bool = False, verbose: bool = False) -> str:
    """The terminal report; ``color`` adds ANSI styles, ``verbose`` the evidence lines."""
    ordered = sort_findings(result.findings)
    grouped = findings_by_host(ordered)
    headers = ["host", "outcome", *(h for _, h in TABLE_STATES), "fullest accept queue", "worst"]
    rows = [_host_row(h, grouped.get(h.name, []), color) for h in result.hosts]
    out: list[str] = []
    if rows:
        out.append(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
    failed = [h for h in result.hosts if not h.outcome.scanned]
    if failed:
        out.append("")
        out.append(_paint("Could not scan:", "failed", color))
        out.extend(
            f"  {clean(h.name)} ({clean(h.address)}): {h.outcome.value}"
            + (f": {clean(h.message)}" if h.message else "")
            for h in failed
        )
    if ordered:
        out.append("")
        out.append("Findings, most severe first:")
        for f in ordered:
            out.extend(_finding_lines(f, color, verbose))
    out.append("")
    line = recap(result)
    top = max((f.severity for f in ordered), default=Severity.OK)
    out.append(_paint(line, top.label if top > Severity.OK else ("failed" if failed else "ok"), color))
    return "\n".join(out) + "\n"
