"""Scan history in SQLite: the counts the rules use, per scan, host, namespace and key.

A leak is a count that grows; one snapshot cannot tell it from a steady pool,
a series of scans can. Each scan stores, per host and network namespace, a few
numbers under stable *metric keys* (below); rules read them back with
:meth:`History.series` and compare the current snapshot against them.

Metric keys (built only by the ``*_key`` functions here, so writer and readers agree):

=====================================  =========================================================
``close_wait:<process>:<port>``        CLOSE_WAIT sockets owned by processes of that name on that
                                       local port (``-`` when the owner is not visible). Name and
                                       port, not pid, so a series survives a restart; the pids are
                                       kept beside the value.
``fin_wait2:<peer address>``           FIN_WAIT2 sockets toward one peer address.
``state:<STATE>``                      sockets in each TCP state, the whole view.
``listen_queue:<addr:port>``           accept-queue length of one listener (Recv-Q on LISTEN).
``listen_backlog:<addr:port>``         its backlog, where the source tells it (``ss`` only).
``fds:<process>``                      open fds of the process of that name with the most of them.
``fd_limit:<process>``                 that same process's soft RLIMIT_NOFILE (absent = unlimited).
``counter:<Group>.<Name>``             a kernel counter since boot, e.g. ``counter:TcpExt.ListenOverflows``
                                       (the ones in ``RECORDED_COUNTERS``).
``sockstat:TCP.<field>``               ``/proc/net/sockstat`` TCP line: inuse, orphan, tw, alloc.
=====================================  =========================================================

Counts (``close_wait``, ``fin_wait2``, ``state``) are stored only when non-zero;
:meth:`History.series` gives 0 for a scan that reached the host and found none,
so a series starts at its true beginning. Other keys skip scans where they were
absent (a listener that was gone is not an empty queue).

The database uses WAL and a busy timeout so a reader (``netdiag history``) and a
writer coexist, and every write is one ``BEGIN IMMEDIATE`` transaction so two
writers serialise instead of failing half-way. The schema version is
``PRAGMA user_version``.
"""

from __future__ import annotations

import configparser
import json
import os
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from fnmatch import fnmatchcase
from itertools import repeat
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import click

from netdiag.model import Owner, Process, Snapshot, Socket, SocketTable, TcpState
from netdiag.results import HostResult, Outcome

SCHEMA_VERSION = 1
DEFAULT_KEEP_DAYS = 90
BUSY_TIMEOUT_S = 30.0
UNKNOWN_PROCESS = "-"

# Counters worth a series: the ones rules read, and the ones an operator asks about first.
RECORDED_COUNTERS: tuple[tuple[str, str], ...] = (
    ("TcpExt", "ListenOverflows"),
    ("TcpExt", "ListenDrops"),
    ("TcpExt", "TCPAbortOnTimeout"),
    ("TcpExt", "TCPAbortOnData"),
    ("TcpExt", "TCPAbortOnClose"),
    ("TcpExt", "TCPAbortOnMemory"),
    ("TcpExt", "TCPTimeouts"),
    ("TcpExt", "TCPBacklogDrop"),
    ("TcpExt", "TCPReqQFullDrop"),
    ("TcpExt", "TCPReqQFullDoCookies"),
    ("Tcp", "ActiveOpens"),
    ("Tcp", "PassiveOpens"),
    ("Tcp", "AttemptFails"),
    ("Tcp", "EstabResets"),
    ("Tcp", "RetransSegs"),
    ("Tcp", "InErrs"),
    ("Tcp", "OutRsts"),
)
RECORDED_SOCKSTAT = ("inuse", "orphan", "tw", "alloc")

# Key prefixes whose absence in a scan that reached the host means zero.
COUNT_PREFIXES = frozenset({"close_wait", "fin_wait2", "state"})


class HistoryError(Exception):
    """The history database cannot be used; the text is meant for the operator."""


# -- metric keys: the only place they are spelled -------------------------------


def close_wait_key(process: str | None, port: int | None) -> str:
    return f"close_wait:{process or UNKNOWN_PROCESS}:{'*' if port is None else port}"


def fin_wait2_key(peer_address: str) -> str:
    return f"fin_wait2:{peer_address}"


def state_key(state: TcpState) -> str:
    return f"state:{state.value}"


def listen_queue_key(local: str) -> str:
    return f"listen_queue:{local}"


def listen_backlog_key(local: str) -> str:
    return f"listen_backlog:{local}"


def fds_key(process: str) -> str:
    return f"fds:{process}"


def fd_limit_key(process: str) -> str:
    return f"fd_limit:{process}"


def counter_key(group: str, name: str) -> str:
    return f"counter:{group}.{name}"


def sockstat_key(name: str) -> str:
    return f"sockstat:TCP.{name}"


def key_prefix(key: str) -> str:
    return key.partition(":")[0]


@dataclass(frozen=True, slots=True)
class Metric:
    """One recorded number; ``pids`` are the processes behind it, for telling a restart from growth."""

    value: float
    pids: tuple[int, ...] = ()


def metrics(snapshot: Snapshot) -> dict[str, Metric]:
    """The numbers history keeps for one snapshot, by metric key.

    Public so a rule can compute the current scan's value with the same key and
    the same counting as the stored series.
    """
    out: dict[str, Metric] = {}
    close_wait: dict[str, tuple[int, set[int]]] = {}
    states, waiting, fin_peers = _columns(snapshot.sockets)
    for held, port in waiting:
        names = {o.name for o in held} or {None}
        for name in names:  # a socket shared after fork counts once per process name
            key = close_wait_key(name, port)
            n, owners = close_wait.get(key, (0, set()))
            owners.update(o.pid for o in held if o.name == name and o.pid is not None)
            close_wait[key] = (n + 1, owners)
    for key, (n, owners) in close_wait.items():
        out[key] = Metric(n, tuple(sorted(owners)))
    out.update((fin_wait2_key(peer), Metric(n)) for peer, n in Counter(fin_peers).items())
    out.update((state_key(state), Metric(n)) for state, n in states.items())
    for lst in snapshot.listeners:
        local = str(lst.socket.local)
        pids = tuple(sorted({o.pid for o in lst.socket.owners if o.pid is not None}))
        queue_key = listen_queue_key(local)
        # Two listeners on one address (SO_REUSEPORT): the fullest one matters.
        if queue_key not in out or out[queue_key].value < lst.queue:
            out[queue_key] = Metric(lst.queue, pids)
            if lst.backlog is not None:
                out[listen_backlog_key(local)] = Metric(lst.backlog, pids)
    busiest: dict[str, tuple[int, Process]] = {}
    for p in snapshot.processes:
        if p.fd_count is not None and (p.name not in busiest or busiest[p.name][0] < p.fd_count):
            busiest[p.name] = (p.fd_count, p)
    for name, (fd_count, p) in busiest.items():
        out[fds_key(name)] = Metric(fd_count, (p.pid,))
        if p.nofile_soft is not None:
            out[fd_limit_key(name)] = Metric(p.nofile_soft, (p.pid,))
    for group, name in RECORDED_COUNTERS:
        value = snapshot.counters.get(group, {}).get(name)
        if value is not None:
            out[counter_key(group, name)] = Metric(value)
    tcp = snapshot.sockstat.get("TCP", {})
    for name in RECORDED_SOCKSTAT:
        if name in tcp:
            out[sockstat_key(name)] = Metric(tcp[name])
    return out


def _columns(
    sockets: Sequence[Socket],
) -> tuple[Counter[TcpState], Iterable[tuple[tuple[Owner, ...], int | None]], Iterable[str]]:
    """What ``metrics`` counts, in row order: sockets per state, the owners and local port
    of each CLOSE_WAIT socket, the peer address of each FIN_WAIT2 one.

    From a table's columns (no socket is made), else read off the rows.
    """
    if isinstance(sockets, SocketTable):
        waiting = sockets.in_state(TcpState.CLOSE_WAIT)
        owners = map(sockets.owners.get, waiting, repeat(())) if sockets.owners else repeat((), len(waiting))
        fin = map(sockets.peer_address.__getitem__, sockets.in_state(TcpState.FIN_WAIT2))
        ports = map(sockets.local_port.__getitem__, waiting)
        return Counter(sockets.state), zip(owners, ports, strict=True), fin
    return (
        Counter(s.state for s in sockets),
        [(s.owners, s.local.port) for s in sockets if s.state is TcpState.CLOSE_WAIT],
        [s.peer.address for s in sockets if s.state is TcpState.FIN_WAIT2],
    )


# -- the store -------------------------------------------------------------------

_SCHEMA = """
CREATE TABLE scans (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,          -- ISO 8601 UTC, 'YYYY-MM-DDTHH:MM:SSZ'
    duration REAL NOT NULL,
    options TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX scans_started ON scans (started);
CREATE TABLE host_results (
    scan INTEGER NOT NULL REFERENCES scans (id),
    host TEXT NOT NULL,
    netns TEXT NOT NULL,
    outcome TEXT NOT NULL,
    message TEXT,
    counted INTEGER NOT NULL,       -- 1: the sockets were listed, so an absent count means zero
    PRIMARY KEY (scan, host, netns)
) WITHOUT ROWID;
CREATE INDEX host_results_host ON host_results (host, netns, scan);
CREATE TABLE series (
    scan INTEGER NOT NULL REFERENCES scans (id),
    host TEXT NOT NULL,
    netns TEXT NOT NULL,
    key TEXT NOT NULL,
    value REAL NOT NULL,
    pids TEXT,                      -- space-separated, informational
    PRIMARY KEY (host, netns, key, scan)
) WITHOUT ROWID;
CREATE INDEX series_scan ON series (scan);
"""

_SCANNED = tuple(o.value for o in Outcome if o.scanned)


def default_history_path(environ: Mapping[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/netdiag/history.sqlite``, else ``~/.local/share/netdiag/history.sqlite``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME", "")
    # The XDG spec: a relative path is invalid and must be ignored.
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return root / "netdiag" / "history.sqlite"


def _utc_text(when: str | datetime) -> str:
    if isinstance(when, str):
        try:
            when = datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise HistoryError(f"scan start {when!r} is not an ISO 8601 time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _counted(result: HostResult, snap: Snapshot | None) -> int:
    """1 when the host's sockets were listed: only then does a missing count mean zero."""
    ok = result.outcome.scanned and snap is not None and bool(snap.collection.socket_source or snap.sockets)
    return int(ok)


class History:
    """An open history database. Use :meth:`open`; close with :meth:`close` or ``with``."""

    def __init__(self, conn: sqlite3.Connection, path: Path) -> None:
        self._conn = conn
        self.path = path

    @classmethod
    def open(cls, path: Path | str, *, busy_timeout: float = BUSY_TIMEOUT_S, create: bool = True) -> History:
        """Open (and on first use create) the database at ``path``.

        ``create=False`` refuses a missing file instead of making an empty one (for readers).
        """
        path = Path(path)
        if not create and not path.exists():
            raise HistoryError(f"no history at {path} (no scan has recorded one yet)")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            conn = sqlite3.connect(path, timeout=busy_timeout, isolation_level=None)
        except (OSError, sqlite3.Error) as e:
            raise HistoryError(f"cannot open history {path}: {e}") from None
        try:
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            mode = _wal(conn, busy_timeout)
            if str(mode).lower() != "wal":
                raise HistoryError(f"history {path} cannot use WAL mode (journal_mode is {mode})")
            conn.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL; a crash loses at most a scan
            _migrate(conn, path)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise HistoryError(f"history {path} is not usable: {e}") from None
        except HistoryError:
            conn.close()
            raise
        return cls(conn, path)

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> History:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taking the write lock up front so it never fails half-way."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise HistoryError(f"history {self.path} is busy: {e}") from None
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        self._conn.execute("COMMIT")

    # -- writing ---------------------------------------------------------------

    def record_scan(
        self,
        started: str | datetime,
        duration: float,
        hosts: Sequence[HostResult],
        options: Mapping[str, Any] | None = None,
    ) -> int:
        """Store one scan: every host's outcome and, for hosts scanned, their metrics. Returns its id."""
        started_text = _utc_text(started)
        options_text = json.dumps(dict(options or {}), sort_keys=True, default=str)
        # One row per host and network namespace, from each namespace's newest snapshot.
        results: dict[tuple[str, str], tuple[HostResult, Snapshot | None]] = {}
        for r in hosts:  # a host listed twice (a retry) keeps its last result
            for view in r.views() or (None,):
                results[(r.name, view.host.netns if view is not None else "host")] = (r, view)
        rows: list[tuple[str, str, str, float, str | None]] = []
        for (host, netns), (r, snap) in results.items():
            if snap is None or not r.outcome.scanned:
                continue
            for key, m in metrics(snap).items():
                pids = " ".join(map(str, m.pids)) or None
                rows.append((host, netns, key, float(m.value), pids))
        with self._write() as conn:
            cur = conn.execute(
                "INSERT INTO scans (started, duration, options) VALUES (?, ?, ?)",
                (started_text, float(duration), options_text),
            )
            scan = int(cur.lastrowid or 0)  # an INSERT into a rowid table always sets it
            conn.executemany(
                "INSERT INTO host_results (scan, host, netns, outcome, message, counted)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [
                    (scan, h, ns, r.outcome.value, r.message, _counted(r, v))
                    for (h, ns), (r, v) in results.items()
                ],
            )
            conn.executemany(
                "INSERT INTO series (scan, host, netns, key, value, pids) VALUES (?, ?, ?, ?, ?, ?)",
                [(scan, *row) for row in rows],
            )
        return scan

    def prune(
        self, keep_days: float | None = None, keep_scans: int | None = None, *, now: datetime | None = None
    ) -> int:
        """Delete scans older than ``keep_days`` and beyond the newest ``keep_scans``; returns how many."""
        conditions: list[str] = []
        params: list[Any] = []
        if keep_days is not None:
            cutoff = (now or datetime.now(timezone.utc)) - timedelta(days=keep_days)
            conditions.append("started < ?")
            params.append(_utc_text(cutoff))
        if keep_scans is not None:
            conditions.append("id NOT IN (SELECT id FROM scans ORDER BY started DESC, id DESC LIMIT ?)")
            params.append(max(0, keep_scans))
        if not conditions:
            return 0
        where = " OR ".join(conditions)
        with self._write() as conn:
            doomed = f"SELECT id FROM scans WHERE {where}"  # noqa: S608 (fixed fragments, values bound)
            conn.execute(f"DELETE FROM series WHERE scan IN ({doomed})", params)  # noqa: S608
            conn.execute(f"DELETE FROM host_results WHERE scan IN ({doomed})", params)  # noqa: S608
            deleted = conn.execute(f"DELETE FROM scans WHERE {where}", params).rowcount  # noqa: S608
        return deleted

    # -- reading ---------------------------------------------------------------

    def unfinished(self) -> frozenset[str]:
        """Hosts whose latest recorded outcome was a timeout or unreachable.

        A scan starts them first: a host that runs to its deadline again then does so
        from the scan's start, not after waiting for a fork slot behind the fleet.
        """
        rows = self._conn.execute(
            "SELECT host FROM host_results AS r WHERE netns = 'host' AND outcome IN (?, ?)"
            " AND scan = (SELECT MAX(scan) FROM host_results WHERE host = r.host)",
            (Outcome.TIMEOUT.value, Outcome.UNREACHABLE.value),
        )
        return frozenset(host for (host,) in rows)

    def series(self, host: str, key: str, netns: str = "host", limit: int = 10) -> list[tuple[str, float]]:
        """The last ``limit`` values of ``key`` for one host and namespace, oldest first, as
        (scan start ISO 8601 UTC, value). Scans that failed to reach the host are left out."""
        count = key_prefix(key) in COUNT_PREFIXES
        rows = self._conn.execute(
            f"""
            SELECT s.started, se.value FROM host_results h
            JOIN scans s ON s.id = h.scan
            LEFT JOIN series se ON se.scan = h.scan AND se.host = h.host AND se.netns = h.netns AND se.key = ?
            WHERE h.host = ? AND h.netns = ? AND h.outcome IN ({",".join("?" * len(_SCANNED))})
              AND {"(se.value IS NOT NULL OR h.counted)" if count else "se.value IS NOT NULL"}
            ORDER BY s.started DESC, s.id DESC LIMIT ?
            """,  # noqa: S608 (fixed fragments, values bound)
            (key, host, netns, *_SCANNED, max(0, limit)),
        ).fetchall()
        return [(started, 0.0 if value is None else float(value)) for started, value in reversed(rows)]

    def hosts(self) -> list[str]:
        """Every host ever recorded, sorted."""
        return [r[0] for r in self._conn.execute("SELECT DISTINCT host FROM host_results ORDER BY host")]

    def keys(self, host: str | None = None) -> list[tuple[str, str, str]]:
        """(host, netns, key) of every recorded series, sorted; one host's with ``host``."""
        sql = "SELECT DISTINCT host, netns, key FROM series"
        params: tuple[str, ...] = ()
        if host is not None:
            sql += " WHERE host = ?"
            params = (host,)
        return [(h, ns, k) for h, ns, k in self._conn.execute(sql + " ORDER BY host, netns, key", params)]

    def scan_count(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM scans").fetchone()[0])

    def pragma(self, name: str) -> Any:
        """One PRAGMA's value (journal_mode, user_version, integrity_check ...), for checks and tests."""
        if not name.replace("_", "").isalnum():
            raise ValueError(f"bad pragma name {name!r}")
        return self._conn.execute(f"PRAGMA {name}").fetchone()[0]


def _wal(conn: sqlite3.Connection, timeout: float) -> str:
    """Switch to WAL, retrying while another first opener holds the file.

    Changing the journal mode can fail with "database is locked" at once, without
    SQLite's busy handler, when two runs open a new history at the same moment.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            return str(conn.execute("PRAGMA journal_mode = WAL").fetchone()[0])
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Create the schema on first use; refuse a database from a newer netdiag.

    Checked again inside the write lock: two first runs racing must not both create it.
    """
    if conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == 0:
            if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise HistoryError(f"{path} is an SQLite database, but not a netdiag history")
            _create(conn)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise HistoryError(
                f"history {path} has schema {version}, newer than this netdiag understands ({SCHEMA_VERSION})"
            )
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _create(conn: sqlite3.Connection) -> None:
    # executescript() would COMMIT the open transaction first; run the statements one by one.
    for stmt in _SCHEMA.split(";"):
        if stmt.strip():
            conn.execute(stmt)


# -- click options ---------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

history_path_option = click.option(
    "--history",
    "history_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="History database (default: $XDG_DATA_HOME/netdiag/history.sqlite).",
)
no_history_option = click.option(
    "--no-history", is_flag=True, default=False, help="Neither read nor record scan history."
)
history_keep_days_option = click.option(
    "--history-keep-days",
    type=click.FloatRange(min=0, min_open=True),
    default=DEFAULT_KEEP_DAYS,
    show_default=True,
    metavar="DAYS",
    help="Prune scans older than this from the history after recording.",
)

HISTORY_OPTIONS = (history_path_option, no_history_option, history_keep_days_option)


def history_options(f: F) -> F:
    """Add ``--history PATH``, ``--no-history`` and ``--history-keep-days`` to a click command."""
    for option in reversed(HISTORY_OPTIONS):
        f = option(f)
    return f


def resolve_history_path(
    history_path: Path | None, no_history: bool, environ: Mapping[str, str] | None = None
) -> Path | None:
    """The database to use, or None with ``--no-history``."""
    if no_history:
        if history_path is not None:
            raise click.UsageError("--history and --no-history contradict each other")
        return None
    return history_path or default_history_path(environ)


#: Keys of the config file's ``[history]`` section (next to ``[rule:...]`` and ``[smtp]``).
HISTORY_SECTION_KEYS = ("enabled", "path", "keep_days", "lock_wait")


def read_history_section(paths: Iterable[Path]) -> dict[str, str]:
    """The ``[history]`` section of the config files, later files winning key by key.

    An unknown key is an error naming the file: a misspelt ``keep_days`` silently
    ignored would keep (or drop) months of history nobody asked for.
    """
    merged: dict[str, str] = {}
    for path in paths:
        parser = configparser.ConfigParser(
            inline_comment_prefixes=("#", ";"), interpolation=None, default_section="\0none"
        )
        try:
            with path.open(encoding="utf-8") as f:
                parser.read_file(f)
        except (OSError, UnicodeDecodeError, configparser.Error) as e:
            raise HistoryError(f"cannot read config file {path}: {e}") from None
        if not parser.has_section("history"):
            continue
        for key, value in parser.items("history"):
            if key not in HISTORY_SECTION_KEYS:
                known = ", ".join(HISTORY_SECTION_KEYS)
                raise HistoryError(f"{path}: [history] has no setting {key!r} (its settings: {known})")
            merged[key] = value.strip()
    return merged


def iter_rows(
    history: History, host: str | None, pattern: str | None, last: int
) -> Iterable[tuple[str, str, str, list[tuple[str, float]]]]:
    """(host, netns, key, series) for every series matching, for display."""
    for h, ns, key in history.keys(host):
        if pattern and not fnmatchcase(key, pattern):
            continue
        yield h, ns, key, history.series(h, key, netns=ns, limit=last)
