"""Rendering: a scan's result as terminal text, JSON and a self-contained HTML report.

The facts every output shows the same way (a host's views per network namespace,
its state counts, its fullest accept queue, its worst finding, the order of
findings) are computed here once, so the three formats never disagree.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from netdiag.model import Listener, Snapshot, TcpState
from netdiag.results import Finding, HostResult, Severity

#: Every kernel state name, in the kernel's order: outputs list all of them so a
#: missing key never has to be read as "zero or unknown?".
STATE_NAMES: tuple[str, ...] = tuple(s.value for s in TcpState)

#: Finding severities, most severe first (OK is a host verdict, never a finding's).
SEVERITIES_DESC: tuple[Severity, ...] = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)


# C0/C1 controls, lone surrogates, Unicode noncharacters, line separators and bidi
# overrides: none may reach an output verbatim (they repaint terminals, are parse
# errors in HTML, cannot be encoded as UTF-8, or make text read differently than it is).
_ODD = "\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff"
_UNPRINTABLE = re.compile(f"[\x00-\x08\x0b-\x1f{_ODD}]")
_UNPRINTABLE_LINES = re.compile(f"[\x00-\x1f{_ODD}]")


def _escape_char(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def visible(text: str, *, one_line: bool = False) -> str:
    """Host-supplied text made safe for any output: unprintable characters become ``\\xNN``.

    ``one_line`` also escapes tab and newline, for table cells and single-line listings.
    """
    return (_UNPRINTABLE_LINES if one_line else _UNPRINTABLE).sub(_escape_char, text)


def state_counts(views: Iterable[Snapshot]) -> dict[str, int]:
    """Counts of every kernel state (all twelve keys) summed over the given views."""
    counts = dict.fromkeys(STATE_NAMES, 0)
    for snap in views:
        for name, n in snap.state_counts().items():
            counts[name] += n
    return counts


@dataclass(frozen=True, slots=True)
class QueueFill:
    """One listener's accept queue, with who owns it, as every output shows it."""

    local: str
    queue: int
    backlog: int | None
    process: str | None
    pid: int | None
    netns: str

    @property
    def full(self) -> bool:
        return self.backlog is not None and self.queue > self.backlog

    @property
    def ratio(self) -> float | None:
        """queue/backlog; None when the backlog is unknown (netstat, /proc)."""
        if self.backlog is None:
            return None
        return self.queue / self.backlog if self.backlog > 0 else (1.0 if self.queue == 0 else float("inf"))

    @property
    def text(self) -> str:
        return f"{self.queue}/{'?' if self.backlog is None else self.backlog}"


def _fill(listener: Listener, netns: str) -> QueueFill:
    owner = listener.socket.owners[0] if listener.socket.owners else None
    return QueueFill(
        local=str(listener.socket.local),
        queue=listener.queue,
        backlog=listener.backlog,
        process=owner.name if owner else None,
        pid=owner.pid if owner else None,
        netns=netns,
    )


def _fill_key(f: QueueFill) -> tuple[float, int]:
    ratio = f.ratio
    return (-1.0 if ratio is None else ratio, f.queue)


def queue_fills(views: Iterable[Snapshot]) -> list[QueueFill]:
    """Every listener of the views, fullest first (known backlogs before unknown ones)."""
    fills = [_fill(lst, snap.host.netns) for snap in views for lst in snap.listeners]
    fills.sort(key=_fill_key, reverse=True)
    return fills


def fullest_queue(views: Iterable[Snapshot]) -> QueueFill | None:
    """The listener whose accept queue is fullest relative to its backlog, if any."""
    fills = [_fill(lst, snap.host.netns) for snap in views for lst in snap.listeners]
    return max(fills, key=_fill_key, default=None)


def findings_by_host(findings: Iterable[Finding]) -> dict[str, list[Finding]]:
    """Findings grouped by host in one pass, so no output loops hosts × findings."""
    grouped: dict[str, list[Finding]] = {}
    for f in findings:
        grouped.setdefault(f.host, []).append(f)
    return grouped


def worst(findings: Iterable[Finding]) -> Severity:
    """The most severe finding's severity; OK when there is none."""
    return max((f.severity for f in findings), default=Severity.OK)


def host_worst(host: HostResult, findings: Sequence[Finding]) -> Severity | None:
    """A host's worst severity; None when it could not be scanned and nothing was found about it.

    An unscanned host is not "ok": we know nothing of it, so no verdict is given.
    """
    if not findings and not host.outcome.scanned:
        return None
    return worst(findings)


def sort_findings(findings: Iterable[Finding]) -> list[Finding]:
    """Most severe first; within a severity by host, rule and value (largest first). Stable."""
    return sorted(
        findings,
        key=lambda f: (-f.severity, f.host, f.rule, -(f.value or 0.0), f.local or "", f.process or ""),
    )


def severity_counts(findings: Iterable[Finding]) -> dict[Severity, int]:
    """Counts per finding severity, critical first, every level present."""
    counts = dict.fromkeys(SEVERITIES_DESC, 0)
    for f in findings:
        if f.severity in counts:
            counts[f.severity] += 1
    return counts


def number(value: float | None) -> str:
    """A finding's value or threshold as people write it: 200, not 200.0; 0.85 stays."""
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"
