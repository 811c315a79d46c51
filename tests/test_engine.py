"""The engine: discovery, crash containment, ordering, namespaces, evidence rendering."""

import dataclasses
import typing

import pytest

from netdiag.engine import (
    EVIDENCE_LIMIT,
    FLEET,
    History,
    HostContext,
    Rule,
    RuleConfig,
    all_rules,
    render_socket,
    run_rules,
)
from netdiag.model import Process
from netdiag.parsers.ss import parse_ss
from netdiag.results import Outcome, Severity
from tests.reportdata import RULE_IDS as REPORT_RULE_IDS
from tests.snapbuild import hosts, many, row, snap, users

#: Every rule discovery must find: the report rules' explicit list, plus the history-driven one.
RULE_IDS = {*REPORT_RULE_IDS, "close_wait_growth"}


def test_discovery_lists_every_rule_sorted():
    ids = [r.id for r in all_rules()]
    assert set(ids) == RULE_IDS and ids == sorted(ids)


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.id)
def test_every_rule_is_documented_with_typed_defaulted_options(rule):
    assert rule.doc.startswith(f"{rule.id}:") and rule.title and rule.explanation and rule.remedy
    assert rule.scope in ("host", "fleet")
    hints = typing.get_type_hints(rule.options)
    for f in dataclasses.fields(rule.options):
        assert f.default is not dataclasses.MISSING, f.name
        assert hints[f.name] in (int, float, bool, str) and isinstance(f.default, hints[f.name])
        assert f.metadata.get("help"), f.name
    rule.options()  # the defaults make a valid instance


def _boom(ctx, opts):
    yield ctx.finding(_BOOM, message="before the crash")
    raise ZeroDivisionError("division by zero")


@dataclasses.dataclass(frozen=True)
class _NoOptions:
    pass


_BOOM = Rule(
    id="boom", title="t", severity=Severity.INFO, explanation="e", remedy="r", options=_NoOptions, check=_boom
)


def _fleet_boom(fleet, opts):
    raise KeyError("no such host")
    yield


def test_a_crashing_rule_becomes_a_finding_and_others_still_run():
    lines = many(60, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    h = hosts(snap(lines, netns="pod-a"))
    fleet_boom = dataclasses.replace(_BOOM, id="fleet_boom", check=_fleet_boom, scope="fleet")
    found = run_rules([h], RuleConfig(), rules=[_BOOM, fleet_boom, *all_rules()])
    errors = [f for f in found if f.rule == "rule_error"]
    assert len(errors) == 2
    host_err = next(f for f in errors if f.host == "web1")
    assert host_err.severity is Severity.WARNING and host_err.netns == "pod-a"
    assert host_err.message.startswith(
        "rule boom failed: ZeroDivisionError: division by zero at test_engine.py:"
    )
    assert "--disable boom" in host_err.remedy
    fleet_err = next(f for f in errors if f.host == FLEET)
    assert "rule fleet_boom failed: KeyError" in fleet_err.message
    assert any(f.rule == "boom" and f.message == "before the crash" for f in found)
    assert any(f.rule == "close_wait_leak" for f in found)


def test_findings_sorted_most_severe_first_then_host_then_rule():
    big = many(250, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    small = many(60, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    result = run_rules(
        [
            hosts(snap(small, host="b-host")),
            hosts(snap(small, host="a-host")),
            hosts(snap(big, host="z-host")),
        ]
    )
    keys = [(f.severity, f.host, f.rule) for f in result]
    assert keys[0][0] is Severity.CRITICAL and keys[0][1] == "z-host"
    assert keys == sorted(keys, key=lambda k: (-k[0], k[1], k[2]))
    assert [k[1] for k in keys if k[2] == "close_wait_leak"] == ["z-host", "a-host", "b-host"]


def test_disabled_rules_do_not_run():
    lines = many(60, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    cfg = RuleConfig(disabled=frozenset({"close_wait_leak", "ephemeral_port_collision"}))
    assert run_rules([hosts(snap(lines))], cfg) == []


def test_only_scanned_hosts_are_analysed():
    lines = many(60, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    for outcome in Outcome:
        found = run_rules(
            [hosts(snap(lines), outcome=outcome)], RuleConfig(disabled=frozenset({"collection_incomplete"}))
        )
        assert bool(found) is outcome.scanned, outcome


def test_each_namespace_is_its_own_view_with_its_own_samples():
    leak = many(60, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))
    h = hosts(
        snap(leak, netns="pod-a"),
        snap([], netns="host"),
        snap(leak, netns="pod-a", at="2025-01-01T00:00:09+00:00"),
    )
    found = [f for f in run_rules([h]) if f.rule == "close_wait_leak"]
    assert [f.netns for f in found] == ["pod-a"]
    assert "already there 9 s earlier" in found[0].message  # both pod-a samples were its samples


def test_healthy_busy_host_has_nothing_above_info():
    lines = [row("LISTEN", "0.0.0.0:80", "0.0.0.0:*", 0, 4096, users("nginx", 812))]
    lines += many(500, "ESTAB", "10.0.0.1:80", "198.51.100.3", first_port=30000, owner=("nginx", 812))
    lines += many(
        3000, "TIME-WAIT", "10.0.0.1:80", "198.51.100.4", first_port=20000, extra="timer:(timewait,50sec,0)"
    )
    lines += many(3, "CLOSE-WAIT", "10.0.0.1:80", "198.51.100.5", owner=("nginx", 812))
    s = snap(
        lines,
        processes=[Process(812, "nginx", fd_count=600, nofile_soft=65536)],
        counters={"TcpExt": {"ListenOverflows": 0, "ListenDrops": 0}},
        sockstat={"TCP": {"orphan": 2}},
        sysctls={"net.ipv4.ip_local_port_range": "32768 60999", "net.ipv4.tcp_max_orphans": "65536"},
    )
    assert [f for f in run_rules([hosts(s)]) if f.severity > Severity.INFO] == []


def test_evidence_is_bounded_with_the_total_kept():
    s = snap(many(30, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812)))
    ctx = HostContext("web1", (s,))
    f = ctx.finding(all_rules()[0], message="m", evidence=list(s.sockets))
    assert len(f.evidence) == EVIDENCE_LIMIT and f.evidence_total == 30


def test_rendered_evidence_reads_back_as_the_same_socket():
    text = "\n".join(
        [
            row("CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1:36613", 1, 0, users("my (odd), name", 8, 12)),
            row("FIN-WAIT-2", "[2001:db8::1]:443", "[2001:db8::2]:50000", 0, 0, "timer:(timewait,30sec,0)"),
            row("ESTAB", "10.0.0.1:22", "10.0.0.2:50000", 0, 36),
            row("LISTEN", "0.0.0.0:80", "0.0.0.0:*", 3, 128),
        ]
    )
    original = parse_ss(text).records
    again = parse_ss("\n".join(render_socket(s) for s in original))
    assert not again.warnings and again.records == original


def test_rules_read_the_real_history_store(tmp_path):
    from netdiag.history import History as Store

    def leak(n: int):
        return hosts(snap(many(n, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=("nginx", 812))))

    with Store.open(tmp_path / "h.sqlite") as store:
        store.record_scan("2025-01-01T00:00:00Z", 1.0, [leak(20)])
        store.record_scan("2025-01-01T01:00:00Z", 1.0, [leak(40)])
        history: History = store  # the store satisfies the engine's protocol (checked by mypy)
        (f,) = [f for f in run_rules([leak(60)], history=history) if f.rule == "close_wait_leak"]
    assert f.severity is Severity.CRITICAL and f.series == (20.0, 40.0, 60.0)
