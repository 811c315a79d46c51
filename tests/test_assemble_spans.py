"""Sections as spans of the output, and the owner join over the table's columns: the same
sections, sockets and owners as the plain line-by-line reading and row-by-row join."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from netdiag.collectors.assemble import _join_owners, assemble, assemble_all
from netdiag.collectors.sections import DONE, MARK, Section, split_sections
from netdiag.model import HostInfo, Owner, ParseWarning, Snapshot, SocketTable, TcpState

HOST = HostInfo("web1", "10.0.0.1")


def line_by_line(text: str) -> tuple[list[tuple[object, ...]], list[ParseWarning]]:
    """The splitting the span reader must equal: every line visited, bodies joined from their lines."""
    sections: list[tuple[object, ...]] = []
    warnings: list[ParseWarning] = []
    current: tuple[str, int, list[str], list[str]] | None = None
    done = False

    def close(status: str, command: str = "", rc: int | None = None, seconds: float = 0.0) -> None:
        assert current is not None
        name, first, body, stderr = current
        if status != "truncated" and body and body[-1] == "":
            body = body[:-1]
        text = "".join(line + "\n" for line in body)
        sections.append((name, text, status, command, rc, seconds, tuple(stderr), first))

    lines = text.split("\n")
    for line_no, line in enumerate(lines, start=1):
        if line == DONE and current is None:
            done = True
        elif not line.startswith(MARK):
            if current is not None:
                current[2].append(line)
            elif line.strip():
                warnings.append(ParseWarning("script", line_no, line[:500], "output outside any section"))
        else:
            verb, _, rest = line[len(MARK) :].partition(" ")
            words = rest.split(" ")
            if verb == "begin" and rest and " " not in rest:
                if current is not None:
                    close("truncated")
                    warnings.append(
                        ParseWarning("script", line_no, line, f"section {current[0]} has no end marker")
                    )
                current = (rest, line_no + 1, [], [])
            elif verb == "stderr" and current is not None and words[0] == current[0]:
                current[3].append(rest.partition(" ")[2])
            elif (
                verb == "end"
                and current is not None
                and words[0] == current[0]
                and len(words) >= 5
                and words[1].startswith("status=")
                and words[2] == "rc=0"
                and words[3] == "t=1.5"
                and words[4].startswith("cmd=")
            ):
                close(words[1][7:], rest.partition(" cmd=")[2], 0, 1.5)
                current = None
            else:
                warnings.append(ParseWarning("script", line_no, line[:500], "unexpected marker line"))
    if lines[-1]:
        warnings.append(ParseWarning("script", len(lines), lines[-1][:500], "output ends mid-line"))
    elif not done and current is None:
        warnings.append(ParseWarning("script", len(lines), "", "output ends before the script's done line"))
    if current is not None:
        if current[2] and current[2][-1] == "":
            current[2].pop()
        close("truncated")
        warnings.append(
            ParseWarning("script", current[1] - 1, f"begin {current[0]}", "output ends inside this section")
        )
    return sections, warnings


MARKERS = ["begin a", "begin b", "end a status=ok rc=0 t=1.5 cmd=x y", "end b status=failed rc=0 t=1.5 cmd="]
MARKERS += ["stderr a oops", "stderr b", "odd"]
TOKENS = [MARK + m for m in MARKERS] + [DONE, "\n", "\n", "\n", "row", " ", "\r", "é", "==netdiag=="]


BYTES = [t.encode() for t in TOKENS] + [b"\xff", b"\xc3", b"\xa9", b"\xe2\x82", "\u20ac".encode()]


def _read_all(section: Section, size: int) -> str:
    reader, blocks = section.reader(), []
    while block := reader.read(size):
        blocks.append(block)
    return "".join(blocks)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=40))
def test_spans_equal_the_line_by_line_reading(tokens: list[str]) -> None:
    text = "".join(tokens)
    sections, warnings = split_sections(text)
    got = [(s.name, s.text, s.status, s.command, s.rc, s.seconds, s.stderr, s.line_no) for s in sections]
    assert (got, warnings) == line_by_line(text)
    for s in sections:
        assert s.size == len(s.text.encode("utf-8"))
        assert _read_all(s, 3) == s.text


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(BYTES), max_size=40), st.integers(1, 5))
def test_bytes_split_as_their_whole_decode(tokens: list[bytes], block: int) -> None:
    """Bytes (bad ones too) are decoded a marker line, a body or a block at a time: the same text."""
    data = b"".join(tokens)
    text = data.decode("utf-8", "replace")
    sections, warnings = split_sections(data)
    got = [(s.name, s.text, s.status, s.command, s.rc, s.seconds, s.stderr, s.line_no) for s in sections]
    assert (got, warnings) == line_by_line(text)
    for s in sections:
        assert s.size == len(s.text.encode("utf-8"))
        assert _read_all(s, block) == s.text


def test_a_big_body_is_a_span_of_the_output_not_a_copy() -> None:
    body = "".join(f"line {i}\n" for i in range(1000))
    text = f"{MARK}begin sockets\n{body}\n{MARK}end sockets status=ok rc=0 t=0.1 cmd=ss -tanoe\n{DONE}\n"
    [section], warnings = split_sections(text)
    assert warnings == []
    assert section.source is text and section.text == body
    assert section.size == len(body)
    assert section == Section("sockets", body, "ok", "ss -tanoe", 0, 0.1, (), 2)  # equal as what it reads


SS_HEAD = "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n"


def _output(rows: list[tuple[str, str]], fdmap: str, comm: str) -> str:
    ss = SS_HEAD + "".join(
        f"{st} 0 0 10.0.0.1:{80 + i} 10.0.0.9:{4000 + i} {x}\n" for i, (st, x) in enumerate(rows)
    )
    parts = [
        ("host", "hostname=h\nuid=0\n", "host"),
        ("sockets", ss, "ss -tanoe"),
        ("fdmap", fdmap, "ls|awk"),
    ]
    parts.append(("owners", comm, "grep"))
    framed = (f"{MARK}begin {n}\n{b}\n{MARK}end {n} status=ok rc=0 t=0.1 cmd={c}\n" for n, b, c in parts)
    return "".join(framed) + DONE + "\n"


def test_join_over_columns_equals_the_row_by_row_join() -> None:
    """Owners by inode (several holders sorted by pid and fd), ``ss -p`` owners kept where the fd map
    has none, inode 0 never joined; plain rows get the same owners as the table."""
    rows = [
        ("ESTAB", "ino:100"),
        ("CLOSE-WAIT", 'users:(("app",pid=7,fd=3)) ino:101'),
        ("ESTAB", "ino:102"),
        ("TIME-WAIT", "ino:0"),
        ("LISTEN", 'users:(("db",pid=9,fd=4)) ino:103'),
    ]
    fdmap = "S 20 5 100\nS 10 8 100\nS 10 6 100\nS 30 7 102\nS 40 2 0\nS 50 1 103\nP 10 9 2\nV 9 0 0\n"
    comm = "/proc/10/comm:nginx\n/proc/20/comm:worker\n/proc/50/comm:db2\n"
    snap = assemble(_output(rows, fdmap, comm), HOST)
    table = snap.sockets
    assert isinstance(table, SocketTable)
    owners = [s.owners for s in table]
    assert owners == [
        (Owner(10, "nginx", 6), Owner(10, "nginx", 8), Owner(20, "worker", 5)),
        (Owner(7, "app", 3),),  # ss -p's: the fd map has no link to 101
        (Owner(30, None, 7),),
        (),
        (Owner(50, "db2", 1),),  # the fd map's, over ss -p's
    ]
    assert [p.pid for p in snap.processes] == [7, 10, 20, 30, 50]  # every owner, ss -p's too
    assert len(table.owners) == 4  # rows with owners only
    assert Snapshot.from_dict(snap.to_dict()) == snap
    # the same sockets as plain rows (how netstat and /proc come): the same owners, row by row
    plain = tuple(s if s.owners[:1] == (Owner(7, "app", 3),) else s._replace(owners=()) for s in table)
    held = {100: owners[0], 102: owners[2], 103: owners[4]}
    assert [s.owners for s in _join_owners(plain, held)] == owners


def test_str_and_bytes_output_assemble_alike() -> None:
    """An ASCII str is used as it is; bytes and any other str are read as before (bad bytes replaced)."""
    text = _output([("CLOSE-WAIT", "ino:100")], "S 10 3 100\nV 1 0 0\n", "/proc/10/comm:caf\u00e9\n")
    raw = text.encode()
    last = text.count("\n") + 1  # a bad byte after the done line: a stray line, and one cut short
    cut = (
        ParseWarning("script", last, "\ufffd", "output outside any section"),
        ParseWarning("script", last, "\ufffd", "output ends mid-line"),
    )
    for output in (text, raw, raw + b"\xff", raw.decode("utf-8", "surrogateescape") + "\udcff"):
        root = assemble_all(output, HOST)[-1]
        bad = output in (raw + b"\xff", text + "\udcff")
        assert root.collection.bytes_received == len(raw) + bad
        assert root.collection.warnings == (cut if bad else ())
        owned = [(s.state, s.owners) for s in root.sockets]
        assert owned == [(TcpState.CLOSE_WAIT, (Owner(10, "caf\u00e9", 3),))]
        sockets = next(c for c in root.collection.commands if c.name == "sockets")
        assert sockets.bytes == len(SS_HEAD) + len("CLOSE-WAIT 0 0 10.0.0.1:80 10.0.0.9:4000 ino:100\n")


def test_a_cut_sockets_section_is_known_by_its_first_line_past_a_block() -> None:
    """A sockets attempt cut before its end marker names no command: its header tells the source,
    read only as far as the first non-blank line, here past the first 64 KiB block."""
    for lead in ("\n" * 65535, " \n" * 40000, "\n" * 65536):
        text = f"{MARK}begin sockets\n{lead}{SS_HEAD}CLOSE-WAIT 0 0 10.0.0.1:80 10.0.0.9:4000 ino:1\n"
        for output in (text, text.encode()):
            snap = assemble(output, HOST)
            assert snap.collection.socket_source == "ss"
            assert [s.state for s in snap.sockets] == [TcpState.CLOSE_WAIT]
