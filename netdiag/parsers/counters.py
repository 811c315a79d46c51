"""``/proc/net/netstat`` and ``/proc/net/snmp``: kernel counters since boot.

Both files are pairs of lines per group, a header of names and a line of
values with the same ``Group:`` prefix::

    TcpExt: SyncookiesSent ListenOverflows ...
    TcpExt: 0 17 ...

The set of names drifts with every kernel (TcpExt has had 84 to 145 fields),
so the names are read from the header, never assumed. A pair whose counts
disagree is reported on both lines rather than guessed at, because a shifted
``ListenOverflows`` would make a rule fire on the wrong number. Values stay
Python ints: they can exceed 64 bits in edited captures and be negative
(``Tcp: MaxConn -1``). A group may appear in several pairs (``IcmpMsg`` wraps
every 16 names); each pair is its own record.
"""

from __future__ import annotations

from netdiag.parsers import Parsed

SOURCE = "counters"

Counters = tuple[str, dict[str, int]]


def parse_counters(text: str) -> Parsed[Counters]:
    """Header/value line pairs to ``(group, {name: value})`` records."""
    out: Parsed[Counters] = Parsed()
    # the header waiting for its values: (line_no, raw line, group, names)
    pending: tuple[int, str, str, list[str]] | None = None
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        group = f[0][:-1]
        if not f[0].endswith(":") or not group.isidentifier():
            out.warn(SOURCE, line_no, line, "not a 'Group: ...' counter line")
            continue
        rest = f[1:]
        is_values = all(_is_int(t) for t in rest)
        if pending is not None and pending[2] == group and is_values:
            h_no, h_line, _, names = pending
            pending = None
            if len(names) != len(rest):
                why = f"{group} header line {h_no} has {len(names)} names, value line {line_no} has"
                out.warn(SOURCE, h_no, h_line, f"{why} {len(rest)} values")
                out.warn(SOURCE, line_no, line, f"{why} {len(rest)} values")
                continue
            out.records.append((group, {n: int(v) for n, v in zip(names, rest, strict=True)}))
            out.accounted += 2
            continue
        if pending is not None:
            out.warn(SOURCE, pending[0], pending[1], f"{pending[2]} header without a value line")
            pending = None
        if is_values and rest:
            out.warn(SOURCE, line_no, line, f"{group} values without a header line")
        else:
            pending = (line_no, line, group, rest)
    if pending is not None:
        out.warn(SOURCE, pending[0], pending[1], f"{pending[2]} header without a value line")
    return out


def _is_int(text: str) -> bool:
    digits = text[1:] if text.startswith("-") else text
    return digits.isascii() and digits.isdigit()
