"""listen_queue_full: share of the backlog, full is critical, somaxconn cap, netstat can't tell."""

from netdiag.results import Severity
from tests.snapbuild import at, findings, hosts, row, snap, users


def listener(queue: int, backlog: int, addr: str = "127.0.0.1:5000") -> str:
    return row("LISTEN", addr, "0.0.0.0:*", queue, backlog, users("python3", 4242))


def test_warns_at_share_of_backlog():
    (f,) = findings("listen_queue_full", snap([listener(103, 128)]))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (103, 103)
    assert (f.process, f.pid, f.local) == ("python3", 4242, "127.0.0.1:5000")
    assert "103 connections waiting in an accept queue of 128" in f.message


def test_quiet_below():
    assert findings("listen_queue_full", snap([listener(102, 128), listener(0, 0, "[::]:80")])) == []


def test_full_is_critical():
    (f,) = findings("listen_queue_full", snap([listener(129, 128)]))
    assert f.severity is Severity.CRITICAL and "new SYNs are being dropped" in f.message
    # Queue equal to backlog: the kernel still admits one more.
    assert findings("listen_queue_full", snap([listener(128, 128)]))[0].severity is Severity.WARNING


def test_notes_somaxconn_cap_and_persistence():
    s = [snap([listener(4097, 4096)], at=at(i)) for i in range(2)]
    (f,) = findings("listen_queue_full", hosts(*s))
    assert "equals net.core.somaxconn (4096)" in f.message and "full in all 2 samples" in f.message


def test_silent_when_backlog_unknown():
    assert findings("listen_queue_full", snap([listener(500, 128)], source="netstat")) == []


def test_share_option():
    assert findings("listen_queue_full", snap([listener(64, 128)]), warn_share=0.5)[0].threshold == 64
