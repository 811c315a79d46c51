"""Scan history: metrics from snapshots built in code, the SQLite round trip, retention, concurrency."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from netdiag.cli import main
from netdiag.history import (
    SCHEMA_VERSION,
    History,
    HistoryError,
    close_wait_key,
    counter_key,
    default_history_path,
    fd_limit_key,
    fds_key,
    fin_wait2_key,
    listen_backlog_key,
    listen_queue_key,
    metrics,
    sockstat_key,
    state_key,
)
from netdiag.model import Collection, Endpoint, HostInfo, Owner, Process, Snapshot, Socket, TcpState
from netdiag.results import HostResult, Outcome

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def sock(
    state: TcpState,
    lport: int,
    peer: tuple[str, int] = ("10.0.0.9", 40000),
    owners: tuple[Owner, ...] = (),
    recv_q: int = 0,
    send_q: int = 0,
    local: str = "10.0.0.1",
) -> Socket:
    return Socket(state, recv_q, send_q, Endpoint(local, lport), Endpoint(*peer), owners=owners)


def close_waits(n: int, name: str = "leaky", pid: int = 400, port: int = 9000) -> tuple[Socket, ...]:
    return tuple(
        sock(TcpState.CLOSE_WAIT, port, ("10.0.0.9", 50000 + i), (Owner(pid, name, 10 + i),))
        for i in range(n)
    )


def snapshot(*sockets: Socket, netns: str = "host", source: str = "ss", **kw: object) -> Snapshot:
    return Snapshot(
        host=HostInfo(name="web1", address="local", netns=netns),
        sockets=sockets,
        collection=Collection(socket_source=source),
        **kw,  # type: ignore[arg-type]
    )


def ok(name: str, snap: Snapshot) -> HostResult:
    return HostResult(name=name, address="local", outcome=Outcome.OK, samples=(snap,))


def down(name: str) -> HostResult:
    return HostResult(name=name, address="10.9.9.9", outcome=Outcome.UNREACHABLE, message="no route to host")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[History]:
    with History.open(tmp_path / "data" / "history.sqlite") as h:
        yield h


# -- metrics ----------------------------------------------------------------------


def test_metrics_counts_per_process_port_peer_and_listener() -> None:
    shared = (Owner(10, "nginx", 5), Owner(11, "nginx", 5))  # one socket, two workers after fork
    snap = snapshot(
        *close_waits(3, "java", 700, 8080),
        sock(TcpState.CLOSE_WAIT, 8080, owners=shared),
        sock(TcpState.CLOSE_WAIT, 8080, owners=(Owner(10, "nginx", 6),)),
        sock(TcpState.CLOSE_WAIT, 22),  # owner not visible
        sock(TcpState.FIN_WAIT2, 41000, ("10.0.0.7", 443)),
        sock(TcpState.FIN_WAIT2, 41001, ("10.0.0.7", 443)),
        sock(TcpState.FIN_WAIT2, 41002, ("::1", 443), local="::1"),
        sock(TcpState.LISTEN, 8080, ("0.0.0.0", 0), recv_q=129, send_q=128, local="0.0.0.0"),
        sock(TcpState.LISTEN, 8080, ("::", 0), recv_q=3, send_q=128, local="::"),
        processes=(
            Process(10, "nginx", fd_count=40, nofile_soft=1024),
            Process(11, "nginx", fd_count=900, nofile_soft=4096),
            Process(700, "java", fd_count=None),
        ),
        counters={"TcpExt": {"ListenOverflows": 17, "SomethingElse": 5}, "Tcp": {"ActiveOpens": 99}},
        sockstat={"TCP": {"inuse": 12, "orphan": 1, "mem": 3}},
    )
    m = metrics(snap)
    assert m[close_wait_key("java", 8080)].value == 3
    assert m[close_wait_key("java", 8080)].pids == (700,)
    assert m[close_wait_key("nginx", 8080)].value == 2
    assert m[close_wait_key("nginx", 8080)].pids == (10, 11)
    assert m["close_wait:-:22"].value == 1
    assert m[fin_wait2_key("10.0.0.7")].value == 2
    assert m[fin_wait2_key("::1")].value == 1
    assert m[state_key(TcpState.CLOSE_WAIT)].value == 6
    assert m[listen_queue_key("0.0.0.0:8080")].value == 129
    assert m[listen_backlog_key("0.0.0.0:8080")].value == 128
    assert m[listen_queue_key("[::]:8080")].value == 3
    assert (m[fds_key("nginx")].value, m[fds_key("nginx")].pids) == (900, (11,))
    assert m[fd_limit_key("nginx")].value == 4096  # the limit of the same (busiest) process
    assert fds_key("java") not in m
    assert m[counter_key("TcpExt", "ListenOverflows")].value == 17
    assert m[counter_key("Tcp", "ActiveOpens")].value == 99
    assert counter_key("TcpExt", "SomethingElse") not in m  # only the recorded counters
    assert m[sockstat_key("orphan")].value == 1
    assert sockstat_key("mem") not in m


def test_backlog_only_from_ss() -> None:
    snap = snapshot(sock(TcpState.LISTEN, 80, ("0.0.0.0", 0), recv_q=2, local="0.0.0.0"), source="proc")
    m = metrics(snap)
    assert m[listen_queue_key("0.0.0.0:80")].value == 2
    assert listen_backlog_key("0.0.0.0:80") not in m


# -- the store --------------------------------------------------------------------


def test_fresh_database_settings(db: History, tmp_path: Path) -> None:
    assert db.pragma("journal_mode") == "wal"
    assert db.pragma("user_version") == SCHEMA_VERSION
    assert db.pragma("busy_timeout") > 0
    assert db.pragma("integrity_check") == "ok"
    assert (tmp_path / "data").stat().st_mode & 0o777 == 0o700


def test_round_trip_series_oldest_first_with_zero_before_the_leak(db: History) -> None:
    steady = close_waits(2, "pool", 500, 7000)
    for i, n in enumerate([0, 3, 6, 9]):
        db.record_scan(T0 + timedelta(hours=i), 4.5, [ok("web1", snapshot(*close_waits(n), *steady))])
    key = close_wait_key("leaky", 9000)
    assert db.series("web1", key, limit=10) == [
        ("2024-05-01T12:00:00Z", 0.0),
        ("2024-05-01T13:00:00Z", 3.0),
        ("2024-05-01T14:00:00Z", 6.0),
        ("2024-05-01T15:00:00Z", 9.0),
    ]
    assert [v for _, v in db.series("web1", key, limit=2)] == [6.0, 9.0]  # the *last* two
    assert [v for _, v in db.series("web1", close_wait_key("pool", 7000))] == [2.0] * 4
    assert db.series("web1", key, netns="ns-a") == []
    assert db.series("web2", key) == []


def test_order_follows_scan_time_not_insertion(db: History) -> None:
    db.record_scan(T0 + timedelta(hours=1), 1, [ok("web1", snapshot(*close_waits(5)))])
    db.record_scan(T0, 1, [ok("web1", snapshot(*close_waits(1)))])  # recorded late
    assert [v for _, v in db.series("web1", close_wait_key("leaky", 9000))] == [1.0, 5.0]


def test_failed_scans_and_absent_gauges_are_left_out(db: History) -> None:
    with_listener = snapshot(sock(TcpState.LISTEN, 80, ("0.0.0.0", 0), recv_q=7, send_q=10, local="0.0.0.0"))
    db.record_scan(T0, 1, [ok("web1", with_listener), down("db1")])
    db.record_scan(T0 + timedelta(hours=1), 1, [down("web1")])
    db.record_scan(T0 + timedelta(hours=2), 1, [ok("web1", snapshot())])  # listener gone
    # No socket listing at all (partial): an absent count is unknown, not zero.
    blind = HostResult("web1", "local", Outcome.PARTIAL, "sockets: denied", (snapshot(source=""),))
    db.record_scan(T0 + timedelta(hours=3), 1, [blind])
    queue = listen_queue_key("0.0.0.0:80")
    assert db.series("web1", queue) == [("2024-05-01T12:00:00Z", 7.0)]
    assert [t for t, _ in db.series("web1", state_key(TcpState.LISTEN))] == [
        "2024-05-01T12:00:00Z",
        "2024-05-01T14:00:00Z",
    ]
    assert db.hosts() == ["db1", "web1"]
    assert db.keys("db1") == []


def test_unfinished_hosts_are_those_whose_latest_outcome_was_timeout_or_unreachable(db: History) -> None:
    hung = HostResult("hung1", "10.9.9.8", Outcome.TIMEOUT, "deadline of 10 s passed")
    assert db.unfinished() == frozenset()
    db.record_scan(T0, 1, [ok("web1", snapshot()), down("db1"), hung])
    assert db.unfinished() == {"db1", "hung1"}
    refused = HostResult("hung1", "10.9.9.8", Outcome.AUTH_FAILED, "public key refused")
    db.record_scan(T0 + timedelta(hours=1), 1, [ok("db1", snapshot()), refused])  # web1 not in this scan
    assert db.unfinished() == frozenset()
    db.record_scan(T0 + timedelta(hours=2), 1, [down("web1")])
    assert db.unfinished() == {"web1"}


def test_namespaces_are_separate_series(db: History) -> None:
    db.record_scan(
        T0, 1, [ok("web1", snapshot(*close_waits(4))), ok("web1", snapshot(*close_waits(1), netns="blue"))]
    )
    key = close_wait_key("leaky", 9000)
    assert db.series("web1", key)[0][1] == 4.0
    assert db.series("web1", key, netns="blue")[0][1] == 1.0
    assert ("web1", "blue", key) in db.keys("web1")


def test_one_host_read_in_several_namespaces_records_each(db: History) -> None:
    # The shape a collection gives: per sample one snapshot per namespace, the root one last;
    # each namespace's newest snapshot is recorded, not only the root's.
    samples = (
        snapshot(*close_waits(2), netns="blue"),
        snapshot(*close_waits(3)),
        snapshot(*close_waits(7), netns="blue"),
        snapshot(*close_waits(5)),
    )
    db.record_scan(T0, 1, [HostResult(name="web1", address="local", outcome=Outcome.OK, samples=samples)])
    key = close_wait_key("leaky", 9000)
    assert db.series("web1", key) == [("2024-05-01T12:00:00Z", 5.0)]
    assert db.series("web1", key, netns="blue") == [("2024-05-01T12:00:00Z", 7.0)]


def test_options_and_started_normalised(db: History, tmp_path: Path) -> None:
    scan = db.record_scan("2024-05-01T14:00:00+02:00", 2.5, [], options={"limit": "web*", "path": tmp_path})
    db.close()
    with sqlite3.connect(tmp_path / "data" / "history.sqlite") as raw:
        started, options = raw.execute("SELECT started, options FROM scans WHERE id = ?", (scan,)).fetchone()
    assert started == "2024-05-01T12:00:00Z"
    assert '"limit": "web*"' in options
    with History.open(tmp_path / "data" / "history.sqlite") as h, pytest.raises(HistoryError, match="ISO"):
        h.record_scan("yesterday", 1, [])


def test_prune_by_count_and_age(db: History) -> None:
    for i in range(6):
        db.record_scan(T0 + timedelta(days=i), 1, [ok("web1", snapshot(*close_waits(i + 1)))])
    key = close_wait_key("leaky", 9000)
    assert db.prune(keep_scans=4) == 2
    assert [v for _, v in db.series("web1", key)] == [3.0, 4.0, 5.0, 6.0]
    # keep 2.5 days back from day 5 12:00: days 3, 4, 5 remain
    assert db.prune(keep_days=2.5, now=T0 + timedelta(days=5)) == 1
    assert [v for _, v in db.series("web1", key)] == [4.0, 5.0, 6.0]
    assert db.prune() == 0
    assert db.scan_count() == 3
    assert db.pragma("integrity_check") == "ok"
    assert db.prune(keep_scans=0) == 3
    assert db.keys() == [] and db.hosts() == []


def test_reopen_keeps_data_and_refuses_newer_or_foreign_databases(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History.open(path) as h:
        h.record_scan(T0, 1, [ok("web1", snapshot(*close_waits(2)))])
    with History.open(path) as h:
        assert h.scan_count() == 1
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(HistoryError, match="newer than this netdiag"):
        History.open(path)
    foreign = tmp_path / "other.sqlite"
    with sqlite3.connect(foreign) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(HistoryError, match="not a netdiag history"):
        History.open(foreign)
    with pytest.raises(HistoryError, match="no history at"):
        History.open(tmp_path / "missing.sqlite", create=False)
    assert not (tmp_path / "missing.sqlite").exists()


def test_default_path_follows_xdg(tmp_path: Path) -> None:
    assert default_history_path({"XDG_DATA_HOME": str(tmp_path)}) == tmp_path / "netdiag" / "history.sqlite"
    relative = default_history_path({"XDG_DATA_HOME": "relative/dir"})
    assert relative == Path.home() / ".local" / "share" / "netdiag" / "history.sqlite"


# -- two writers at once -------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from datetime import datetime, timedelta, timezone
    from netdiag.history import History
    from netdiag.runlock import LockBusy, RunLock, lock_path_for
    from tests.test_history import close_waits, ok, snapshot

    path, go, name, use_lock = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], sys.argv[4] == "lock"
    while not go.exists():
        time.sleep(0.005)
    lock = RunLock(lock_path_for(path))
    try:
        if use_lock:
            lock.acquire()
        with History.open(path) as h:
            t0 = datetime(2024, 5, 1, tzinfo=timezone.utc)
            for i in range(15):
                h.record_scan(t0 + timedelta(minutes=i), 1, [ok(name, snapshot(*close_waits(50 + i)))])
    except LockBusy as e:
        print(e, file=sys.stderr)
        sys.exit(3)
    finally:
        lock.release()
    """
)


def run_two_writers(tmp_path: Path, mode: str) -> tuple[Path, list[subprocess.CompletedProcess[str]]]:
    path, go = tmp_path / "shared.sqlite", tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), str(go), name, mode],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("hostA", "hostB")
    ]
    go.touch()
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        results.append(subprocess.CompletedProcess(p.args, p.returncode, out, err))
    return path, results


def test_two_writers_without_lock_both_complete(tmp_path: Path) -> None:
    path, results = run_two_writers(tmp_path, "nolock")
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    with History.open(path) as h:
        assert h.scan_count() == 30
        assert h.pragma("integrity_check") == "ok"
        for name in ("hostA", "hostB"):
            values = [v for _, v in h.series(name, close_wait_key("leaky", 9000), limit=100)]
            assert values == [50.0 + i for i in range(15)]


def test_two_locked_scans_at_once_complete_or_refuse_clearly(tmp_path: Path) -> None:
    path, results = run_two_writers(tmp_path, "lock")
    codes = sorted(r.returncode for r in results)
    assert codes in ([0, 0], [0, 3]), [r.stderr for r in results]
    for r in results:
        if r.returncode == 3:
            assert r.stderr.startswith(f"another netdiag scan holds the lock on {path}.lock (pid ")
    with History.open(path) as h:
        assert h.scan_count() == 15 * codes.count(0)
        assert h.pragma("integrity_check") == "ok"


# -- the command ---------------------------------------------------------------------


def test_history_command_prints_series(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with History.open(path) as h:
        for i, n in enumerate([1, 4, 7]):
            h.record_scan(T0 + timedelta(hours=i), 1, [ok("web1", snapshot(*close_waits(n))), down("db1")])
    runner = CliRunner()
    r = runner.invoke(main, ["history", "web1", "--history", str(path), "--key", "close_wait:*"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].split()[:3] == ["host", "netns", "key"]
    (row,) = [line for line in lines if "close_wait:leaky:9000" in line]
    assert row.split()[:2] == ["web1", "host"]
    assert row.split()[-4:] == ["3", "1", "4", "7"]  # 3 scans, the values oldest first
    assert "2024-05-01T12:00:00Z" in row and "2024-05-01T14:00:00Z" in row
    assert "state:" not in r.output  # filtered by --key

    r = runner.invoke(
        main, ["history", "web1", "--history", str(path), "--last", "2", "--key", "close_wait:*"]
    )
    assert r.output.splitlines()[-1].split()[-3:] == ["2", "4", "7"]

    r = runner.invoke(main, ["history", "nosuch", "--history", str(path)])
    assert r.exit_code == 1
    assert "no history for host 'nosuch'" in r.output and "db1, web1" in r.output

    missing = tmp_path / "none.sqlite"
    r = runner.invoke(main, ["history", "--history", str(missing)])
    assert r.exit_code == 1 and "no history at" in r.output
    assert not missing.exists()
