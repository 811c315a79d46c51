"""The JSON document (netdiag.scan/1): validated against docs/json-schema.json, structure checked."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from netdiag import __version__
from netdiag.render import STATE_NAMES
from netdiag.render.jsonout import SCAN_SCHEMA, dumps, to_document
from netdiag.results import HostResult, Outcome, Severity
from tests.reportdata import HOSTILE_HOST, HOSTILE_IMG, RULE_IDS, busy_web, finding, rich_scan, scan_of

SCHEMA_FILE = Path(__file__).resolve().parents[1] / "docs" / "json-schema.json"


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(dumps(rich_scan()))
    return parsed


def test_document_validates_against_the_documented_schema(validator: Any, doc: dict[str, Any]) -> None:
    validator.validate(doc)


def test_schema_rejects_what_it_must(validator: Any, doc: dict[str, Any]) -> None:
    """The schema is not a rubber stamp: a missing state, a bad outcome, a wrong version fail."""
    bad_state = json.loads(json.dumps(doc))
    del bad_state["hosts"][0]["states"]["CLOSE_WAIT"]
    bad_outcome = json.loads(json.dumps(doc))
    bad_outcome["hosts"][0]["outcome"] = "fine"
    bad_version = dict(doc, schema="netdiag.scan/2")
    missing_field = json.loads(json.dumps(doc))
    del missing_field["findings"][0]["evidence_total"]
    for broken in (bad_state, bad_outcome, bad_version, missing_field):
        assert not validator.is_valid(broken)


def test_top_level_metadata(doc: dict[str, Any]) -> None:
    result = rich_scan()
    assert doc["schema"] == SCAN_SCHEMA == "netdiag.scan/1"
    assert doc["netdiag_version"] == __version__
    assert doc["started"] == result.started and doc["duration_s"] == result.duration_s
    assert doc["inventory"] == "inventory/prod.yml"
    assert doc["options"] == {
        "samples": 1,
        "limit": None,
        "config": "/etc/netdiag/netdiag.cfg",
        "disable": ["x"],
    }
    failed = sum(1 for h in result.hosts if not h.outcome.scanned)
    assert doc["summary"] == {
        "hosts": len(result.hosts),
        "scanned": len(result.hosts) - failed,
        "failed": failed,
        "findings": {"critical": 4, "warning": 3, "info": 4},
    }


def test_hosts_states_all_twelve_or_null(doc: dict[str, Any]) -> None:
    result = rich_scan()
    assert [h["name"] for h in doc["hosts"]] == [h.name for h in result.hosts]  # inventory order
    for h, src in zip(doc["hosts"], result.hosts, strict=True):
        assert h["outcome"] == src.outcome.value and h["message"] == src.message
        if src.outcome.scanned:
            assert list(h["states"]) == list(STATE_NAMES)
            latest = src.samples[-1].state_counts()
            if len(src.samples) == 1:
                assert {k: v for k, v in h["states"].items() if v} == latest
        else:
            assert h["states"] is None and h["samples"] == 0 and h["netns"] == []
            assert h["fullest_queue"] is None and h["hostname"] is None


def test_host_fields(doc: dict[str, Any]) -> None:
    by_name = {h["name"]: h for h in doc["hosts"]}
    web = by_name["web-1.prod"]
    assert web["fullest_queue"] == {
        "local": "127.0.0.1:5000",
        "queue": 129,
        "backlog": 128,
        "process": "nginx",
        "pid": 812,
        "netns": "host",
    }
    assert web["worst"] == "critical"
    assert web["findings"] == sum(1 for f in rich_scan().findings if f.host == "web-1.prod") == 5
    assert web["states"]["CLOSE_WAIT"] == 200 and web["states"]["NEW_SYN_RECV"] == 0
    db = by_name["db-1.prod"]
    assert db["netns"] == ["host", "blue"] and db["samples"] == 1  # one sample, two namespaces
    assert db["states"]["FIN_WAIT2"] == 80  # latest view of each namespace, summed
    assert by_name["clean-1"]["worst"] == "ok"
    assert by_name["legacy-1"]["worst"] == "info" and by_name["legacy-1"]["fullest_queue"]["backlog"] is None
    assert by_name["down-timeout"]["worst"] is None  # no verdict on a host we could not read
    assert by_name[HOSTILE_HOST]["fullest_queue"]["process"] == HOSTILE_IMG  # kept verbatim in JSON


def test_findings_complete_and_most_severe_first(doc: dict[str, Any]) -> None:
    result = rich_scan()
    assert {f["rule"] for f in doc["findings"]} == set(RULE_IDS)
    ranks = [Severity.parse(f["severity"]) for f in doc["findings"]]
    assert ranks == sorted(ranks, reverse=True)
    expected = sorted(json.dumps(f.to_dict(), sort_keys=True) for f in result.findings)
    assert sorted(json.dumps(f, sort_keys=True) for f in doc["findings"]) == expected
    leak = next(f for f in doc["findings"] if f["rule"] == "close_wait_leak")
    assert leak["value"] == 200 and leak["threshold"] == 50 and leak["evidence_total"] == 200
    assert len(leak["evidence"]) == 20 and leak["series"] == [40, 90, 150, 200]
    cross = next(f for f in doc["findings"] if f["rule"] == "cross_host_leak")
    assert cross["related"][0]["host"] == "db-1.prod" and cross["related"][0]["pid"] == 991


def test_empty_scan_is_valid(validator: Any) -> None:
    d = to_document(scan_of([], []))
    validator.validate(d)
    assert d["hosts"] == [] and d["findings"] == [] and d["summary"]["hosts"] == 0


def test_strict_json_even_for_odd_values(validator: Any) -> None:
    """No NaN/Infinity (not JSON), and a lone surrogate in a name still gives valid output."""
    odd = finding(
        "fd_exhaustion",
        Severity.WARNING,
        "h\udcff",
        value=math.inf,
        threshold=math.nan,
        series=(1.0, math.nan),
    )
    result = scan_of([HostResult("h\udcff", "10.0.0.1", Outcome.OK, samples=(busy_web("h"),))], [odd])
    text = dumps(result)
    text.encode("utf-8")  # would raise on a raw surrogate
    d = json.loads(text)
    validator.validate(d)
    assert d["findings"][0]["value"] is None and d["findings"][0]["threshold"] is None
    assert d["findings"][0]["series"] == [1.0, None]
    assert d["hosts"][0]["name"] == "h\udcff"


def test_non_ascii_stays_readable() -> None:
    result = scan_of([HostResult("köln-1", "10.0.0.1", Outcome.OK, samples=(busy_web("k"),))], [])
    assert '"name": "köln-1"' in dumps(result)
