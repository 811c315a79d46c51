"""``/proc/net/tcp`` and ``/proc/net/tcp6``: the socket table every Linux host has.

This is the last-resort source when neither ``ss`` nor ``netstat`` exists, and
it may hold a million rows, so the parser is split-based, checks a row with a
few C-level string tests, and decodes each distinct ``HEX:PORT`` endpoint and
timer once per call (shared, frozen ``Endpoint``/``Timer`` objects, which also
keep a big snapshot small). Only a row that fails goes through the slow path
that finds the reason for its warning.

Row layout (``net/ipv4/tcp_ipv4.c``, ``net/ipv6/tcp_ipv6.c``)::

    sl local rem st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode ...

Full sockets print 17 fields; TIME_WAIT sockets (and orphaned FIN_WAIT2, which
the kernel keeps as time-wait minisockets: state ``05`` with timer 3) and
pending connection requests (``03``) print 12, nothing after the pointer.

Byte order: the kernel prints each address as host-endian 32-bit words with
``%08X``. We decode them as a little-endian host prints them (x86, arm64 and
every other common Linux target); a big-endian host (s390x, ppc64) would come
out byte-swapped. Ports are printed in host order, so they read as plain hex.

Queues: ``tx_queue``/``rx_queue`` become ``send_q``/``recv_q``. For LISTEN the
kernel prints the accept-queue length as ``rx_queue``, but ``tx_queue`` is NOT
the backlog (it is ``write_seq - snd_una``, normally 0); the snapshot only
trusts a backlog that ``ss`` reported (``Snapshot.listeners``).
"""

from __future__ import annotations

import socket as _socket

from netdiag.model import Endpoint, Socket, TcpState, Timer, normalize_address
from netdiag.parsers import Parsed

SOURCE = "proc_tcp"

USER_HZ = 100  # tm->when is in clock_t ticks (jiffies_delta_to_clock_t), USER_HZ on every Linux ABI

# The ``tr`` code as ss names it (iproute2 tmr_name[]); 0 means no timer pending.
TIMER_KINDS: dict[int, str] = {1: "on", 2: "keepalive", 3: "timewait", 4: "persist"}

# Older kernels printed an overdue timer as a negative clock_t in %08lX, i.e. a huge
# unsigned value; no real timer is 2^31 ticks (248 days) away, so read that as "due now".
_OVERDUE = 2**31

# State codes as the kernel prints them (%02X); parse() also knows the lower-case spelling.
_STATES: dict[str, TcpState] = {
    code: state for i in range(1, 13) for code in (f"{i:02X}", f"{i:02x}") if (state := TcpState.parse(code))
}

_HEXDIGITS = "0123456789abcdefABCDEF"


def parse_proc_tcp(text: str) -> Parsed[Socket]:
    """Read /proc/net/tcp or /proc/net/tcp6 (or both concatenated) into sockets.

    The family is decided per row by the address length (8 or 32 hex digits).
    A ``sl ...`` header is checked: a table whose header is not TCP's (a udp6
    table saved as "tcp6" ends in ``ref pointer drops``) makes its rows
    warnings instead of bogus sockets.
    """
    out: Parsed[Socket] = Parsed()
    records = out.records
    endpoints: dict[str, Endpoint | None] = {}
    timers: dict[str, Timer | None] = {}
    states = _STATES
    hexcolon = _HEXDIGITS + ":"
    foreign_header: str | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        if f[0] == "sl":
            if f[-1] == "inode" and "st" in f:
                foreign_header = None
                out.accounted += 1
            else:
                tail = " ".join(f[f.index("inode") + 1 :] if "inode" in f else f[-3:])
                foreign_header = f"line {line_no}, ending in {tail!r}"
                out.warn(SOURCE, line_no, line, "header of a table that is not TCP (udp/raw layout?)")
            continue
        if foreign_header is not None:
            out.warn(SOURCE, line_no, line, f"row of a non-TCP table (header {foreign_header})")
            continue
        # The fast path: every check is a C-level string test; anything odd goes to _reason().
        try:
            local = endpoints[f[1]]
        except KeyError:
            local = endpoints[f[1]] = _endpoint(f[1])
        except IndexError:
            local = None
        if len(f) >= 10 and local is not None:
            try:
                peer = endpoints[f[2]]
            except KeyError:
                peer = endpoints[f[2]] = _endpoint(f[2])
            state = states.get(f[3])
            queues, timer_text, decimals = f[4], f[5] + " " + f[6], f[7] + f[8] + f[9]
            if (
                peer is not None
                and state is not None
                and (":" in local.address) == (":" in peer.address)
                and f[0][-1:] == ":"
                and f[0][:-1].isdigit()
                and not (queues + f[5] + f[6]).strip(hexcolon)
                and decimals.isascii()
                and decimals.isdigit()
            ):
                tx, _, rx = queues.partition(":")
                try:
                    timer = timers[timer_text]
                except KeyError:
                    timer = timers[timer_text] = _timer(f[5], f[6])
                if tx and rx and ":" not in rx and timer is not _BAD_TIMER:
                    inode = int(f[9]) or None  # 0: TIME_WAIT, request and orphaned sockets have none
                    recv_q, send_q = int(rx, 16), int(tx, 16)
                    records.append(Socket(state, recv_q, send_q, local, peer, timer, int(f[7]), inode))
                    out.accounted += 1
                    continue
        out.warn(SOURCE, line_no, line, _reason(f))
    return out


def _reason(f: list[str]) -> str:
    """Why a row failed the fast path: the slow, precise check, run only on bad rows."""
    if len(f) < 10:
        return f"expected at least 10 fields, got {len(f)}"
    if not f[0].endswith(":") or not f[0][:-1].isdigit():
        return "row does not start with 'N:'"
    local, peer = _endpoint(f[1]), _endpoint(f[2])
    if local is None or peer is None:
        return "bad address (want HEX:PORT with 8 or 32 hex digits)"
    if (":" in local.address) != (":" in peer.address):
        return "local and remote addresses of different families"
    if f[3] not in _STATES:
        return f"unknown state code {f[3]!r}"
    for name, pair in (("tx_queue:rx_queue", f[4]), ("tr:tm->when", f[5])):
        a, sep, b = pair.partition(":")
        if not (sep and _is_hex(a) and _is_hex(b)):
            return f"bad hex pair {name} {pair!r}"
    if not _is_hex(f[6]):
        return f"bad hex retrnsmt {f[6]!r}"
    for name, value in (("uid", f[7]), ("timeout", f[8]), ("inode", f[9])):
        if not (value.isascii() and value.isdigit()):
            return f"bad decimal {name} {value!r}"
    return "unreadable row"


_BAD_TIMER = Timer("", None)  # sentinel in the timer cache; never returned


def _timer(pair: str, retrnsmt: str) -> Timer | None:
    """``tr:tm->when`` and ``retrnsmt`` (both hex) to a Timer; None for code 0 (no timer pending)."""
    code, _, when = pair.partition(":")
    if not (_is_hex(code) and _is_hex(when) and _is_hex(retrnsmt)):
        return _BAD_TIMER
    kind = int(code, 16)
    if not kind:
        return None
    ticks = int(when, 16)
    remaining = 0.0 if ticks >= _OVERDUE else ticks / USER_HZ
    return Timer(TIMER_KINDS.get(kind, "unknown"), remaining, int(retrnsmt, 16))


def _endpoint(text: str) -> Endpoint | None:
    """``0100007F:0050`` to 127.0.0.1:80; None if malformed. Port 0 is ``*`` (None), as ss shows it."""
    addr, _, port = text.partition(":")
    if len(port) != 4 or port.strip(_HEXDIGITS):
        return None
    try:
        raw = bytes.fromhex(addr)  # tokens hold no whitespace, so this only accepts hex digits
    except ValueError:
        return None
    if len(raw) == 4:
        address = _socket.inet_ntoa(raw[::-1])
    elif len(raw) == 16:
        swapped = raw[3::-1] + raw[7:3:-1] + raw[11:7:-1] + raw[15:11:-1]
        address = normalize_address(_socket.inet_ntop(_socket.AF_INET6, swapped))
    else:
        return None
    return Endpoint(address, int(port, 16) or None)


def _is_hex(text: str) -> bool:
    return bool(text) and not text.strip(_HEXDIGITS)
