"""The HTML report, parsed with a strict HTML5 parser: self-contained, escaped, findings first, linear."""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.render import QueueFill, visible
from netdiag.render.html import EVIDENCE_LINES, build_view, render_html
from netdiag.render.svg import queue_bars, sparkline, state_chart
from netdiag.results import HostResult, Outcome, Severity
from tests.reportdata import (
    FAILED_OUTCOMES,
    HOSTILE_HOST,
    HOSTILE_IMG,
    HOSTILE_MARK,
    HOSTILE_MESSAGE,
    HOSTILE_SCRIPT,
    RULE_IDS,
    finding,
    fleet,
    rich_scan,
    scan_of,
)

SVG_NS = "{http://www.w3.org/2000/svg}"
# Attributes through which a page can fetch or navigate somewhere.
URL_ATTRS = {
    "src",
    "srcset",
    "action",
    "formaction",
    "poster",
    "data",
    "background",
    "ping",
    "manifest",
    "cite",
    "longdesc",
    "usemap",
    "codebase",
    "archive",
    "lowsrc",
    "dynsrc",
    "xlink:href",
    "{http://www.w3.org/1999/xlink}href",
}


def parse(text: str) -> ET.Element:
    """Strict HTML5 parse: any parse error raises."""
    root: ET.Element = html5lib.HTMLParser(strict=True, namespaceHTMLElements=False).parse(text)
    return root


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def by_id(root: ET.Element, ident: str) -> ET.Element:
    found = [e for e in root.iter() if e.get("id") == ident]
    assert len(found) == 1, f"{len(found)} elements with id {ident}"
    return found[0]


def elements(root: ET.Element, tag: str, cls: str | None = None) -> Iterator[ET.Element]:
    for e in root.iter(tag):
        if cls is None or cls in (e.get("class") or "").split():
            yield e


@pytest.fixture(scope="module")
def page() -> str:
    return render_html(rich_scan())


@pytest.fixture(scope="module")
def root(page: str) -> ET.Element:
    return parse(page)


def test_parses_cleanly_as_html5(page: str) -> None:
    parse(page)  # raises on the first parse error
    assert page.startswith("<!DOCTYPE html>")


def test_nothing_leaves_the_page(page: str, root: ET.Element) -> None:
    assert not re.search(r"https?:", page, re.I)  # no absolute URL anywhere, not even in text
    assert not list(root.iter("link")) and not list(root.iter("iframe")) and not list(root.iter("img"))
    for tag in (
        "object",
        "embed",
        "base",
        "form",
        "audio",
        "video",
        "source",
        f"{SVG_NS}image",
        f"{SVG_NS}use",
    ):
        assert not list(root.iter(tag)), tag
    for el in root.iter():
        for name, value in el.attrib.items():
            assert name not in URL_ATTRS, (el.tag, name, value)
            if name == "href":
                assert value.startswith("#"), value  # in-page anchors only
            if name == "style" or name.startswith("on"):
                assert "url(" not in value and not name.startswith("on"), (el.tag, name, value)
    styles = [text_of(s) for s in root.iter("style")]
    assert len(styles) == 1 and "@import" not in styles[0] and "url(" not in styles[0]
    scripts = list(root.iter("script"))
    assert len(scripts) == 1 and "src" not in scripts[0].attrib


def test_csp_allows_only_the_inline_script(root: ET.Element) -> None:
    csp = next(
        m.get("content", "") for m in root.iter("meta") if m.get("http-equiv") == "Content-Security-Policy"
    )
    script = text_of(next(root.iter("script")))
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert "default-src 'none'" in csp and f"script-src 'sha256-{digest}'" in csp
    assert "unsafe-inline'; img-src" in csp and "script-src 'unsafe" not in csp


def test_hostile_text_is_text(page: str, root: ET.Element) -> None:
    body = text_of(root)
    for hostile in (HOSTILE_IMG, HOSTILE_SCRIPT, HOSTILE_MARK, HOSTILE_HOST, HOSTILE_MESSAGE):
        assert hostile in body, hostile
        assert hostile not in page  # only ever present escaped
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not [e for e in root.iter() if e.tag in ("img", "b") or any(a.startswith("on") for a in e.attrib)]
    assert "worker\\x1b[31mRED" in body and "\x1b" not in page  # unprintable host bytes shown, not emitted


def test_findings_come_first(root: ET.Element) -> None:
    order = [e.get("id") for e in root.iter("section") if e.get("id")]
    assert order[:2] == ["summary", "findings"]
    assert order.index("findings") < order.index("fleet") < order.index("hosts") < order.index("scan")
    first = next(elements(root, "article", "finding"))
    assert "sev-critical" in (first.get("class") or "")
    totals = {
        li.get("class", "").split()[1]: text_of(li) for li in elements(by_id(root, "summary"), "li", "total")
    }
    assert totals["sev-critical"].split()[0] == "4" and totals["sev-unknown"].split()[0] == str(
        len(FAILED_OUTCOMES) + 1
    )


def test_every_finding_with_explanation_remedy_and_collapsed_evidence(root: ET.Element) -> None:
    result = rich_scan()
    articles = list(elements(root, "article", "finding"))
    assert len(articles) == len(result.findings)
    rules = {text_of(next(elements(a, "code", "rule"))) for a in articles}
    assert rules == set(RULE_IDS)
    leak = next(a for a in articles if "close_wait_leak" in text_of(a))
    why = next(elements(leak, "details", "why"))
    assert "open" not in why.attrib
    pre = next(elements(why, "pre", "evidence"))
    assert len(text_of(pre).split("\n")) == 20 + 1 and "180 more not shown" in text_of(pre)
    assert "What close_wait_leak means" in text_of(why)
    assert "Do the close_wait_leak fix" in text_of(next(elements(leak, "p", "remedy")))
    assert "200 against threshold 50" in " ".join(text_of(leak).split())
    assert next(leak.iter(f"{SVG_NS}svg")).get("class") == "spark"  # series drawn
    groups = {g.get("class", "").split()[1]: g for g in elements(root, "details", "group")}
    assert "open" in groups["sev-critical"].attrib and "open" in groups["sev-warning"].attrib
    assert "open" not in groups["sev-info"].attrib  # info starts collapsed


def test_links_resolve(root: ET.Element) -> None:
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    targets = {e.get("href", "")[1:] for e in root.iter("a")}
    assert targets - ids == set()


def test_fleet_failed_and_host_sections(root: ET.Element) -> None:
    result = rich_scan()
    fleet_rows = list(by_id(root, "fleet").iter("tr"))
    assert len(fleet_rows) == len(result.hosts) + 2  # header and totals
    worst = [r.get("class") for r in fleet_rows[1:-1]]
    rank = {"sev-critical": 0, "sev-warning": 1, "sev-info": 2, "sev-ok": 3, "sev-unknown": 4}
    assert [rank[w or ""] for w in worst] == sorted(rank[w or ""] for w in worst)  # worst first
    failed = text_of(by_id(root, "failed"))
    for h in result.hosts:
        if not h.outcome.scanned:
            assert h.outcome.value in failed and visible(h.message or "") in failed
    hosts = list(elements(by_id(root, "hosts"), "section", "host"))
    assert len(hosts) == sum(1 for h in result.hosts if h.outcome.scanned)
    web = next(s for s in hosts if "web-1.prod" in text_of(s.find("h3") or s))
    charts = list(web.iter(f"{SVG_NS}svg"))
    assert len(charts) == 2
    state_labels = [text_of(t) for t in charts[0].iter(f"{SVG_NS}text") if t.get("class") == "lbl"]
    assert state_labels == ["ESTABLISHED", "SYN_SENT", "TIME_WAIT", "CLOSE_WAIT", "LISTEN"]
    assert "129/128" in text_of(charts[1])
    refs = [text_of(li) for li in web.iter("li")]
    assert len(refs) == sum(1 for f in result.findings if f.host == "web-1.prod")
    db = next(s for s in hosts if "db-1.prod" in text_of(s.find("h3") or s))
    assert "netns host, blue" in text_of(db)
    scan = text_of(by_id(root, "scan"))
    assert "inventory/prod.yml" in scan and "31.4 s" in scan and "netdiag.scan/1" in scan


def test_view_model_groups_host_findings_once() -> None:
    result = rich_scan()
    view = build_view(result)
    per_host = {h.name: len(h.findings) for h in view.hosts}
    for h in result.hosts:
        if h.outcome.scanned:
            assert per_host[h.name] == sum(1 for f in result.findings if f.host == h.name)
    assert [r.rule for r in view.by_rule][:4] == sorted(
        ["close_wait_leak", "cross_host_leak", "ephemeral_port_collision", "listen_queue_full"]
    )


def test_no_findings_says_so() -> None:
    page = render_html(scan_of([], []))
    root = parse(page)
    assert "No findings" in text_of(by_id(root, "findings"))
    assert not list(root.iter("article"))


def test_evidence_is_bounded_per_finding() -> None:
    big = finding(
        "close_wait_leak",
        Severity.CRITICAL,
        "h",
        evidence=tuple(f"line {i}" for i in range(500)),
        evidence_total=5000,
    )
    pre = next(elements(parse(render_html(scan_of([], [big]))), "pre", "evidence"))
    assert text_of(pre).count("line ") == EVIDENCE_LINES and "4975 more not shown" in text_of(pre)


def test_scale_stays_linear_and_collapsed() -> None:
    """200 hosts / 1,000 findings: size grows linearly (no quadratic template), evidence collapsed."""
    small, large = render_html(fleet(100, 500)), render_html(fleet(200, 1000))
    assert 1.9 < len(large) / len(small) < 2.1
    assert large.count('<article class="finding') == 1000
    assert large.count('<details class="why">') == 1000  # every finding's evidence starts closed
    assert '<details class="why" open' not in large
    assert large.count('<section class="host') == 200


def test_svg_state_chart() -> None:
    svg = str(state_chart({"ESTABLISHED": 10, "CLOSE_WAIT": 200, "LISTEN": 0}))
    root = parse(f"<!DOCTYPE html><title>t</title>{svg}")
    rects = [r for r in root.iter(f"{SVG_NS}rect")]
    assert len(rects) == 2  # zero states are left out
    widths = [float(r.get("width") or 0) for r in rects]
    assert widths[1] == 240 and abs(widths[0] - 12) < 0.1  # linear: 10/200 of 240
    assert "no TCP sockets" in str(state_chart({}))


def test_svg_queue_bars_and_escaping() -> None:
    fills = [
        QueueFill("127.0.0.1:5000", 129, 128, "<b>x</b>", 1, "host"),
        QueueFill("0.0.0.0:22", 0, 128, "sshd", 2, "host"),
        QueueFill("0.0.0.0:25", 3, None, None, None, "host"),
    ]
    svg = str(queue_bars(fills))
    assert "<b>" not in svg and "&lt;b&gt;" in svg
    root = parse(f"<!DOCTYPE html><title>t</title>{svg}")
    bars = [r for r in root.iter(f"{SVG_NS}rect") if r.get("fill")]
    assert [b.get("fill") for b in bars] == ["#c8423b", "#3b73b9", "#9aa3ad"]  # full, fine, unknown backlog
    assert "3/?" in svg and "no listening sockets" in str(queue_bars([]))


def test_sparkline() -> None:
    line = str(sparkline([1, 5, 3], width=100, height=20))
    points = re.search(r'points="([^"]+)"', line)
    assert points and len(points.group(1).split()) == 3
    xs = [float(p.split(",")[0]) for p in points.group(1).split()]
    assert xs == [0, 50, 100]
    assert str(sparkline([])) == ""


@settings(max_examples=40, deadline=None)
@given(name=st.text(max_size=40), message=st.text(max_size=60))
def test_any_host_text_parses_and_shows_as_text(name: str, message: str) -> None:
    """Whatever a host sends (markup, controls, surrogates), the page parses and shows it as text."""
    f = finding(
        "close_wait_leak", Severity.CRITICAL, name, process=name, message=message, evidence=(message,)
    )
    page = render_html(scan_of([HostResult(name, "10.0.0.1", Outcome.ERROR, message)], [f]))
    page.encode("utf-8")  # always encodable
    root = parse(page)
    body = text_of(root)
    assert visible(name) in body and visible(message) in body
    assert len(list(root.iter("script"))) == 1 and not list(root.iter("img"))
