"""time_wait_exhaustion: TIME_WAIT alone never warns; ports toward one destination running out does."""

from netdiag.results import Severity
from tests.snapbuild import findings, many, row, snap, users

SMALL = {"net.ipv4.ip_local_port_range": "40000 40099"}  # 100 ports: tests stay small


def tw(n: int, dest: str = "10.0.0.7:5432", first_port: int = 40000):
    return many(
        n,
        "TIME-WAIT",
        "10.0.0.1:0",
        dest,
        first_port=first_port,
        extra="timer:(timewait,50sec,0)",
        vary="local",
    )


def test_warns_at_80_percent_of_the_range():
    (f,) = findings("time_wait_exhaustion", snap(tw(80), sysctls=SMALL))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (80, 80)
    assert (f.local, f.peer) == ("10.0.0.1", "10.0.0.7:5432")
    assert (
        "80 of the 100 ports of ip_local_port_range 40000-40099" in f.message
        and "80 of them in TIME_WAIT" in f.message
    )


def test_quiet_below_and_spread_over_destinations():
    assert findings("time_wait_exhaustion", snap(tw(79), sysctls=SMALL)) == []
    lines = tw(50) + tw(50, dest="10.0.0.8:5432", first_port=40050)
    assert findings("time_wait_exhaustion", snap(lines, sysctls=SMALL)) == []


def test_server_side_time_wait_never_warns():
    # Seed 003: a busy server's thousands of TIME_WAIT on its own port 80.
    lines = many(
        3000, "TIME-WAIT", "10.0.0.1:80", "198.51.100.3", first_port=30000, extra="timer:(timewait,50sec,0)"
    )
    assert findings("time_wait_exhaustion", snap(lines)) == []


def test_live_connections_count_and_critical_at_95():
    lines = tw(90) + [
        row("ESTAB", f"10.0.0.1:{p}", "10.0.0.7:5432", extra=users("app", 5)) for p in range(40090, 40095)
    ]
    (f,) = findings("time_wait_exhaustion", snap(lines, sysctls=SMALL))
    assert f.severity is Severity.CRITICAL and f.value == 95 and (f.process, f.pid) == ("app", 5)


def test_all_live_is_not_time_wait():
    lines = [row("ESTAB", f"10.0.0.1:{p}", "10.0.0.7:5432") for p in range(40000, 40090)]
    assert findings("time_wait_exhaustion", snap(lines, sysctls=SMALL)) == []
