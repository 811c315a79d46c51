"""close_wait_unread: Recv-Q >= 2 only, threshold, persistence."""

from netdiag.results import Severity
from tests.snapbuild import at, findings, hosts, many, snap

IMAPD = ("imapd", 3001)


def unread(n: int, recv_q: int = 40, first_port: int = 33000):
    return many(
        n, "CLOSE-WAIT", "10.0.0.1:1143", "10.0.0.5", first_port=first_port, recv_q=recv_q, owner=IMAPD
    )


def test_fires_at_threshold():
    (f,) = findings("close_wait_unread", snap(unread(5)))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (5, 5)
    assert (f.process, f.pid, f.local) == ("imapd", 3001, "10.0.0.1:1143")
    assert "5 CLOSE_WAIT sockets with unread data" in f.message and "195 bytes unread" in f.message


def test_quiet_below_and_for_recv_q_one():
    assert findings("close_wait_unread", snap(unread(4))) == []
    # Seed 002's Recv-Q 1 is the FIN alone: close_wait_leak's case, not this rule's.
    assert findings("close_wait_unread", snap(unread(50, recv_q=1))) == []


def test_critical_far_above_or_persisting():
    assert findings("close_wait_unread", snap(unread(20)))[0].severity is Severity.CRITICAL
    (f,) = findings("close_wait_unread", hosts(snap(unread(6), at=at(0)), snap(unread(6), at=at(3))))
    assert f.severity is Severity.CRITICAL and "already held unread data" in f.message
    moved = hosts(snap(unread(6), at=at(0)), snap(unread(6, first_port=34000), at=at(3)))
    assert findings("close_wait_unread", moved)[0].severity is Severity.WARNING


def test_evidence_fullest_first():
    lines = unread(4, recv_q=3) + unread(1, recv_q=900, first_port=35000)
    (f,) = findings("close_wait_unread", snap(lines))
    assert f.evidence[0].split()[1] == "900"
