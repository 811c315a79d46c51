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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from netdiag.model import ParseWarning

MARK = "==netdiag== "
DONE = "==netdiag== done"
SOURCE = "script"

_END = re.compile(r"end (\S+) status=(\S+) rc=(-?\d+) t=(\d+(?:\.\d+)?) cmd=(.*)")


@dataclass(frozen=True, slots=True)
class Section:
    """One source as the script printed it. ``line_no`` is the output line of its first body line."""

    name: str
    text: str
    status: str  # ok | missing | failed | denied | truncated (no end marker)
    command: str = ""
    rc: int | None = None
    seconds: float = 0.0
    stderr: tuple[str, ...] = ()
    line_no: int = 0

    @property
    def complete(self) -> bool:
        return self.status != "truncated"


@dataclass(slots=True)
class _Open:
    name: str
    line_no: int
    body: list[str]
    stderr: list[str]

    def close(self, status: str, command: str = "", rc: int | None = None, seconds: float = 0.0) -> Section:
        """The script's own newline before an end marker ends the body; without one, no line is dropped."""
        body = self.body
        if status != "truncated" and body and body[-1] == "":
            body = body[:-1]
        text = "".join(line + "\n" for line in body)
        return Section(self.name, text, status, command, rc, seconds, tuple(self.stderr), self.line_no)


def split_sections(text: str) -> tuple[list[Section], list[ParseWarning]]:
    """Sections in output order (a name may repeat: each ``sockets`` attempt is one), and warnings."""
    sections: list[Section] = []
    warnings: list[ParseWarning] = []
    current: _Open | None = None
    done = False
    lines = text.split("\n")
    for line_no, line in enumerate(lines, start=1):
        if line == DONE and current is None:
            done = True
            continue
        if not line.startswith(MARK):
            if current is not None:
                current.body.append(line)
            elif line.strip():
                warnings.append(ParseWarning(SOURCE, line_no, line[:500], "output outside any section"))
            continue
        verb, _, rest = line[len(MARK) :].partition(" ")
        if verb == "begin" and rest and " " not in rest:
            if current is not None:
                sections.append(current.close("truncated"))
                warnings.append(_cut(current, line_no, line))
            current = _Open(rest, line_no + 1, [], [])
        elif verb == "stderr" and current is not None and rest.partition(" ")[0] == current.name:
            current.stderr.append(rest.partition(" ")[2])
        elif (m := _END.fullmatch(line[len(MARK) :])) and current is not None and m[1] == current.name:
            sections.append(current.close(m[2], m[5], int(m[3]), float(m[4])))
            current = None
        else:
            warnings.append(ParseWarning(SOURCE, line_no, line[:500], "unexpected marker line"))
    if lines[-1]:
        warnings.append(ParseWarning(SOURCE, len(lines), lines[-1][:500], "output ends mid-line"))
    elif not done and current is None:
        warnings.append(ParseWarning(SOURCE, len(lines), "", "output ends before the script's done line"))
    if current is not None:
        if current.body and current.body[-1] == "":
            current.body.pop()  # the text's own final newline, not an empty line of the body
        sections.append(current.close("truncated"))
        warnings.append(_cut(current, None, None))
    return sections, warnings


def _cut(section: _Open, line_no: int | None, line: str | None) -> ParseWarning:
    if line_no is None or line is None:
        return ParseWarning(
            SOURCE, section.line_no - 1, f"begin {section.name}", "output ends inside this section"
        )
    return ParseWarning(SOURCE, line_no, line[:500], f"section {section.name} has no end marker")
