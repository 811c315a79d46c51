"""The fd map read a block at a time by one regex equals the plain line-by-line reading, and its
inode index gives each socket's holders sorted by pid and fd."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.collectors import fdmap as fdmap_module
from netdiag.collectors.fdmap import FdMap, parse_fdmap
from netdiag.model import Owner

Reading = tuple[
    dict[int, list[tuple[int, int]]], dict[int, int], list[str], tuple[int, int, int, bool], list[object]
]


def line_by_line(text: str) -> tuple[Reading, int]:
    """The reading the fast path must equal: every line split on whitespace, as the map was first read."""
    owners: dict[int, list[tuple[int, int]]] = {}
    counts: dict[int, int] = {}
    messages: list[str] = []
    summary = (0, 0, 0, False)
    warnings: list[object] = []
    accounted = 0
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        accounted += 1
        nums = [int(w) for w in f[1:]] if all(w.isascii() and w.isdigit() for w in f[1:]) else None
        pairs = [w.partition(":") for w in f[2:]]
        links = len(f) > 2 and all(
            s and a.isascii() and a.isdigit() and b.isascii() and b.isdigit() for a, s, b in pairs
        )
        if f[0] == "E":
            messages.append(line[2:])
        elif f[0] == "S" and nums is not None and len(nums) == 3:
            owners.setdefault(nums[2], []).append((nums[0], nums[1]))
        elif f[0] == "S" and links and f[1].isascii() and f[1].isdigit():
            for a, _, b in pairs:
                owners.setdefault(int(b), []).append((int(f[1]), int(a)))
        elif f[0] == "P" and nums is not None and len(nums) == 3:
            counts[nums[0]] = nums[1]
        elif f[0] == "V" and nums is not None and len(nums) == 3:
            summary = (nums[0], nums[1], nums[2], True)
        else:
            warnings.append((line_no, line[:500]))
    return ({k: sorted(v) for k, v in owners.items()}, counts, messages, summary, warnings), accounted


def reading(fdmap: FdMap, warnings: list[object]) -> Reading:
    owners: dict[int, list[tuple[int, int]]] = {}
    for inode, pid, fd in zip(fdmap.inode, fdmap.pid, fdmap.fd, strict=True):
        owners.setdefault(inode, []).append((pid, fd))
    summary = (fdmap.readable, fdmap.denied, fdmap.gone, fdmap.counted)
    return {k: sorted(v) for k, v in owners.items()}, fdmap.fd_counts, fdmap.messages, summary, warnings


LINES = st.one_of(
    st.builds("S {} {} {}".format, st.integers(1, 40), st.integers(0, 9), st.integers(0, 30)),
    st.lists(st.builds("{}:{}".format, st.integers(0, 9), st.integers(0, 30)), min_size=1, max_size=4).map(
        lambda links: "S 7 " + " ".join(links)
    ),
    st.builds("P {} {} {}".format, st.integers(1, 40), st.integers(0, 99), st.integers(0, 9)),
    st.sampled_from(
        ["V 50 2 1", "E ls: odd", "", "  ", "S 1 2", "S 1 2:x", "S\t1\t2\t3", " S 1 2 3", "S 1 2 3 "]
    ),
    st.sampled_from(["S 1 2:3 4", "S 1 ２ 3", "P 1 2", "x", "S 1 2 3\r", "\x0c", "S 1 2:3\u2028P 1 2 3"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(LINES, max_size=30), st.booleans())
def test_fast_reading_equals_line_by_line(lines: list[str], final_newline: bool) -> None:
    text = "\n".join(lines) + ("\n" if final_newline else "")
    fdmap, parsed = parse_fdmap(text)
    warnings: list[object] = [(w.line_no, w.text) for w in parsed.warnings]
    expected, accounted = line_by_line(text)
    assert reading(fdmap, warnings) == expected
    assert parsed.accounted == accounted == len([x for x in text.splitlines() if x.strip()])


def test_blocks_keep_line_numbers_and_every_link() -> None:
    """A map longer than a block: links on both sides of each block boundary, a bad line numbered right."""
    lines = [f"S {1000 + i % 7} {10 + i} {500000 + i}" for i in range(70_000)]
    lines[25_000] = "S 1000 garbled"
    lines.insert(30_000, "S 42 " + " ".join(f"{fd}:{900000 + fd}" for fd in range(3, 2000)))
    text = "\n".join(lines) + "\n"
    assert len(text) > fdmap_module._BLOCK
    fdmap, parsed = parse_fdmap(text)
    assert [(w.line_no, w.text) for w in parsed.warnings] == [(25_001, "S 1000 garbled")]
    assert len(fdmap.inode) == 70_000 - 1 + (2000 - 3)
    assert (fdmap.inode[0], fdmap.pid[0], fdmap.fd[0]) == (500000, 1000, 10)
    held = fdmap.holders({42: "app"})
    assert held[901999] == (Owner(42, "app", 1999),)
    assert held[569_999] == (Owner(1000 + 69_999 % 7, None, 10 + 69_999),)


def test_holders_sorted_by_pid_and_fd_when_shared() -> None:
    text = "S 30 4 100\nS 10 9 100\nS 10 5 100\nS 20 3 101\nS 10 5:100 102:103\n"
    fdmap, _ = parse_fdmap(text)
    held = fdmap.holders({10: "nginx", 30: "worker"})
    assert held == {
        100: (Owner(10, "nginx", 5), Owner(10, "nginx", 5), Owner(10, "nginx", 9), Owner(30, "worker", 4)),
        101: (Owner(20, None, 3),),
        103: (Owner(10, "nginx", 102),),
    }
