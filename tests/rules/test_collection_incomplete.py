"""collection_incomplete: every gap named; no socket list is a warning; a full view is silent."""

from netdiag.model import CommandRun, ParseWarning
from netdiag.results import Outcome, Severity
from tests.snapbuild import findings, hosts, row, snap

LISTEN = row("LISTEN", "0.0.0.0:80", "0.0.0.0:*", 0, 128)


def test_complete_snapshot_is_silent():
    assert findings("collection_incomplete", snap([LISTEN])) == []


def test_missing_source_and_visibility_are_info():
    s = snap(
        [LISTEN],
        visibility="own",
        commands=[
            CommandRun("sockets", "ss -tanoe", "ok"),
            CommandRun("limits", "grep", "denied", detail="EACCES"),
        ],
    )
    (f,) = findings("collection_incomplete", s)
    assert f.severity is Severity.INFO and f.value == 2
    assert "source limits denied (grep): EACCES" in f.message
    assert "process visibility 'own' (collected as uid 0)" in f.message
    assert "owners of 1 of 1 process-held sockets unknown" in f.message
    # A TIME_WAIT socket has no inode and no owner by nature: not a gap.
    tw = "TIME-WAIT 0 0 127.0.0.1:5000 127.0.0.1:40000 timer:(timewait,50sec,0)"
    assert findings("collection_incomplete", snap([tw], visibility="own")) == []
    # Every socket's owner seen: the caller owned them all, nothing is hidden.
    owned = snap([LISTEN.replace("0.0.0.0:*", '0.0.0.0:* users:(("nginx",pid=8,fd=3))')], visibility="own")
    assert findings("collection_incomplete", owned) == []


def test_no_socket_list_is_a_warning():
    s = snap(source="", commands=[CommandRun("sockets", "ss -tanoe", "missing", detail="ss: not found")])
    (f,) = findings("collection_incomplete", s)
    assert f.severity is Severity.WARNING and "no socket listing" in f.message


def test_netstat_source_cannot_tell_backlogs():
    waiting = row("LISTEN", "0.0.0.0:80", "0.0.0.0:*", 3, 0)
    (f,) = findings("collection_incomplete", snap([waiting], source="netstat"))
    assert "accept-queue backlogs unknown" in f.message and "1 listener(s)" in f.message
    # An empty accept queue cannot be full: an idle listener read without ss is no gap.
    assert findings("collection_incomplete", snap([LISTEN], source="netstat")) == []


def test_parse_warnings_and_tolerance():
    w = [ParseWarning("sockets", 7, "garbage", "unreadable local address")]
    (f,) = findings("collection_incomplete", snap([LISTEN], warnings=w))
    assert "1 lines could not be parsed" in f.message
    assert "sockets:7: unreadable local address: garbage" in f.evidence
    assert findings("collection_incomplete", snap([LISTEN], warnings=w), max_parse_warnings=1) == []


def test_ignored_sources_and_partial_outcome():
    s = snap([LISTEN], commands=[CommandRun("cmdline", "head", "failed")])
    assert findings("collection_incomplete", s, ignore_sources="cmdline, comm") == []
    (f,) = findings(
        "collection_incomplete", hosts(snap([LISTEN]), outcome=Outcome.PARTIAL, message="sysctls timed out")
    )
    assert "scan: sysctls timed out" in f.message
