"""``/proc/net/sockstat`` and ``sockstat6``: socket counts per protocol.

Every line is a label and name/value pairs (``TCP: inuse 5 orphan 0 tw 2
alloc 7 mem 1``). The pairs are read as they come rather than by position,
because the set differs by kernel (RHEL 4 has ``UDP: inuse 0`` without
``mem``) and by file (``TCP6: inuse 17``).
"""

from __future__ import annotations

from netdiag.parsers import Parsed

SOURCE = "sockstat"

Counts = tuple[str, dict[str, int]]


def parse_sockstat(text: str) -> Parsed[Counts]:
    """``LABEL: name value ...`` lines to ``(label, {name: value})`` records."""
    out: Parsed[Counts] = Parsed()
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        label = f[0][:-1]
        if not f[0].endswith(":") or not label.isidentifier():
            out.warn(SOURCE, line_no, line, "not a 'LABEL: name value ...' line")
            continue
        pairs = f[1:]
        if not pairs or len(pairs) % 2:
            out.warn(SOURCE, line_no, line, "expected name/value pairs after the label")
            continue
        names, values = pairs[0::2], pairs[1::2]
        if not all(n.isidentifier() for n in names) or not all(v.isascii() and v.isdigit() for v in values):
            out.warn(SOURCE, line_no, line, "expected name/value pairs with decimal values")
            continue
        out.records.append((label, {n: int(v) for n, v in zip(names, values, strict=True)}))
        out.accounted += 1
    return out
