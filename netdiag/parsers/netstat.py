"""Linux net-tools ``netstat`` listings to sockets: the collector's fallback when ``ss`` is missing.

The collector runs ``netstat -tanoeW``; the parser also reads ``-tonp``, ``-tanp``,
``-neopa``, ``-lnp``, plain ``netstat``, old and new net-tools. The Internet
section's header says which columns a row has::

    Proto Recv-Q Send-Q Local Address  Foreign Address  State  [User Inode] [PID/Program name] [Timer]

Only the first six fields are at fixed positions in a row; the rest is read from
the right: ``Timer`` is the last two words (``keepalive (7190.12/0/0)``), and
``PID/Program name`` is what lies between, because the name may hold spaces
(``600/sshd: /usr/sbin``) or be empty, pid-only (``1279``), name-only (``mongod``)
or ``-`` (no visible owner).

``tcp6`` rows from new net-tools print an IPv4-mapped address plain
(``127.0.0.1:58488``); it is stored as ``::ffff:127.0.0.1``, as ``ss`` and
``/proc/net/tcp6`` give it, so every source names that socket alike. A timer
``off`` is no timer (``None``), again as ``ss`` shows it.

UDP, raw, UNIX and Bluetooth rows are counted and skipped. Output that is not
Linux net-tools (FreeBSD ``addr.port`` with a ``(state)`` header, Windows
``netstat -aon``, separate ``Port`` columns) is recognised by its header and
reported as warnings, one per header and per TCP row, with no sockets made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netdiag.gcpause import gc_paused
from netdiag.model import Endpoint, Owner, Socket, TcpState, Timer
from netdiag.parsers import Parsed
from netdiag.parsers.endpoint import read_core

SOURCE = "netstat"

_TCP = frozenset({"tcp", "tcp6"})
_OTHER_PROTOS = frozenset({"udp", "udp6", "udpl", "udpl6", "raw", "raw6", "unix", "sctp", "sctp6"})
# Section titles net-tools prints for families other than inet (netstat.c).
_OTHER_SECTIONS = ("UNIX domain", "Bluetooth", "IPX", "AX.25", "NET/ROM", "X.25", "Rose", "Netlink")
# Informational lines netstat prints among the rows; nothing is lost with them.
_NOTES = (
    "(Not all processes could be identified",
    "will not be shown, you would have to be root",
    "(No info could be read for",
    "netstat: showing only processes with your user ID",
)
# "keepalive (7190.12/0/0)", "on (0.79/0/0)", "keepalive (70.54/0)", "timewait (52,75/0/0)"
_TIMER = re.compile(r"([\w-]+) \((-?\d+(?:[.,]\d+)?)/(\d+)(?:/(\d+))?\)")


@dataclass(frozen=True, slots=True)
class _Layout:
    """Which optional columns the Internet section's header announced."""

    user_inode: bool
    program: bool
    timer: bool


def parse_netstat(text: str) -> Parsed[Socket]:
    """Read a net-tools ``netstat`` listing; TCP rows become sockets, every other line is accounted for."""
    with gc_paused():
        return _parse(text)


def _parse(text: str) -> Parsed[Socket]:
    out: Parsed[Socket] = Parsed()
    section = ""  # "" before any title, then inet | other | foreign
    layout: _Layout | None = None  # the inet header's columns, once read
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        first = f[0]
        if first == "Active":
            section, layout = _title(line)
            if section == "foreign":
                out.warn(SOURCE, line_no, line, "not Linux net-tools output (unknown section title)")
            else:
                out.accounted += 1
            continue
        if first == "Proto":
            if section in ("inet", ""):
                layout = _header(line)
                if layout is None:
                    section = "foreign"
                    out.warn(SOURCE, line_no, line, "not a Linux net-tools header (BSD/Windows netstat?)")
                    continue
                section = "inet"
            out.accounted += 1
            continue
        if line.startswith(_NOTES) or line.lstrip().startswith(_NOTES):
            out.accounted += 1
            continue
        if line.startswith("error parsing /proc/net/netstat"):
            out.warn(SOURCE, line_no, line, "netstat failed reading /proc/net/netstat: no listing")
            continue
        if section == "other":
            out.accounted += 1
            continue
        if section == "foreign":
            if first.lower().startswith("tcp"):
                out.warn(SOURCE, line_no, line, "TCP row in a non-Linux netstat format")
            else:
                out.accounted += 1
            continue
        if layout is None:
            out.warn(SOURCE, line_no, line, "row before any netstat column header")
            continue
        if first not in _TCP:
            if first in _OTHER_PROTOS:
                out.accounted += 1
            else:
                out.warn(SOURCE, line_no, line, "not a netstat row")
            continue
        result = _row(f, layout)
        if isinstance(result, str):
            out.warn(SOURCE, line_no, line, result)
            continue
        sock, problem = result
        out.records.append(sock)
        if problem:
            out.warn(SOURCE, line_no, line, problem)
        else:
            out.accounted += 1
    return out


def _title(line: str) -> tuple[str, _Layout | None]:
    if line.startswith("Active Internet connections"):
        return "inet", None
    if any(line.startswith(f"Active {name}") for name in _OTHER_SECTIONS):
        return "other", None
    return "foreign", None  # e.g. Windows' "Active Connections"


def _header(line: str) -> _Layout | None:
    """The columns of a Linux inet header, or None for a header netdiag does not read."""
    if not line.startswith("Proto Recv-Q Send-Q Local Address"):
        return None  # Windows: "  Proto  Local Address ..."; no queues
    if "(state)" in line or re.search(r"Address\s+Port\b", line):
        return None  # FreeBSD's "(state)"; separate Port columns
    return _Layout(
        user_inode="Inode" in line,
        program="PID/Program" in line,
        timer=line.rstrip().endswith("Timer"),
    )


def _row(f: list[str], layout: _Layout) -> tuple[Socket, str | None] | str:
    """One tcp/tcp6 row to a socket and an optional remark, or the reason it is none."""
    if len(f) < 6:
        return f"expected at least 6 fields, got {len(f)}"
    state = TcpState.parse(f[5])
    if state is None:
        return f"unknown TCP state {f[5]!r}"
    core = read_core(f[1], f[2], f[3], f[4])
    if isinstance(core, str):
        return core
    recv_q, send_q, local, peer, problem = core
    if f[0] == "tcp6":
        local = _mapped(local)
        peer = _mapped(peer)
    rest = f[6:]
    uid = inode = None
    if layout.user_inode:
        if len(rest) < 2:
            return "User and Inode columns missing"
        uid = int(rest[0]) if rest[0].isdigit() else None  # a name without -n
        if not rest[1].isdigit():
            return f"Inode not a number: {rest[1]!r}"
        inode = int(rest[1]) or None
        rest = rest[2:]
    timer = None
    if layout.timer:
        if len(rest) < 2:
            return "Timer column missing"
        m = _TIMER.fullmatch(f"{rest[-2]} {rest[-1]}")
        if m is None:
            return f"unreadable timer {rest[-2]} {rest[-1]!r}"
        rest = rest[:-2]
        if m[1] != "off":
            timer = Timer(m[1], float(m[2].replace(",", ".")), int(m[3]))
    owners: tuple[Owner, ...] = ()
    if layout.program and rest:
        owners = _owner(" ".join(rest))
    elif rest:
        return f"unexpected trailing fields {' '.join(rest)!r}"
    return Socket(state, recv_q, send_q, local, peer, timer, uid, inode, owners), problem


def _owner(cell: str) -> tuple[Owner, ...]:
    """``8/nginx``, ``600/sshd: /usr/sbin``, ``1279``, ``mongod`` or ``-`` (nobody visible)."""
    if cell == "-":
        return ()
    pid_text, slash, name = cell.partition("/")
    if pid_text.isdigit():
        return (Owner(int(pid_text), name if slash and name else None),)
    return (Owner(None, cell),)


def _mapped(ep: Endpoint) -> Endpoint:
    """A plain IPv4 address on a tcp6 row is IPv4-mapped: say so, as ss and /proc do."""
    addr = ep.address
    if ":" in addr or not addr[:1].isdigit() or ep.ip is None:
        return ep
    return Endpoint(f"::ffff:{addr}", ep.port, ep.scope)
