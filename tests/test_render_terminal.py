"""The terminal summary: hosts table, findings most severe first, recap; colour and -v."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.render.terminal import clean, recap, render_text
from netdiag.results import HostResult, Outcome, Severity
from tests.reportdata import (
    ANSI_NAME,
    FAILED_OUTCOMES,
    HOSTILE_IMG,
    RULE_IDS,
    busy_web,
    finding,
    rich_scan,
    scan_of,
)

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _table_row(text: str, host: str) -> list[str]:
    for line in text.splitlines():
        if line.startswith(host + " "):
            return line.split()
    raise AssertionError(f"no table row for {host}")


def test_table_shows_counts_queue_and_worst_per_host() -> None:
    out = render_text(rich_scan())
    header = out.splitlines()[0].split()
    assert header[:7] == ["host", "outcome", "ESTAB", "CLOSE_WAIT", "FIN_WAIT2", "TIME_WAIT", "SYN_SENT"]
    row = _table_row(out, "web-1.prod")
    # busy_web: 12 established, 200 close-wait, 0 fin-wait-2, 30 time-wait, 1 syn-sent; queue 129 of 128
    assert row[1:7] == ["ok", "12", "200", "0", "30", "1"]
    assert "129/128" in row and "127.0.0.1:5000" in row
    assert row[-2:] == ["critical:", "close_wait_leak"]  # its most severe finding, first by rule
    # two namespaces of db-1 are summed: 40 FIN_WAIT2 in each
    assert _table_row(out, "db-1.prod")[4] == "80"
    # a backlog the source cannot tell shows as "?"
    assert "3/?" in _table_row(out, "legacy-1")


def test_failed_hosts_show_outcome_and_message() -> None:
    result = rich_scan()
    out = render_text(result)
    section = out.split("Could not scan:")[1].split("Findings, most severe first:")[0]
    for h in result.hosts:
        if not h.outcome.scanned:
            assert f"{clean(h.name)} ({h.address}): {h.outcome.value}: {clean(h.message or '')}" in section
    assert {o.value for o in FAILED_OUTCOMES} <= {
        _table_row(out, f"down-{o.value}")[1] for o in FAILED_OUTCOMES
    }


def test_findings_most_severe_first_with_threshold_and_remedy() -> None:
    result = rich_scan()
    out = render_text(result)
    body = out.split("Findings, most severe first:")[1]
    heads = [line for line in body.splitlines() if line and not line.startswith(" ")]
    severities = [line.split()[0] for line in heads[:-1]]  # the last line is the recap
    order = {"CRITICAL": 0, "WARNING": 1, "INFO": 2}
    assert len(severities) == len(result.findings)
    assert [order[s] for s in severities] == sorted(order[s] for s in severities)
    assert {line.split()[1] for line in heads[:-1]} == set(RULE_IDS)
    leak = next(line for line in heads if " close_wait_leak " in line)
    assert "nginx[812]" in leak and "127.0.0.1:5000" in leak and "200 (threshold 50)" in leak
    # one line of remedy, not the whole paragraph
    assert "    fix: Do the close_wait_leak fix: restart the process, then find the missing close()." in body
    assert "Second line." not in body


def test_recap_counts_hosts_and_findings() -> None:
    result = rich_scan()
    failed = sum(1 for h in result.hosts if not h.outcome.scanned)
    line = recap(result)
    assert line == (
        f"{len(result.hosts)} hosts: {len(result.hosts) - failed} scanned (1 partial), {failed} failed; "
        "findings: 4 critical, 3 warning, 4 info"
    )
    assert render_text(result).rstrip("\n").splitlines()[-1] == line


def test_verbose_adds_bounded_evidence() -> None:
    result = rich_scan()
    quiet = render_text(result)
    loud = render_text(result, verbose=True)
    assert "evidence (" not in quiet
    assert "evidence (10 of 200):" in loud  # close_wait_leak carries 20 lines of 200
    assert "      ... 190 more" in loud
    assert loud.count("CLOSE-WAIT 1 0 127.0.0.1:5000 127.0.0.1:32768 ") == 2  # leak + collision evidence


def test_colour_only_when_asked() -> None:
    result = rich_scan()
    plain = render_text(result, color=False)
    coloured = render_text(result, color=True)
    assert not ANSI.search(plain)
    assert "\x1b[1;31mCRITICAL\x1b[0m" in coloured
    assert ANSI.sub("", coloured) == plain


def test_host_text_cannot_drive_the_terminal() -> None:
    out = render_text(rich_scan(), color=False, verbose=True)
    assert "\x1b" not in out  # the ANSI host name and the "\x1b[2J" message are neutralised
    assert clean(ANSI_NAME) in out and "\\x1b[31mRED" in out
    assert "hung\\x1b[2J" in out
    # a newline in a host name cannot forge a line of its own
    assert not any(line.startswith("next") for line in out.splitlines())
    assert HOSTILE_IMG in out  # plain text in a terminal: shown as it is


def test_clean_scan_is_short_and_has_no_findings_section() -> None:
    result = scan_of([HostResult("a", "10.0.0.1", Outcome.OK, samples=(busy_web("a"),))], [])
    out = render_text(result)
    assert "Findings" not in out and "Could not scan" not in out
    assert out.rstrip().endswith("1 host: 1 scanned, 0 failed; findings: 0 critical, 0 warning, 0 info")
    assert _table_row(out, "a")[-1] == "ok"


def test_finding_of_unknown_host_and_missing_fields_renders() -> None:
    f = finding("rule_error", Severity.WARNING, "(fleet)", message="rule x failed: KeyError")
    out = render_text(scan_of([], [f]))
    assert "WARNING rule_error  (fleet)" in out and "rule x failed: KeyError" in out


@settings(max_examples=200, deadline=None)
@given(name=st.text(max_size=30), message=st.text(max_size=60))
def test_any_host_text_stays_on_its_line(name: str, message: str) -> None:
    def report(name: str, message: str) -> str:
        f = finding(
            "close_wait_leak", Severity.WARNING, name, process=name, message=message, evidence=(message,)
        )
        return render_text(scan_of([HostResult(name, "10.0.0.1", Outcome.ERROR, message)], [f]), verbose=True)

    out = report(name, message)
    out.encode("utf-8")
    assert not re.search(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]", out)
    assert len(out.split("\n")) == len(report("plain", "text").split("\n"))  # nothing forged a line
