"""Host target syntax: ``user@host:port`` and ``[v6]:port`` targets, Ansible host patterns and ranges.

Pure functions on text; each raises ``ValueError`` with a short reason that the
caller prefixes with file and line.
"""

from __future__ import annotations

import ipaddress
import re
import string
from dataclasses import dataclass

MAX_RANGE_HOSTS = 100_000  # a typo like web[0:99999999] must not eat the controller's memory

_DIGITS = re.compile(r"[0-9]{1,5}")
# Characters no host name or address can hold in a plain target: whitespace and
# controls (a second token, a newline), "/" (a path), "@" and brackets (syntax).
_NOT_IN_HOST = re.compile(r"[\s\x00-\x1f\x7f/@\[\]]")
_RANGE = re.compile(r"\[([^\[\]]*)\]")


@dataclass(frozen=True, slots=True)
class PlainTarget:
    """A target as written in a plain list or on the command line."""

    name: str  # host, plus ":port" when one was given, so tunnels to one address stay apart
    host: str
    port: int | None
    user: str | None


def parse_port(text: str) -> int:
    """A TCP port, 1-65535, in ASCII digits only."""
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= 65535:
        raise ValueError(f"bad port {text!r} (expected 1-65535)")
    return int(text)


def is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def parse_target(text: str) -> PlainTarget:
    """``host``, ``user@host``, ``host:port``, ``user@host:port``, ``[v6]:port`` or a bare v6 address."""
    user: str | None = None
    rest = text
    if "@" in text:
        user, _, rest = text.partition("@")
        if not user or _NOT_IN_HOST.search(user) or ":" in user:
            raise ValueError(f"bad user in {text!r}")
    port: int | None = None
    if rest.startswith("["):
        inside, close, after = rest[1:].partition("]")
        if not close or not is_ipv6(inside):
            raise ValueError(f"{text!r}: brackets must hold an IPv6 address, as in [2001:db8::1]:22")
        host = inside
        if after:
            if not after.startswith(":"):
                raise ValueError(f"{text!r}: expected ':port' after ']'")
            port = parse_port(after[1:])
    elif rest.count(":") > 1:
        if not is_ipv6(rest):
            raise ValueError(f"{text!r} is not an IPv6 address (with a port, write [address]:port)")
        host = rest
    else:
        host, colon, port_text = rest.partition(":")
        if colon:
            port = parse_port(port_text)
    if not host or _NOT_IN_HOST.search(host):
        raise ValueError(f"{text!r} is not a host target (host, user@host, host:port or [v6]:port)")
    bracketed = f"[{host}]" if ":" in host else host
    name = host if port is None else f"{bracketed}:{port}"
    return PlainTarget(name=name, host=host, port=port, user=user)


def parse_hostpattern(text: str) -> tuple[list[str], int | None]:
    """An Ansible inventory host pattern: names (ranges expanded) and the ``:port`` if any.

    Accepts what Ansible's INI and YAML plugins accept: ``name``, ``name:port``,
    ``[v6]:port``, a bare IPv6 address, and ``[a:b]``/``[a:b:step]`` ranges.
    """
    if not text:
        raise ValueError("empty host name")
    if text.startswith("["):
        inside, _, after = text[1:].partition("]")
        if is_ipv6(inside) and (not after or after.startswith(":")):
            return [inside], (parse_port(after[1:]) if after else None)
    if "[" not in text and text.count(":") > 1:
        if not is_ipv6(text):
            raise ValueError(f"{text!r} is not an IPv6 address (with a port, write [address]:port)")
        return [text], None
    depth = 0
    split_at = -1
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
        elif ch == ":" and depth == 0:
            split_at = i
    port: int | None = None
    name = text
    if split_at >= 0:
        name, port = text[:split_at], parse_port(text[split_at + 1 :])
    if "@" in name:
        raise ValueError(f"{name!r}: user@host belongs in plain host lists; here write ansible_user=")
    names = expand_ranges(name)
    if any(not n for n in names):
        raise ValueError(f"{text!r}: empty host name")
    return names, port


def expand_ranges(name: str) -> list[str]:
    """Expand Ansible ranges: ``web[01:03]`` → web01, web02, web03; ``db-[a:c]``; ``[0:10:5]`` steps."""
    m = _RANGE.search(name)
    head = name if m is None else name[: m.start()]
    if "[" in head or "]" in head:
        raise ValueError(f"{name!r}: unbalanced brackets")
    if m is None:
        return [name]
    values = _range_values(m.group(1), name)
    tails = expand_ranges(name[m.end() :])
    if len(values) * len(tails) > MAX_RANGE_HOSTS:
        raise ValueError(f"{name!r} expands to more than {MAX_RANGE_HOSTS} hosts")
    return [head + v + t for v in values for t in tails]


def _range_values(spec: str, name: str) -> list[str]:
    parts = spec.split(":")
    if len(parts) not in (2, 3):
        raise ValueError(f"{name!r}: a range is [begin:end] or [begin:end:step]")
    begin, end = parts[0] or "0", parts[1]
    step_text = parts[2] if len(parts) == 3 else "1"
    if not end:
        raise ValueError(f"{name!r}: a range needs an end")
    if not _DIGITS.fullmatch(step_text) or int(step_text) == 0:
        raise ValueError(f"{name!r}: bad range step {step_text!r}")
    step = int(step_text)
    letters = string.ascii_letters
    if len(begin) == 1 and len(end) == 1 and begin in letters and end in letters:
        if letters.index(begin) > letters.index(end):
            raise ValueError(f"{name!r}: range begins after it ends")
        return list(letters[letters.index(begin) : letters.index(end) + 1 : step])
    if not (begin.isascii() and begin.isdigit() and end.isascii() and end.isdigit()):
        raise ValueError(f"{name!r}: range bounds must be numbers or single letters")
    if len(begin) > 9 or len(end) > 9:
        raise ValueError(f"{name!r}: range bounds too large")
    width = len(begin) if begin.startswith("0") and len(begin) > 1 else 0
    if width and len(end) != width:
        raise ValueError(f"{name!r}: zero-padded range bounds must have equal width")
    lo, hi = int(begin), int(end)
    if lo > hi:
        raise ValueError(f"{name!r}: range begins after it ends")
    if (hi - lo) // step + 1 > MAX_RANGE_HOSTS:
        raise ValueError(f"{name!r} expands to more than {MAX_RANGE_HOSTS} hosts")
    return [str(i).zfill(width) for i in range(lo, hi + 1, step)]
