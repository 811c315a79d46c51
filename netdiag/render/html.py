"""The self-contained HTML report: a view model first, then a jinja2 template that only formats.

Everything the template shows is computed here in one linear pass over hosts and
findings (per-host findings are grouped once, never searched per host), so a
fleet of hundreds of hosts and thousands of findings renders in time linear in
its size. The template is autoescaped; host text reaches it only as plain
strings, charts only as :class:`markupsafe.Markup` built by :mod:`netdiag.render.svg`.
The page loads nothing: CSS is inlined, and a Content-Security-Policy allows no
source but the one inline script, pinned by its hash.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import html
from collections.abc import Sequence
from dataclasses import dataclass
from importlib.resources import files

import jinja2
from markupsafe import Markup

from netdiag import __version__
from netdiag.render import (
    SEVERITIES_DESC,
    host_worst,
    number,
    queue_fills,
    severity_counts,
    sort_findings,
    state_counts,
    svg,
    visible,
)
from netdiag.render.jsonout import SCAN_SCHEMA
from netdiag.results import Finding, HostResult, ScanResult, Severity

#: Evidence lines shown per finding; rules bound evidence already, this bounds the page.
EVIDENCE_LINES = 25
#: The page's first (most severe) findings show EVIDENCE_LINES; later ones TAIL_EVIDENCE_LINES
#: (as many as ``-v`` prints), so 10,000 findings make a page a browser opens easily.
FULL_EVIDENCE_FINDINGS = 1000
TAIL_EVIDENCE_LINES = 10
#: Listeners drawn per host, fullest first.
LISTENER_BARS = 12
TEMPLATE = "report.html"
SCRIPT = "filter.js"


@dataclass(frozen=True, slots=True)
class RelatedView:
    host: str
    process: str
    pid: int | None


@dataclass(frozen=True, slots=True)
class FindingView:
    anchor: str
    severity: str
    rule: str
    host: str
    host_anchor: str | None
    netns: str | None
    process: str | None
    pid: int | None
    local: str | None
    peer: str | None
    value: str | None
    threshold: str | None
    confidence: str
    message: str
    explanation: str | None  # None: the same text as the rule's first finding, ``rule_first``, shows
    remedy: str | None  # likewise
    rule_first: str  # anchor of the rule's first finding, which always shows both in full
    evidence: Markup  # the shown lines, joined and escaped once (one escape, not one per line)
    evidence_shown: int
    evidence_total: int
    related: tuple[RelatedView, ...]
    series: Markup


@dataclass(frozen=True, slots=True)
class FindingRef:
    """A host section's link to one of its findings."""

    anchor: str
    severity: str
    rule: str
    message: str


@dataclass(frozen=True, slots=True)
class ListenerView:
    local: str
    process: str | None
    pid: int | None
    fill: str
    full: bool
    netns: str


@dataclass(frozen=True, slots=True)
class HostView:
    anchor: str
    name: str
    address: str
    outcome: str
    scanned: bool
    message: str | None
    worst: str  # ok | info | warning | critical | unknown (not scanned)
    counts: tuple[int, int, int]  # critical, warning, info findings
    netns: tuple[str, ...]
    hostname: str
    kernel: str
    collected_at: str
    samples: int
    missing: tuple[str, ...]
    states: tuple[tuple[str, int], ...]
    total_sockets: int
    state_chart: Markup
    queue_chart: Markup
    fullest: str
    fullest_full: bool
    listeners: tuple[ListenerView, ...]
    listeners_total: int
    findings: tuple[FindingRef, ...]


@dataclass(frozen=True, slots=True)
class SeverityGroup:
    severity: str
    findings: tuple[FindingView, ...]
    open: bool  # info findings start collapsed so critical ones stay in view


@dataclass(frozen=True, slots=True)
class RuleRow:
    """One line of the findings-by-rule table: how widespread each diagnosis is."""

    rule: str
    counts: tuple[int, int, int]  # critical, warning, info
    hosts: int
    first: str  # anchor of its most severe finding


@dataclass(frozen=True, slots=True)
class ReportView:
    title: str
    started: str
    duration: str
    version: str
    schema: str
    inventory: str | None
    options: tuple[tuple[str, str], ...]
    totals: tuple[tuple[str, int], ...]  # (severity label, findings), critical first
    hosts_total: int
    hosts_scanned: int
    hosts_failed: int
    hosts_by_worst: tuple[tuple[str, int], ...]
    groups: tuple[SeverityGroup, ...]
    by_rule: tuple[RuleRow, ...]  # most critical findings first
    fleet: tuple[HostView, ...]  # worst first
    failed: tuple[HostView, ...]
    hosts: tuple[HostView, ...]  # scanned hosts, inventory order


def _t(text: str) -> str:
    """Host text for the page: autoescape handles markup, this the characters HTML forbids."""
    return visible(text)


def _opt(text: str | None) -> str | None:
    return None if text is None else visible(text)


def _pre_text(lines: Sequence[str]) -> Markup:
    """Lines as the text of a ``<pre>``: joined, then escaped once (quotes need no escape in text)."""
    return Markup(html.escape(visible("\n".join(lines)), quote=False))  # noqa: S704 (escaped here)


def _finding_view(
    i: int, f: Finding, anchors: dict[str, str], firsts: dict[str, tuple[Finding, str]]
) -> FindingView:
    """One finding; ``firsts`` maps each rule to its first finding and anchor (this one, if none yet).

    A fleet-wide incident repeats one rule's explanation and remedy on thousands of
    findings; only the rule's first finding carries them, the others link to it
    (unless their text differs), which keeps a 10,000-finding page a fraction of the size.
    """
    first, first_anchor = firsts.setdefault(f.rule, (f, f"f{i}"))
    shown = f.evidence[: EVIDENCE_LINES if i < FULL_EVIDENCE_FINDINGS else TAIL_EVIDENCE_LINES]
    return FindingView(
        anchor=f"f{i}",
        severity=f.severity.label,
        rule=_t(f.rule),
        host=_t(f.host),
        host_anchor=anchors.get(f.host),
        netns=_opt(f.netns),
        process=_opt(f.process),
        pid=f.pid,
        local=_opt(f.local),
        peer=_opt(f.peer),
        value=None if f.value is None else number(f.value),
        threshold=None if f.threshold is None else number(f.threshold),
        confidence=_t(f.confidence),
        message=_t(f.message),
        explanation=None if first is not f and f.explanation == first.explanation else _t(f.explanation),
        remedy=None if first is not f and f.remedy == first.remedy else _t(f.remedy),
        rule_first=first_anchor,
        evidence=_pre_text(shown),
        evidence_shown=len(shown),
        evidence_total=max(f.evidence_total, len(f.evidence)),
        related=tuple(RelatedView(_t(r.host), _t(r.process or "?"), r.pid) for r in f.related),
        series=svg.sparkline(f.series, label=f"{f.rule} on {f.host}") if len(f.series) > 1 else Markup(""),
    )


def _host_view(anchor: str, host: HostResult, mine: Sequence[tuple[Finding, str]]) -> HostView:
    views = host.views()
    info = views[-1].host if views else None
    findings = [f for f, _ in mine]
    verdict = host_worst(host, findings)
    counts = severity_counts(findings)
    states = state_counts(views)
    fills = queue_fills(views)
    fullest = fills[0] if fills else None
    missing = sorted({name for snap in views for name in snap.collection.missing})
    return HostView(
        anchor=anchor,
        name=_t(host.name),
        address=_t(host.address),
        outcome=host.outcome.value,
        scanned=host.outcome.scanned,
        message=_opt(host.message),
        worst="unknown" if verdict is None else verdict.label,
        counts=(counts[Severity.CRITICAL], counts[Severity.WARNING], counts[Severity.INFO]),
        netns=tuple(_t(s.host.netns) for s in views),
        hostname=_t(info.hostname) if info else "",
        kernel=_t(info.kernel) if info else "",
        collected_at=_t(info.collected_at) if info else "",
        samples=host.sample_count,
        missing=tuple(_t(m) for m in missing),
        states=tuple((k, v) for k, v in states.items() if v),
        total_sockets=sum(states.values()),
        state_chart=svg.state_chart(states, title=f"TCP states on {host.name}") if views else Markup(""),
        queue_chart=svg.queue_bars(fills, limit=LISTENER_BARS) if views else Markup(""),
        fullest="-" if fullest is None else _t(f"{fullest.text} {fullest.local}"),
        fullest_full=bool(fullest and fullest.full),
        listeners=tuple(
            ListenerView(_t(x.local), _opt(x.process), x.pid, x.text, x.full, _t(x.netns))
            for x in fills[:LISTENER_BARS]
        ),
        listeners_total=len(fills),
        findings=tuple(FindingRef(a, f.severity.label, _t(f.rule), _t(f.message)) for f, a in mine),
    )


_RANK = {"critical": 0, "warning": 1, "info": 2, "ok": 3, "unknown": 4}


def build_view(result: ScanResult, *, title: str = "netdiag report") -> ReportView:
    """The whole report as plain values: one pass over findings, one over hosts."""
    ordered = sort_findings(result.findings)
    anchors = {h.name: f"h{i}" for i, h in enumerate(result.hosts)}
    firsts: dict[str, tuple[Finding, str]] = {}
    views = [_finding_view(i, f, anchors, firsts) for i, f in enumerate(ordered)]
    per_host: dict[str, list[tuple[Finding, str]]] = {}
    for f, v in zip(ordered, views, strict=True):
        per_host.setdefault(f.host, []).append((f, v.anchor))
    hosts = [_host_view(anchors[h.name], h, per_host.get(h.name, [])) for h in result.hosts]
    groups = tuple(
        SeverityGroup(sev.label, tuple(v for v in views if v.severity == sev.label), sev is not Severity.INFO)
        for sev in SEVERITIES_DESC
    )
    by_worst: dict[str, int] = {}
    rule_counts: dict[str, list[int]] = {}
    rule_hosts: dict[str, set[str]] = {}
    for f in ordered:
        rule_counts.setdefault(f.rule, [0, 0, 0])[Severity.CRITICAL - f.severity] += 1
        rule_hosts.setdefault(f.rule, set()).add(f.host)
    by_rule = sorted(
        (
            RuleRow(_t(r), (c[0], c[1], c[2]), len(rule_hosts[r]), firsts[r][1])
            for r, c in rule_counts.items()
        ),
        key=lambda row: (tuple(-n for n in row.counts), row.rule),
    )
    for h in hosts:
        by_worst[h.worst] = by_worst.get(h.worst, 0) + 1
    counts = severity_counts(ordered)
    failed = tuple(h for h in hosts if not h.scanned)
    return ReportView(
        title=title,
        started=_t(result.started),
        duration=f"{result.duration_s:.1f} s",
        version=__version__,
        schema=SCAN_SCHEMA,
        inventory=_opt(result.inventory),
        options=tuple(
            (_t(str(k)), _t(str(v))) for k, v in sorted(result.options.items(), key=lambda kv: str(kv[0]))
        ),
        totals=tuple((sev.label, n) for sev, n in counts.items()),
        hosts_total=len(hosts),
        hosts_scanned=len(hosts) - len(failed),
        hosts_failed=len(failed),
        hosts_by_worst=tuple((k, by_worst[k]) for k in sorted(by_worst, key=_RANK.__getitem__)),
        groups=tuple(g for g in groups if g.findings),
        by_rule=tuple(by_rule),
        fleet=tuple(sorted(hosts, key=lambda h: (_RANK[h.worst], -sum(h.counts), h.name))),
        failed=failed,
        hosts=tuple(h for h in hosts if h.scanned),
    )


def _template_text(name: str) -> str:
    """A file shipped with the package (``netdiag/templates`` → ``reports/templates``)."""
    return (files("netdiag") / "templates" / name).read_text(encoding="utf-8")


def _environment() -> jinja2.Environment:
    """Autoescape everywhere, and an unknown name in a template is an error, not a blank."""

    return jinja2.Environment(
        loader=jinja2.FunctionLoader(_template_text),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _csp_hash(script: str) -> str:
    return "sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")


@functools.cache
def template() -> jinja2.Template:
    """The compiled report template: compiled once per process (a scan compiles it while it waits)."""
    return _environment().get_template(TEMPLATE)


def render_html(result: ScanResult, *, title: str = "netdiag report") -> str:
    """The report as one HTML document (UTF-8 text)."""
    script = _template_text(SCRIPT)  # verbatim, not templated: its hash goes into the CSP
    return template().render(
        view=build_view(result, title=title),
        script=Markup(script),  # noqa: S704 (our own file, no host text in it)
        script_hash=_csp_hash(script),
    )
