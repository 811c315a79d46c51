"""orphan_sockets: sockstat's orphan count against tcp_max_orphans."""

from netdiag.results import Severity
from tests.snapbuild import findings, many, snap

LIMIT = {"net.ipv4.tcp_max_orphans": "1000"}


def test_warns_at_80_percent_and_names_peers():
    lines = many(5, "FIN-WAIT-1", "10.0.0.1:443", "203.0.113.9")
    (f,) = findings("orphan_sockets", snap(lines, sysctls=LIMIT, sockstat={"TCP": {"orphan": 800}}))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (800, 800)
    assert "mostly toward 203.0.113.9 (5)" in f.message and f.evidence_total == 5


def test_quiet_below_or_without_data():
    assert findings("orphan_sockets", snap(sysctls=LIMIT, sockstat={"TCP": {"orphan": 799}})) == []
    assert findings("orphan_sockets", snap(sockstat={"TCP": {"orphan": 799}})) == []
    assert findings("orphan_sockets", snap(sysctls=LIMIT)) == []


def test_critical_at_95_percent():
    assert (
        findings("orphan_sockets", snap(sysctls=LIMIT, sockstat={"TCP": {"orphan": 950}}))[0].severity
        is Severity.CRITICAL
    )
