"""iproute2 ``ss`` TCP listings (``ss -tanoe``, and every variant met in captures) to sockets.

The collector runs ``ss -tanoe``: no ``-p`` (owners come from matching ``ino:``
to ``/proc/<pid>/fd``), so the usual row is::

    State  Recv-Q Send-Q Local Address:Port Peer Address:Port Process
    ESTAB  0      0      10.0.0.1:22        10.0.0.2:50000    timer:(keepalive,1min,0) uid:1000 ino:123 <->

The parser still reads the other shapes found in real captures (corpus README,
quirk 4), because hand-saved outputs get fed to it too:

* the Netid column is there or not (it is decided per row, so a header-less
  ``-H`` listing or two concatenated listings read fine); rows of other netids
  (``udp``, ``u_str``, ``nl``, ``p_raw``, ``v_str``...) are counted and skipped;
* headers glued (``Peer Address:PortProcess``) or wider than the rows: only the
  whitespace-separated fields of each row matter, never the header's columns;
* ``-O`` puts everything on one line; ``-i``/``-m`` put tcp_info on continuation
  lines that start with a TAB or spaces, which are counted with the row above;
* ``-e``: ``uid:`` (printed only when non-zero), ``ino:``, ``sk:``, ``cgroup:``, ``v6only:``, ``<->``;
* ``-o``: ``timer:(keepalive,6.535ms,0)``, see ``parse_ss_timer`` for the units;
* ``-p``: ``users:(("nginx",pid=8,fd=12),...)`` and the old ``users:(("sshd",1231,3))``,
  names with spaces, quotes, commas and parentheses.

On LISTEN rows Recv-Q is the accept queue and Send-Q the backlog; they are stored
as ``recv_q``/``send_q`` like every other row (``Snapshot.listeners`` reads them).
A listing without a State column (ss hides it under a one-state filter, e.g.
``ss -u``) cannot say which TCP state its rows are in: its header is warned about
and its rows are skipped.

The parser is built for a million rows: one regex over a block of lines picks
the fields of every ``ss -tanoe`` row, and C loops turn each field of the block
into a column of the ``SocketTable`` (see ``_Columns``); other lines are read one
by one, with regexes only for the optional fields.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from functools import lru_cache
from itertools import compress, repeat
from operator import contains
from typing import Any, Protocol

from netdiag.gcpause import gc_paused
from netdiag.model import Owner, Socket, SocketTable, TcpState, Timer
from netdiag.parsers import Parsed
from netdiag.parsers.endpoint import _canonical, canonical_many, read_core

SOURCE = "ss"

# Netids ss prints (iproute2 ss.c), all but tcp counted and skipped.
OTHER_NETIDS = frozenset(
    {
        "udp", "raw", "icmp", "icmp6", "u_str", "u_dgr", "u_seq", "u_seqpacket", "nl", "p_raw",
        "p_dgr", "v_str", "v_dgr", "sctp", "dccp", "mptcp", "tipc", "xdp", "???",
    }
)  # fmt: skip

_HEADER_STARTS = frozenset({"Netid", "State", "Recv-Q"})

_TIMER = re.compile(r"timer:\((\w+),([^,()\s]*),(\d+)\)")
_TIMER_ANYWHERE = re.compile(r"timer:\([^)]*\)")
# timer:, uid:, ino: where ss prints them, in that order (users:(...) taken out first).
_FIELDS = re.compile(r" *(timer:\([^)]*\))? *(?:uid:(\d+) )? *(?:ino:(\d+))?")
_UID = re.compile(r"(?:^|\s)uid:(\d+)")
_INO = re.compile(r"(?:^|\s)ino:(\d+)")
# One owner, new ("nginx",pid=8,fd=12) or old ("sshd",1231,3) form. The name is
# printed raw between quotes, so it ends at the first `",` that is followed by
# the pid and fd and the closing parenthesis.
_OWNER = re.compile(r'\("(.*?)",(?:pid=)?(\d+),(?:fd=)?(\d+)\)')
# Old iproute2 print_ms_timer(): [Nmin][S(sec|.)][MMMms], e.g. 6.535ms = 6.535 s,
# 1min24sec, 117min, 024ms, and "" for zero; since 2024 also 9.501sec.
_MS_TIMER = re.compile(r"(?:(\d+)min)?(?:(\d+)(?:\.(\d+)(?:ms|sec)|sec))?(?:(\d+)ms)?")


def parse_ss_timer(text: str) -> float | None:
    """The expiry part of ``timer:(kind,EXPIRY,retrans)`` in seconds; None if unreadable.

    Old iproute2 prints 1-9 s as ``<s>.<ms>ms``: ``6.535ms`` is 6.535 s, not
    6.5 ms (netstat on the same host said 6.63 s). Below 1 s it prints ``024ms``.
    """
    negative = text.startswith("-")
    m = _MS_TIMER.fullmatch(text[1:] if negative else text)
    if m is None:
        return None
    minutes, secs, frac, ms = m.groups()
    value = 60.0 * int(minutes or 0) + int(secs or 0) + int(ms or 0) / 1000.0
    if frac:
        value += int(frac) / 10 ** len(frac)
    return -value if negative else value


def parse_owners(text: str, start: int) -> tuple[tuple[Owner, ...], int] | None:
    """Owners from ``users:((...),(...))`` beginning at ``text[start]``; with the end index."""
    pos = start + len("users:(")
    owners: list[Owner] = []
    while True:
        m = _OWNER.match(text, pos)
        if m is None:
            return None
        owners.append(Owner(int(m[2]), m[1], int(m[3])))
        pos = m.end()
        nxt = text[pos : pos + 1]
        if nxt == ")":
            return tuple(owners), pos + 1
        if nxt != ",":
            return None
        pos += 1


class Readable(Protocol):
    """A text source read in blocks: an open file, ``io.StringIO``."""

    def read(self, size: int = -1, /) -> str: ...


def parse_ss(source: str | Readable) -> Parsed[Socket]:
    """Read an ``ss`` listing; TCP rows become sockets, every other line is accounted for.

    ``source`` is the listing's text, or an open text file that is read in blocks
    so a million-row listing is never held whole beside its records.
    """
    with gc_paused():
        out = _parse(source)
        if len(out.records) >= FREEZE_AT:
            # A big listing's records are the process's data from now on, and hold no
            # cycles: moved out of the collector's sight, they are not traversed again
            # by each later collection (three passes over 2 million objects, seconds).
            gc.freeze()
    return out


FREEZE_AT = 100_000  # records; below this a collection's pass over them costs little


# The row ``ss -tanoe`` prints, and nothing else: a State word and the two queues, the
# local endpoint, the peer as an IPv4 dotted quad, ``*`` or a bracketed IPv6 address
# (one group either way: the lookarounds keep the brackets paired) and a port, then
# optionally ``timer:(...)``, ``uid:N``, ``ino:N`` and text without ``(`` (``sk:``,
# ``cgroup:``, ``<->``). On such a row ``_row`` could only do what ``_Columns`` does, so
# the regex picks the fields of a whole block of rows at once. Any other line (headers,
# other netids, ``users:(``, scopes, names, continuation lines, odd line breaks) matches
# the last branch, which captures nothing (every group empty), and is read by ``_Lines``,
# which knows every shape. Each group costs a string per row, so there are no more than
# the columns need.
_ADDRESS = r"(?:\[[0-9a-fA-F:.]++\]|[0-9.]++|\*)"
# Possessive repeats (``++``, ``*+``) and ``(?:...|)`` for optional parts: no backtracking
# state kept where none could ever be used, which makes the regex a third cheaper.
_FAST_ROW = re.compile(
    rf"^(?:([A-Za-z][A-Za-z0-9_-]*+ ++[0-9]++ ++[0-9]++) ++({_ADDRESS}):([0-9]++|\*)"
    r" ++\[?((?<=\[)[0-9a-fA-F:.]++(?=\])|(?<!\[)(?:[0-9.]++|\*)(?!\]))\]?:([0-9]++|\*)"
    r"(?: ++(timer:\([^()\s]*+\))|)(?:(?: ++uid:([0-9]++)|) ++ino:([0-9]++)"
    r"(?: [^(\n\r\x0b\x0c\x1c-\x1e\x85\u2028\u2029]*+|)|)"
    r" *+\r?$|.*)",
    re.M,
)
# Characters per findall: enough to amortise the call, few enough that a block's rows and
# their strings stay in the CPU cache while the columns are made (1 << 20 cost 15% more).
_BLOCK = 1 << 18
_MAX_PORT = 65535
# What str.splitlines() breaks lines at, besides "\n" (a "\r" before "\n" is one break with it).
_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
_ZERO: dict[int, None] = {0: None}  # inode 0 (a minisocket) is no inode


def _blocks(source: str | Readable) -> Iterator[tuple[str, int, int]]:
    """``(text, start, end)``: spans of whole lines, about ``_BLOCK`` characters, ending before a newline."""
    if isinstance(source, str):
        size = len(source)
        pos = 0
        while pos < size:
            end = source.find("\n", min(pos + _BLOCK, size))
            if end < 0:
                end = size
            yield source, pos, end
            pos = end + 1
        return
    carry = ""
    while block := source.read(_BLOCK):
        text = carry + block
        end = text.rfind("\n")
        if end < 0:
            carry = text
            continue
        yield text, 0, end
        carry = text[end + 1 :]
    if carry:
        yield carry, 0, len(carry)


def _parse(source: str | Readable) -> Parsed[Socket]:
    records = SocketTable()
    out: Parsed[Socket] = Parsed(records)
    lines = _Lines(out)
    columns = _Columns()
    line_no = 0  # lines before the current block, counted as str.splitlines() counts them
    for text, start, end in _blocks(source):
        rows = _FAST_ROW.findall(text, start, end)  # one tuple per "\n"-delimited line
        count = len(rows)
        if not count:
            continue
        cols = list(zip(*rows, strict=True))
        if "" not in cols[0]:  # the common block: every line a fast row
            del rows
            if not _take(columns, cols, records, lines):
                _read(lines, text[start:end].split("\n"), line_no)
            line_no += count
            continue
        # Runs of fast rows between the other lines (their groups are all empty).
        raw = text[start:end].split("\n")
        odd = [i for i, r in enumerate(rows) if not r[0]]
        begin = 0
        for stop in [*odd, count]:
            if stop > begin and not _take(columns, list(zip(*rows[begin:stop], strict=True)), records, lines):
                _read(lines, raw[begin:stop], line_no + begin)
            if stop < count:
                line_no += lines.read(raw[stop], line_no + stop + 1) - 1
            begin = stop + 1
        line_no += count
    return out


def _take(columns: _Columns, cols: list[tuple[str, ...]], records: SocketTable, lines: _Lines) -> bool:
    """A run of fast rows into ``records``; False if a value does not read (nothing is added then)."""
    made = columns.sockets(cols)
    if made is None:
        return False
    records.extend_columns(*made)
    lines.after_rows(len(cols[0]))
    return True


def _read(lines: _Lines, texts: list[str], line_no: int) -> None:
    """Fast rows one by one, to say why one does not read (unknown state, port 65536...)."""
    for i, line in enumerate(texts, start=line_no + 1):
        lines.read(line, i)  # one line each: the fast regex took them


class _Columns:
    """Fast rows to table columns, a block at a time: each field converted by C loops (``map``/``zip``).

    Caches map each distinct text of a field with few values (a state and queues,
    a local address, a timer, a uid) to one shared value, which is what keeps a
    million sockets small; only a text not seen before runs Python code. Fields
    with nearly one value per row go uncached: ports through ``int``, inodes too,
    IPv6 peers made canonical by ``canonical_many``. A value that does not read
    makes the whole run go to ``_Lines``, which says why.
    """

    __slots__ = ("addresses", "heads", "ports", "timers", "uids")

    def __init__(self) -> None:
        self.heads: dict[str, tuple[TcpState, int, int]] = {}
        self.addresses: dict[str, str] = {}  # a local address as printed -> its canonical text
        self.ports: dict[str, int | None] = {}
        self.timers: dict[str, Timer | None] = {"": None}
        self.uids: dict[str, int] = {}

    def sockets(self, cols: list[tuple[str, ...]]) -> tuple[Iterable[Any], ...] | None:
        """The run's columns in ``SocketTable.extend_columns`` order; None if a value does not read."""
        heads, hosts, lps, peers, pps, tms, uids, inos = cols
        head_values = _lookup(self.heads, heads, _head)
        local_addresses = _lookup(self.addresses, hosts, _local_address)
        local_ports = self._ports(lps)
        port_values = self._ports(pps)
        timer_values = _lookup(self.timers, tms, _timer)
        if (
            head_values is None
            or local_addresses is None
            or local_ports is None
            or port_values is None
            or timer_values is None
            or not _learn(self.uids, uids, int)
        ):
            return None
        if "" in inos:  # no ino: printed (a listing without -e)
            inos = tuple(map("0".__add__, inos))
        inodes = list(map(int, inos))
        states, queues, backlogs = zip(*head_values, strict=True)
        # ss prints uid: only when it is not 0; without it the uid is 0, except on
        # minisockets (ino:0), which have no owner at all.
        users = map(self.uids.get, uids, map(_ZERO.get, inodes, repeat(0)))
        return (
            states,
            queues,
            backlogs,
            local_addresses,
            local_ports,
            _peer_addresses(peers),
            port_values,
            timer_values,
            users,
            map(_ZERO.get, inodes, inodes),
        )

    def _ports(self, column: tuple[str, ...]) -> list[int | None] | None:
        """Port numbers; None if one is above 65535.

        ``int`` on each is cheaper than a cache keyed by text: ports are many (one
        per ephemeral port) and such a lookup misses the CPU cache, and so does
        sharing one int object per port (measured: 0.26 s against 0.11 s a million
        rows, for 28 bytes a row saved).
        """
        if "*" in column:  # a wildcard port (listeners): the general way
            return _lookup(self.ports, column, _port, -1)
        values = list(map(int, column))
        return values if max(values, default=0) <= _MAX_PORT else None  # type: ignore[return-value]


def _peer_addresses(column: tuple[str, ...]) -> tuple[str, ...] | list[str]:
    """Peer addresses as stored: a dotted quad or ``*`` as printed, IPv6 (with a colon) canonical.

    Text the regex took between brackets without a colon (``[1.2.3.4]``) reads as
    itself too, as ``_canonical`` would give it.
    """
    colon = list(map(contains, column, repeat(":")))
    if True not in colon:
        return column
    out = list(column)
    canonical = canonical_many(list(compress(column, colon)))
    for i, text in zip(compress(range(len(out)), colon), canonical, strict=True):
        out[i] = text
    return out


def _lookup(
    cache: dict[str, Any], column: Sequence[str], make: Callable[[str], Any], bad: Any = None
) -> list[Any] | None:
    """The column's values through ``cache``, learning new texts only when one is missing.

    Later blocks mostly hold no text not seen before, so the first try (one C loop) is the answer.
    """
    try:
        return list(map(cache.__getitem__, column))
    except KeyError:
        if not _learn(cache, column, make, bad):
            return None
        return list(map(cache.__getitem__, column))


def _learn(cache: dict[str, Any], column: Sequence[str], make: Callable[[str], Any], bad: Any = None) -> bool:
    """Add the column's new texts to ``cache``; False if one does not read (``make`` gives ``bad``)."""
    for text in set(column).difference(cache):
        if not text:
            continue
        value = make(text)
        if value == bad:
            return False
        cache[text] = value
    return True


def _head(text: str) -> tuple[TcpState, int, int] | None:
    word, recv_q, send_q = text.split()
    state = TcpState.parse(word)  # no netid or header word parses as a state
    return None if state is None else (state, int(recv_q), int(send_q))


def _local_address(text: str) -> str:
    """A fast row's local address as stored: a dotted quad and * are their own canonical form."""
    return _canonical(text[1:-1]) if text[0] == "[" else text


def _port(text: str) -> int | None:
    """A fast row's port (digits or ``*``): None for ``*``, -1 above 65535."""
    if text == "*":
        return None
    value = int(text)
    return value if value <= _MAX_PORT else -1


class _Lines:
    """Every line the fast loop does not take, read one by one as ``ss`` may print it."""

    __slots__ = ("last_row", "out", "row_seen", "stateless_header", "states")

    def __init__(self, out: Parsed[Socket]) -> None:
        self.out = out
        self.states: dict[str, TcpState | None] = {}
        self.stateless_header = False  # the last header had no State column
        self.last_row: int | None = None  # index of the last TCP record, for continuation lines
        self.row_seen = False  # a data row (of any netid) came before, so an indented line continues it

    def after_rows(self, count: int) -> None:
        """``count`` TCP rows were read by the fast loop since the last line seen here."""
        self.out.accounted += count
        self.row_seen = True
        self.last_row = len(self.out.records) - 1

    def read(self, text: str, line_no: int) -> int:
        """Read one ``\\n``-delimited line; the number of lines it is to ``str.splitlines()``."""
        if not text:
            return 1
        pieces = text.splitlines()
        for k, line in enumerate(pieces):
            self.line(line, line_no + k)
        # A line break other than "\r" at the very end is one more (empty) line before "\n".
        return max(len(pieces), 1) + (text[-1] in _BREAKS and text[-1] != "\r")

    def line(self, line: str, line_no: int) -> None:
        out = self.out
        records = out.records
        f = line.split(None, 5)
        if not f:
            return
        if line[0] in " \t":
            if not self.row_seen:
                out.warn(SOURCE, line_no, line, "indented line with no socket row before it")
                return
            out.accounted += 1
            if self.last_row is not None:
                records[self.last_row] = _merge(records[self.last_row], line)
            return
        head = f[0]
        if head in _HEADER_STARTS:
            self.stateless_header = "State" not in line.split()
            self.row_seen = False
            self.last_row = None
            if self.stateless_header:
                out.warn(
                    SOURCE, line_no, line,
                    "header without a State column (single-state filter): rows cannot be read as TCP sockets",
                )  # fmt: skip
            else:
                out.accounted += 1
            return
        self.row_seen = True
        self.last_row = None
        if head in OTHER_NETIDS or (self.stateless_header and head.isdigit()):
            out.accounted += 1
            return
        if head == "tcp":
            f = line.split(None, 6)[1:]
            if not f:
                out.warn(SOURCE, line_no, line, "tcp row without a state")
                return
        states = self.states
        try:
            state = states[f[0]]
        except KeyError:
            state = states[f[0]] = TcpState.parse(f[0])
        if state is None:
            out.warn(SOURCE, line_no, line, _not_a_state(f[0], head))
            return
        result = _row(state, f)
        if isinstance(result, str):
            out.warn(SOURCE, line_no, line, result)
            return
        sock, problem = result
        self.last_row = len(records)
        records.append(sock)
        if problem:
            out.warn(SOURCE, line_no, line, problem)
        else:
            out.accounted += 1


def parse_ss_lines(text: str) -> Parsed[Socket]:
    """``parse_ss`` without its fast loop: every line read one by one (the reference it must equal)."""
    out: Parsed[Socket] = Parsed()
    lines = _Lines(out)
    for line_no, line in enumerate(text.splitlines(), start=1):
        lines.line(line, line_no)
    return out


def _not_a_state(word: str, head: str) -> str:
    if head == "tcp":
        return f"unknown TCP state {word!r}"
    if head.isdigit():
        return "row without a State column"
    return f"not an ss row: {word!r} is neither a netid nor a TCP state"


def _row(state: TcpState, f: list[str]) -> tuple[Socket, str | None] | str:
    """``STATE RQ SQ LOCAL PEER [extras]`` to a socket and an optional remark, or why it is none."""
    if len(f) < 5:
        return f"expected State Recv-Q Send-Q Local Peer, got {len(f)} fields"
    core = read_core(f[1], f[2], f[3], f[4])
    if isinstance(core, str):
        return core
    recv_q, send_q, local, peer, problem = core
    if len(f) < 6:
        return Socket(state, recv_q, send_q, local, peer), problem
    timer, uid, inode, owners, extra_problem = _extras(f[5])
    return Socket(state, recv_q, send_q, local, peer, timer, uid, inode, owners), problem or extra_problem


def _extras(rest: str) -> tuple[Timer | None, int | None, int | None, tuple[Owner, ...], str | None]:
    """The optional fields after the peer: ``users:``, ``timer:``, ``uid:``, ``ino:``."""
    problem = None
    owners: tuple[Owner, ...] = ()
    at = rest.find("users:(")
    if at >= 0:
        parsed = parse_owners(rest, at)
        if parsed is None:
            problem = "unreadable users:(...) field"
        else:
            owners, end = parsed
            rest = rest[:at] + rest[end:]  # so a process name can't pass for ino:/timer:
    fields = _FIELDS.match(rest)
    timer_text, uid_text, ino_text = fields.groups() if fields else (None, None, None)
    if timer_text is None and "timer:(" in rest:  # not where ss puts it: look further
        found = _TIMER_ANYWHERE.search(rest)
        timer_text = found[0] if found else "timer:(?)"
    if ino_text is None and "ino:" in rest:
        found = _INO.search(rest)
        ino_text = found[1] if found else None
        found = _UID.search(rest) if found else None
        uid_text = found[1] if found else None
    timer = None
    if timer_text is not None:
        timer = _timer(timer_text)
        if timer is None:
            problem = problem or f"unreadable timer field {timer_text!r}"
    inode = uid = None
    if ino_text is not None:
        inode = int(ino_text) or None
        # ss prints uid: only when it is not 0; where -e printed ino: the uid is therefore 0,
        # except on time-wait and request minisockets (ino:0), which have no owner at all.
        uid = int(uid_text) if uid_text is not None else (0 if inode else None)
    return timer, uid, inode, owners, problem


@lru_cache(maxsize=1 << 14)
def _timer(text: str) -> Timer | None:
    """``timer:(keepalive,6.535ms,0)`` to a Timer; cached, the same few hundred recur."""
    m = _TIMER.fullmatch(text)
    remaining = None if m is None else parse_ss_timer(m[2])
    if m is None or remaining is None:
        return None
    return Timer(m[1], remaining, int(m[3]))


def _merge(sock: Socket, line: str) -> Socket:
    """Fields a continuation line adds to the row above (ss only puts tcp_info there today)."""
    if "timer:(" not in line and "users:(" not in line and "ino:" not in line:
        return sock
    timer, uid, inode, owners, _ = _extras(line)
    return sock._replace(
        timer=sock.timer or timer,
        uid=sock.uid if sock.uid is not None else uid,
        inode=sock.inode or inode,
        owners=sock.owners or owners,
    )
