"""``parse_ss``'s block-at-a-time fast path gives exactly what reading line by line gives.

``parse_ss_lines`` is the reference (every line through the general reader); the
fast path must match it record for record, warning for warning (line numbers
included, as ``str.splitlines`` counts them), for text and for a file read in blocks.
"""

from __future__ import annotations

import io
import ipaddress
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.model import SocketTable
from netdiag.parsers import ss
from netdiag.parsers.endpoint import _canonical, canonical_many
from netdiag.parsers.ss import parse_ss, parse_ss_lines
from tests.test_property_ss_netstat import SS_LINES

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Rows of the shape the fast path takes, and near misses it must hand on.
FAST = [
    "ESTAB      0      0        192.168.1.20:44922        10.93.229.218:443   timer:(keepalive,4min16sec,0) "
    "uid:1002 ino:100378 sk:18f cgroup:/system.slice/nginx.service <->",
    "TIME-WAIT  0      0   [::ffff:10.0.0.1]:22849 [::ffff:10.101.152.151]:57602 "
    "timer:(timewait,42sec,0) ino:0 sk:1",
    "LISTEN     1      128                 [::]:22                 [::]:*     ino:100001 sk:1 <->",
    "LISTEN     0      4096            0.0.0.0:80              0.0.0.0:*     uid:33 ino:7",
    "CLOSE-WAIT 1      0         [2001:DB8:0::1]:443      [2001:db8::2]:5000",
    "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5 timer:(on,647ms,5)",
    "SYN-SENT 0 1 10.0.0.1:40000 10.0.0.9:80 timer:(on,1.178ms,2) uid:0 ino:0012",
    "ESTAB 0 0 10.0.0.1:22 10.0.0.2:65536 ino:1",  # port out of range: a warning
    "ESTAB 0 0 10.0.0.1:99999 10.0.0.2:5 ino:1",
    "BOGUS 0 0 10.0.0.1:22 10.0.0.2:5 ino:1",  # no such state: a warning
    "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5 timer:(on,xyz,0) ino:1",  # unreadable timer: a warning
    'ESTAB 0 0 123.456.78.90:1 *:* ino:5 users:(("a",pid=1,fd=2))',
    "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5 uid:7 ino: sk:1",
    "estab 0 0 010.0.0.1:22 1.2.3:5 ino:9",
    # Peers in brackets: paired or handed on; IPv4 in brackets reads as itself; odd IPv6 spellings.
    "ESTAB 0 0 10.0.0.1:22 [1.2.3.4]:5 ino:3",
    "ESTAB 0 0 10.0.0.1:22 1.2.3.4]:5 ino:3",
    "ESTAB 0 0 10.0.0.1:22 [1.2.3.4:5 ino:3",
    "ESTAB 0 0 [::1.2.3.4]:22 [::1.2.3.4]:5 ino:3",
    "ESTAB 0 0 [::ffff:0:0]:22 [0:0:0:0:0:ffff:102:304]:5 ino:3",
    "ESTAB 0 0 [1:2:3:4:5:6:7:8:9]:22 [:::]:5 ino:3",
    "UNCONN 0 0 *:* *:* ino:4",
    "\tcubic wscale:7,7 rto:204 timer:(keepalive,1sec,0) ino:44",
    "State Recv-Q Send-Q Local Address:Port Peer Address:Port",
]
BREAKS = st.sampled_from(["\n", "\n", "\r\n", "\r", "\x0c", "\x0c\n", "\x1c", "\u2028\n", "\n\n", " \n"])


@st.composite
def listings(draw: st.DrawFn) -> str:
    lines = draw(st.lists(st.sampled_from(FAST + SS_LINES), min_size=1, max_size=30))
    out = ""
    for line in lines:
        if draw(st.integers(0, 9)) == 0:  # a damaged copy
            at = draw(st.integers(0, len(line)))
            line = line[:at] + draw(st.sampled_from(["(", " ", "٣", ":", "]", "\r", "x"])) + line[at:]
        out += line + draw(BREAKS)
    return out if draw(st.booleans()) else out.rstrip("\n")


def _same(text: str) -> None:
    want = parse_ss_lines(text)
    for got in (parse_ss(text), parse_ss(io.StringIO(text))):
        assert got.records == want.records
        assert got.warnings == want.warnings
        assert got.accounted == want.accounted


@SETTINGS
@given(listings())
def test_fast_path_equals_line_by_line(text: str) -> None:
    _same(text)


@SETTINGS
@given(listings())
def test_block_boundaries_change_nothing(text: str) -> None:
    """Tiny blocks put a block edge inside every few lines, on both the str and the file path."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(ss, "_BLOCK", 7)
        _same(text)


def test_each_listed_row_alone_and_all_together() -> None:
    for line in FAST:
        _same(line)
    _same("\n".join(FAST))


def test_fast_rows_are_read_in_full() -> None:
    parsed = parse_ss("\n".join(FAST[:7]))
    assert parsed.warnings == [] and len(parsed.records) == 7
    listen = parsed.records[3]
    assert (listen.local.address, listen.local.port, listen.peer.port, listen.uid, listen.inode) == (
        "0.0.0.0", 80, None, 33, 7,
    )  # fmt: skip
    mapped, v6 = parsed.records[1], parsed.records[4]
    assert mapped.peer.address == "::ffff:10.101.152.151" and mapped.inode is None and mapped.uid is None
    assert v6.local.address == "2001:db8::1" and v6.timer is None and v6.inode is None
    assert parsed.records[6].inode == 12 and parsed.records[6].uid == 0


def test_fast_rows_keep_a_local_endpoint_per_row_as_columns() -> None:
    parsed = parse_ss("\n".join(FAST[:7]))
    table = parsed.records
    assert isinstance(table, SocketTable)
    assert list(table.local) == [s.local for s in parse_ss_lines("\n".join(FAST[:7])).records]
    assert table.local_address[1] == "::ffff:10.0.0.1" and table.local_port[1] == 22849


V6 = st.binary(min_size=16, max_size=16).map(lambda b: ipaddress.IPv6Address(b))
SPELLINGS = st.sampled_from(["compressed", "exploded", "upper", "ntop"])


@SETTINGS
@given(
    st.lists(st.tuples(V6, SPELLINGS), max_size=12),
    st.lists(st.sampled_from(["::ffff:1.2.3.4", "::1.2.3.4", ":::", "1:2"])),
)
def test_canonical_many_is_canonical_of_each(
    addresses: list[tuple[ipaddress.IPv6Address, str]], odd: list[str]
) -> None:
    """The bulk round trip gives ``_canonical``'s text for every spelling, IPv4-mapped and -compatible
    ones too, and text that is no address sends the lot the one-at-a-time way, with the same answer."""
    texts = [
        {
            "compressed": ip.compressed,
            "exploded": ip.exploded,
            "upper": ip.compressed.upper(),
            "ntop": socket.inet_ntop(socket.AF_INET6, ip.packed),
        }[form]
        for ip, form in addresses
    ]
    assert canonical_many(texts) == [_canonical(t) for t in texts]
    mixed = texts + odd
    assert canonical_many(mixed) == [_canonical(t) for t in mixed]
