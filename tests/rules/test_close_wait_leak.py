"""close_wait_leak: threshold, quiet below, escalation by size, persistence, growth and history."""

from netdiag.model import Process
from netdiag.results import Severity
from tests.snapbuild import FakeHistory, at, findings, hosts, many, row, snap, users

NGINX = ("nginx", 812)


def leak(n: int, *, recv_q: int = 0, first_port: int = 40000, **kw):
    return many(
        n,
        "CLOSE-WAIT",
        "127.0.0.1:5000",
        "127.0.0.1",
        first_port=first_port,
        recv_q=recv_q,
        owner=NGINX,
        **kw,
    )


def test_fires_at_threshold_with_process_fds_and_peers():
    s = snap(leak(50), processes=[Process(812, "nginx", fd_count=517, nofile_soft=1024)])
    (f,) = findings("close_wait_leak", s)
    assert f.severity is Severity.WARNING
    assert (f.process, f.pid, f.local, f.value, f.threshold) == ("nginx", 812, "127.0.0.1:5000", 50, 50)
    assert f.message.startswith(
        "nginx (pid 812) holds 50 CLOSE_WAIT sockets on 127.0.0.1:5000 (threshold 50)"
    )
    assert "517 of 1024 fds" in f.message
    assert "top peers 127.0.0.1 (50)" in f.message
    assert f.evidence_total == 50 and len(f.evidence) == 20
    assert f.evidence[0].startswith("CLOSE-WAIT") and 'users:(("nginx",pid=812' in f.evidence[0]
    assert f.explanation and f.remedy and f.confidence == "high"


def test_quiet_just_below_threshold():
    assert findings("close_wait_leak", snap(leak(49))) == []


def test_groups_per_process_not_per_host():
    lines = leak(30) + many(30, "CLOSE-WAIT", "127.0.0.1:6000", "127.0.0.1", owner=("redis", 9))
    assert findings("close_wait_leak", snap(lines)) == []
    assert {f.process for f in findings("close_wait_leak", snap(lines), threshold=30)} == {"nginx", "redis"}


def test_unknown_owners_grouped_by_local_port():
    lines = many(50, "CLOSE-WAIT", "10.0.0.1:8080", "10.0.0.9")
    (f,) = findings("close_wait_leak", snap(lines, visibility="none"))
    assert f.process is None and f.pid is None and f.local == "10.0.0.1:8080"
    assert "an unknown process on port 8080" in f.message and f.confidence == "medium"


def test_recv_q_zero_and_one_are_told_apart():
    (f,) = findings("close_wait_leak", snap(leak(30) + leak(20, recv_q=1, first_port=50000)))
    assert "30 with Recv-Q 0 (read end-of-file, never called close())" in f.message
    assert "20 with Recv-Q 1 (never read end-of-file" in f.message


def test_critical_far_above():
    assert findings("close_wait_leak", snap(leak(199)))[0].severity is Severity.WARNING
    f = findings("close_wait_leak", snap(leak(200)))[0]
    assert f.severity is Severity.CRITICAL and "4x the threshold" in f.message


def test_critical_when_same_tuples_persist_across_samples():
    first = snap(leak(60), at=at(0))
    later = snap(leak(60), at=at(5))
    (f,) = findings("close_wait_leak", hosts(first, later))
    assert f.severity is Severity.CRITICAL and "60 of them were already there 5 s earlier" in f.message
    # Same count, but all different connections: churn, not a leak.
    churn = snap(leak(60, first_port=50000), at=at(5))
    assert findings("close_wait_leak", hosts(first, churn))[0].severity is Severity.WARNING


def test_critical_when_count_grows_across_samples():
    s = [snap(leak(n, first_port=40000 + 1000 * i), at=at(i)) for i, n in enumerate((40, 50, 55))]
    (f,) = findings("close_wait_leak", hosts(*s))
    assert f.severity is Severity.CRITICAL and "40 -> 50 -> 55" in f.message
    # A fall in between is a wobble, not growth.
    s[1] = snap(leak(35, first_port=41000), at=at(1))
    assert findings("close_wait_leak", hosts(*s))[0].severity is Severity.WARNING


def test_critical_when_history_shows_growth():
    h = FakeHistory({("web1", "close_wait:nginx:5000"): [20.0, 40.0]})
    (f,) = findings("close_wait_leak", snap(leak(60)), history=h)
    assert f.severity is Severity.CRITICAL and "grew over the last scans: 20 -> 40 -> 60" in f.message
    assert f.series == (20.0, 40.0, 60.0)
    assert ("web1", "close_wait:nginx:5000", "host") in h.asked
    steady = FakeHistory({("web1", "close_wait:nginx:5000"): [60.0, 60.0]})
    assert findings("close_wait_leak", snap(leak(60)), history=steady)[0].severity is Severity.WARNING


def test_netns_is_set_when_not_the_root_namespace():
    (f,) = findings("close_wait_leak", snap(leak(50), netns="pod-a"))
    assert f.netns == "pod-a"
    assert findings("close_wait_leak", snap(leak(50)))[0].netns is None


def test_other_states_do_not_count():
    lines = [
        row("ESTAB", "127.0.0.1:5000", f"127.0.0.1:{p}", extra=users("nginx", 812))
        for p in range(40000, 40100)
    ]
    assert findings("close_wait_leak", snap(lines)) == []
