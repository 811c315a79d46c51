"""``parse_netstat`` on hand-written net-tools text, one quirk per test."""

# ruff: noqa: E501  (rows are written at netstat's real column widths, which exceed the line limit)

from __future__ import annotations

import pytest

from netdiag.model import Endpoint, Owner, Socket, TcpState, Timer
from netdiag.parsers.netstat import parse_netstat

TITLE = "Active Internet connections (servers and established)"
TANOEW = (
    "Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      Timer"
)
TONP = "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name     Timer"
NEOPA = (
    "Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      "
    "PID/Program name     Timer"
)
TANP = "Proto Recv-Q Send-Q Local Address           Foreign Address         State       PID/Program name    "
PLAIN = "Proto Recv-Q Send-Q Local Address           Foreign Address         State      "


def listing(header: str, *rows: str) -> str:
    return "\n".join([TITLE, header, *rows]) + "\n"


def sockets(text: str) -> list[Socket]:
    parsed = parse_netstat(text)
    assert parsed.warnings == []
    assert parsed.accounted == sum(1 for line in text.splitlines() if line.strip())
    return list(parsed.records)


def test_tanoew_the_collectors_fallback() -> None:
    (listen, est, tw) = sockets(
        listing(
            TANOEW,
            "tcp        0    128 0.0.0.0:8080            0.0.0.0:*               LISTEN      0          19422      off (0.00/0/0)",
            "tcp        0      0 10.0.0.1:22             10.0.0.2:50000          ESTABLISHED 1000       44626      keepalive (7190.12/0/0)",
            "tcp        0      0 10.0.0.1:41000          10.0.0.9:443            TIME_WAIT   0          0          timewait (59.21/0/0)",
        )
    )  # fmt: skip
    assert (listen.state, listen.recv_q, listen.send_q, listen.uid, listen.inode) == (
        TcpState.LISTEN, 0, 128, 0, 19422,
    )  # fmt: skip
    assert listen.timer is None  # "off": no timer, as ss shows it
    assert (est.uid, est.inode, est.timer) == (1000, 44626, Timer("keepalive", 7190.12, 0))
    assert (est.local, est.peer) == (Endpoint("10.0.0.1", 22), Endpoint("10.0.0.2", 50000))
    assert tw.timer == Timer("timewait", 59.21, 0) and tw.inode is None  # inode 0: no socket inode


def test_states_the_corpus_lacks() -> None:
    recs = sockets(
        listing(
            TONP,
            "tcp      614      0 127.0.0.1:5000          127.0.0.1:36613         CLOSE_WAIT  812/nginx            off (0.00/0/0)",
            "tcp        0      0 10.0.0.1:41000          10.0.0.9:443            FIN_WAIT2   -                    timewait (4.19/0/0)",
            "tcp6       3      0 :::8080                 :::*                    LISTEN      9/java               off (0.00/0/0)",
            "tcp        0      1 10.0.0.1:41001          10.0.0.9:443            SYN_SENT    38885/chrome --type  on (0.43/0/0)",
            "tcp        0      1 10.0.0.1:41002          10.0.0.9:443            FIN_WAIT1   -                    on (2.15/5/0)",
            "tcp        0      1 10.0.0.1:41003          10.0.0.9:443            LAST_ACK    -                    on (0.20/1/0)",
        )
    )  # fmt: skip
    cw, fw2, listen, syn, fw1, last_ack = recs
    assert (cw.state, cw.recv_q, cw.owners) == (TcpState.CLOSE_WAIT, 614, (Owner(812, "nginx"),))
    assert fw2.state is TcpState.FIN_WAIT2 and fw2.owners == () and fw2.timer == Timer("timewait", 4.19, 0)
    assert (listen.state, listen.recv_q, listen.local) == (TcpState.LISTEN, 3, Endpoint("::", 8080))
    assert syn.owners == (Owner(38885, "chrome --type"),) and syn.timer == Timer("on", 0.43, 0)
    assert fw1.timer == Timer("on", 2.15, 5)
    assert last_ack.state is TcpState.LAST_ACK


@pytest.mark.parametrize(
    ("cell", "owners"),
    [
        ("8/nginx", (Owner(8, "nginx"),)),
        ("600/sshd: /usr/sbin", (Owner(600, "sshd: /usr/sbin"),)),
        ("12387/Passenger Rac", (Owner(12387, "Passenger Rac"),)),
        ("1817931/zabbix_agen", (Owner(1817931, "zabbix_agen"),)),
        ("-", ()),
        ("1279", (Owner(1279, None),)),
        ("mongod", (Owner(None, "mongod"),)),
        ("", ()),
    ],
)
def test_pid_program_cell(cell: str, owners: tuple[Owner, ...]) -> None:
    (s,) = sockets(
        listing(NEOPA, f"tcp        0      0 0.0.0.0:5672   0.0.0.0:*   LISTEN      996        19422      {cell:<20} off (0.00/0/0)")
    )  # fmt: skip
    assert s.owners == owners
    assert (s.uid, s.inode) == (996, 19422)


@pytest.mark.parametrize(
    ("cell", "timer"),
    [
        ("off (0.00/0/0)", None),
        ("on (0.79/0/0)", Timer("on", 0.79, 0)),
        ("keepalive (7190.12/0/0)", Timer("keepalive", 7190.12, 0)),
        ("keepalive (70.54/0)", Timer("keepalive", 70.54, 0)),  # two fields (older net-tools)
        ("timewait (52,75/0/0)", Timer("timewait", 52.75, 0)),  # comma-decimal locale
        ("probe (1.00/2/0)", Timer("probe", 1.0, 2)),
    ],
)
def test_timer_cell(cell: str, timer: Timer | None) -> None:
    (s,) = sockets(listing(TONP, f"tcp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED 7/sshd {cell}"))
    assert s.timer == timer


def test_unreadable_timer_warns() -> None:
    parsed = parse_netstat(listing(TONP, "tcp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED 7/sshd keepalive soon"))
    assert parsed.records == []
    assert [(w.line_no, w.reason) for w in parsed.warnings] == [(3, "unreadable timer keepalive 'soon'")]


def test_tanp_and_plain_netstat_with_names() -> None:
    recs = sockets(
        listing(TANP, "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      1161/sshd           ")
        + listing(
            PLAIN,
            "tcp        0      0 localhost.localdo:35450 lb-192-30-255-112:https ESTABLISHED",
            "tcp        0      0 localhost.localdoma:ssh 192.168.71.1:58727      ESTABLISHED",
        )
    )  # fmt: skip
    listen, a, b = recs
    assert listen.owners == (Owner(1161, "sshd"),)
    assert (a.local, a.peer) == (Endpoint("localhost.localdo", 35450), Endpoint("lb-192-30-255-112", 443))
    assert b.local == Endpoint("localhost.localdoma", 22)


def test_user_names_without_n() -> None:
    (s,) = sockets(
        listing(
            "Proto Recv-Q Send-Q Local Address           Foreign Address         State       User       Inode      PID/Program name    ",
            "tcp        0      0 localhost:domain        0.0.0.0:*               LISTEN      systemd-resolve 26985      893/systemd-resolve ",
        )
    )  # fmt: skip
    assert (s.uid, s.inode, s.owners) == (None, 26985, (Owner(893, "systemd-resolve"),))
    assert s.local == Endpoint("localhost", 53)


def test_tcp6_forms() -> None:
    recs = sockets(
        listing(
            PLAIN,
            "tcp6       0      0 127.0.0.1:58488         127.0.0.1:7199          TIME_WAIT",
            "tcp6       0      0 ::ffff:127.0.0.1:7403   :::*                    LISTEN",
            "tcp6       0      0 ::1:5432                :::*                    LISTEN",
            "tcp6       0      0 [::]:22                 [::]:*                  LISTEN",
            "tcp6       0      0 localhost:ssh           localhost:38134         ESTABLISHED",
            "tcp        0      0 127.0.0.1:80            127.0.0.1:51650         TIME_WAIT",
        )
    )  # fmt: skip
    mapped, old_mapped, loop6, any6, names, v4 = recs
    # new net-tools prints the IPv4-mapped address of a tcp6 socket plain; stored as ss and /proc give it
    assert (mapped.local, mapped.peer) == (Endpoint("::ffff:127.0.0.1", 58488), Endpoint("::ffff:127.0.0.1", 7199))
    assert mapped.family == 6
    assert old_mapped.local == Endpoint("::ffff:127.0.0.1", 7403)
    assert loop6.local == Endpoint("::1", 5432) and any6.peer == Endpoint("::", None)
    assert names.local == Endpoint("localhost", 22)  # a name stays a name
    assert v4.local == Endpoint("127.0.0.1", 80) and v4.family == 4


def test_other_protocols_and_sections_are_accounted_not_warned() -> None:
    text = "\n".join(
        [
            TITLE,
            TANP,
            "tcp        0      0 0.0.0.0:22              0.0.0.0:*               LISTEN      1161/sshd",
            "udp        0      0 0.0.0.0:68              0.0.0.0:*                           535/dhclient",
            "udp6       0      0 :::5353                 :::*                                442/avahi-daemon: r",
            "raw6       0      0 :::58                   :::*                    7           867/systemd-network",
            "Active UNIX domain sockets (servers and established)",
            "Proto RefCnt Flags       Type       State         I-Node   PID/Program name     Path",
            "unix  2      [ ACC ]     STREAM     LISTENING     31065    1/systemd            /run/systemd/private",
            "tcp  this line is in the UNIX section and means nothing there",
            "Active Bluetooth connections (w/o servers)",
            "Proto  Destination       Source            State         PSM DCID   SCID      IMTU    OMTU Security",
            "l2cap  00:11:22:33:44:55 66:77:88:99:AA:BB CONNECTED     1   64     64        672     672  low",
            "(Not all processes could be identified, non-owned process info",
            " will not be shown, you would have to be root to see it all.)",
        ]
    )
    assert [s.local.port for s in sockets(text)] == [22]


def test_error_parsing_proc_net_netstat_warns() -> None:
    parsed = parse_netstat("error parsing /proc/net/netstat: No such file or directory\n")
    assert parsed.records == [] and [w.line_no for w in parsed.warnings] == [1]


def test_rows_before_any_header_warn() -> None:
    parsed = parse_netstat("tcp        0      0 0.0.0.0:7788            0.0.0.0:*               LISTEN\n")
    assert parsed.records == [] and [w.reason for w in parsed.warnings] == ["row before any netstat column header"]


def test_freebsd_is_refused_without_bogus_records() -> None:
    text = "\n".join(
        [
            "Active Internet connections (including servers)",
            "Proto Recv-Q Send-Q Local Address          Foreign Address        (state)    ",
            "tcp4       0      0 192.168.71.163.22      192.168.71.1.56321     ESTABLISHED",
            "udp4       0      0 *.514                  *.*                    ",
        ]
    )
    parsed = parse_netstat(text)
    assert parsed.records == []
    assert [w.line_no for w in parsed.warnings] == [2, 3]
    assert parsed.accounted == 4


def test_windows_crlf_is_refused_without_bogus_records() -> None:
    text = (
        "\r\nActive Connections\r\n\r\n  Proto  Local Address          Foreign Address        State           PID\r\n"
        "  TCP    0.0.0.0:135            0.0.0.0:0              LISTENING       1712\r\n"
        "  UDP    0.0.0.0:123            *:*                                    8844\r\n"
    )
    parsed = parse_netstat(text)
    assert parsed.records == []
    assert [w.line_no for w in parsed.warnings] == [2, 5]
    assert parsed.accounted == 4


def test_separate_port_columns_are_refused() -> None:
    text = listing(
        "Proto Recv-Q Send-Q Local Address     Port  Foreign Address   Port  State       User       Inode",
        "tcp        0      0 0.0.0.0           7788  0.0.0.0           *     LISTEN      0          97305",
    )
    parsed = parse_netstat(text)
    assert parsed.records == [] and [w.line_no for w in parsed.warnings] == [2, 3]


def test_bad_rows_warn_and_the_rest_still_parse() -> None:
    text = listing(
        TONP,
        "tcp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED 7/sshd off (0.00/0/0)",
        "tcp 0 0 10.0.0.1:22 10.0.0.2:5 NOSUCHSTATE 7/sshd off (0.00/0/0)",
        "tcp x 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED 7/sshd off (0.00/0/0)",
        "tcp 0 0 10.0.0.1 10.0.0.2:5 ESTABLISHED 7/sshd off (0.00/0/0)",
        "tcp 0 0",
        "sctp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED",
        "garbage here",
        "tcp 0 0 10.0.0.1:23 10.0.0.2:5 ESTABLISHED 7/sshd off (0.00/0/0)",
    )
    parsed = parse_netstat(text)
    assert [s.local.port for s in parsed.records] == [22, 23]
    assert [w.line_no for w in parsed.warnings] == [4, 5, 6, 7, 9]
    assert parsed.warnings[0].reason == "unknown TCP state 'NOSUCHSTATE'"
    assert parsed.accounted == 10


def test_user_inode_columns_missing_on_a_row() -> None:
    parsed = parse_netstat(listing(TANOEW, "tcp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED"))
    assert parsed.records == [] and parsed.warnings[0].reason == "User and Inode columns missing"


def test_trailing_fields_without_a_column_warn() -> None:
    parsed = parse_netstat(listing(PLAIN, "tcp 0 0 10.0.0.1:22 10.0.0.2:5 ESTABLISHED surprise"))
    assert parsed.records == [] and "unexpected trailing fields" in parsed.warnings[0].reason
