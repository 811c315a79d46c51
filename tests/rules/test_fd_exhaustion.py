"""fd_exhaustion: share of the soft RLIMIT_NOFILE."""

from netdiag.model import Process
from netdiag.results import Severity
from tests.snapbuild import findings, many, row, snap, users


def proc(fds: int | None, soft: int | None = 1024) -> Process:
    return Process(4242, "java", fd_count=fds, nofile_soft=soft, nofile_hard=4096)


def test_warns_at_80_percent_of_1024():
    lines = [row("LISTEN", "0.0.0.0:8080", "0.0.0.0:*", 0, 128, users("java", 4242))]
    lines += many(3, "CLOSE-WAIT", "10.0.0.1:8080", "10.0.0.9", owner=("java", 4242))
    (f,) = findings("fd_exhaustion", snap(lines, processes=[proc(820)]))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (820, 820)
    assert (f.process, f.pid, f.local) == ("java", 4242, "0.0.0.0:8080")
    assert "820 open fds, 80% of its soft RLIMIT_NOFILE 1024, hard 4096" in f.message
    assert "3 in CLOSE_WAIT" in f.message and f.evidence_total == 4


def test_quiet_below_and_when_unknown_or_unlimited():
    assert findings("fd_exhaustion", snap(processes=[proc(819)])) == []
    assert findings("fd_exhaustion", snap(processes=[proc(None), proc(5000, None)])) == []


def test_critical_at_95_percent():
    assert findings("fd_exhaustion", snap(processes=[proc(972)]))[0].severity is Severity.WARNING
    assert findings("fd_exhaustion", snap(processes=[proc(973)]))[0].severity is Severity.CRITICAL
