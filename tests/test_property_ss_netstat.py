"""Random and mutated input never escapes ``parse_ss``/``parse_netstat`` as an exception,
and every non-blank line is accounted for: a record, a known-ignored line, or a warning."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from netdiag.model import Socket, normalize_address
from netdiag.parsers import Parsed
from netdiag.parsers.endpoint import _canonical, parse_endpoint
from netdiag.parsers.netstat import parse_netstat
from netdiag.parsers.ss import parse_ss
from tests.corpus import CORPUS

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Parser = Callable[[str], Parsed[Socket]]
PARSERS: list[Parser] = [parse_ss, parse_netstat]


def _lines(*rels: str) -> list[str]:
    """Non-blank lines of corpus captures; a few hand-written ones when the corpus is absent."""
    out = [
        'ESTAB 0 0 10.0.0.1:22 10.0.0.2:5 users:(("a b",pid=1,fd=2)) timer:(keepalive,6.535ms,0) ino:7 <->',
        "tcp        0      0 10.0.0.1:22  10.0.0.2:5  ESTABLISHED 0 7 1/sshd: x  keepalive (70.54/0/0)",
    ]
    for rel in rels:
        path = CORPUS / rel
        if path.is_file():
            out += [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return out


SS_LINES = _lines(
    "pcp/qa/sockets/ss_noemitauOH_ubuntu.txt",
    "jc/generic/ss-wide.out",
    "insights-core/extracted/ss_-tulpn__Ss_TULPN.mixed.txt",
    "insights-core/extracted/ss_-tupna__SS_TUPNA_DOCS.txt",
    "telegraf/plugins/inputs/socketstat/testdata/tcp_traffic.txt",
    "datadog-integrations-core/network/tests/fixtures/ss_ipv6_tcp",
)
NETSTAT_LINES = _lines(
    "insights-core/extracted/netstat_-neopa__NETSTAT.txt",
    "insights-core/extracted/netstat_-neopa__NETSTAT_TEST_RUNNING_PROCESSES.edited.txt",
    "jc/ubuntu-18.04/netstat-sudo-aeep.out",
    "jc/ubuntu-18.04/netstat-sudo-lnp-space.out",
    "jc/freebsd12/netstat-an.out",
    "datadog-integrations-core/network/tests/fixtures/netstat",
)

# Characters and words the formats are made of, so random text hits the parsers' branches.
ALPHABET = st.sampled_from(list("tcpudLISTENESTAB-_:.[]%*()\",=/ 0123456789abcdefxyz\t\r\n"))
TOKENS = ALPHABET | st.sampled_from(
    ["tcp ", "tcp6 ", "ESTAB ", "LISTEN ", "Proto ", "Active Internet connections\n", "users:((",
     "timer:(", "ino:", "uid:", ",pid=", ",fd=", "Netid State\n", " off (0.00/0/0)", "/prog"]
)  # fmt: skip


def soup(max_tokens: int) -> st.SearchStrategy[str]:
    return st.lists(TOKENS, max_size=max_tokens).map("".join)


def _check(parse: Parser, text: str) -> None:
    parsed = parse(text)
    non_blank = sum(1 for line in text.splitlines() if line.strip())
    assert parsed.accounted == non_blank
    assert all(w.line_no >= 1 for w in parsed.warnings)
    assert len(parsed.records) <= non_blank


ACTIONS = ["keep", "truncate", "replace", "insert", "drop_column", "swap_columns"]


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> str:
    """A few real lines, each maybe truncated, with characters replaced or inserted, or columns dropped."""
    chosen = draw(st.lists(st.sampled_from(lines), min_size=1, max_size=8))
    out = []
    for line in chosen:
        action = draw(st.sampled_from(ACTIONS))
        if action == "truncate" and line:
            line = line[: draw(st.integers(0, len(line)))]
        elif action in ("replace", "insert") and line:
            at = draw(st.integers(0, len(line) - 1))
            ch = draw(st.characters(codec="utf-8") | TOKENS)
            line = line[:at] + ch + line[at + (action == "replace") :]
        elif action in ("drop_column", "swap_columns"):
            cols = line.split()
            if len(cols) > 1:
                i = draw(st.integers(0, len(cols) - 1))
                j = draw(st.integers(0, len(cols) - 1))
                if action == "drop_column":
                    del cols[i]
                else:
                    cols[i], cols[j] = cols[j], cols[i]
                line = "   ".join(cols)
        out.append(line)
    return "\n".join(out)


@SETTINGS
@given(soup(150))
def test_random_text_ss(text: str) -> None:
    _check(parse_ss, text)


@SETTINGS
@given(soup(150))
def test_random_text_netstat(text: str) -> None:
    _check(parse_netstat, text)


@SETTINGS
@given(st.text(max_size=300))
def test_arbitrary_unicode_both(text: str) -> None:
    for parse in PARSERS:
        _check(parse, text)


@SETTINGS
@given(mutated(SS_LINES))
def test_mutated_ss_lines(text: str) -> None:
    _check(parse_ss, text)


@SETTINGS
@given(mutated(NETSTAT_LINES))
def test_mutated_netstat_lines(text: str) -> None:
    _check(parse_netstat, text)


@SETTINGS
@given(mutated(SS_LINES + NETSTAT_LINES))
def test_each_parser_on_the_others_lines(text: str) -> None:
    for parse in PARSERS:
        _check(parse, text)


@SETTINGS
@given(soup(15))
def test_endpoint_never_raises(text: str) -> None:
    ep = parse_endpoint(text)
    assert ep is None or (ep.port is None or 0 <= ep.port <= 65535)


@SETTINGS
@given(st.binary(min_size=16, max_size=16), st.sampled_from(["compressed", "exploded", "upper", "ntop"]))
def test_fast_canonical_form_matches_normalize_address(packed: bytes, form: str) -> None:
    """The C round trip in the endpoint parser gives exactly ``normalize_address``'s text."""
    ip = ipaddress.IPv6Address(packed)
    text = {
        "compressed": ip.compressed,
        "exploded": ip.exploded,
        "upper": ip.compressed.upper(),
        "ntop": socket.inet_ntop(socket.AF_INET6, packed),
    }[form]
    assert _canonical(text) == normalize_address(text)


@SETTINGS
@given(st.integers(0, 2**32 - 1))
def test_fast_canonical_ipv4_matches_normalize_address(value: int) -> None:
    text = str(ipaddress.IPv4Address(value))
    assert _canonical(text) == normalize_address(text) == text
