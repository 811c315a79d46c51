"""fin_wait2_pileup: per peer, orphaned vs owned, escalation."""

from netdiag.results import Severity
from tests.snapbuild import at, findings, hosts, many, snap


def fw2(n: int, *, owner=None, extra: str = "", first_port: int = 40000, peer: str = "10.0.0.7:8080"):
    return many(
        n, "FIN-WAIT-2", "10.0.0.1:0", peer, first_port=first_port, owner=owner, extra=extra, vary="local"
    )


def test_fires_at_threshold_and_names_the_peer():
    (f,) = findings("fin_wait2_pileup", snap(fw2(50, extra="timer:(timewait,40sec,0)")))
    assert f.severity is Severity.WARNING and (f.value, f.threshold, f.peer) == (50, 50, "10.0.0.7:8080")
    assert "toward 10.0.0.7:8080" in f.message and "remote end is not closing" in f.message
    assert "50 orphaned (they expire after tcp_fin_timeout" in f.message


def test_quiet_below_and_split_by_peer():
    assert findings("fin_wait2_pileup", snap(fw2(49))) == []
    lines = fw2(30) + fw2(30, peer="10.0.0.8:8080", first_port=41000)
    assert findings("fin_wait2_pileup", snap(lines)) == []


def test_owned_sockets_named_and_never_time_out():
    lines = fw2(20, extra="timer:(timewait,40sec,0)") + fw2(30, owner=("envoy", 77), first_port=41000)
    s = snap(lines, sysctls={"net.ipv4.tcp_fin_timeout": "30"})
    (f,) = findings("fin_wait2_pileup", s)
    assert "20 orphaned (they expire after tcp_fin_timeout, 30 s)" in f.message
    assert "30 still owned by envoy (pid 77) (they never time out)" in f.message
    assert (f.process, f.pid) == ("envoy", 77)


def test_unknown_ownership_without_visibility():
    (f,) = findings("fin_wait2_pileup", snap(fw2(50), visibility="none"))
    assert "50 of unknown ownership" in f.message


def test_critical_far_above_or_owned_persisting():
    assert findings("fin_wait2_pileup", snap(fw2(200)))[0].severity is Severity.CRITICAL
    owned = fw2(50, owner=("envoy", 77))
    (f,) = findings("fin_wait2_pileup", hosts(snap(owned, at=at(0)), snap(owned, at=at(10))))
    assert f.severity is Severity.CRITICAL
    orphaned = fw2(50)
    assert (
        findings("fin_wait2_pileup", hosts(snap(orphaned), snap(orphaned, at=at(10))))[0].severity
        is Severity.WARNING
    )
