"""ephemeral_port_collision: local peers in the ephemeral range; a reversed SYN_SENT is critical."""

from netdiag.results import Severity
from tests.snapbuild import findings, many, row, snap, users

LISTENER = ("python3", 4242)


def stale(n: int, peer: str = "127.0.0.1", first_port: int = 36613):
    return many(n, "CLOSE-WAIT", "127.0.0.1:5000", peer, first_port=first_port, owner=LISTENER)


def test_fires_at_threshold():
    (f,) = findings("ephemeral_port_collision", snap(stale(10)))
    assert f.severity is Severity.WARNING and (f.value, f.threshold) == (10, 10)
    assert (f.process, f.pid, f.local) == ("python3", 4242, "127.0.0.1:5000")
    assert "ip_local_port_range 32768-60999" in f.message and "SYN_SENT" in f.message


def test_quiet_below_outside_range_or_remote_peer():
    assert findings("ephemeral_port_collision", snap(stale(9))) == []
    assert findings("ephemeral_port_collision", snap(stale(20, first_port=20000))) == []
    assert findings("ephemeral_port_collision", snap(stale(20, peer="192.0.2.7"))) == []


def test_hosts_own_address_counts_as_local():
    lines = many(10, "CLOSE-WAIT", "10.0.0.1:5000", "10.0.0.1", first_port=40000, owner=LISTENER)
    assert len(findings("ephemeral_port_collision", snap(lines))) == 1
    other = many(10, "CLOSE-WAIT", "10.0.0.1:5000", "10.0.0.2", first_port=40000, owner=LISTENER)
    assert findings("ephemeral_port_collision", snap(other)) == []


def test_range_from_sysctl():
    s = snap(stale(10, first_port=39996), sysctls={"net.ipv4.ip_local_port_range": "40000 40005"})
    (f,) = findings("ephemeral_port_collision", s, threshold=6)
    assert f.value == 6 and "40000-40005" in f.message


def test_reversed_syn_sent_is_critical_even_below_threshold():
    syn = row("SYN-SENT", "127.0.0.1:36613", "127.0.0.1:5000", 0, 1, users("nc", 777))
    (f,) = findings("ephemeral_port_collision", snap([*stale(1), syn]))
    assert f.severity is Severity.CRITICAL
    assert "127.0.0.1:36613 -> 127.0.0.1:5000 by nc (pid 777)" in f.message
    assert [(r.process, r.pid) for r in f.related] == [("nc", 777)]
    assert f.evidence[0].startswith("SYN-SENT") and f.evidence[1].startswith("CLOSE-WAIT")
    # A SYN_SENT on another port pair is no collision.
    other = row("SYN-SENT", "127.0.0.1:36999", "127.0.0.1:5000", 0, 1)
    assert findings("ephemeral_port_collision", snap([*stale(1), other])) == []


def test_ipv4_mapped_spelling_still_collides():
    syn = row("SYN-SENT", "[::ffff:127.0.0.1]:36613", "[::ffff:127.0.0.1]:5000", 0, 1)
    assert findings("ephemeral_port_collision", snap([*stale(1), syn]))[0].severity is Severity.CRITICAL
