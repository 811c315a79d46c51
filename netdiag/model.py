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
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache
from typing import Any, NamedTuple

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
    sockets: tuple[Socket, ...] = ()
    processes: tuple[Process, ...] = ()
    sysctls: dict[str, str] = field(default_factory=dict)
    counters: dict[str, dict[str, int]] = field(default_factory=dict)  # {"TcpExt": {...}, "Tcp": {...}}
    sockstat: dict[str, dict[str, int]] = field(default_factory=dict)  # {"TCP": {"inuse": 5, ...}}
    collection: Collection = field(default_factory=Collection)

    @property
    def listeners(self) -> tuple[Listener, ...]:
        """Accept queues; the backlog is only known when ``ss`` read the sockets."""
        known = self.collection.socket_source == "ss"
        return tuple(
            Listener(s, s.recv_q, s.send_q if known else None)
            for s in self.sockets
            if s.state is TcpState.LISTEN
        )

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
        counts: dict[str, int] = {}
        for s in self.sockets:
            counts[s.state.value] = counts.get(s.state.value, 0) + 1
        return counts

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
