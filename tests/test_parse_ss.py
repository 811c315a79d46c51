"""``parse_endpoint`` and ``parse_ss`` on hand-written text, one quirk per test."""

from __future__ import annotations

import pytest

from netdiag.model import Endpoint, Owner, Socket, TcpState, Timer
from netdiag.parsers.endpoint import parse_endpoint
from netdiag.parsers.ss import parse_ss, parse_ss_timer

HEADER = "State      Recv-Q Send-Q Local Address:Port  Peer Address:Port Process"


def one(text: str) -> Socket:
    """The single socket of a listing that must parse cleanly."""
    parsed = parse_ss(text)
    assert parsed.warnings == []
    assert len(parsed.records) == 1
    return parsed.records[0]


# -- endpoints ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.2.3.4:80", Endpoint("1.2.3.4", 80)),
        ("[::1]:80", Endpoint("::1", 80)),
        ("[::ffff:1.2.3.4]:80", Endpoint("::ffff:1.2.3.4", 80)),
        ("[2001:DB8:0:0::1]:443", Endpoint("2001:db8::1", 443)),
        ("*:80", Endpoint("*", 80)),
        ("*:*", Endpoint("*", None)),
        ("0.0.0.0:*", Endpoint("0.0.0.0", None)),
        ("[::]:*", Endpoint("::", None)),
        ("127.0.0.53%lo:53", Endpoint("127.0.0.53", 53, "lo")),
        ("0.0.0.0%virbr0:67", Endpoint("0.0.0.0", 67, "virbr0")),
        ("[fe80::1]%eth0:123", Endpoint("fe80::1", 123, "eth0")),
        ("*%ens33:ipv6-icmp", Endpoint("*", None, "ens33")),  # a protocol, not a service: no port
        (":::22", Endpoint("::", 22)),
        (":::*", Endpoint("::", None)),
        ("::1:25", Endpoint("::1", 25)),
        ("::ffff:127.0.0.1:7403", Endpoint("::ffff:127.0.0.1", 7403)),
        ("123.456.78.90:1", Endpoint("123.456.78.90", 1)),  # anonymised upstream: kept verbatim
        ("localhost.localdoma:ssh", Endpoint("localhost.localdoma", 22)),
        ("lb-192-30-255-112:https", Endpoint("lb-192-30-255-112", 443)),
        ("[::]:ssh", Endpoint("::", 22)),
        ("10.0.0.1:65535", Endpoint("10.0.0.1", 65535)),
    ],
)
def test_endpoint_forms(text: str, expected: Endpoint) -> None:
    assert parse_endpoint(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "*", "1.2.3.4", ":80", "1.2.3.4:", "[::1:80", "[::1]x:80", "[]:80", "1.2.3.4%:80", "a b:80",
     "1.2.3.4:65536", "1.2.3.4:-5", "(x):1", "[::1]%:80"],
)  # fmt: skip
def test_not_an_endpoint(text: str) -> None:
    assert parse_endpoint(text) is None


def test_unknown_service_name_leaves_the_port_empty() -> None:
    assert parse_endpoint("10.0.0.1:no-such-service-xyz") == Endpoint("10.0.0.1", None)


# -- timers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("6.535ms", 6.535),  # old iproute2: 1-9 s printed as <s>.<ms>ms (corpus quirk 1)
        ("1.178ms", 1.178),
        ("9.501sec", 9.501),  # the 2024 spelling of the same
        ("10sec", 10.0),
        ("46sec", 46.0),
        ("1min24sec", 84.0),
        ("4min20sec", 260.0),
        ("3min", 180.0),
        ("117min", 7020.0),
        ("024ms", 0.024),  # under a second: zero-padded milliseconds
        ("200ms", 0.2),
        ("", 0.0),  # print_ms_timer(0) prints nothing: timer:(keepalive,,0)
    ],
)
def test_timer_units(text: str, seconds: float) -> None:
    assert parse_ss_timer(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["soon", "1h", "5mins", "1.2.3ms", "ms"])
def test_unreadable_timer(text: str) -> None:
    assert parse_ss_timer(text) is None


@pytest.mark.parametrize(
    ("field", "timer"),
    [
        ("timer:(keepalive,6.535ms,0)", Timer("keepalive", 6.535, 0)),
        ("timer:(on,200ms,3)", Timer("on", 0.2, 3)),
        ("timer:(persist,1.500ms,0)", Timer("persist", 1.5, 0)),
        ("timer:(timewait,46sec,0)", Timer("timewait", 46.0, 0)),
    ],
)
def test_timer_field(field: str, timer: Timer) -> None:
    s = one(f"{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:50000 {field} ino:77 sk:1 <->")
    assert s.timer == timer


def test_unreadable_timer_field_warns_but_keeps_the_socket() -> None:
    parsed = parse_ss(f"{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:50000 timer:(keepalive,soon,0)")
    assert len(parsed.records) == 1 and parsed.records[0].timer is None
    (w,) = parsed.warnings
    assert w.line_no == 2 and "timer" in w.reason
    assert parsed.accounted == 2


# -- states, queues, columns ---------------------------------------------------


def test_states_the_corpus_lacks() -> None:
    text = "\n".join(
        [
            HEADER,
            "CLOSE-WAIT 1      0      127.0.0.1:5000      127.0.0.1:36613",
            "FIN-WAIT-2 0      0      10.0.0.1:41000      10.0.0.9:443 timer:(timewait,4.193ms,0) ino:0 sk:7",
            "LISTEN     129    128    0.0.0.0:8080        0.0.0.0:*",
            "SYN-SENT   0      1      10.0.0.1:41001      10.0.0.9:443   timer:(on,1.024ms,2)",
            "LAST-ACK   0      1      10.0.0.1:41002      10.0.0.9:443",
            "FIN-WAIT-1 0      1      10.0.0.1:41003      10.0.0.9:443",
            "SYN-RECV   0      0      10.0.0.1:8080       10.0.0.9:5000",
            "CLOSING    0      0      10.0.0.1:41004      10.0.0.9:443",
            "UNCONN     0      0      0.0.0.0:68          0.0.0.0:*",
        ]
    )
    parsed = parse_ss(text)
    assert parsed.warnings == []
    cw, fw2, listen, syn, last_ack, fw1, syn_recv, closing, unconn = parsed.records
    assert (cw.state, cw.recv_q, cw.send_q) == (TcpState.CLOSE_WAIT, 1, 0)
    assert fw2.state is TcpState.FIN_WAIT2
    assert fw2.timer == Timer("timewait", 4.193, 0)
    assert fw2.inode is None and fw2.uid is None  # ino:0: a minisocket, owned by nobody
    # a full accept queue: Recv-Q (queue) above Send-Q (backlog)
    assert (listen.state, listen.recv_q, listen.send_q) == (TcpState.LISTEN, 129, 128)
    assert syn.state is TcpState.SYN_SENT and syn.timer == Timer("on", 1.024, 2)
    assert [s.state for s in (last_ack, fw1, syn_recv, closing, unconn)] == [
        TcpState.LAST_ACK, TcpState.FIN_WAIT1, TcpState.SYN_RECV, TcpState.CLOSING, TcpState.CLOSE,
    ]  # fmt: skip


def test_netid_column_and_other_netids_are_accounted_not_warned() -> None:
    text = "\n".join(
        [
            "Netid  State      Recv-Q Send-Q Local Address:Port   Peer Address:Port",
            "nl     UNCONN     4352   0      tcpdiag:ss/25293     *",
            "u_str  ESTAB      0      0      /run/x.sock 123      * 124",
            "udp    UNCONN     0      0      0.0.0.0:68           0.0.0.0:*",
            "p_raw  UNCONN     0      0      LLDP:ens33           *",
            "v_str  ESTAB      0      0      999900439:1023       0:976",
            "tcp    ESTAB      0      0      10.0.0.1:22          10.0.0.2:50000",
        ]
    )
    parsed = parse_ss(text)
    assert parsed.warnings == []
    assert parsed.accounted == 7
    assert [s.local for s in parsed.records] == [Endpoint("10.0.0.1", 22)]


def test_headerless_and_concatenated_listings() -> None:
    text = "ESTAB 0 0 10.0.0.1:22 10.0.0.2:1\n" + HEADER + "\ntcp LISTEN 0 5 *:80 *:*\n"
    parsed = parse_ss(text)
    assert parsed.warnings == [] and parsed.accounted == 3
    assert [s.state for s in parsed.records] == [TcpState.ESTABLISHED, TcpState.LISTEN]


def test_glued_header_and_one_space_after_state() -> None:
    text = (
        "Netid State  Recv-Q Send-Q     Local Address:Port  Peer Address:PortProcess\n"
        "tcp   LISTEN 0      4096           127.0.0.1:2500       0.0.0.0:*    "
        'users:(("stunnel4",pid=1552,fd=9)) ino:30742 sk:7d cgroup:/system.slice/stunnel4.service <->'
        + " " * 40
    )
    s = one(text)
    assert (s.state, s.recv_q, s.send_q, s.local, s.inode) == (
        TcpState.LISTEN, 0, 4096, Endpoint("127.0.0.1", 2500), 30742,
    )  # fmt: skip
    assert s.owners == (Owner(1552, "stunnel4", 9),)


def test_misaligned_columns() -> None:
    text = (
        "Netid  State      Recv-Q Send-Q Local Address:Port               Peer Address:Port\n"
        "tcp    LISTEN     0      128                *:111                   *:*\n"
        "tcp   ESTAB      0      0      192.168.31.148:38746    104.74.50.85:443\n"
    )
    parsed = parse_ss(text)
    assert parsed.warnings == []
    assert [str(s.peer) for s in parsed.records] == ["*:*", "104.74.50.85:443"]


def test_one_line_mode_with_tcp_info() -> None:
    s = one(
        "Netid State  Recv-Q Send-Q Local Address:Port  Peer Address:Port  Process\n"
        "tcp ESTAB   0       0     192.168.122.245:22      192.168.122.1:53818  timer:(keepalive,35min,0) "
        "ino:974516 sk:24 <-> skmem:(r0,rb131072,t0,tb87040,f0,w0,o0,bl0,d0) ts sack cubic wscale:7,7 "
        "rto:204 rtt:3.14/6.003 ato:40 mss:1448 pmtu:1500 rcvmss:1448 minrtt:0.1"
    )
    assert s.timer == Timer("keepalive", 2100.0, 0)
    assert (s.inode, s.uid) == (974516, 0)  # -e omits uid: when it is 0


@pytest.mark.parametrize("indent", ["\t", " " * 8])
def test_info_continuation_lines_are_accounted_with_their_row(indent: str) -> None:
    text = "\n".join(
        [
            HEADER,
            "ESTAB 0 0 192.168.1.21:6514 192.168.1.21:443",
            f"{indent}cubic wscale:7,7 rto:204 rtt:0.057/0.033 send 32247.0Mbps minrtt:0.01",
            "ESTAB 0 0 192.168.1.21:6515 192.168.1.21:443",
            f"{indent}cubic wscale:7,7 rto:204",
        ]
    )
    parsed = parse_ss(text)
    assert parsed.warnings == [] and len(parsed.records) == 2 and parsed.accounted == 5


def test_continuation_line_can_carry_fields() -> None:
    row = "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5"
    text = f'{HEADER}\n{row}\n\tusers:(("sshd",pid=7,fd=3)) timer:(on,200ms,1) ino:9'
    s = one(text)
    assert s.owners == (Owner(7, "sshd", 3),) and s.timer == Timer("on", 0.2, 1) and s.inode == 9


def test_continuation_of_another_netid_is_ignored() -> None:
    text = "Netid State Recv-Q Send-Q Local Address:Port Peer Address:Port\nudp UNCONN 0 0 *:68 *:*\n\tino:5"
    parsed = parse_ss(text)
    assert parsed.records == [] and parsed.warnings == [] and parsed.accounted == 3


def test_indented_line_with_nothing_above_warns() -> None:
    parsed = parse_ss(f"{HEADER}\n\tcubic rto:204")
    assert [(w.line_no, w.reason) for w in parsed.warnings] == [
        (2, "indented line with no socket row before it")
    ]


def test_extended_fields() -> None:
    s = one(
        f"{HEADER}\nLISTEN 0 4096 [::]:5355 [::]:* uid:193 ino:28403 sk:67 "
        "cgroup:/system.slice/systemd-resolved.service v6only:1 <->"
    )
    assert (s.uid, s.inode, s.local, s.peer) == (193, 28403, Endpoint("::", 5355), Endpoint("::", None))


def test_no_extended_fields_means_no_uid_or_inode() -> None:
    s = one(f"{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:5")
    assert (s.uid, s.inode, s.timer, s.owners) == (None, None, None, ())


# -- owners ---------------------------------------------------------------------


def test_several_owners_new_format() -> None:
    s = one(f'{HEADER}\nLISTEN 0 511 *:80 *:* users:(("nginx",pid=8,fd=12),("x",pid=9,fd=3))')
    assert s.owners == (Owner(8, "nginx", 12), Owner(9, "x", 3))


def test_old_owner_format_without_keys() -> None:
    s = one(f'{HEADER}\nLISTEN 0 128 *:22 *:* users:(("sshd",1231,3),("sshd",1232,4))')
    assert s.owners == (Owner(1231, "sshd", 3), Owner(1232, "sshd", 4))


@pytest.mark.parametrize(
    "name",
    ["my app", 'say "hi"', "a,b", "x(y)", "odd), (", '",pid=1', "sshd: core [pr", "/usr/sbin/apach"],
)
def test_owner_names_with_spaces_quotes_commas_parentheses(name: str) -> None:
    users = f'users:(("{name}",pid=42,fd=7),("b",pid=43,fd=8))'
    s = one(f"{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:5 {users} ino:99")
    assert s.owners == (Owner(42, name, 7), Owner(43, "b", 8))
    assert s.inode == 99


def test_process_name_cannot_pass_for_fields() -> None:
    s = one(f'{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:5 users:(("ino:5 timer:(on,1sec,0)",pid=1,fd=2))')
    assert (s.inode, s.timer, s.owners[0].name) == (None, None, "ino:5 timer:(on,1sec,0)")


def test_unreadable_owners_warn_but_keep_the_socket() -> None:
    parsed = parse_ss(f'{HEADER}\nESTAB 0 0 10.0.0.1:22 10.0.0.2:5 users:(("sshd",pid=x,fd=3))')
    assert len(parsed.records) == 1 and parsed.records[0].owners == ()
    assert [w.reason for w in parsed.warnings] == ["unreadable users:(...) field"]
    assert parsed.accounted == 2


# -- what becomes a warning ----------------------------------------------------------


def test_bad_lines_warn_and_the_rest_still_parse() -> None:
    text = "\n".join(
        [
            HEADER,
            "ESTAB 0 0 10.0.0.1:22 10.0.0.2:5",
            "BOGUS 0 0 10.0.0.1:22 10.0.0.2:5",
            "ESTAB x 0 10.0.0.1:22 10.0.0.2:5",
            "ESTAB 0 0 10.0.0.1 10.0.0.2:5",
            "ESTAB 0 0",
            "tcp",
            "tcp WEIRD 0 0 1.2.3.4:5 1.2.3.4:6",
            "Cannot open netlink socket: Protocol not supported",
            "",
            "LISTEN 0 5 0.0.0.0:80 0.0.0.0:*",
        ]
    )
    parsed = parse_ss(text)
    assert [s.local.port for s in parsed.records] == [22, 80]
    assert [w.line_no for w in parsed.warnings] == [3, 4, 5, 6, 7, 8, 9]
    assert parsed.warnings[1].reason.startswith("Recv-Q/Send-Q not numbers")
    assert parsed.warnings[2].reason == "unreadable local address '10.0.0.1'"
    assert parsed.warnings[5].reason == "unknown TCP state 'WEIRD'"
    assert parsed.accounted == 10


def test_unknown_service_name_warns_and_keeps_the_socket() -> None:
    parsed = parse_ss(f"{HEADER}\nESTAB 0 0 10.0.0.1:no-such-svc-q 10.0.0.2:5")
    assert [s.local for s in parsed.records] == [Endpoint("10.0.0.1", None)]
    assert "unknown service name" in parsed.warnings[0].reason
    assert parsed.accounted == 2


def test_header_without_state_column_is_warned_and_its_rows_skipped() -> None:
    text = "Recv-Q Send-Q Local Address:Port Peer Address:Port\n0 0 10.10.0.4:33149 10.10.0.5:53\n"
    parsed = parse_ss(text)
    assert parsed.records == []
    assert [w.line_no for w in parsed.warnings] == [1]
    assert parsed.accounted == 2


def test_row_without_state_and_no_header_warns() -> None:
    parsed = parse_ss("0 0 10.10.0.4:33149 10.10.0.5:53")
    assert [w.reason for w in parsed.warnings] == ["row without a State column"]


def test_crlf_and_blank_lines() -> None:
    parsed = parse_ss(f"{HEADER}\r\n\r\nESTAB 0 0 10.0.0.1:22 10.0.0.2:5\r\n   \r\n")
    assert parsed.warnings == [] and parsed.accounted == 2 and len(parsed.records) == 1
