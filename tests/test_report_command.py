"""``netdiag report PATH... -o FILE`` end to end: a saved scan in, the real rules, HTML and JSON out."""

from __future__ import annotations

import json
from pathlib import Path

import html5lib
from click.testing import CliRunner

from netdiag.cli import main
from netdiag.render.exitcode import ExitStatus
from netdiag.save import save_scan
from tests.reportdata import FAILED_OUTCOMES, HOSTILE_IMG, busy_web, rich_scan


def test_report_from_a_saved_scan(tmp_path: Path) -> None:
    saved = tmp_path / "scan"
    save_scan(rich_scan(), saved)
    out, doc = tmp_path / "r" / "report.html", tmp_path / "r" / "scan.json"
    run = CliRunner().invoke(main, ["report", str(saved), "-o", str(out), "--json", str(doc)])
    data = json.loads(doc.read_text(encoding="utf-8"))
    # busy_web leaks 200 CLOSE_WAIT and overflows its accept queue: the real rules say critical
    assert data["summary"]["findings"]["critical"] > 0
    assert run.exit_code == ExitStatus.CRITICAL, run.output
    assert run.output.startswith(f"{out}: 12 hosts: 5 scanned (1 partial), 7 failed; findings:")
    assert {h["outcome"] for h in data["hosts"]} >= {o.value for o in FAILED_OUTCOMES}  # kept by the save
    page = out.read_text(encoding="utf-8")
    html5lib.HTMLParser(strict=True).parse(page)
    assert (
        "close_wait_leak" in page and "&lt;img src=x onerror=alert(1)&gt;" in page and HOSTILE_IMG not in page
    )


def test_report_from_snapshot_files_and_rule_switches(tmp_path: Path) -> None:
    snap = tmp_path / "web.json"
    snap.write_text(json.dumps(busy_web("web-9").to_dict()), encoding="utf-8")
    out = tmp_path / "report.html"
    disabled = [
        a
        for rule in ("close_wait_leak", "listen_queue_full", "fd_exhaustion", "ephemeral_port_collision")
        for a in ("--disable", rule)
    ]
    run = CliRunner().invoke(main, ["report", str(snap), "-o", str(out), *disabled, "--fail-on", "critical"])
    assert run.exit_code == ExitStatus.OK, run.output
    assert "1 host: 1 scanned, 0 failed" in run.output and "web-9" in out.read_text(encoding="utf-8")


def test_report_of_unreadable_input_is_an_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    run = CliRunner().invoke(main, ["report", str(bad), "-o", str(tmp_path / "r.html")])
    assert run.exit_code == 1 and "bad.json" in run.output
    assert not (tmp_path / "r.html").exists()
