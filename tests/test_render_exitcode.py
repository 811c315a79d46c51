"""Exit codes for each level and --fail-on, and the shared options writing every output."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

from netdiag.render.exitcode import ExitStatus, exit_status, scan_exit_status
from netdiag.render.options import FAIL_ON_HELP, ReportOptions, emit, report_options
from netdiag.results import Finding, HostResult, Outcome, ScanResult, Severity
from tests.reportdata import busy_web, finding, rich_scan, scan_of

OK_HOST = HostResult("a", "10.0.0.1", Outcome.OK, samples=(busy_web("a"),))
PARTIAL_HOST = HostResult("p", "10.0.0.2", Outcome.PARTIAL, "missing: limits", samples=(busy_web("p"),))
DOWN_HOST = HostResult("d", "10.0.0.3", Outcome.UNREACHABLE, "No route to host")


def _f(sev: Severity) -> Finding:
    return finding("close_wait_leak", sev, "a")


@pytest.mark.parametrize(
    ("severities", "hosts", "fail_on", "expected"),
    [
        ((), [OK_HOST], Severity.WARNING, ExitStatus.OK),
        ((Severity.INFO,), [OK_HOST], Severity.WARNING, ExitStatus.OK),
        ((Severity.INFO,), [OK_HOST], Severity.INFO, ExitStatus.WARNING),
        ((Severity.WARNING,), [OK_HOST], Severity.WARNING, ExitStatus.WARNING),
        ((Severity.WARNING, Severity.INFO), [OK_HOST], Severity.CRITICAL, ExitStatus.OK),
        ((Severity.CRITICAL,), [OK_HOST], Severity.WARNING, ExitStatus.CRITICAL),
        ((Severity.CRITICAL,), [OK_HOST], Severity.CRITICAL, ExitStatus.CRITICAL),
        ((Severity.CRITICAL,), [OK_HOST], Severity.INFO, ExitStatus.CRITICAL),
        ((), [OK_HOST, DOWN_HOST], Severity.WARNING, ExitStatus.UNKNOWN),
        ((Severity.WARNING,), [OK_HOST, DOWN_HOST], Severity.WARNING, ExitStatus.UNKNOWN),  # 3 beats 1
        ((), [OK_HOST, DOWN_HOST], Severity.CRITICAL, ExitStatus.UNKNOWN),  # --fail-on never hides it
        ((Severity.CRITICAL,), [OK_HOST, DOWN_HOST], Severity.WARNING, ExitStatus.CRITICAL),  # 2 beats 3
        ((), [OK_HOST, PARTIAL_HOST], Severity.WARNING, ExitStatus.OK),  # partial was scanned
    ],
)
def test_exit_status_levels(
    severities: tuple[Severity, ...], hosts: list[HostResult], fail_on: Severity, expected: ExitStatus
) -> None:
    assert exit_status([_f(s) for s in severities], hosts, fail_on) is expected
    assert int(expected) == {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}[expected.name]


def test_fail_on_ok_is_refused() -> None:
    with pytest.raises(ValueError, match="--fail-on"):
        exit_status([], [OK_HOST], Severity.OK)


def test_rich_scan_is_critical() -> None:
    assert scan_exit_status(rich_scan()) is ExitStatus.CRITICAL


@click.command()
@report_options
@click.pass_obj
def _cmd(obj: ScanResult, report: ReportOptions) -> None:
    raise SystemExit(emit(obj, report))


def _run(result: ScanResult, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(_cmd, list(args), obj=result, env=env, catch_exceptions=False)


def test_cli_exit_codes_follow_fail_on() -> None:
    warn = scan_of([OK_HOST], [_f(Severity.WARNING)])
    info = scan_of([OK_HOST], [_f(Severity.INFO)])
    assert _run(warn).exit_code == 1
    assert _run(warn, "--fail-on", "critical").exit_code == 0
    assert _run(info).exit_code == 0
    assert _run(info, "--fail-on", "info").exit_code == 1
    assert _run(scan_of([OK_HOST, DOWN_HOST], [])).exit_code == 3
    assert _run(rich_scan()).exit_code == 2
    assert _run(warn, "--fail-on", "nonsense").exit_code == 2  # click usage error


def test_help_documents_exit_codes() -> None:
    out = CliRunner().invoke(_cmd, ["--help"], obj=None).output
    assert "--fail-on LEVEL" in out and "--json FILE" in out and "--html FILE" in out
    flat = " ".join(out.split())
    for part in ("0 nothing at or above LEVEL", "2 a critical finding", "3 a host could not be scanned"):
        assert part in flat and part in FAIL_ON_HELP


def test_every_requested_output_is_written(tmp_path: Path) -> None:
    result = rich_scan()
    j, h = tmp_path / "out" / "scan.json", tmp_path / "out" / "report.html"
    run = _run(result, "--json", str(j), "--html", str(h), "-v")
    assert run.exit_code == 2
    assert "Findings, most severe first:" in run.output and "evidence (" in run.output
    assert json.loads(j.read_text(encoding="utf-8"))["schema"] == "netdiag.scan/1"
    assert h.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert oct(h.stat().st_mode & 0o777) == oct(0o644)
    assert sorted(p.name for p in j.parent.iterdir()) == ["report.html", "scan.json"]  # no temp files left


def test_format_json_on_stdout_and_colour_switches() -> None:
    result = rich_scan()
    out = _run(result, "--format", "json").output
    assert json.loads(out)["summary"]["failed"] == 7
    assert "\x1b[" not in _run(result).output  # not a terminal: no colour
    assert "\x1b[1;31mCRITICAL" in _run(result, "--color").output
    assert "\x1b[" not in _run(result, "--no-color").output


def test_no_color_environment_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty:
        def isatty(self) -> bool:
            return True

    assert ReportOptions().use_color(Tty()) is (not os.environ.get("NO_COLOR"))
    monkeypatch.setenv("NO_COLOR", "1")
    assert ReportOptions().use_color(Tty()) is False
    assert ReportOptions(color=True).use_color(Tty()) is True
