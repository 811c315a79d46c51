"""The rules, one module each; ``netdiag.engine`` discovers them (``netdiag rules`` lists them).

Each module's docstring is its documentation, its ``Options`` dataclass holds its
thresholds (each default's reason beside it), and it exports ``RULE``. This
package module only holds what several rules share: who owns a socket, which
addresses are the host's own, and small counting helpers. It imports nothing
from the engine, so the engine may import the rules.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_, itemgetter
from typing import TypeVar

from netdiag.model import (
    _CANONICAL_V4,
    Endpoint,
    Listener,
    Snapshot,
    Socket,
    SocketTable,
    TcpState,
    address_key,
)

# The kernel's default net.ipv4.ip_local_port_range, assumed when the sysctl was not read.
DEFAULT_PORT_RANGE = (32768, 60999)

H = TypeVar("H", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Culprit:
    """Who holds a group of sockets: a process, or (owners unknown) a local port."""

    pid: int | None
    name: str | None
    port: int | None = None  # set only when the owner is unknown

    @property
    def known(self) -> bool:
        return self.pid is not None

    @property
    def label(self) -> str:
        if self.pid is not None:
            return f"{self.name or '?'} (pid {self.pid})"
        return f"an unknown process on port {self.port}"


def addr_key(ep: Endpoint) -> str:
    """The address for comparisons: IPv4-mapped IPv6 unwrapped, so both spellings meet."""
    return address_key(ep.address)


def is_loopback(address: str) -> bool:
    if "%" in address:  # ipaddress reads a scoped IPv6 address: the exact, slow way
        ip = Endpoint(address, None).ip
        return ip is not None and ip.is_loopback
    key = address_key(address)
    return key == "::1" or (key.startswith("127.") and _CANONICAL_V4.fullmatch(key) is not None)


def tuple4(s: Socket) -> tuple[str, int | None, str, int | None]:
    return (addr_key(s.local), s.local.port, addr_key(s.peer), s.peer.port)


def reversed4(s: Socket) -> tuple[str, int | None, str, int | None]:
    """The 4-tuple of the other end of this connection, as seen from there."""
    return (addr_key(s.peer), s.peer.port, addr_key(s.local), s.local.port)


def culprit(s: Socket, snap: Snapshot, names: dict[int, str] | None = None) -> Culprit:
    """The socket's owner with the lowest pid (the parent after a fork), else its local port."""
    owners = [o for o in s.owners if o.pid is not None]
    if not owners:
        return Culprit(None, None, s.local.port)
    o = min(owners, key=lambda x: x.pid or 0)
    name = o.name
    if name is None:
        name = (names if names is not None else process_names(snap)).get(o.pid or -1)
    return Culprit(o.pid, name)


def process_names(snap: Snapshot) -> dict[int, str]:
    return {p.pid: p.name for p in snap.processes}


def group_by_culprit(sockets: Iterable[Socket], snap: Snapshot) -> dict[Culprit, list[Socket]]:
    """Sockets by ``culprit``, in the order each culprit first appears.

    Grouped on a plain key first (the local port when no owner is known, the
    single owner's pid and name), so the ``Culprit`` is made once per group.
    """
    names = process_names(snap)
    groups: dict[tuple[int | None, str | None] | int | None, list[Socket]] = {}
    for s in sockets:
        owners = s.owners
        key: tuple[int | None, str | None] | int | None
        if not owners:
            key = s.local.port
        elif len(owners) == 1 and owners[0].pid is not None:
            key = (owners[0].pid, owners[0].name if owners[0].name is not None else names.get(owners[0].pid))
        else:
            c = culprit(s, snap, names)
            key = (c.pid, c.name) if c.known else c.port
        found = groups.get(key)
        if found is None:
            groups[key] = [s]
        else:
            found.append(s)
    return {
        (Culprit(key[0], key[1]) if isinstance(key, tuple) else Culprit(None, None, key)): socks
        for key, socks in groups.items()
    }


def top(items: Iterable[H], n: int = 3) -> list[tuple[H, int]]:
    """The ``n`` most common items with their counts, ties broken by value for stable output."""
    counts = Counter(items)
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


def most_common_text(endpoints: Iterable[Endpoint]) -> str | None:
    """``most_common(str(e) for e in endpoints)``, rendering each distinct endpoint once."""
    best = top_texts(endpoints, 1)
    return best[0][0] if best else None


def top_texts(endpoints: Iterable[Endpoint], n: int = 3) -> list[tuple[str, int]]:
    """``top(str(e) for e in endpoints)``: counted per endpoint first, as sockets share them."""
    counts: Counter[str] = Counter()
    for e, k in Counter(endpoints).items():
        counts[str(e)] += k
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def most_common(items: Iterable[H]) -> H | None:
    best = top(items, 1)
    return best[0][0] if best else None


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def fd_note(snap: Snapshot, pid: int | None) -> str:
    """``"517 of 1024 fds"`` for a process whose fd count and limit were read, else ``""``."""
    p = snap.process(pid)
    if p is None or p.fd_count is None:
        return ""
    if p.nofile_soft is None:
        return f"{p.fd_count} fds open"
    return f"{p.fd_count} of {p.nofile_soft} fds"


def local_addresses(snap: Snapshot) -> set[str]:
    """The host's own addresses: those bound by its sockets, plus the address it was reached at."""
    sockets = snap.sockets
    local = sockets.local if isinstance(sockets, SocketTable) else map(_LOCAL, sockets)
    bound = set(map(_ADDRESS, local))  # few distinct, however many sockets
    own = {address_key(a) for a in bound if a not in _WILDCARDS}
    if Endpoint(snap.host.address, None).ip is not None:
        own.add(address_key(snap.host.address))
    return own


# Item getters, not attribute getters: Socket and Endpoint are NamedTuples, and an index
# is the cheapest C-level read over a million of them.
_STATE = itemgetter(0)  # Socket.state
_LOCAL = itemgetter(3)  # Socket.local
_OWNERS = itemgetter(8)  # Socket.owners
_ADDRESS = itemgetter(0)  # Endpoint.address
_PORT = itemgetter(1)  # Endpoint.port
_WILDCARDS = frozenset({"*", "0.0.0.0", "::"})  # Endpoint.is_wildcard  # noqa: S104 (a test, not a bind)


def is_local_peer(ep: Endpoint, own: set[str]) -> bool:
    return is_loopback(ep.address) or addr_key(ep) in own


class SocketIndex:
    """One snapshot's sockets sorted out once for every rule (``HostContext.index``).

    Each rule used to walk all sockets for its few states; at a million sockets
    those walks were most of the analysis. Lists keep the snapshot's order, so
    a rule reads them exactly as it read the filtered snapshot.
    """

    __slots__ = ("_by_state", "_listeners", "_local", "_states", "snapshot")

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._states: list[TcpState] | None = None
        self._by_state: dict[str, list[Socket]] = {}
        self._local: set[str] | None = None
        self._listeners: tuple[Listener, ...] | None = None

    def in_state(self, state: TcpState) -> list[Socket]:
        """The sockets in ``state``, in snapshot order (C loops: identity tests, no enum hashing)."""
        found = self._by_state.get(state.value)
        sockets = self.snapshot.sockets
        if found is None and isinstance(sockets, SocketTable):  # only these sockets are made
            found = self._by_state[state.value] = sockets.rows(sockets.in_state(state))
        if found is None:
            if self._states is None:
                self._states = list(map(_STATE, self.snapshot.sockets))
            found = list(compress(self.snapshot.sockets, map(is_, self._states, repeat(state))))
            self._by_state[state.value] = found
        return found

    def local_addresses(self) -> set[str]:
        if self._local is None:
            self._local = local_addresses(self.snapshot)
        return self._local

    def listeners(self) -> tuple[Listener, ...]:
        """``Snapshot.listeners`` from the LISTEN sockets alone."""
        if self._listeners is None:
            known = self.snapshot.collection.socket_source == "ss"
            self._listeners = tuple(
                Listener(s, s.recv_q, s.send_q if known else None) for s in self.in_state(TcpState.LISTEN)
            )
        return self._listeners

    def unowned(self) -> int:
        """How many sockets have no known owner."""
        sockets = self.snapshot.sockets
        if isinstance(sockets, SocketTable):
            return len(sockets) - len(sockets.owners)
        return len(self.snapshot.sockets) - sum(map(bool, map(_OWNERS, self.snapshot.sockets)))


def port_range(snap: Snapshot) -> tuple[tuple[int, int], bool]:
    """``ip_local_port_range`` and whether it was read (else the kernel default is assumed)."""
    found = snap.port_range()
    return (DEFAULT_PORT_RANGE, False) if found is None else (found, True)


def sorted_sockets(sockets: Sequence[Socket]) -> list[Socket]:
    """A stable evidence order: by local then peer endpoint."""
    return sorted(sockets, key=lambda s: (str(s.local), str(s.peer)))


def rising(values: Sequence[float], minimum: float) -> bool:
    """Never falling and up by ``minimum`` or more from first to last: a trend, not a wobble."""
    return (
        len(values) >= 2
        and all(a <= b for a, b in itertools.pairwise(values))
        and values[-1] - values[0] >= minimum
    )


def over_threshold(n: int, threshold: int, factor: float) -> list[str]:
    """The critical reason the count rules share: ``factor`` times their threshold or more."""
    return [f"{factor:g}x the threshold or more"] if n >= factor * threshold else []


def persisted(kept: int, n: int, share: float) -> bool:
    """Whether at least ``share`` of ``n`` sockets (one at least) were already there in the first sample."""
    return kept > 0 and kept >= share * n


def critical_note(why: Sequence[str]) -> str:
    """A message's closing list of the reasons it is critical; nothing when it is not."""
    return "; critical: " + "; ".join(why) if why else ""
