"""cross_host_leak: CLOSE_WAIT on A paired with FIN_WAIT_2 (or nothing) on B; one finding naming both."""

from netdiag.results import Outcome, Severity
from tests.snapbuild import findings, hosts, many, row, snap, users

NGINX = ("nginx", 812)
ENVOY = ("envoy", 77)


def a_side(n: int, first_port: int = 40000):
    return many(n, "CLOSE-WAIT", "172.20.0.3:8080", "172.20.0.4", first_port=first_port, owner=NGINX)


def b_side(n: int, owner=ENVOY, first_port: int = 40000, extra: str = ""):
    return many(
        n,
        "FIN-WAIT-2",
        "172.20.0.4:0",
        "172.20.0.3:8080",
        first_port=first_port,
        owner=owner,
        extra=extra,
        vary="local",
    )


def test_pairs_both_halves_into_one_finding():
    a = snap(a_side(10), host="nginx-host", address="172.20.0.3")
    b = snap(b_side(10), host="envoy-host", address="172.20.0.4")
    (f,) = findings("cross_host_leak", a, b)
    assert f.host == "nginx-host" and f.severity is Severity.WARNING
    assert f.message.startswith(
        "nginx-host's nginx (pid 812) is not closing connections from envoy-host's envoy (pid 77)"
    )
    assert "10 still in FIN_WAIT_2 on envoy-host" in f.message
    assert [(r.host, r.process, r.pid) for r in f.related] == [("envoy-host", "envoy", 77)]
    assert (f.local, f.peer, f.value, f.threshold) == ("172.20.0.3:8080", "172.20.0.4:*", 10, 10)
    assert f.evidence[0].startswith("nginx-host: CLOSE-WAIT") and f.evidence[1].startswith(
        "envoy-host: FIN-WAIT-2"
    )
    assert f.evidence_total == 20 and f.confidence == "high"


def test_quiet_below_threshold_or_when_peer_not_scanned():
    a = snap(a_side(9), host="nginx-host", address="172.20.0.3")
    b = snap(b_side(9), host="envoy-host", address="172.20.0.4")
    assert findings("cross_host_leak", a, b) == []
    alone = snap(a_side(50), host="nginx-host", address="172.20.0.3")
    assert findings("cross_host_leak", alone) == []


def test_missing_half_pairs_and_the_peer_process_is_inferred():
    a = snap(a_side(12), host="nginx-host", address="172.20.0.3")
    # B's FIN_WAIT_2 halves timed out; envoy still has live connections to nginx.
    live = [row("ESTAB", "172.20.0.4:50000", "172.20.0.3:8080", extra=users(*ENVOY))]
    b = snap(live, host="envoy-host", address="172.20.0.4")
    (f,) = findings("cross_host_leak", a, b)
    assert "12 already gone there" in f.message and "envoy inferred" in f.message
    assert f.related[0].process == "envoy" and f.confidence == "medium"


def test_reused_port_is_not_a_pair():
    a = snap(a_side(10), host="nginx-host", address="172.20.0.3")
    reused = many(10, "ESTAB", "172.20.0.4:0", "172.20.0.3:8080", first_port=40000, vary="local")
    b = snap(reused, host="envoy-host", address="172.20.0.4")
    assert findings("cross_host_leak", a, b) == []


def test_loopback_never_pairs_across_hosts():
    a = snap(many(20, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", owner=NGINX), host="a")
    b = snap(
        many(20, "FIN-WAIT-2", "127.0.0.1:0", "127.0.0.1:5000", vary="local"), host="b", address="10.9.9.9"
    )
    assert findings("cross_host_leak", a, b) == []


def test_namespaces_on_one_host_pair_and_critical_far_above():
    a = snap(a_side(40), host="node1", address="10.0.0.1", netns="nginx-pod")
    b = snap(
        b_side(40, extra="timer:(timewait,30sec,0)"), host="node1", address="10.0.0.1", netns="envoy-pod"
    )
    (f,) = findings("cross_host_leak", hosts(a, b))
    assert f.severity is Severity.CRITICAL and f.netns == "nginx-pod"
    assert f.message.startswith(
        "node1[nginx-pod]'s nginx (pid 812) is not closing connections from node1[envoy-pod]'s envoy"
    )


def test_unscanned_hosts_are_left_out():
    a = snap(a_side(10), host="nginx-host", address="172.20.0.3")
    b = hosts(snap(b_side(10), host="envoy-host", address="172.20.0.4"), outcome=Outcome.UNREACHABLE)
    assert findings("cross_host_leak", hosts(a), b) == []
