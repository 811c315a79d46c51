"""The ``fdmap`` section: which process holds which socket inode, from one ``ls -l /proc/*/fd``.

The script's awk reduces the listing to four line kinds::

    S PID FD:INODE...       the socket:[INODE] links at /proc/PID/fd/FD (the older
                            ``S PID FD INODE``, one link a line, is read too)
    P PID FDS SOCKETS       a process holding sockets: its open fd count
    E TEXT                  an ls/xargs message of no known kind
    V READABLE DENIED GONE  fd directories read, refused (other users'), vanished

``owners`` is an index by inode so the join with the socket table is one dict
lookup per socket, however many sockets and processes there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netdiag.parsers import Parsed

SOURCE = "fdmap"


@dataclass(slots=True)
class FdMap:
    """The parsed section; ``counted`` is False when the summary line never came (cut short)."""

    owners: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # inode -> [(pid, fd)]
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


def parse_fdmap(text: str) -> tuple[FdMap, Parsed[None]]:
    """The map and a ``Parsed`` holding only the warnings and the count of lines dealt with."""
    fdmap = FdMap()
    out: Parsed[None] = Parsed()
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        kind = f[0]
        if kind == "E":
            fdmap.messages.append(line[2:])
            out.accounted += 1
            continue
        nums = record_ints(f[1:])
        if kind == "S" and nums is not None and len(nums) == 3:
            pid, fd, inode = nums
            fdmap.owners.setdefault(inode, []).append((pid, fd))
        elif kind == "S" and (links := _links(f[1:])) is not None:
            pid = links[0]
            for fd, inode in links[1]:
                fdmap.owners.setdefault(inode, []).append((pid, fd))
        elif kind == "P" and nums is not None and len(nums) == 3:
            fdmap.fd_counts[nums[0]] = nums[1]
        elif kind == "V" and nums is not None and len(nums) == 3:
            fdmap.readable, fdmap.denied, fdmap.gone = nums
            fdmap.counted = True
        else:
            out.warn(SOURCE, line_no, line, "not an fd map line (S/P/E/V)")
            continue
        out.accounted += 1
    return fdmap, out


def _links(words: list[str]) -> tuple[int, list[tuple[int, int]]] | None:
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
