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
from functools import lru_cache
from typing import TypeVar

from netdiag.model import Endpoint, Snapshot, Socket

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
    return _canonical(ep.address)


@lru_cache(maxsize=65536)
def _canonical(address: str) -> str:
    # Cached: a host has few distinct addresses but may have a million sockets.
    ip = Endpoint(address, None).ip
    return address if ip is None else str(ip)


@lru_cache(maxsize=65536)
def is_loopback(address: str) -> bool:
    ip = Endpoint(address, None).ip
    return ip is not None and ip.is_loopback


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
    names = process_names(snap)
    groups: dict[Culprit, list[Socket]] = {}
    for s in sockets:
        groups.setdefault(culprit(s, snap, names), []).append(s)
    return groups


def top(items: Iterable[H], n: int = 3) -> list[tuple[H, int]]:
    """The ``n`` most common items with their counts, ties broken by value for stable output."""
    counts = Counter(items)
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:n]


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
    own = {addr_key(s.local) for s in snap.sockets if not s.local.is_wildcard}
    if Endpoint(snap.host.address, None).ip is not None:
        own.add(_canonical(snap.host.address))
    return own


def is_local_peer(ep: Endpoint, own: set[str]) -> bool:
    return is_loopback(ep.address) or addr_key(ep) in own


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
