"""Split the collection script's output into its named sections.

The format (ARCHITECTURE.md) is line based::

    ==netdiag== begin NAME
    <body, verbatim>
    ==netdiag== stderr NAME TEXT          (0..20 lines: the step's stderr)
    ==netdiag== end NAME status=S rc=N t=SECONDS cmd=WHAT RAN
    ...
    ==netdiag== done                      (the last line: the script finished)

The script writes one newline of its own before the lines that follow a body
(so a body without a final newline, like raw ``/proc/<pid>/cmdline`` data,
still ends before the marker); the reader drops one empty last body line.

Output cut short (a timeout, a dropped SSH channel) is read as far as it goes:
a section without its end marker is kept with ``complete=False`` and status
``truncated``; output without the ``done`` line, or ending mid-line, gets a
warning even when it stops between two sections; lines outside any section
become warnings. Nothing here raises on bad input.

Only the marker lines are visited: a body is a span of the output, not a copy
of its lines, so a million-socket ``sockets`` section costs nothing until its
parser reads it (in blocks, through ``Section.reader``). The output may be the
bytes a transport received: then only marker lines and the bodies read as text
are decoded (UTF-8, bad bytes replaced), never the whole output at once; as every
split falls after a newline, that is the text a whole decode would give.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import AnyStr

from netdiag.model import ParseWarning

MARK = "==netdiag== "
DONE = "==netdiag== done"
SOURCE = "script"

_END = re.compile(r"end (\S+) status=(\S+) rc=(-?\d+) t=(\d+(?:\.\d+)?) cmd=(.*)")
_NON_ASCII = re.compile(rb"[\x80-\xff]")


@dataclass(frozen=True, slots=True, eq=False)
class Section:
    """One source as the script printed it. ``line_no`` is the output line of its first body line.

    The body is ``source[start:end]`` (``end`` None: to the end): a span of the whole
    output (text, or the bytes received), so splitting never copies a big body. Read it
    as ``text`` (a copy, but for a whole text ``source``), or in blocks through ``reader()``.
    """

    name: str
    source: str | bytes = field(repr=False)
    status: str  # ok | missing | failed | denied | truncated (no end marker)
    command: str = ""
    rc: int | None = None
    seconds: float = 0.0
    stderr: tuple[str, ...] = ()
    line_no: int = 0
    start: int = 0
    end: int | None = None

    @property
    def complete(self) -> bool:
        return self.status != "truncated"

    @property
    def text(self) -> str:
        """The body (the source itself, not a copy, when the body is all of a text source)."""
        source = self.source
        if isinstance(source, bytes):
            return source[self.start : self.end].decode("utf-8", "replace")
        if self.start == 0 and self.end is None:
            return source
        return source[self.start : self.end]

    @property
    def size(self) -> int:
        """The body's text's length in UTF-8 bytes; for ASCII (the usual) without a copy."""
        source, end = self.source, self._stop()
        ascii_ = (
            source.isascii() if isinstance(source, str) else not _NON_ASCII.search(source, self.start, end)
        )
        return max(0, end - self.start) if ascii_ else len(self.text.encode("utf-8", "replace"))

    def reader(self) -> SpanReader | ByteSpanReader:
        """The body as a file-like text source, read in blocks (``parse_ss`` takes one)."""
        if isinstance(self.source, bytes):
            return ByteSpanReader(self.source, self.start, self._stop())
        return SpanReader(self.source, self.start, self._stop())

    def _stop(self) -> int:
        return len(self.source) if self.end is None else self.end

    def with_text(self, text: str) -> Section:
        """The same section with another body (a part of it, filtered)."""
        return replace(self, source=text, start=0, end=None)

    def _view(self) -> tuple[object, ...]:
        text = self.text
        return (self.name, text, self.status, self.command, self.rc, self.seconds, self.stderr, self.line_no)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Section):
            return NotImplemented
        return self._view() == other._view()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        text = self.text
        shown = text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"
        return f"Section({self.name!r}, {shown!r}, {self.status!r}, {self.command!r}, line_no={self.line_no})"


class SpanReader:
    """``read(size)`` over ``text[start:end]``: one block copied at a time, never the whole span."""

    __slots__ = ("_end", "_pos", "_text")

    def __init__(self, text: str, start: int, end: int) -> None:
        self._text = text
        self._pos = start
        self._end = end

    def read(self, size: int = -1, /) -> str:
        stop = self._end if size < 0 else min(self._end, self._pos + size)
        if stop <= self._pos:
            return ""
        block = self._text[self._pos : stop]
        self._pos = stop
        return block


class ByteSpanReader:
    """``read(size)`` over ``data[start:end]`` decoded as UTF-8 (bad bytes replaced), a block at a time:
    a character cut by a block's end is decoded with the next block, as a whole decode would."""

    __slots__ = ("_data", "_decoder", "_end", "_pos")

    def __init__(self, data: bytes, start: int, end: int) -> None:
        self._data = data
        self._pos = start
        self._end = end
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")

    def read(self, size: int = -1, /) -> str:
        while self._pos < self._end:
            stop = self._end if size < 0 else min(self._end, self._pos + max(size, 1))
            text = self._decoder.decode(self._data[self._pos : stop], final=stop >= self._end)
            self._pos = stop
            if text:
                return text
        return ""


@dataclass(slots=True)
class _Open:
    """A section being read: its body is the spans ``(start, end)`` of the output between its markers."""

    name: str
    line_no: int
    spans: list[tuple[int, int]]
    stderr: list[str]

    def close(
        self,
        text: str | bytes,
        status: str,
        command: str = "",
        rc: int | None = None,
        seconds: float = 0.0,
        *,
        drop: bool | None = None,
    ) -> Section:
        """The script's own newline before an end marker ends the body; without one, no line is dropped.

        ``drop`` (by default: unless truncated) drops an empty last line. Every span is
        of whole lines, each ending in a newline, so the body's last line is empty
        exactly when the last span ends in two newlines or is one.
        """
        spans = [(a, b) for a, b in self.spans if b > a]
        nl: str | bytes = "\n" if isinstance(text, str) else b"\n"
        if (status != "truncated" if drop is None else drop) and spans:
            a, b = spans[-1]
            if text[b - 1 : b] == nl and (b - a == 1 or text[b - 2 : b - 1] == nl):
                spans[-1] = (a, b - 1)
        meta = (status, command, rc, seconds, tuple(self.stderr), self.line_no)
        if not spans:
            return Section(self.name, "", *meta)
        if len(spans) == 1:
            return Section(self.name, text, *meta, start=spans[0][0], end=spans[0][1])
        body = (
            "".join(text[a:b] for a, b in spans)
            if isinstance(text, str)
            else b"".join(text[a:b] for a, b in spans)
        )
        return Section(self.name, body, *meta)


def split_sections(output: str | bytes) -> tuple[list[Section], list[ParseWarning]]:
    """Sections in output order (a name may repeat: each ``sockets`` attempt is one), and warnings.

    Lines are numbered as ``text.split("\\n")`` numbers them. Bytes are read as UTF-8.
    """
    if isinstance(output, bytes):
        return _split(output, b"\n", MARK.encode(), _utf8)
    return _split(output, "\n", MARK, str)


def _utf8(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def _split(
    text: AnyStr, nl: AnyStr, marker: AnyStr, decode: Callable[[AnyStr], str]
) -> tuple[list[Section], list[ParseWarning]]:
    sections: list[Section] = []
    warnings: list[ParseWarning] = []
    current: _Open | None = None
    done = False
    size = len(text)
    pos = 0  # the first character not yet read: always at the start of a line
    line_no = 1  # the number of the line starting at pos
    next_mark = nl + marker
    mark = _find_mark(text, 0, marker, next_mark)
    while mark >= 0:
        # text[pos:mark] is whole lines, none a marker: a body's, or stray ones
        if current is not None:
            current.spans.append((pos, mark))
        elif mark > pos:
            warnings.extend(_stray(decode(text[pos:mark]), line_no))
        line_no += text.count(nl, pos, mark)
        eol = text.find(nl, mark)
        line = decode(text[mark:] if eol < 0 else text[mark:eol])
        pos = size if eol < 0 else eol + 1
        if line == DONE and current is None:
            done = True
        else:
            verb, _, rest = line[len(MARK) :].partition(" ")
            if verb == "begin" and rest and " " not in rest:
                if current is not None:
                    sections.append(current.close(text, "truncated"))
                    warnings.append(_cut(current, line_no, line))
                current = _Open(rest, line_no + 1, [], [])
            elif verb == "stderr" and current is not None and rest.partition(" ")[0] == current.name:
                current.stderr.append(rest.partition(" ")[2])
            elif (m := _END.fullmatch(line[len(MARK) :])) and current is not None and m[1] == current.name:
                sections.append(current.close(text, m[2], m[5], int(m[3]), float(m[4])))
                current = None
            else:
                warnings.append(ParseWarning(SOURCE, line_no, line[:500], "unexpected marker line"))
        if eol < 0:
            break
        line_no += 1
        mark = _find_mark(text, pos, marker, next_mark)
    last_no = line_no + text.count(nl, pos)  # the number of the output's last line
    last = text[text.rfind(nl) + 1 :]  # that line: empty when the output ends with a newline
    if current is not None:
        current.spans.append((pos, size))
        if not last:  # the output's final newline ends the body's last line
            tail = current.close(text, "truncated")
        elif size - len(last) >= pos:  # it stops inside a body line: that line ends the body all the same
            body = nl[:0].join(text[a:b] for a, b in current.spans) + nl
            current.spans = [(0, len(body))]
            tail = current.close(body, "truncated")
        else:  # it stops inside a marker line: the body ended before it, as a body does
            tail = current.close(text, "truncated", drop=True)
    elif pos < size:
        warnings.extend(_stray(decode(text[pos:]), line_no))
    if last:
        warnings.append(ParseWarning(SOURCE, last_no, decode(last)[:500], "output ends mid-line"))
    elif not done and current is None:
        warnings.append(ParseWarning(SOURCE, last_no, "", "output ends before the script's done line"))
    if current is not None:
        sections.append(tail)
        warnings.append(_cut(current, None, None))
    return sections, warnings


def _find_mark(text: AnyStr, pos: int, marker: AnyStr, next_mark: AnyStr) -> int:
    """The start of the first marker line at or after ``pos`` (itself a line start), or -1."""
    if text.startswith(marker, pos):
        return pos
    found = text.find(next_mark, pos)
    return found + 1 if found >= 0 else -1


def _stray(lines: str, line_no: int) -> list[ParseWarning]:
    """Warnings for the non-blank lines of ``lines`` (outside any section), the first numbered ``line_no``."""
    return [
        ParseWarning(SOURCE, line_no + i, line[:500], "output outside any section")
        for i, line in enumerate(lines.split("\n"))
        if line.strip()
    ]


def _cut(section: _Open, line_no: int | None, line: str | None) -> ParseWarning:
    if line_no is None or line is None:
        return ParseWarning(
            SOURCE, section.line_no - 1, f"begin {section.name}", "output ends inside this section"
        )
    return ParseWarning(SOURCE, line_no, line[:500], f"section {section.name} has no end marker")
