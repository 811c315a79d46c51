"""``address:port`` as ``ss`` and net-tools ``netstat`` print it, to an ``Endpoint``.

Forms seen in real outputs (``../shared/corpus/README.md``, quirk 5):

* ``1.2.3.4:80``, ``*:80``, ``*:*``, ``0.0.0.0:*``
* bracketed IPv6 (ss): ``[::1]:80``, ``[::ffff:1.2.3.4]:80``, ``[fe80::1]%eth0:123``
* unbracketed IPv6 (old ss and netstat): ``:::22``, ``::1:25``, ``::ffff:127.0.0.1:7403``;
  the port never contains ``:``, so the last colon always splits
* interface scope: ``127.0.0.53%lo:53``, ``0.0.0.0%virbr0:67``, ``*%ens33:ipv6-icmp``
* host and service names without ``-n``: ``localhost.localdoma:ssh`` (truncated by netstat)
* invalid, anonymised addresses such as ``123.456.78.90``: kept verbatim, never rejected

A service name is resolved to its port; an unknown one leaves ``port`` None, and the
caller, which knows the line, reports it (see ``unresolved_port``).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from functools import lru_cache
from itertools import compress, repeat
from operator import contains, getitem, gt

from netdiag.model import Endpoint, normalize_address

# IANA numbers for the names met in captures, for a controller whose /etc/services
# is missing or lists a name for udp only (Debian lists bootpc as udp alone).
_WELL_KNOWN: dict[str, int] = {
    "ftp": 21,
    "ssh": 22,
    "telnet": 23,
    "smtp": 25,
    "domain": 53,
    "bootps": 67,
    "bootpc": 68,
    "http": 80,
    "sunrpc": 111,
    "ntp": 123,
    "imap": 143,
    "snmp": 161,
    "ldap": 389,
    "https": 443,
    "submission": 587,
    "ipp": 631,
    "imaps": 993,
    "mysql": 3306,
    "postgresql": 5432,
}

# Dotted-quad IPv4 already in canonical form (no leading zeros): the bulk of all
# endpoints, so it skips ipaddress parsing in normalize_address.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_V4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")

_HOST_CHARS = frozenset("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-_:*")
_SCOPE_CHARS = _HOST_CHARS - {":", "*"} | {"@"}
_SERVICE_CHARS = _HOST_CHARS - {":", "*"} | {"+", "/"}


@lru_cache(maxsize=1 << 16)
def parse_endpoint(text: str) -> Endpoint | None:
    """Split one printed endpoint; None when the text is not an endpoint at all.

    Cached (bounded): a listing repeats the same few local endpoints and peers
    thousands of times, and ``Endpoint`` is frozen, so sharing one is safe.
    """
    host, sep, port_text = text.rpartition(":")
    if not sep or not host or not port_text:
        return None
    port = _port(port_text)
    if port == -1:
        return None
    if _CANONICAL_V4.fullmatch(host) is not None:  # the bulk of all endpoints
        return Endpoint(host, port)
    scope: str | None = None
    if host[0] == "[":
        close = host.find("]")
        if close < 0:
            return None
        rest = host[close + 1 :]
        host = host[1:close]
        if rest:
            if rest[0] != "%" or len(rest) == 1:
                return None
            scope = rest[1:]
        if not host:
            return None
    else:
        host, pct, scope_text = host.partition("%")
        if pct:
            if not scope_text:
                return None
            scope = scope_text
    if not host or not _HOST_CHARS.issuperset(host):
        return None
    if scope is not None and not _SCOPE_CHARS.issuperset(scope):
        return None
    return Endpoint(_canonical(host), port, scope)


def _canonical(host: str) -> str:
    """``normalize_address`` without its cost for the common case of a listing's own text.

    ``ss`` prints addresses with inet_ntop, which already gives the canonical
    form, so a dotted quad is returned as is and IPv6 is round-tripped in C.
    The forms where glibc and Python differ (IPv4-compatible ``::1.2.3.4``) and
    anything that is not an address go to ``normalize_address``.
    """
    if _CANONICAL_V4.fullmatch(host) is not None:
        return host
    if ":" in host:
        try:
            packed = socket.inet_pton(socket.AF_INET6, host)
        except OSError:
            return normalize_address(host)
        if packed[:12] == _MAPPED_PREFIX:
            return "::ffff:" + socket.inet_ntop(socket.AF_INET, packed[12:])
        text = socket.inet_ntop(socket.AF_INET6, packed)
        if "." not in text:
            return text
    return normalize_address(host)


_MAPPED_PREFIX = bytes(10) + b"\xff\xff"


def canonical_many(hosts: list[str]) -> list[str]:
    """``_canonical`` of each of ``hosts`` (text with a colon), by the same round trip in C loops.

    A listing's IPv6 peers are nearly all distinct, so caching them would cost more
    than it saves, and a Python call for each is most of what reading them costs.
    """
    try:
        packed = list(map(socket.inet_pton, repeat(socket.AF_INET6), hosts))
    except OSError:  # some text is no IPv6 address (none is, as ss prints): one at a time
        return list(map(_canonical, hosts))
    out = list(map(socket.inet_ntop, repeat(socket.AF_INET6), packed))
    mapped = list(map(bytes.startswith, packed, repeat(_MAPPED_PREFIX)))
    if True in mapped:
        rows = list(compress(range(len(out)), mapped))
        tails = map(getitem, compress(packed, mapped), repeat(_V4_PART))
        v4: Iterator[str] = map(socket.inet_ntop, repeat(socket.AF_INET), tails)  # type: ignore[arg-type]
        for i, text in zip(rows, map("::ffff:".__add__, v4), strict=True):
            out[i] = text
    dotted = map(contains, out, repeat("."))
    if any(map(gt, dotted, mapped)):  # glibc and Python differ on IPv4-compatible forms
        for i in compress(range(len(out)), map(gt, map(contains, out, repeat(".")), mapped)):
            out[i] = normalize_address(hosts[i])
    return out


_V4_PART = slice(12, None)


def unresolved_port(text: str, endpoint: Endpoint) -> bool:
    """True when ``text`` named a port (a service name) that could not be resolved."""
    return endpoint.port is None and not text.endswith("*")


Core = tuple[int, int, Endpoint, Endpoint, "str | None"]


def read_core(recv_q: str, send_q: str, local: str, peer: str) -> Core | str:
    """The columns ss and netstat share: Recv-Q, Send-Q, local and peer endpoints.

    Returns them with an optional remark (an unknown service name), or the reason
    the row cannot be read.
    """
    try:
        rq = int(recv_q)
        sq = int(send_q)
    except ValueError:
        return f"Recv-Q/Send-Q not numbers: {recv_q!r} {send_q!r}"
    if rq < 0 or sq < 0:
        return f"negative Recv-Q/Send-Q: {recv_q!r} {send_q!r}"
    lep = parse_endpoint(local)
    if lep is None:
        return f"unreadable local address {local!r}"
    pep = parse_endpoint(peer)
    if pep is None:
        return f"unreadable peer address {peer!r}"
    problem = None
    if unresolved_port(local, lep) or unresolved_port(peer, pep):
        problem = f"unknown service name in {local!r} or {peer!r}: port left empty"
    return rq, sq, lep, pep, problem


def _port(text: str) -> int | None:
    """A port: None for ``*`` or an unknown service name, -1 for text that is no port."""
    if text.isdigit() and text.isascii():
        value = int(text)
        return value if value <= 65535 else -1
    if text == "*":
        return None
    if not _SERVICE_CHARS.issuperset(text) or text[0] in ".-_+/":
        return -1
    return _service_port(text)


@lru_cache(maxsize=1024)
def _service_port(name: str) -> int | None:
    try:
        return socket.getservbyname(name, "tcp")
    except OSError:
        return _WELL_KNOWN.get(name)
