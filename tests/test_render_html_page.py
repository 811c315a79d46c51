"""The HTML page at fleet scale: a rule's prose once, evidence escaped once and bounded per page."""

from __future__ import annotations

import re

import html5lib

from netdiag.render.html import (
    EVIDENCE_LINES,
    FULL_EVIDENCE_FINDINGS,
    TAIL_EVIDENCE_LINES,
    build_view,
    render_html,
)
from netdiag.results import Finding, Severity
from tests.reportdata import evidence, finding, scan_of


def _findings(n: int) -> list[Finding]:
    return [
        finding("close_wait_leak", Severity.WARNING, f"h{i:05d}", evidence=evidence(40), evidence_total=40)
        for i in range(n)
    ]


def test_rule_prose_shows_once_and_later_findings_link_to_it() -> None:
    own = finding("close_wait_leak", Severity.INFO, "z", remedy="A remedy of its own.")
    other = finding("fd_exhaustion", Severity.INFO, "z")
    result = scan_of([], [*_findings(3), own, other])
    page = render_html(result)
    html5lib.HTMLParser(strict=True).parse(page)
    leak = result.findings[0]
    assert page.count(leak.explanation) == 1 and page.count(leak.remedy.split("\n")[0]) == 1
    assert "A remedy of its own." in page and page.count(other.explanation) == 1
    view = build_view(result)
    views = [v for g in view.groups for v in g.findings]
    first = views[0]
    assert first.remedy is not None and first.rule_first == first.anchor
    later = views[1:3]
    assert all(v.remedy is None and v.explanation is None and v.rule_first == first.anchor for v in later)
    mine = next(v for v in views if v.host == "z" and v.rule == "close_wait_leak")
    assert mine.remedy == "A remedy of its own." and mine.explanation is None
    assert page.count(f'href="#{first.anchor}"') >= 2 * 2  # each later finding: fix and why


def test_evidence_is_escaped_once_as_text() -> None:
    hostile = finding(
        "close_wait_leak",
        Severity.CRITICAL,
        "h",
        evidence=('CLOSE-WAIT <script>alert("x")</script> & users:(("a",pid=1))', "\x1b[31m"),
    )
    page = render_html(scan_of([], [hostile]))
    pre = re.search(r'<pre class="evidence">(.*?)</pre>', page, re.S)
    assert pre is not None
    assert '&lt;script&gt;alert("x")&lt;/script&gt; &amp; users' in pre.group(1)
    assert "<script>alert" not in page and "\x1b" not in page and "\\x1b[31m" in pre.group(1)


def test_evidence_beyond_the_first_findings_is_shorter() -> None:
    page = render_html(scan_of([], _findings(FULL_EVIDENCE_FINDINGS + 2)))
    blocks = re.findall(r'<pre class="evidence">(.*?)</pre>', page, re.S)
    shown = [b.count("CLOSE-WAIT") for b in blocks]
    assert shown[:FULL_EVIDENCE_FINDINGS] == [EVIDENCE_LINES] * FULL_EVIDENCE_FINDINGS
    assert shown[FULL_EVIDENCE_FINDINGS:] == [TAIL_EVIDENCE_LINES] * 2
    assert f"{40 - TAIL_EVIDENCE_LINES} more not shown" in blocks[-1]
    assert f"({TAIL_EVIDENCE_LINES} of 40 lines)" in page
