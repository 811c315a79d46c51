"""The snapshot: one host at one moment, as typed, frozen records.

Everything that rules and reports see comes from here. Records are frozen
dataclasses with slots, except the four a parser makes a million of (``Socket``,
``Endpoint``, ``Timer``, ``Owner``): those are ``NamedTuple``s, as immutable and
as compact, but about five times cheaper to build (a frozen dataclass sets each
field through ``object.__setattr__``). Change them with ``_replace``. The JSON
form (``to_dict``/``from_dict``) is versioned by ``SNAPSHOT_SCHEMA`` and
round-trips exactly.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections import Counter
from collections.abc import Iterable, Iterator, MutableSequence, Sequence
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from itertools import compress, repeat
from operator import is_
from typing import Any, NamedTuple, overload

SNAPSHOT_SCHEMA = "netdiag.snapshot/1"


class TcpState(str, Enum):
    """TCP states under the kernel's names (include/net/tcp_states.h order)."""

    ESTABLISHED = "ESTABLISHED"
    SYN_SENT = "SYN_SENT"
    SYN_RECV = "SYN_RECV"
    FIN_WAIT1 = "FIN_WAIT1"
    FIN_WAIT2 = "FIN_WAIT2"
    TIME_WAIT = "TIME_WAIT"
    CLOSE = "CLOSE"
    CLOSE_WAIT = "CLOSE_WAIT"
    LAST_ACK = "LAST_ACK"
    LISTEN = "LISTEN"
    CLOSING = "CLOSING"
    NEW_SYN_RECV = "NEW_SYN_RECV"

    @classmethod
    def parse(cls, text: str) -> TcpState | None:
        """Any spelling (ss, netstat, /proc hex code) to a state; None if unknown."""
        return _STATE_SPELLINGS.get(text.strip().upper())


_STATE_SPELLINGS: dict[str, TcpState] = {}
for _i, _s in enumerate(TcpState, start=1):
    _STATE_SPELLINGS[_s.value] = _s
    _STATE_SPELLINGS[_s.value.replace("_", "-")] = _s
    _STATE_SPELLINGS[f"{_i:02X}"] = _s
_STATE_SPELLINGS.update(
    {
        "ESTAB": TcpState.ESTABLISHED,
        "FIN-WAIT-1": TcpState.FIN_WAIT1,
        "FIN-WAIT-2": TcpState.FIN_WAIT2,
        "FIN_WAIT_1": TcpState.FIN_WAIT1,
        "FIN_WAIT_2": TcpState.FIN_WAIT2,
        "UNCONN": TcpState.CLOSE,  # ss's name for a TCP socket bound but neither listening nor connected
        "SYN-RECEIVED": TcpState.SYN_RECV,
    }
)


def address_key(address: str) -> str:
    """The address for comparisons: ``normalize_address``'s form with IPv4-mapped unwrapped.

    So ``::ffff:1.2.3.4`` and ``1.2.3.4`` meet. Costs no ``ipaddress`` parse for
    what parsers store (a dotted quad is its own key, IPv6 goes through a C round
    trip) and needs no cache, however many distinct peers a host has.
    """
    if ":" not in address:
        return address  # a dotted quad, a wildcard or a name: ipaddress would keep it as it is
    try:
        packed = socket.inet_pton(socket.AF_INET6, address)
    except OSError:
        key = normalize_address(address)  # a scope, a name: the slow, exact way
    else:
        if packed[:12] == _MAPPED_PREFIX:
            return socket.inet_ntop(socket.AF_INET, packed[12:])
        key = socket.inet_ntop(socket.AF_INET6, packed)
        if "." in key:  # glibc and Python differ on IPv4-compatible forms
            key = normalize_address(address)
    if key.startswith("::ffff:") and _CANONICAL_V4.fullmatch(key, 7):
        return key[7:]
    return key


_MAPPED_PREFIX = bytes(10) + b"\xff\xff"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


@lru_cache(maxsize=65536)
def normalize_address(text: str) -> str:
    """Canonical text for an address: IPv6 compressed, IPv4-mapped shown as ``::ffff:a.b.c.d``.

    ``*``, ``0.0.0.0`` and ``::`` stay as written (they mean different wildcards).
    Text that is not an IP address (a host name from netstat without -n, an
    anonymised ``123.456.78.90``) is kept verbatim rather than rejected.
    """
    if text in ("*", ""):
        return text
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return f"::ffff:{ip.ipv4_mapped}"
    return str(ip)


class Endpoint(NamedTuple):
    """One side of a socket. ``port`` is None for ``*``; ``scope`` is the ``%iface`` part."""

    address: str
    port: int | None
    scope: str | None = None

    def __str__(self) -> str:
        host = f"[{self.address}]" if ":" in self.address else self.address
        if self.scope:
            host += f"%{self.scope}"
        return f"{host}:{'*' if self.port is None else self.port}"

    @property
    def ip(self) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
        """The address as an ip object (IPv4-mapped unwrapped), None for wildcards and names."""
        try:
            ip = ipaddress.ip_address(self.address)
        except ValueError:
            return None
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        return ip

    @property
    def is_wildcard(self) -> bool:
        return self.address in ("*", "0.0.0.0", "::")  # noqa: S104 (a test, not a bind)


class Owner(NamedTuple):
    """A process holding a socket open; several may share one socket after fork()."""

    pid: int | None
    name: str | None
    fd: int | None = None


class Timer(NamedTuple):
    """A socket timer as ``ss -o``/``netstat -o`` show it; ``remaining`` in seconds."""

    kind: str  # keepalive, on (retransmit), persist, timewait, probe, off ...
    remaining: float | None
    retrans: int = 0


class Socket(NamedTuple):
    """One TCP socket. For LISTEN, recv_q is the accept-queue length and send_q the backlog."""

    state: TcpState
    recv_q: int
    send_q: int
    local: Endpoint
    peer: Endpoint
    timer: Timer | None = None
    uid: int | None = None
    inode: int | None = None
    owners: tuple[Owner, ...] = ()

    @property
    def family(self) -> int:
        return 6 if ":" in self.local.address else 4


_new = tuple.__new__  # what Socket(...) and Endpoint(...) come down to, minus a Python call


class SocketTable(MutableSequence[Socket]):
    """Sockets kept as columns; a ``Socket`` is made only when a row is read.

    A million ``Socket`` objects (each with its own peer ``Endpoint``) cost most of
    a big analysis's time and memory, while rules look at a few states and a few
    columns. Columns are plain lists (values shared where rows repeat them: states,
    addresses, timers, small ints); rarely set fields are sparse dicts by row
    (scopes, owners). Reading it as a sequence gives exactly the ``Socket`` rows
    it was built from, and it equals any sequence of those same rows.

    The local endpoint is kept as ``local_address``/``local_port``/``local_scope``
    like the peer: a busy host has one local endpoint per ephemeral port, and
    sharing an ``Endpoint`` per distinct one costs a lookup per row that misses the
    CPU cache (a tenth of a million-row parse). ``local`` still reads as an
    ``Endpoint`` per row (an ``EndpointColumn``), made as each is read; code that
    wants only addresses or ports reads those columns and makes none.

    It is mutable only for its builders (a parser appending rows, a continuation
    line amending one); once in a ``Snapshot`` it is not changed: ``with_owners``
    makes a new table sharing the columns.
    """

    __slots__ = ("inode", "local_address", "local_port", "local_scope", "owners", "peer_address",
                 "peer_port", "peer_scope", "recv_q", "send_q", "state", "timer", "uid")  # fmt: skip

    def __init__(self, sockets: Iterable[Socket] = ()) -> None:
        self.state: list[TcpState] = []
        self.recv_q: list[int] = []
        self.send_q: list[int] = []
        self.local_address: list[str] = []
        self.local_port: list[int | None] = []
        self.local_scope: dict[int, str] = {}  # row -> scope, rows with one only
        self.peer_address: list[str] = []
        self.peer_port: list[int | None] = []
        self.peer_scope: dict[int, str] = {}  # row -> scope, rows with one only
        self.timer: list[Timer | None] = []
        self.uid: list[int | None] = []
        self.inode: list[int | None] = []
        self.owners: dict[int, tuple[Owner, ...]] = {}  # row -> owners, rows with some only
        for s in sockets:
            self.append(s)

    @property
    def local(self) -> EndpointColumn:
        """Every row's local ``Endpoint``, made from the three local columns as it is read."""
        return EndpointColumn(self.local_address, self.local_port, self.local_scope)

    # -- building ------------------------------------------------------------

    def extend_columns(
        self,
        state: Iterable[TcpState],
        recv_q: Iterable[int],
        send_q: Iterable[int],
        local_address: Iterable[str],
        local_port: Iterable[int | None],
        peer_address: Iterable[str],
        peer_port: Iterable[int | None],
        timer: Iterable[Timer | None],
        uid: Iterable[int | None],
        inode: Iterable[int | None],
    ) -> None:
        """Rows given column by column (no scopes, no owners): the parsers' bulk path."""
        self.state.extend(state)
        self.recv_q.extend(recv_q)
        self.send_q.extend(send_q)
        self.local_address.extend(local_address)
        self.local_port.extend(local_port)
        self.peer_address.extend(peer_address)
        self.peer_port.extend(peer_port)
        self.timer.extend(timer)
        self.uid.extend(uid)
        self.inode.extend(inode)

    def append(self, value: Socket) -> None:
        row = len(self.state)
        self.state.append(value.state)
        self.recv_q.append(value.recv_q)
        self.send_q.append(value.send_q)
        local = value.local
        self.local_address.append(local.address)
        self.local_port.append(local.port)
        if local.scope is not None:
            self.local_scope[row] = local.scope
        self.peer_address.append(value.peer.address)
        self.peer_port.append(value.peer.port)
        if value.peer.scope is not None:
            self.peer_scope[row] = value.peer.scope
        self.timer.append(value.timer)
        self.uid.append(value.uid)
        self.inode.append(value.inode)
        if value.owners:
            self.owners[row] = value.owners

    def _set(self, row: int, value: Socket) -> None:
        self.state[row] = value.state
        self.recv_q[row] = value.recv_q
        self.send_q[row] = value.send_q
        local = value.local
        self.local_address[row] = local.address
        self.local_port[row] = local.port
        _set_sparse(self.local_scope, row, local.scope)
        self.peer_address[row] = value.peer.address
        self.peer_port[row] = value.peer.port
        _set_sparse(self.peer_scope, row, value.peer.scope)
        self.timer[row] = value.timer
        self.uid[row] = value.uid
        self.inode[row] = value.inode
        _set_sparse(self.owners, row, value.owners or None)

    def with_owners(self, owners: dict[int, tuple[Owner, ...]]) -> SocketTable:
        """The same rows with ``owners`` (row -> owners) instead; columns are shared, not copied.

        The table keeps ``owners`` itself (a copy only to drop rows given no owner): a
        million-row join does not pay twice for its dict.
        """
        new = SocketTable()
        for name in self.__slots__:
            setattr(new, name, getattr(self, name))
        new.owners = owners if all(owners.values()) else {row: got for row, got in owners.items() if got}
        return new

    # -- reading -------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.state)

    def row(self, i: int) -> Socket:
        return _new(
            Socket,
            (
                self.state[i],
                self.recv_q[i],
                self.send_q[i],
                _new(Endpoint, (self.local_address[i], self.local_port[i], self.local_scope.get(i))),
                _new(Endpoint, (self.peer_address[i], self.peer_port[i], self.peer_scope.get(i))),
                self.timer[i],
                self.uid[i],
                self.inode[i],
                self.owners.get(i, ()),
            ),
        )

    @overload
    def __getitem__(self, index: int) -> Socket: ...
    @overload
    def __getitem__(self, index: slice) -> MutableSequence[Socket]: ...
    def __getitem__(self, index: int | slice) -> Socket | MutableSequence[Socket]:
        if isinstance(index, slice):
            return [self.row(i) for i in range(len(self))[index]]
        n = len(self.state)
        if not -n <= index < n:
            raise IndexError("socket row out of range")
        return self.row(index % n if index < 0 else index)

    def rows(self, indexes: Iterable[int]) -> list[Socket]:
        """The rows at ``indexes``, in that order (C loops: one ``map`` per column)."""
        idx = indexes if isinstance(indexes, list) else list(indexes)
        return list(
            map(
                _new,
                repeat(Socket),
                zip(
                    map(self.state.__getitem__, idx),
                    map(self.recv_q.__getitem__, idx),
                    map(self.send_q.__getitem__, idx),
                    _endpoints_of(
                        map(self.local_address.__getitem__, idx),
                        map(self.local_port.__getitem__, idx),
                        map(self.local_scope.get, idx) if self.local_scope else repeat(None, len(idx)),
                    ),
                    _endpoints_of(
                        map(self.peer_address.__getitem__, idx),
                        map(self.peer_port.__getitem__, idx),
                        map(self.peer_scope.get, idx) if self.peer_scope else repeat(None, len(idx)),
                    ),
                    map(self.timer.__getitem__, idx),
                    map(self.uid.__getitem__, idx),
                    map(self.inode.__getitem__, idx),
                    map(self.owners.get, idx, repeat(())) if self.owners else repeat((), len(idx)),
                    strict=True,
                ),
            )
        )

    def __iter__(self) -> Iterator[Socket]:
        n = len(self.state)
        local = iter(self.local)
        peers = iter(EndpointColumn(self.peer_address, self.peer_port, self.peer_scope))
        owners = map(self.owners.get, range(n), repeat(())) if self.owners else repeat((), n)
        return map(
            _new,
            repeat(Socket),
            zip(
                self.state,
                self.recv_q,
                self.send_q,
                local,
                peers,
                self.timer,
                self.uid,
                self.inode,
                owners,
                strict=True,
            ),
        )

    def in_state(self, state: TcpState) -> list[int]:
        """Rows in ``state``, in order (C loops: identity tests, no enum hashing)."""
        return list(compress(range(len(self.state)), map(is_, self.state, repeat(state))))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SocketTable | tuple | list):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SocketTable({list(self)!r})"

    # -- the rest of MutableSequence: rare, so done the simple way -----------------

    @overload
    def __setitem__(self, index: int, value: Socket) -> None: ...
    @overload
    def __setitem__(self, index: slice, value: Iterable[Socket]) -> None: ...
    def __setitem__(self, index: int | slice, value: Socket | Iterable[Socket]) -> None:
        if isinstance(index, int) and isinstance(value, Socket):
            n = len(self.state)
            if not -n <= index < n:
                raise IndexError("socket row out of range")
            self._set(index % n if index < 0 else index, value)
            return
        rows = list(self)
        rows[index] = value  # type: ignore[index,assignment]
        self._reset(rows)

    def __delitem__(self, index: int | slice) -> None:
        rows = list(self)
        del rows[index]
        self._reset(rows)

    def insert(self, index: int, value: Socket) -> None:
        if index >= len(self.state):
            self.append(value)
            return
        rows = list(self)
        rows.insert(index, value)
        self._reset(rows)

    def _reset(self, rows: list[Socket]) -> None:
        fresh = SocketTable(rows)
        for name in self.__slots__:
            setattr(self, name, getattr(fresh, name))


class EndpointColumn(Sequence[Endpoint]):
    """Endpoints by row, read off address, port and scope columns; none is kept.

    ``SocketTable.local``: a view, so a million rows cost no ``Endpoint`` objects
    until read, and iterating it makes each in a C loop.
    """

    __slots__ = ("address", "port", "scope")

    def __init__(self, address: list[str], port: list[int | None], scope: dict[int, str]) -> None:
        self.address = address
        self.port = port
        self.scope = scope  # row -> scope, rows with one only

    def __len__(self) -> int:
        return len(self.address)

    @overload
    def __getitem__(self, index: int) -> Endpoint: ...
    @overload
    def __getitem__(self, index: slice) -> list[Endpoint]: ...
    def __getitem__(self, index: int | slice) -> Endpoint | list[Endpoint]:
        if isinstance(index, slice):
            return [self[i] for i in range(len(self))[index]]
        address = self.address[index]  # raises IndexError as a list does
        row = index + len(self.address) if index < 0 else index
        return _new(Endpoint, (address, self.port[row], self.scope.get(row)))

    def __iter__(self) -> Iterator[Endpoint]:
        n = len(self.address)
        scopes = map(self.scope.get, range(n)) if self.scope else repeat(None, n)
        return _endpoints_of(self.address, self.port, scopes)


def _set_sparse(column: dict[int, Any], row: int, value: Any) -> None:
    """Set or clear one row of a sparse column (None clears)."""
    if value is None:
        column.pop(row, None)
    else:
        column[row] = value


def _endpoints_of(
    addresses: Iterable[str], ports: Iterable[int | None], scopes: Iterable[str | None]
) -> Iterator[Endpoint]:
    """An ``Endpoint`` per row from the three columns, in C loops."""
    return map(_new, repeat(Endpoint), zip(addresses, ports, scopes, strict=True))


def state_column(sockets: Sequence[Socket]) -> Sequence[TcpState]:
    """Every socket's state, in order: the table's column, or read off the rows."""
    if isinstance(sockets, SocketTable):
        return sockets.state
    return [s[0] for s in sockets]


@dataclass(frozen=True, slots=True)
class Listener:
    """A listening socket's accept queue: ``backlog`` is None where the source cannot tell it."""

    socket: Socket
    queue: int
    backlog: int | None

    @property
    def full(self) -> bool:
        return self.backlog is not None and self.queue > self.backlog


@dataclass(frozen=True, slots=True)
class Process:
    """A process that owns sockets. ``nofile_*`` None means unlimited or unknown (see fd_count)."""

    pid: int
    name: str
    cmdline: str = ""
    fd_count: int | None = None
    nofile_soft: int | None = None
    nofile_hard: int | None = None


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """A line a parser could not read; kept so nothing is lost silently."""

    source: str
    line_no: int
    text: str
    reason: str


@dataclass(frozen=True, slots=True)
class CommandRun:
    """One step of the collection: what ran, its outcome and how long it took."""

    name: str  # section name, e.g. "sockets", "limits"
    command: str  # what actually ran, e.g. "ss -tanoe", "cat /proc/net/tcp"
    status: str  # ok | missing | failed | denied
    seconds: float = 0.0
    detail: str = ""  # why it failed or was missing; stderr excerpt
    bytes: int = 0


@dataclass(frozen=True, slots=True)
class HostInfo:
    name: str  # inventory name
    address: str  # address used to reach it ("local" for localhost)
    hostname: str = ""
    kernel: str = ""
    collected_at: str = ""  # ISO 8601, UTC, the controller's clock
    host_time: str = ""  # the host's own clock at collection, ISO 8601 UTC
    netns: str = "host"  # which network namespace this view is of ("host" = the root one)


@dataclass(frozen=True, slots=True)
class Collection:
    """A record of the collection itself, so a partial view is never mistaken for a whole one."""

    socket_source: str = ""  # ss | netstat | proc
    owner_method: str = ""  # how owners were found, e.g. "inode match over /proc/<pid>/fd"
    uid: int | None = None  # the uid the collection ran as
    # full (root) | own (only the caller's processes) | partial (root, yet some refused) | none
    process_visibility: str = "none"
    commands: tuple[CommandRun, ...] = ()
    warnings: tuple[ParseWarning, ...] = ()
    seconds: float = 0.0
    bytes_received: int = 0

    @property
    def missing(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.commands if c.status != "ok")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One host at one moment."""

    host: HostInfo
    sockets: Sequence[Socket] = ()  # a SocketTable from ss; any sequence of sockets works
    processes: tuple[Process, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # {"TcpExt": {...}, "Tcp": {...}}
    sockstat: dict[str, dict[str, int]] = field(default_factory=dict)  # {"TCP": {"inuse": 5, ...}}
    collection: Collection = field(default_factory=Collection)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """Accept queues; the backlog is only known when ``ss`` read the sockets."""
        known = self.collection.socket_source == "ss"
        sockets = self.sockets
        listening: Iterable[Socket]
        if isinstance(sockets, SocketTable):
            listening = sockets.rows(sockets.in_state(TcpState.LISTEN))
        else:
            listening = (s for s in sockets if s.state is TcpState.LISTEN)
        return tuple(Listener(s, s.recv_q, s.send_q if known else None) for s in listening)

    def process(self, pid: int | None) -> Process | None:
        if pid is None:
            return None
        for p in self.processes:
            if p.pid == pid:
                return p
        return None

    def sysctl_int(self, name: str) -> int | None:
        try:
            return int(self.sysctls[name].split()[0])
        except (KeyError, ValueError, IndexError):
            return None

    def port_range(self) -> tuple[int, int] | None:
        """``net.ipv4.ip_local_port_range`` as (low, high)."""
        try:
            low, high = self.sysctls["net.ipv4.ip_local_port_range"].split()
            return int(low), int(high)
        except (KeyError, ValueError):
            return None

    def state_counts(self) -> dict[str, int]:
        return {state.value: n for state, n in Counter(state_column(self.sockets)).items()}

    # -- JSON form ---------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        c = self.collection
        return {
            "schema": SNAPSHOT_SCHEMA,
            "host": _plain(self.host),
            "sockets": [_socket_to_list(s) for s in self.sockets],
            "processes": [_plain(p) for p in self.processes],
            "sysctls": dict(self.sysctls),
            "counters": {k: dict(v) for k, v in self.counters.items()},
            "sockstat": {k: dict(v) for k, v in self.sockstat.items()},
            "collection": {
                "socket_source": c.socket_source,
                "owner_method": c.owner_method,
                "uid": c.uid,
                "process_visibility": c.process_visibility,
                "commands": [_plain(x) for x in c.commands],
                "warnings": [_plain(w) for w in c.warnings],
                "seconds": c.seconds,
                "bytes_received": c.bytes_received,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Snapshot:
        schema = data.get("schema")
        if schema != SNAPSHOT_SCHEMA:
            raise ValueError(f"unsupported snapshot schema {schema!r} (expected {SNAPSHOT_SCHEMA})")
        c = data["collection"]
        return cls(
            host=HostInfo(**data["host"]),
            sockets=tuple(_socket_from_list(x) for x in data["sockets"]),
            processes=tuple(Process(**p) for p in data["processes"]),
            sysctls=dict(data["sysctls"]),
            counters={k: dict(v) for k, v in data["counters"].items()},
            sockstat={k: dict(v) for k, v in data["sockstat"].items()},
            collection=Collection(
                socket_source=c["socket_source"],
                owner_method=c["owner_method"],
                uid=c["uid"],
                process_visibility=c["process_visibility"],
                commands=tuple(CommandRun(**x) for x in c["commands"]),
                warnings=tuple(ParseWarning(**w) for w in c["warnings"]),
                seconds=c["seconds"],
                bytes_received=c["bytes_received"],
            ),
        )


def _plain(obj: Any) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in obj.__dataclass_fields__}


# Sockets are the bulk of a snapshot, so they travel as fixed-order lists:
# [state, recv_q, send_q, local, peer, timer, uid, inode, owners], where an
# endpoint is [address, port, scope], a timer [kind, remaining, retrans] and
# an owner [pid, name, fd].


def _socket_to_list(s: Socket) -> list[Any]:
    t = s.timer
    return [
        s.state.value,
        s.recv_q,
        s.send_q,
        [s.local.address, s.local.port, s.local.scope],
        [s.peer.address, s.peer.port, s.peer.scope],
        None if t is None else [t.kind, t.remaining, t.retrans],
        s.uid,
        s.inode,
        [[o.pid, o.name, o.fd] for o in s.owners],
    ]


def _socket_from_list(x: list[Any]) -> Socket:
    state, recv_q, send_q, local, peer, timer, uid, inode, owners = x
    return Socket(
        state=TcpState(state),
        recv_q=recv_q,
        send_q=send_q,
        local=Endpoint(*local),
        peer=Endpoint(*peer),
        timer=None if timer is None else Timer(*timer),
        uid=uid,
        inode=inode,
        owners=tuple(Owner(*o) for o in owners),
    )
