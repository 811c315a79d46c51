"""Property tests for the /proc parsers: random and mutated input never escapes as an exception,
and every non-blank line is accounted for (a record, a header, or a warning)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.parsers import Parsed
from netdiag.parsers.counters import parse_counters
from netdiag.parsers.limits import parse_limits
from netdiag.parsers.proc_tcp import parse_proc_tcp
from netdiag.parsers.sockstat import parse_sockstat
from netdiag.parsers.sysctl import parse_sysctls

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 3500007F:0035 00000000:0000 0A 00000000:00000000 00:00000000 00000000   101        0 34000 1 0000000000000000 100 0 0 10 5
   3: 802AA8C0:D450 2104C798:01BB 08 00000000:00000052 02:00000A6F 00000000  1000        0 149098 2 0000000000000000 20 4 0 10 -1
   2: 1C00000A:97D0 412AF468:0050 06 00000000:00000000 03:000007C5 00000000     0        0 0 3 ffff8c7a12d31aa0
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   1: 4606012600F1019E000000004C3A0000:E700 0000000000000000FFFF0000070200C0:0050 01 00000000:00000000 01:00000015 00000002     0        0 77 1 ffff8c7a1c76d000 21 4 30 10 -1
"""  # noqa: E501 (kernel rows are long)

COUNTERS = """\
TcpExt: SyncookiesSent ListenOverflows ListenDrops TCPAbortOnTimeout
TcpExt: 0 17 17 3
Tcp: RtoAlgorithm MaxConn ActiveOpens
Tcp: 1 -1 18446744073709551617
"""

SOCKSTAT = """\
sockets: used 229
TCP: inuse 4 orphan 0 tw 4 alloc 17 mem 1
UDP: inuse 0
TCP6: inuse 17
FRAG: inuse 0 memory 0
"""

LIMITS = """\
Limit                     Soft Limit           Hard Limit           Units     
Max open files            1024                 4096                 files     
Max locked memory         18446744073708503040 18446744073708503040 bytes     
Max nice priority         0                    0                    
Max realtime timeout      unlimited            unlimited            us        
"""  # noqa: W291 (the kernel pads the Units column)

SYSCTLS = """\
/proc/sys/net/ipv4/tcp_fin_timeout:60
/proc/sys/net/ipv4/ip_local_port_range:32768\t60999
/proc/sys/net/core/somaxconn:4096
"""

CASES: list[tuple[Callable[[str], Parsed[Any]], str]] = [
    (parse_proc_tcp, TCP),
    (parse_counters, COUNTERS),
    (parse_sockstat, SOCKSTAT),
    (parse_limits, LIMITS),
    (parse_sysctls, SYSCTLS),
]
IDS = ["proc_tcp", "counters", "sockstat", "limits", "sysctls"]


def non_blank(text: str) -> int:
    return sum(1 for line in text.splitlines() if line.strip())


def check(parser: Callable[[str], Parsed[Any]], text: str) -> Parsed[Any]:
    parsed = parser(text)
    assert parsed.accounted == non_blank(text)
    assert len(parsed.records) + len(parsed.warnings) <= non_blank(text)
    n_lines = len(text.splitlines())
    assert all(1 <= w.line_no <= n_lines for w in parsed.warnings)
    return parsed


OPS = ["truncate", "replace", "drop_field", "dup_field", "dup_line", "drop_line"]


@st.composite
def mutated(draw: st.DrawFn, text: str) -> str:
    """The sample with a few lines truncated, chars replaced, fields dropped or lines shuffled."""
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        op = draw(
            st.sampled_from(["truncate", "replace", "drop_field", "dup_field", "dup_line", "drop_line"])
        )
        if op == "truncate":
            lines[i] = line[: draw(st.integers(0, len(line)))]
        elif op == "replace" and line:
            j = draw(st.integers(0, len(line) - 1))
            lines[i] = line[:j] + draw(st.characters(codec="utf-8")) + line[j + 1 :]
        elif op in ("drop_field", "dup_field"):
            fields = line.split()
            if fields:
                j = draw(st.integers(0, len(fields) - 1))
                fields[j : j + 1] = [] if op == "drop_field" else [fields[j], fields[j]]
                lines[i] = " ".join(fields)
        elif op == "dup_line":
            lines.insert(i, line)
        elif op == "drop_line" and len(lines) > 1:
            del lines[i]
    return "\n".join(lines) + draw(st.sampled_from(["", "\n", "\r\n"]))


@pytest.mark.parametrize(("parser", "sample"), CASES, ids=IDS)
def test_samples_parse_cleanly(parser: Callable[[str], Parsed[Any]], sample: str) -> None:
    """The seeds of the mutations are themselves clean, so a mutation is what makes a warning."""
    parsed = check(parser, sample)
    assert parsed.warnings == []
    assert parsed.records


@pytest.mark.parametrize(("parser", "sample"), CASES, ids=IDS)
@SETTINGS
@given(data=st.data())
def test_mutated_input(parser: Callable[[str], Parsed[Any]], sample: str, data: st.DataObject) -> None:
    check(parser, data.draw(mutated(sample)))


@pytest.mark.parametrize(("parser", "sample"), CASES, ids=IDS)
@SETTINGS
@given(text=st.text(st.characters(codec="utf-8"), max_size=400))
def test_random_text(parser: Callable[[str], Parsed[Any]], sample: str, text: str) -> None:
    check(parser, text)


ALPHABET = st.sampled_from([*"0123456789ABCDEFabcdef:.- \t\n/|xX", "TcpExt:", "unlimited", "sl ", "inode"])


@pytest.mark.parametrize(("parser", "sample"), CASES, ids=IDS)
@SETTINGS
@given(tokens=st.lists(ALPHABET, max_size=200))
def test_near_miss_text(parser: Callable[[str], Parsed[Any]], sample: str, tokens: list[str]) -> None:
    """Text made of the formats' own characters reaches deeper than arbitrary unicode."""
    check(parser, "".join(tokens))


@SETTINGS
@given(lines=st.lists(st.sampled_from(TCP.splitlines()), max_size=30))
def test_proc_tcp_any_mix_of_real_lines_is_all_records(lines: list[str]) -> None:
    parsed = check(parse_proc_tcp, "\n".join(lines))
    assert parsed.warnings == []
    assert len(parsed.records) == sum(1 for line in lines if not line.lstrip().startswith("sl"))
