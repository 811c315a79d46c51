"""The HTML report in a real headless Chromium: the DOM, a screenshot, and the network log.

One report is rendered per module and each check launches the browser once.
Chromium is required (scripts/install-test-deps installs it); a missing browser
fails the tests rather than skipping them.
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path

import html5lib
import pytest

from netdiag.render.html import render_html
from tests.reportdata import FAILED_OUTCOMES, HOSTILE_IMG, HOSTILE_MARK, HOSTILE_SCRIPT, RULE_IDS, rich_scan

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    # Nothing may resolve: even a request that slipped through could not leave the machine.
    "--host-resolver-rules=MAP * ~NOTFOUND",
)
CRITICAL_RED = (0xB3, 0x26, 0x1E)  # --crit in report.css: the critical badges and summary box


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: run scripts/install-test-deps (apt-get install chromium)")
    return found


def run_chromium(tmp: Path, *args: str) -> subprocess.CompletedProcess[str]:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    cmd = [chromium(), *FLAGS, f"--user-data-dir={profile}", *args]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("chromium")


@pytest.fixture(scope="module")
def report(workdir: Path) -> Path:
    path = workdir / "report.html"
    path.write_text(render_html(rich_scan()), encoding="utf-8")
    return path


def text_of(el: ET.Element) -> str:
    return "".join(el.itertext())


def test_dom_has_sections_findings_and_inert_hostile_names(report: Path, workdir: Path) -> None:
    dom_text = run_chromium(workdir, "--dump-dom", report.as_uri()).stdout
    root = html5lib.parse(dom_text, namespaceHTMLElements=False)
    ids = {e.get("id") for e in root.iter() if e.get("id")}
    assert {"summary", "findings", "fleet", "failed", "hosts", "scan"} <= ids
    articles = [a for a in root.iter("article") if "finding" in (a.get("class") or "")]
    assert {text_of(c) for a in articles for c in a.iter("code") if c.get("class") == "rule"} == set(RULE_IDS)
    failed = next(e for e in root.iter("section") if e.get("id") == "failed")
    assert {o.value for o in FAILED_OUTCOMES} <= {text_of(td) for td in failed.iter("td")}
    body = next(root.iter("body"))
    text = text_of(body)
    for hostile in (HOSTILE_IMG, HOSTILE_SCRIPT, HOSTILE_MARK):
        assert hostile in text  # shown as text ...
    assert not list(root.iter("img"))  # ... and no element was made of it
    assert len(list(root.iter("script"))) == 1  # only our own
    assert not [e for e in root.iter() if any(k.startswith("on") for k in e.attrib)]
    assert "data-pwned" not in body.attrib  # nothing executed
    assert text_of(next(root.iter("title"))).startswith("netdiag report")
    # Our own script did run (its CSP hash is right): it unhides the filter box.
    box = next(e for e in root.iter("div") if e.get("id") == "filter")
    assert "hidden" not in box.attrib


def decode_png(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """Width, height, bytes per pixel and unfiltered rows of an 8-bit RGB(A) PNG (zlib + the 5 filters)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, header = 8, [], None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
    assert header is not None
    width, height, depth, color_type, _, _, interlace = header
    assert depth == 8 and color_type in (2, 6) and interlace == 0, header
    bpp = 3 if color_type == 2 else 4
    raw = zlib.decompress(b"".join(idat))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        start = y * (stride + 1)
        kind_f, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind_f == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind_f == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, prev, strict=True))
        elif kind_f == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + prev[i]) >> 1)) & 255
        elif kind_f == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def test_screenshot_is_not_blank_and_shows_findings_first(report: Path, workdir: Path) -> None:
    shot = workdir / "report.png"
    run_chromium(workdir, "--window-size=1280,900", f"--screenshot={shot}", report.as_uri())
    width, height, bpp, rows = decode_png(shot.read_bytes())
    assert (width, height) == (1280, 900)
    colours = {row[i : i + 3] for row in rows for i in range(0, len(row), bpp)}
    assert len(colours) > 200, f"only {len(colours)} colours: blank page?"
    # Above the fold: critical red is there, i.e. the summary and the critical findings come first.
    red = bytes(CRITICAL_RED)
    red_rows = sum(1 for row in rows if any(row[i : i + 3] == red for i in range(0, len(row), bpp)))
    assert red_rows > 20


def _page_requests(netlog: Path) -> list[str]:
    """URLs the page asked the network for (the browser's own background fetches are not the page's)."""
    log = json.loads(netlog.read_text(encoding="utf-8"))
    start = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    urls = []
    for event in log["events"]:
        params = event.get("params") or {}
        if event["type"] == start and "url" in params:
            on_behalf_of_page = params.get("initiator") != "not an origin" or "file://" in str(
                params.get("network_isolation_key", "")
            )
            if on_behalf_of_page:
                urls.append(params["url"])
    return urls


def test_no_request_leaves_the_page(report: Path, workdir: Path) -> None:
    netlog = workdir / "netlog.json"
    run_chromium(workdir, f"--log-net-log={netlog}", "--dump-dom", report.as_uri())
    assert _page_requests(netlog) == []


def test_the_net_log_check_would_catch_a_leaky_page(workdir: Path) -> None:
    """The control: a page with an external stylesheet and image is caught by the same check."""
    leaky = workdir / "leaky.html"
    leaky.write_text(
        '<!DOCTYPE html><title>leak</title><link rel="stylesheet" href="https://cdn.invalid/x.css">'
        '<img src="http://img.invalid/a.png" alt="">',
        encoding="utf-8",
    )
    netlog = workdir / "leaky-netlog.json"
    run_chromium(workdir, f"--log-net-log={netlog}", "--dump-dom", leaky.as_uri())
    assert sorted(_page_requests(netlog)) == ["http://img.invalid/a.png", "https://cdn.invalid/x.css"]
