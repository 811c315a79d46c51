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

The parser is built for a million rows: one ``str.split`` per row, endpoints
through a bounded cache, and regexes only for the optional fields.
"""

from __future__ import annotations

import re
from dataclasses import replace
from functools import lru_cache

from netdiag.model import Owner, Socket, TcpState, Timer
from netdiag.parsers import Parsed, gc_paused
from netdiag.parsers.endpoint import parse_endpoint

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


def parse_ss(text: str) -> Parsed[Socket]:
    """Read an ``ss`` listing; TCP rows become sockets, every other line is accounted for."""
    with gc_paused():
        return _parse(text)


def _parse(text: str) -> Parsed[Socket]:
    out: Parsed[Socket] = Parsed()
    records = out.records
    states: dict[str, TcpState | None] = {}
    stateless_header = False  # the last header had no State column
    last_row: int | None = None  # index of the last TCP record, for continuation lines
    row_seen = False  # a data row (of any netid) came before, so an indented line continues it
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split(None, 5)
        if not f:
            continue
        if line[0] in " \t":
            if not row_seen:
                out.warn(SOURCE, line_no, line, "indented line with no socket row before it")
                continue
            out.accounted += 1
            if last_row is not None:
                records[last_row] = _merge(records[last_row], line)
            continue
        head = f[0]
        if head in _HEADER_STARTS:
            stateless_header = "State" not in line.split()
            row_seen = False
            last_row = None
            if stateless_header:
                out.warn(
                    SOURCE, line_no, line,
                    "header without a State column (single-state filter): rows cannot be read as TCP sockets",
                )  # fmt: skip
            else:
                out.accounted += 1
            continue
        row_seen = True
        last_row = None
        if head in OTHER_NETIDS or (stateless_header and head.isdigit()):
            out.accounted += 1
            continue
        if head == "tcp":
            f = line.split(None, 6)[1:]
            if not f:
                out.warn(SOURCE, line_no, line, "tcp row without a state")
                continue
        try:
            state = states[f[0]]
        except KeyError:
            state = states[f[0]] = TcpState.parse(f[0])
        if state is None:
            out.warn(SOURCE, line_no, line, _not_a_state(f[0], head))
            continue
        result = _row(state, f)
        if isinstance(result, str):
            out.warn(SOURCE, line_no, line, result)
            continue
        sock, problem = result
        last_row = len(records)
        records.append(sock)
        if problem:
            out.warn(SOURCE, line_no, line, problem)
        else:
            out.accounted += 1
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
    try:
        recv_q = int(f[1])
        send_q = int(f[2])
    except ValueError:
        return f"Recv-Q/Send-Q not numbers: {f[1]!r} {f[2]!r}"
    if recv_q < 0 or send_q < 0:
        return f"negative Recv-Q/Send-Q: {f[1]!r} {f[2]!r}"
    local = parse_endpoint(f[3])
    if local is None:
        return f"unreadable local address {f[3]!r}"
    peer = parse_endpoint(f[4])
    if peer is None:
        return f"unreadable peer address {f[4]!r}"
    problem = None
    if (local.port is None and f[3][-1] != "*") or (peer.port is None and f[4][-1] != "*"):
        problem = f"unknown service name in {f[3]!r} or {f[4]!r}: port left empty"
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
    return replace(
        sock,
        timer=sock.timer or timer,
        uid=sock.uid if sock.uid is not None else uid,
        inode=sock.inode or inode,
        owners=sock.owners or owners,
    )

