"""Parsers: pure functions from one source's text to typed records.

Each parser owns one known output format. A line it cannot read becomes a
``ParseWarning``; it never raises and never drops the other lines.
"""

from __future__ import annotations

from collections.abc import MutableSequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from netdiag.model import ParseWarning

T = TypeVar("T")


@dataclass(slots=True)
class Parsed(Generic[T]):
    """A parser's result.

    ``accounted`` counts the non-blank input lines the parser dealt with: made
    into (part of) a record, recognised as a header or a row of no interest
    (another protocol), or reported as a warning. It always equals the number of
    non-blank input lines; the property tests hold every parser to that.
    """

    records: MutableSequence[T] = field(default_factory=list)  # ss: a SocketTable
    warnings: list[ParseWarning] = field(default_factory=list)
    accounted: int = 0

    def warn(self, source: str, line_no: int, text: str, reason: str) -> None:
        self.warnings.append(ParseWarning(source, line_no, text[:500], reason))
        self.accounted += 1
