"""close_wait_growth: growth across recorded scans below close_wait_leak's threshold, and nothing else."""

from netdiag.results import Severity
from netdiag.rules import close_wait_leak
from tests.snapbuild import FakeHistory, findings, many, snap

KEY = ("web1", "close_wait:nginx:5000")


def leak(n: int) -> list[str]:
    return many(n, "CLOSE-WAIT", "10.0.0.1:5000", "10.0.0.9", owner=("nginx", 812))


def test_growth_below_the_threshold_fires_with_the_series():
    h = FakeHistory({KEY: [3.0, 8.0, 14.0]})
    (f,) = findings("close_wait_growth", snap(leak(25)), history=h)
    assert f.severity is Severity.WARNING and (f.process, f.pid, f.local) == ("nginx", 812, "10.0.0.1:5000")
    assert f.value == 25 and f.threshold == close_wait_leak.Options().threshold
    assert f.series == (3.0, 8.0, 14.0, 25.0)  # every recorded value, then this scan's
    assert "8 -> 14 -> 25" in f.message and f.evidence_total == 25
    assert h.asked == [("web1", "close_wait:nginx:5000", "host")]


def test_steady_falling_wobbling_or_too_little_growth_is_quiet():
    for past in ([25.0, 25.0], [30.0, 20.0], [20.0, 30.0], [16.0, 20.0], []):
        assert findings("close_wait_growth", snap(leak(25)), history=FakeHistory({KEY: past})) == [], past
    assert findings("close_wait_growth", snap(leak(25))) == []  # no history, no trend


def test_at_the_threshold_growth_is_close_wait_leaks_to_report():
    h = FakeHistory({KEY: [10.0, 30.0]})
    assert findings("close_wait_growth", snap(leak(50)), history=h) == []
    (f,) = findings("close_wait_leak", snap(leak(50)), history=h)
    assert f.severity is Severity.CRITICAL and f.series == (10.0, 30.0, 50.0)
    # Raised in step with close_wait_leak.threshold, the hand-over moves with it.
    (g,) = findings("close_wait_growth", snap(leak(50)), history=h, below=80)
    assert g.value == 50 and g.threshold == 80


def test_options_shape_the_trend():
    h = FakeHistory({KEY: [20.0, 22.0]})
    assert findings("close_wait_growth", snap(leak(25)), history=h) == []
    assert findings("close_wait_growth", snap(leak(25)), history=h, growth_min=5) != []
    longer = FakeHistory({KEY: [30.0, 5.0, 15.0]})
    assert findings("close_wait_growth", snap(leak(25)), history=longer) != []
    assert findings("close_wait_growth", snap(leak(25)), history=longer, history_scans=4) == []
