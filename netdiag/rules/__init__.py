"""The rules, one module each; ``netdiag.engine`` discovers them (``netdiag rules`` lists them).

Each module's docstring is its documentation, its ``Options`` dataclass holds its
thresholds (each default's reason beside it), and it exports ``RULE``. This
package module only holds what several rules share: who owns a socket, which
addresses are the host's own, and small counting helpers. It imports nothing
from the engine, so the engine may import the rules.

Rules read a snapshot's sockets as columns (``SocketTable``'s, or ``RowColumns``
over a plain sequence) through the ``SocketIndex`` the engine shares between
them: row numbers by state, address keys, culprits, and counts taken in C loops
(``map``, ``compress``, ``Counter``). A ``Socket`` is made only for what a
finding shows, and a finding shows at most ``EVIDENCE_LIMIT`` of them.
"""

from __future__ import annotations

import heapq
import itertools
from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import and_, contains, eq, ge, gt, is_not, itemgetter, le
from socket import AF_INET, AF_INET6, inet_ntop, inet_pton
from typing import Any, Protocol, TypeVar

from netdiag.model import (
    _CANONICAL_V4,
    Endpoint,
    Listener,
    Owner,
    Snapshot,
    Socket,
    SocketTable,
    TcpState,
    Timer,
    address_key,
)

# The kernel's default net.ipv4.ip_local_port_range, assumed when the sysctl was not read.
DEFAULT_PORT_RANGE = (32768, 60999)

H = TypeVar("H", bound=Hashable)
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


EVIDENCE_LIMIT = 20  # socket lines a finding keeps (the engine's too); the total is kept beside them

Tuple4 = tuple[str, int | None, str, int | None]  # local address key, port, peer address key, port
CulpritKey = tuple[int | None, str | None] | int | None  # (pid, name) of a known owner, else the local port


def addr_key(ep: Endpoint) -> str:
    """The address for comparisons: IPv4-mapped IPv6 unwrapped, so both spellings meet."""
    return address_key(ep.address)


def is_loopback(address: str) -> bool:
    if "%" in address:  # ipaddress reads a scoped IPv6 address: the exact, slow way
        ip = Endpoint(address, None).ip
        return ip is not None and ip.is_loopback
    return _loopback_key(address_key(address))


def _loopback_key(key: str) -> bool:
    return key == "::1" or (key.startswith("127.") and _CANONICAL_V4.fullmatch(key) is not None)


def tuple4(s: Socket) -> Tuple4:
    return (addr_key(s.local), s.local.port, addr_key(s.peer), s.peer.port)


def reversed4(s: Socket) -> Tuple4:
    """The 4-tuple of the other end of this connection, as seen from there."""
    return (addr_key(s.peer), s.peer.port, addr_key(s.local), s.local.port)


def culprit(s: Socket, snap: Snapshot, names: Mapping[int, str] | None = None) -> Culprit:
    """The socket's owner with the lowest pid (the parent after a fork), else its local port."""
    return culprit_of(s.owners, s.local.port, process_names(snap) if names is None else names)


def culprit_of(owners: tuple[Owner, ...], port: int | None, names: Mapping[int, str]) -> Culprit:
    """``culprit`` from a row's owners and local port (``names``: pid -> process name)."""
    known = [o for o in owners if o.pid is not None]
    if not known:
        return Culprit(None, None, port)
    o = min(known, key=lambda x: x.pid or 0)
    return Culprit(o.pid, o.name if o.name is not None else names.get(o.pid or -1))


def culprit_key(owners: tuple[Owner, ...], port: int | None, names: Mapping[int, str]) -> CulpritKey:
    """A plain key per culprit (the local port when no owner is known, else pid and name).

    Grouping on it makes each ``Culprit`` once per group, not once per socket.
    """
    if not owners:
        return port
    pid = owners[0].pid
    if len(owners) == 1 and pid is not None:
        name = owners[0].name
        return (pid, name if name is not None else names.get(pid))
    c = culprit_of(owners, port, names)
    return (c.pid, c.name) if c.known else c.port


def culprit_from_key(key: CulpritKey) -> Culprit:
    return Culprit(key[0], key[1]) if isinstance(key, tuple) else Culprit(None, None, key)


def process_names(snap: Snapshot) -> dict[int, str]:
    return {p.pid: p.name for p in snap.processes}


def grouped(
    keys: Sequence[K], positions: Iterable[int] | None = None, at_least: int = 1
) -> dict[K, list[int]]:
    """``positions`` (default: all) grouped by ``keys[position]``, keeping groups of ``at_least``.

    Groups come in the order their key first appears, positions in order, as a
    ``setdefault(...).append`` loop would leave them; but counted, ranked and sorted
    in C loops, and small groups are dropped before anything is made for them.
    """
    pos = list(range(len(keys))) if positions is None else list(positions)
    ks = list(keys) if positions is None else take(keys, pos)
    counts = Counter(ks)  # in order of first appearance
    big = [k for k, n in counts.items() if n >= at_least] if at_least > 1 else list(counts)
    if not big:
        return {}
    rank = dict(zip(big, range(len(big)), strict=True))
    if len(big) < len(counts):
        wanted = list(map(rank.__contains__, ks))
        pos = list(compress(pos, wanted))
        ks = list(compress(ks, wanted))
    ranks = list(map(rank.__getitem__, ks))
    pos = take(pos, sorted(range(len(ranks)), key=ranks.__getitem__))  # stable: positions stay in order
    out: dict[K, list[int]] = {}
    start = 0
    for k in big:
        end = start + counts[k]
        out[k] = pos[start:end]
        start = end
    return out


def biggest_first(groups: Mapping[H, list[int]]) -> list[tuple[H, list[int]]]:
    """Groups by size, largest first; equal sizes keep their order (first appearance)."""
    return sorted(groups.items(), key=lambda kv: -len(kv[1]))


def top(items: Iterable[H], n: int = 3) -> list[tuple[H, int]]:
    """The ``n`` most common items with their counts, ties broken by value for stable output."""
    return top_counted(Counter(items), n)


def top_counted(counts: Mapping[H, int], n: int = 3) -> list[tuple[H, int]]:
    """``top`` of items already counted.

    Only the items counted more often than the ``n``-th most common get a sort key
    made; those tied with it are sorted by their text in C (``key=str``).
    """
    if len(counts) <= n or n <= 0:
        return sorted(counts.items(), key=_count_then_text)[:n]
    values = list(counts.values())
    cut = sorted(values, reverse=True)[n - 1]
    above = sorted(compress(counts.items(), map(gt, values, repeat(cut))), key=_count_then_text)
    tied = sorted(compress(counts, map(eq, values, repeat(cut))), key=str)[: n - len(above)]
    return above + list(zip(tied, repeat(cut)))


def _count_then_text(kv: tuple[H, int]) -> tuple[int, str]:
    return (-kv[1], str(kv[0]))


def most_common_text(endpoints: Iterable[Endpoint]) -> str | None:
    """``most_common(str(e) for e in endpoints)``, rendering each distinct endpoint once."""
    best = top_counted(endpoint_counts(endpoints), 1)
    return best[0][0] if best else None


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


def own_addresses(bound: Iterable[str], host_address: str) -> set[str]:
    """The host's own addresses: those bound by its sockets, plus the address it was reached at."""
    distinct = set(bound)  # few distinct, however many sockets
    own = {address_key(a) for a in distinct if a not in _WILDCARDS}
    if Endpoint(host_address, None).ip is not None:
        own.add(address_key(host_address))
    return own


# Item getters, not attribute getters: Socket and Endpoint are NamedTuples, and an index
# is the cheapest C-level read over a million of them.
_STATE = itemgetter(0)  # Socket.state
_RECV_Q = itemgetter(1)  # Socket.recv_q
_LOCAL = itemgetter(3)  # Socket.local
_PEER = itemgetter(4)  # Socket.peer
_TIMER = itemgetter(5)  # Socket.timer
_INODE = itemgetter(7)  # Socket.inode
_OWNERS = itemgetter(8)  # Socket.owners
_ADDRESS = itemgetter(0)  # Endpoint.address
_PORT = itemgetter(1)  # Endpoint.port
_SCOPE = itemgetter(2)  # Endpoint.scope
_WILDCARDS = frozenset({"*", "0.0.0.0", "::"})  # Endpoint.is_wildcard  # noqa: S104 (a test, not a bind)


def is_local_peer(ep: Endpoint, own: set[str]) -> bool:
    return is_loopback(ep.address) or addr_key(ep) in own


# -- columns -------------------------------------------------------------------


class Columns(Protocol):
    """The column API of ``SocketTable`` that rules read: one sequence per field, by row."""

    @property
    def state(self) -> Sequence[TcpState]: ...
    @property
    def recv_q(self) -> Sequence[int]: ...
    @property
    def local_address(self) -> Sequence[str]: ...
    @property
    def local_port(self) -> Sequence[int | None]: ...
    @property
    def local_scope(self) -> Mapping[int, str]: ...  # rows with a scope only
    @property
    def peer_address(self) -> Sequence[str]: ...
    @property
    def peer_port(self) -> Sequence[int | None]: ...
    @property
    def peer_scope(self) -> Mapping[int, str]: ...  # rows with a scope only
    @property
    def timer(self) -> Sequence[Timer | None]: ...
    @property
    def inode(self) -> Sequence[int | None]: ...
    @property
    def owners(self) -> Mapping[int, tuple[Owner, ...]]: ...  # rows with owners only
    def __len__(self) -> int: ...
    def in_state(self, state: TcpState) -> list[int]: ...
    def rows(self, indexes: Iterable[int]) -> list[Socket]: ...


class RowColumns:
    """``Columns`` over a plain sequence of sockets (small snapshots, tests, snapshots read back from JSON).

    Each column is read off the rows once, in C loops, so rules have one code path;
    ``rows`` hands back the very ``Socket`` objects of the sequence.
    """

    __slots__ = ("inode", "local_address", "local_port", "local_scope", "owners", "peer_address", "peer_port",
                 "peer_scope", "recv_q", "sockets", "state", "timer")  # fmt: skip

    def __init__(self, sockets: Sequence[Socket]) -> None:
        self.sockets = sockets
        self.state: list[TcpState] = list(map(_STATE, sockets))
        self.recv_q: list[int] = list(map(_RECV_Q, sockets))
        local = list(map(_LOCAL, sockets))
        self.local_address: list[str] = list(map(_ADDRESS, local))
        self.local_port: list[int | None] = list(map(_PORT, local))
        self.local_scope: dict[int, str] = _sparse(list(map(_SCOPE, local)))
        peers = list(map(_PEER, sockets))
        self.peer_address: list[str] = list(map(_ADDRESS, peers))
        self.peer_port: list[int | None] = list(map(_PORT, peers))
        self.peer_scope: dict[int, str] = _sparse(list(map(_SCOPE, peers)))
        self.timer: list[Timer | None] = list(map(_TIMER, sockets))
        self.inode: list[int | None] = list(map(_INODE, sockets))
        owners = list(map(_OWNERS, sockets))
        self.owners: dict[int, tuple[Owner, ...]] = dict(compress(enumerate(owners), owners))

    def __len__(self) -> int:
        return len(self.state)

    def in_state(self, state: TcpState) -> list[int]:
        return rows_in(self.state, state)

    def rows(self, indexes: Iterable[int]) -> list[Socket]:
        return list(map(self.sockets.__getitem__, indexes))


def _sparse(scopes: list[str | None]) -> dict[int, str]:
    """Row -> scope for the rows that have one (``SocketTable`` keeps scopes so)."""
    return dict(compress(enumerate(scopes), map(is_not, scopes, repeat(None))))  # type: ignore[arg-type]


def local_endpoints(cols: Columns, rows: Sequence[int]) -> list[Endpoint]:
    """The rows' local endpoints, made from the three columns (a table's whole ``local`` is not)."""
    scopes = map(cols.local_scope.get, rows) if cols.local_scope else repeat(None)
    triples = zip(take(cols.local_address, rows), take(cols.local_port, rows), scopes)  # noqa: B905 (repeat)
    return list(map(_new, repeat(Endpoint), triples))


_new = tuple.__new__  # Endpoint(...) without a Python-level call per row


def rows_in(column: list[TcpState], state: TcpState) -> list[int]:
    """The rows of a state column holding ``state``, in order.

    ``list.index`` scans in C with identity tests; Python only steps once per hit,
    which beats testing every row when the state is not the most common one.
    """
    found: list[int] = []
    find = column.index
    add = found.append
    i = -1
    try:
        while True:
            i = find(state, i + 1)
            add(i)
    except ValueError:
        return found


def colon_keys(texts: list[str]) -> list[str]:
    """``address_key`` of each text (all with a colon): its inet_pton/inet_ntop round trip in C loops.

    Text inet_pton refuses (a scope, a name) and the forms where glibc and Python
    differ (a dot in inet_ntop's answer) go through ``address_key`` itself.
    """
    try:
        packed = list(map(inet_pton, repeat(AF_INET6), texts))
    except OSError:
        return list(map(address_key, texts))
    keys = list(map(inet_ntop, repeat(AF_INET6), packed))
    mapped = list(map(bytes.startswith, packed, repeat(_MAPPED_PREFIX)))
    dotted = list(map(contains, keys, repeat(".")))
    if any(dotted):
        v4 = map(inet_ntop, repeat(AF_INET), map(itemgetter(slice(12, 16)), compress(packed, mapped)))
        for i, key in zip(compress(range(len(keys)), mapped), v4, strict=True):
            keys[i] = key  # IPv4-mapped: the IPv4 address alone
        for i in compress(range(len(keys)), map(gt, dotted, mapped)):
            keys[i] = address_key(texts[i])  # dotted, not mapped: IPv4-compatible and such
    return keys


_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


def take(column: Sequence[V], rows: Iterable[int]) -> list[V]:
    """``[column[r] for r in rows]``, in C (``itemgetter`` reads items twice as fast as a ``map``)."""
    idx = rows if isinstance(rows, list | tuple) else list(rows)
    if len(idx) > 1:
        return list(itemgetter(*idx)(column))
    return [column[idx[0]]] if idx else []


def ports_of(endpoints: Iterable[Endpoint]) -> list[int | None]:
    """Each endpoint's port, in a C loop."""
    return list(map(_PORT, endpoints))


def in_range(values: Iterable[int | None], low: int, high: int) -> list[bool]:
    """``[v is not None and low <= v <= high for v in values]`` in C loops."""
    vals = values if isinstance(values, list) else list(values)
    known = list(map(is_not, vals, repeat(None)))
    if not all(known):  # None would not compare: put a value outside the range in its place
        vals = [v if k else low - 1 for v, k in zip(vals, known, strict=True)]
    return list(map(and_, map(le, repeat(low), vals), map(ge, repeat(high), vals)))


def peer_endpoint(cols: Columns, row: int) -> Endpoint:
    """One row's peer endpoint, as ``Socket.peer`` reads."""
    return Endpoint(cols.peer_address[row], cols.peer_port[row], cols.peer_scope.get(row))


def peer_texts(cols: Columns, rows: Sequence[int]) -> list[str]:
    """``str(s.peer)`` of each row; formatted in C where no row has a scope or lacks a port."""
    addresses = take(cols.peer_address, rows)
    ports = take(cols.peer_port, rows)
    scopes = cols.peer_scope
    if None in ports or (scopes and any(map(scopes.__contains__, rows))):
        return [str(peer_endpoint(cols, r)) for r in rows]
    forms = map(_HOST_PORT.__getitem__, map(contains, addresses, repeat(":")))
    return list(map(str.format, forms, addresses, ports))


_HOST_PORT = ("{}:{}", "[{}]:{}")  # Endpoint.__str__ without a scope, by whether the address has a colon


def peer_counts(cols: Columns, rows: Sequence[int]) -> dict[Endpoint, int]:
    """How many of these rows have each peer endpoint (``Counter(s.peer for s in sockets)``)."""
    scopes = map(cols.peer_scope.get, rows) if cols.peer_scope else repeat(None)
    triples = zip(take(cols.peer_address, rows), take(cols.peer_port, rows), scopes)  # noqa: B905 (repeat)
    return {Endpoint._make(t): k for t, k in Counter(triples).items()}


def sorted_rows(
    cols: Columns,
    rows: Sequence[int],
    limit: int = EVIDENCE_LIMIT,
    local: list[Endpoint] | None = None,
    row_of: Sequence[int] | None = None,
    counts: Mapping[Endpoint, int] | None = None,
) -> list[int]:
    """The first ``limit`` of ``rows`` in ``sorted_sockets`` order (local, then peer endpoint text).

    Peer texts are made only for the rows whose local endpoint text is among the
    smallest that fill ``limit``: the rest cannot come first. ``local``: the rows'
    local endpoints, when the caller has them (``counts``: them counted);
    ``row_of``: ``rows`` are positions in it (a state's rows), so only the rows
    that are shown are looked up.
    """
    if limit <= 0:
        return []
    if local is None:
        local = local_endpoints(cols, rows if row_of is None else take(row_of, rows))
    if counts is None:
        counts = Counter(local)
    texts = dict(zip(counts, endpoint_texts(list(counts)), strict=True))
    chosen: Sequence[int] = rows
    if len(rows) > limit:
        # The smallest texts that hold ``limit`` rows, and every endpoint written like the last.
        first = heapq.nsmallest(limit, counts, key=texts.__getitem__)  # each holds a row at least
        total = 0
        last = texts[first[-1]]
        for e in first:
            total += counts[e]
            if total >= limit:
                last = texts[e]
                break
        keep = {e for e, text in texts.items() if text <= last}
        wanted = list(map(keep.__contains__, local))
        chosen = list(compress(rows, wanted))
        local = list(compress(local, wanted))
    if row_of is not None:
        chosen = take(row_of, chosen)
    keys = list(zip(map(texts.__getitem__, local), peer_texts(cols, chosen), strict=True))
    order = sorted(range(len(keys)), key=keys.__getitem__)
    return [chosen[i] for i in order[:limit]]


def endpoint_texts(endpoints: Sequence[Endpoint]) -> list[str]:
    """``str(e)`` of each endpoint; formatted in C where none has a scope or lacks a port."""
    ports = list(map(_PORT, endpoints))
    if None in ports or any(map(_SCOPE, endpoints)):
        return list(map(str, endpoints))
    addresses = list(map(_ADDRESS, endpoints))
    forms = map(_HOST_PORT.__getitem__, map(contains, addresses, repeat(":")))
    return list(map(str.format, forms, addresses, ports))


def endpoint_counts(endpoints: Iterable[Endpoint]) -> dict[str, int]:
    """``Counter(str(e) for e in endpoints)``, each distinct endpoint rendered once."""
    return text_counts(Counter(endpoints))


def text_counts(counts: Mapping[Endpoint, int]) -> dict[str, int]:
    """Endpoint counts as counts of their texts."""
    texts = endpoint_texts(list(counts))
    found = dict(zip(texts, counts.values(), strict=True))
    if len(found) == len(counts):
        return found
    merged: Counter[str] = Counter()  # two endpoints with one text (a scope "" and None)
    for text, n in zip(texts, counts.values(), strict=True):
        merged[text] += n
    return merged


def fullest_rows(
    cols: Columns, rows: Sequence[int], limit: int = EVIDENCE_LIMIT, queues: list[int] | None = None
) -> list[int]:
    """The first ``limit`` of ``rows`` by Recv-Q, largest first, then in ``sorted_rows`` order.

    ``queues``: the rows' Recv-Q, when the caller has them.
    """
    if limit <= 0:
        return []
    if queues is None:
        queues = take(cols.recv_q, rows)
    if len(rows) > limit:
        cut = sorted(queues, reverse=True)[limit - 1]
        wanted = list(map(ge, queues, repeat(cut)))
        rows = list(compress(rows, wanted))
        queues = list(compress(queues, wanted))
    by_row = dict(zip(rows, queues, strict=True))
    ordered = sorted_rows(cols, rows, len(rows))
    return sorted(ordered, key=lambda r: -by_row[r])[:limit]


class SocketIndex:
    """One snapshot's sockets sorted out once for every rule (``HostContext.index``).

    Each rule used to walk all sockets for its few states; at a million sockets
    those walks were most of the analysis. Row lists keep the snapshot's order, so
    a rule reads them exactly as it read the filtered snapshot; what is computed
    per state (address keys, 4-tuples, culprit keys) is a list aligned with
    ``rows(state)``, so rules group *positions* in it.
    """

    __slots__ = ("_aligned", "_by_state", "_columns", "_culprits", "_keys", "_listeners", "_local",
                 "_names", "_peer_keys", "_rows", "_tuples", "snapshot")  # fmt: skip

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        self._columns: Columns | None = None
        self._rows: dict[str, list[int]] = {}
        self._by_state: dict[str, list[Socket]] = {}
        self._keys: dict[str, str] = {}  # address text with a colon -> its address_key
        self._peer_keys: dict[str, list[str]] = {}
        self._aligned: dict[tuple[str, str], list[Any]] = {}  # (column, state) -> values by position
        self._tuples: dict[str, list[Tuple4]] = {}
        self._culprits: dict[str, list[CulpritKey]] = {}
        self._names: dict[int, str] | None = None
        self._local: set[str] | None = None
        self._listeners: tuple[Listener, ...] | None = None

    @property
    def columns(self) -> Columns:
        """The sockets as columns: the table's own, or read off a plain sequence once."""
        found = self._columns
        if found is None:
            sockets = self.snapshot.sockets
            if isinstance(sockets, SocketTable) and hasattr(sockets, "local_address"):
                found = sockets
            else:  # a plain sequence (or a table of an older shape): read once
                found = RowColumns(sockets)
            self._columns = found
        return found

    def rows(self, state: TcpState) -> list[int]:
        """Row numbers of the sockets in ``state``, in snapshot order."""
        found = self._rows.get(state.value)
        if found is None:
            cols = self.columns
            column = cols.state
            found = rows_in(column, state) if type(column) is list else cols.in_state(state)
            self._rows[state.value] = found
        return found

    def in_state(self, state: TcpState) -> list[Socket]:
        """The sockets in ``state``, in snapshot order (made once, shared by the rules)."""
        found = self._by_state.get(state.value)
        if found is None:
            found = self._by_state[state.value] = self.columns.rows(self.rows(state))
        return found

    def names(self) -> dict[int, str]:
        """pid -> process name (``process_names``)."""
        if self._names is None:
            self._names = process_names(self.snapshot)
        return self._names

    def keys(self, addresses: Iterable[str]) -> list[str]:
        """``address_key`` of each address; only text with a colon is worked out, once per snapshot."""
        texts = addresses if isinstance(addresses, list) else list(addresses)
        known = self._keys
        new = list(set(compress(texts, map(contains, texts, repeat(":")))).difference(known))
        if new:
            known.update(zip(new, colon_keys(new), strict=True))
        return list(map(known.get, texts, texts))

    def _at(self, name: str, column: Sequence[Any], state: TcpState) -> list[Any]:
        found = self._aligned.get((name, state.value))
        if found is None:
            found = self._aligned[(name, state.value)] = take(column, self.rows(state))
        return found

    # A state's values, position by position: taken from the big columns once, so a rule's
    # groups take from these small lists (fewer cache misses) rather than from the table.

    def local(self, state: TcpState) -> list[Endpoint]:
        found = self._aligned.get(("local", state.value))
        if found is None:
            found = self._aligned[("local", state.value)] = local_endpoints(self.columns, self.rows(state))
        return found

    def local_port(self, state: TcpState) -> list[int | None]:
        return self._at("local_port", self.columns.local_port, state)

    def peer_port(self, state: TcpState) -> list[int | None]:
        return self._at("peer_port", self.columns.peer_port, state)

    def recv_q(self, state: TcpState) -> list[int]:
        return self._at("recv_q", self.columns.recv_q, state)

    def peer_keys(self, state: TcpState) -> list[str]:
        """Peer address keys of ``rows(state)``, position by position."""
        found = self._peer_keys.get(state.value)
        if found is None:
            found = self.keys(take(self.columns.peer_address, self.rows(state)))
            self._peer_keys[state.value] = found
        return found

    def tuples(self, state: TcpState) -> list[Tuple4]:
        """``tuple4`` of each socket in ``rows(state)``, position by position."""
        found = self._tuples.get(state.value)
        if found is None:
            found = list(
                zip(
                    self.keys(take(self.columns.local_address, self.rows(state))),
                    self.local_port(state),
                    self.peer_keys(state),
                    self.peer_port(state),
                    strict=True,
                )
            )
            self._tuples[state.value] = found
        return found

    def culprit_keys(self, state: TcpState) -> list[CulpritKey]:
        """``culprit_key`` of each socket in ``rows(state)``, position by position."""
        found = self._culprits.get(state.value)
        if found is None:
            cols = self.columns
            rows = self.rows(state)
            ports = self.local_port(state)
            owners = list(map(cols.owners.get, rows)) if cols.owners else []
            if any(owners):
                names = self.names()
                # culprit_key, with its common case (one owner, its pid and name known) inline
                found = [
                    p
                    if not o
                    else (o[0][0], o[0][1])
                    if len(o) == 1 and o[0][0] is not None and o[0][1] is not None
                    else culprit_key(o, p, names)
                    for o, p in zip(owners, ports, strict=True)
                ]
            else:
                found = list(ports)
            self._culprits[state.value] = found
        return found

    def local_addresses(self) -> set[str]:
        """The host's own addresses (``own_addresses`` of the local address column), made once."""
        if self._local is None:
            self._local = own_addresses(self.columns.local_address, self.snapshot.host.address)
        return self._local

    def listeners(self) -> tuple[Listener, ...]:
        """``Snapshot.listeners`` from the LISTEN sockets alone."""
        if self._listeners is None:
            known = self.snapshot.collection.socket_source == "ss"
            self._listeners = tuple(
                Listener(s, s.recv_q, s.send_q if known else None) for s in self.in_state(TcpState.LISTEN)
            )
        return self._listeners


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
