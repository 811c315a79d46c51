"""``/proc/<pid>/limits``: a process's resource limits, for its RLIMIT_NOFILE.

The kernel prints fixed-width columns (``%-25s %-20s %-20s %-10s``), but a
value of 20 digits fills its column and leaves one space, and the Units
column is empty for the priority rows, so a row is read from the right:
optional units, hard, soft, and the rest is the name.
"""

from __future__ import annotations

from dataclasses import dataclass

from netdiag.parsers import Parsed

SOURCE = "limits"

NOFILE = "Max open files"


@dataclass(frozen=True, slots=True)
class Limit:
    """One row; ``soft``/``hard`` None means ``unlimited``."""

    name: str
    soft: int | None
    hard: int | None
    units: str


def parse_limits(text: str) -> Parsed[Limit]:
    """Rows of /proc/<pid>/limits; the column header is accounted, anything else warned."""
    out: Parsed[Limit] = Parsed()
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        if f[0] == "Limit" and "Soft" in f:
            out.accounted += 1
            continue
        units = "" if _is_value(f[-1]) else f[-1]
        values = f[-3:-1] if units else f[-2:]
        name = " ".join(f[: len(f) - len(values) - (1 if units else 0)])
        if len(values) != 2 or not name or not all(_is_value(v) for v in values):
            out.warn(SOURCE, line_no, line, "not a 'NAME SOFT HARD [UNITS]' limits row")
            continue
        soft, hard = (None if v == "unlimited" else int(v) for v in values)
        out.records.append(Limit(name, soft, hard, units))
        out.accounted += 1
    return out


def nofile(parsed: Parsed[Limit]) -> tuple[int | None, int | None] | None:
    """(soft, hard) of "Max open files"; None when the row is absent (not when unlimited)."""
    for limit in parsed.records:
        if limit.name == NOFILE:
            return limit.soft, limit.hard
    return None


def _is_value(text: str) -> bool:
    return text == "unlimited" or (text.isascii() and text.isdigit())
