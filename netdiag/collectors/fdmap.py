"""The ``fdmap`` section: which process holds which socket inode, from one ``ls -l /proc/*/fd``.

The script's awk reduces the listing to four line kinds::

    S PID FD:INODE...       the socket:[INODE] links at /proc/PID/fd/FD (the older
                            ``S PID FD INODE``, one link a line, is read too)
    P PID FDS SOCKETS       a process holding sockets: its open fd count
    E TEXT                  an ls/xargs message of no known kind
    V READABLE DENIED GONE  fd directories read, refused (other users'), vanished

The links are kept as three columns (inode, pid, fd): a run of one-link lines is
split into words in one call, a process's line in one. ``holders`` indexes them by
inode, so the join with the socket table is one dict lookup per socket, however many
sockets and processes there are.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from itertools import compress, repeat

from netdiag.model import Owner
from netdiag.parsers import Parsed

SOURCE = "fdmap"

# Any line but the older script's one link a line (``S PID FD INODE``, spelt as it prints it).
# The runs of lines between these are split into words in one call and read four at a time.
_OTHER = re.compile(r"^(?!S [0-9]+ [0-9]+ [0-9]+$).*$", re.M)
# The script's one line per process: ``S PID FD:INODE...``.
_PROCESS_LINKS = re.compile(r"S ([0-9]+)((?: [0-9]+:[0-9]+)+)")
# What str.splitlines() breaks lines at besides "\n" (the last three are not ASCII).
_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"
_WIDE_BREAKS = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_BLOCK = 1 << 20  # characters at a time: big enough to amortise the calls, small beside the columns


@dataclass(slots=True)
class FdMap:
    """The parsed section; ``counted`` is False when the summary line never came (cut short).

    ``inode``, ``pid`` and ``fd`` are columns: link ``i`` is ``/proc/pid[i]/fd/fd[i]``
    -> ``socket:[inode[i]]``, in the order listed.
    """

    inode: list[int] = field(default_factory=list)
    pid: list[int] = field(default_factory=list)
    fd: list[int] = field(default_factory=list)
    fd_counts: dict[int, int] = field(default_factory=dict)  # pid -> open fds (socket holders only)
    readable: int = 0
    denied: int = 0
    gone: int = 0
    counted: bool = False
    messages: list[str] = field(default_factory=list)

    def visibility(self, uid: int | None) -> str:
        """How much of the owner picture the collection saw.

        ``full``: every process's fds were read. ``own``: a non-root run, refused
        other users' processes. ``partial``: root (or an unknown uid) refused some
        all the same (an LSM, ptrace rules, another container's init). ``none``:
        nothing was readable, or the listing never finished.
        """
        if not self.counted or self.readable == 0:
            return "none"
        if not self.denied:
            return "full"
        return "own" if uid not in (0, None) else "partial"

    def holders(self, names: Mapping[int, str]) -> dict[int, tuple[Owner, ...]]:
        """inode -> its holders as ``Owner``s (named from ``names``), ordered by pid and fd.

        Built in C loops (``map``/``zip``); only inodes held more than once (a socket
        shared after fork, or passed) are gathered one by one.
        """
        index: dict[int, tuple[Owner, ...]] = dict(zip(self.inode, zip(self._owners(names)), strict=True))
        if len(index) < len(self.inode):
            shared = {inode for inode, n in Counter(self.inode).items() if n > 1}
            picked = list(map(shared.__contains__, self.inode))
            groups: dict[int, list[Owner]] = {}
            owners = self._owners(names, picked)
            for inode, owner in zip(compress(self.inode, picked), owners, strict=True):
                groups.setdefault(inode, []).append(owner)
            # a pid has one name, so Owners sort as (pid, fd) do
            index.update((inode, tuple(sorted(group))) for inode, group in groups.items())
        return index

    def _owners(self, names: Mapping[int, str], picked: list[bool] | None = None) -> Iterator[Owner]:
        """An ``Owner`` per link (per link ``picked``), made in a C loop."""
        pids = self.pid if picked is None else list(compress(self.pid, picked))
        fds: Iterable[int] = self.fd if picked is None else compress(self.fd, picked)
        return map(tuple.__new__, repeat(Owner), zip(pids, map(names.get, pids), fds, strict=True))


def parse_fdmap(text: str) -> tuple[FdMap, Parsed[None]]:
    """The map and a ``Parsed`` holding only the warnings and the count of lines dealt with."""
    fdmap = FdMap()
    out: Parsed[None] = Parsed()
    if any(c in text for c in _BREAKS) if text.isascii() else _WIDE_BREAKS.search(text):
        for line_no, line in enumerate(text.splitlines(), start=1):  # lines as splitlines() has them
            _line(fdmap, out, line_no, line)
        return fdmap, out
    ints: dict[int, int] = {}  # one int object per distinct pid or fd number, not one per link
    line_no = 1  # of the line at pos
    for start, end in _blocks(text):
        pos = start
        for m in _OTHER.finditer(text, start, end):
            line_no += _links(fdmap, out, text[pos : m.start()], ints)
            _other(fdmap, out, line_no, m[0], ints)
            line_no += 1
            pos = m.end() + 1
        if pos < end:  # the block ends with link lines
            line_no += _links(fdmap, out, text[pos:end], ints)
    return fdmap, out


def _links(fdmap: FdMap, out: Parsed[None], lines: str, ints: dict[int, int]) -> int:
    """Whole ``S PID FD INODE`` lines, in one ``split``: their links added; the count of lines."""
    words = lines.split()
    shared = ints.setdefault
    pids = list(map(int, words[1::4]))
    fds = list(map(int, words[2::4]))
    fdmap.pid += map(shared, pids, pids)
    fdmap.fd += map(shared, fds, fds)
    fdmap.inode += map(int, words[3::4])
    out.accounted += len(pids)
    return len(pids)


def _other(fdmap: FdMap, out: Parsed[None], line_no: int, line: str, ints: dict[int, int]) -> None:
    """A line of any other kind; the script's ``S PID FD:INODE...`` read without a Python loop."""
    m = _PROCESS_LINKS.fullmatch(line)
    if m is None:
        _line(fdmap, out, line_no, line)
        return
    pid = ints.setdefault(int(m[1]), int(m[1]))
    nums = list(map(int, m[2].replace(":", " ").split()))
    fds = nums[0::2]
    fdmap.pid += repeat(pid, len(fds))
    fdmap.fd += map(ints.setdefault, fds, fds)
    fdmap.inode += nums[1::2]
    out.accounted += 1


def _blocks(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` spans of whole lines, about ``_BLOCK`` characters each, ``end`` at a newline
    (or the end); the last may be empty."""
    spans = []
    pos, size = 0, len(text)
    while True:
        end = text.find("\n", min(pos + _BLOCK, size))
        if end < 0:
            end = size
        spans.append((pos, end))
        if end >= size:
            return spans
        pos = end + 1


def _line(fdmap: FdMap, out: Parsed[None], line_no: int, line: str) -> None:
    """One line of any spelling ``str.split()`` reads; a blank line is not counted."""
    f = line.split()
    if not f:
        return
    kind = f[0]
    if kind == "E":
        fdmap.messages.append(line[2:])
        out.accounted += 1
        return
    nums = record_ints(f[1:])
    if kind == "S" and nums is not None and len(nums) == 3:
        pid, fd, inode = nums
        fdmap.pid.append(pid)
        fdmap.fd.append(fd)
        fdmap.inode.append(inode)
    elif kind == "S" and (links := _words_links(f[1:])) is not None:
        pid = links[0]
        for fd, inode in links[1]:
            fdmap.pid.append(pid)
            fdmap.fd.append(fd)
            fdmap.inode.append(inode)
    elif kind == "P" and nums is not None and len(nums) == 3:
        fdmap.fd_counts[nums[0]] = nums[1]
    elif kind == "V" and nums is not None and len(nums) == 3:
        fdmap.readable, fdmap.denied, fdmap.gone = nums
        fdmap.counted = True
    else:
        out.warn(SOURCE, line_no, line, "not an fd map line (S/P/E/V)")
        return
    out.accounted += 1


def _words_links(words: list[str]) -> tuple[int, list[tuple[int, int]]] | None:
    """``PID FD:INODE...``, or None if any word is not of that shape."""
    if len(words) < 2 or not (words[0].isascii() and words[0].isdigit()):
        return None
    pairs = []
    for w in words[1:]:
        fd, sep, inode = w.partition(":")
        if not (sep and fd.isascii() and fd.isdigit() and inode.isascii() and inode.isdigit()):
            return None
        pairs.append((int(fd), int(inode)))
    return int(words[0]), pairs


def record_ints(words: list[str]) -> list[int] | None:
    """The words of a record as numbers, or None if any is not plain ASCII digits (a garbled line)."""
    if not all(w.isascii() and w.isdigit() for w in words):
        return None
    return [int(w) for w in words]
