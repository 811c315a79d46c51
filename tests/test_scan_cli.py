"""``netdiag scan`` and ``netdiag analyze`` end to end: real hosts, the documented JSON, exit codes.

One module fixture scans a fleet host with a CLOSE_WAIT leak plus a host that refuses
connections, saving the scan; the tests read that one scan several ways.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner, Result

from netdiag import ruleconfig
from netdiag.cli import main
from netdiag.render.jsonout import SCAN_SCHEMA
from netdiag.rules import close_wait_leak
from netdiag.save import MANIFEST_SCHEMA, REPORT_SCHEMA
from tests import sockets
from tests.nsfleet import Fleet, FleetHost

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "docs" / "json-schema.json").read_text(encoding="utf-8"))
LEAKED = close_wait_leak.Options().threshold + 5  # 55: a warning, far from 4x the threshold (critical)


@dataclass(frozen=True)
class Scanned:
    host: FleetHost
    pid: int
    saved: Path
    result: Result
    doc: dict[str, Any]
    args: list[str]  # ssh and isolation options for further scans


def netdiag(*args: object) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def scanned(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scanned]:
    tmp = tmp_path_factory.mktemp("scan_cli")
    host = fleet.plain[26]
    empty = tmp / "ssh_config"
    empty.touch()
    args = ["-u", "root", "--key", fleet.client_key, "--known-hosts", fleet.known_hosts, "-F", empty]
    args += ["--no-history", "--timeout", "20"]
    leak = sockets.start(
        "closewait", host.address, 0, "--count", str(LEAKED), "--name", "leaky-srv", prefix=fleet.prefix(host)
    )
    with pytest.MonkeyPatch.context() as mp:  # no /etc or ~/.config rule settings leak in
        mp.setattr(ruleconfig, "SYSTEM_CONFIG", tmp / "none.cfg")
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg"))
        try:
            saved = tmp / "saved"
            r = netdiag(
                "scan", host.address, fleet["closed"].address, *args, "--save", saved, "--format", "json"
            )
            yield Scanned(host, leak.pid, saved, r, json.loads(r.stdout), [str(a) for a in args])
        finally:
            leak.stop()


@pytest.mark.netns
def test_scan_json_is_the_documented_document(scanned: Scanned) -> None:
    doc = scanned.doc
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema"] == SCAN_SCHEMA
    outcomes = {h["name"]: h["outcome"] for h in doc["hosts"]}
    assert outcomes[scanned.host.address] in ("ok", "partial")
    assert [o for o in outcomes.values() if o not in ("ok", "partial")] == ["unreachable"]
    (mine,) = [h for h in doc["hosts"] if h["name"] == scanned.host.address]
    assert mine["states"]["CLOSE_WAIT"] == LEAKED
    leaks = [f for f in doc["findings"] if f["rule"] == "close_wait_leak"]
    assert [(f["severity"], f["process"], f["pid"], f["value"]) for f in leaks] == [
        ("warning", "leaky-srv", scanned.pid, LEAKED)
    ]
    assert doc["summary"]["failed"] == 1 and doc["summary"]["findings"]["critical"] == 0
    # A host that could not be scanned and nothing critical: 3, the monitoring UNKNOWN.
    assert scanned.result.exit_code == 3, scanned.result.output


@pytest.mark.netns
def test_analyze_of_the_saved_scan_gives_the_same_findings(scanned: Scanned) -> None:
    r = netdiag("analyze", scanned.saved, "--format", "json")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["findings"] == scanned.doc["findings"]
    assert [(h["name"], h["outcome"], h["states"]) for h in doc["hosts"]] == [
        (h["name"], h["outcome"], h["states"]) for h in scanned.doc["hosts"]
    ]
    assert r.exit_code == scanned.result.exit_code == 3


@pytest.mark.netns
def test_fail_on_moves_the_exit_status_of_a_warning(scanned: Scanned, tmp_path: Path) -> None:
    html = tmp_path / "r.html"
    r = netdiag("scan", scanned.host.address, *scanned.args, "--html", html)
    assert r.exit_code == 1, r.output  # a warning, every host read
    assert "close_wait_leak" in r.stdout and "leaky-srv" in r.stdout
    assert "\x1b[" not in r.stdout  # not a terminal: no colour
    assert "leaky-srv" in html.read_text(encoding="utf-8")
    r = netdiag("scan", scanned.host.address, *scanned.args, "--fail-on", "critical", "--format", "json")
    assert r.exit_code == 0, r.output
    assert {f["severity"] for f in json.loads(r.stdout)["findings"]} >= {"warning"}


def test_a_json_report_is_not_taken_for_saved_snapshots(tmp_path: Path) -> None:
    assert MANIFEST_SCHEMA != REPORT_SCHEMA == SCAN_SCHEMA
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"schema": SCAN_SCHEMA, "hosts": [], "findings": []}), encoding="utf-8")
    for args in (["analyze", report], ["report", report, "-o", tmp_path / "r.html"]):
        r = CliRunner().invoke(main, [str(a) for a in args])
        assert r.exit_code == 1
        assert f"{report}: this is a JSON report ({SCAN_SCHEMA}), not saved snapshots" in r.output
        assert "malformed" not in r.output
