"""listen_overflows: growth between samples or since the last scan; since-boot only is info."""

from netdiag.results import Severity
from tests.snapbuild import FakeHistory, at, findings, hosts, row, snap, users


def counters(overflows: int, drops: int | None = None):
    return {"TcpExt": {"ListenOverflows": overflows, "ListenDrops": overflows if drops is None else drops}}


FULL = row("LISTEN", "127.0.0.1:5000", "0.0.0.0:*", 129, 128, users("python3", 4242))


def test_growth_between_samples_warns_and_names_the_fullest_queue():
    s = hosts(
        snap([FULL], counters=counters(1000), at=at(0)), snap([FULL], counters=counters(1001), at=at(2))
    )
    (f,) = findings("listen_overflows", s)
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (1, 1)
    assert "ListenOverflows grew by 1 between samples (2 s)" in f.message
    assert (f.process, f.pid, f.local) == ("python3", 4242, "127.0.0.1:5000")
    assert "fullest accept queue: 127.0.0.1:5000 129/128, python3 (pid 4242)" in f.message


def test_no_growth_is_info_and_zero_is_silent():
    s = hosts(snap(counters=counters(1000), at=at(0)), snap(counters=counters(1000), at=at(2)))
    (f,) = findings("listen_overflows", s)
    assert f.severity is Severity.INFO and "no growth between samples" in f.message
    assert findings("listen_overflows", snap(counters=counters(0))) == []
    assert findings("listen_overflows", snap(counters=counters(5)), report_since_boot=False) == []


def test_single_sample_nonzero_is_info():
    (f,) = findings("listen_overflows", snap(counters=counters(7)))
    assert f.severity is Severity.INFO and f.value == 7 and "cannot tell when" in f.message


def test_critical_delta():
    s = hosts(snap(counters=counters(0), at=at(0)), snap(counters=counters(100), at=at(3)))
    assert findings("listen_overflows", s)[0].severity is Severity.CRITICAL
    s = hosts(snap(counters=counters(0), at=at(0)), snap(counters=counters(99), at=at(3)))
    assert findings("listen_overflows", s)[0].severity is Severity.WARNING


def test_counter_reset_is_no_growth():
    s = hosts(snap(counters=counters(500), at=at(0)), snap(counters=counters(3), at=at(3)))
    assert findings("listen_overflows", s)[0].severity is Severity.INFO


def test_drops_without_overflows_count_too():
    s = hosts(snap(counters=counters(0, 10), at=at(0)), snap(counters=counters(0, 15), at=at(3)))
    (f,) = findings("listen_overflows", s)
    assert f.value == 5 and "ListenDrops grew by 5" in f.message


def test_growth_since_last_scan_from_history():
    h = FakeHistory({("web1", "counter:TcpExt.ListenOverflows"): [10.0, 40.0]})
    (f,) = findings("listen_overflows", snap(counters=counters(45, 0)), history=h)
    assert f.severity is Severity.WARNING and "grew by 5 since the last scan" in f.message
