"""Every ``ss`` and ``netstat`` capture in ``../shared/corpus`` parses, and agrees with jc's reading.

Each file must parse with no warning except those listed in ``EXPECTED_WARNINGS``,
each with the reason it is right. Where jc's JSON reading lies beside a capture,
the TCP rows are compared field by field; every disagreement is listed in
``DISAGREEMENTS`` with the reason netdiag's reading is the one to keep, and an
entry that no longer occurs fails the test too.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from netdiag.model import Socket, TcpState, Timer
from netdiag.parsers import Parsed
from netdiag.parsers.netstat import parse_netstat
from netdiag.parsers.ss import parse_ss
from tests.corpus import CORPUS, corpus_text

SS_FILES = [
    "pcp/qa/sockets/ss_noemitauOH.txt",
    "pcp/qa/sockets/ss_noemitauOH_ubuntu.txt",
    "jc/centos-7.7/ss-sudo-a.out",
    "jc/ubuntu-18.04/ss-sudo-a.out",
    "jc/ubuntu-18.04/ss-sudo-tulpen.out",
    "jc/generic/ss-wide.out",
    "telegraf/plugins/inputs/socketstat/testdata/tcp_traffic.txt",
    "telegraf/plugins/inputs/socketstat/testdata/tcp_no_sockets.txt",
    "telegraf/plugins/inputs/socketstat/testdata/udp_traffic.txt",
    "telegraf/plugins/inputs/socketstat/testdata/udp_no_sockets.txt",
    "datadog-integrations-core/network/tests/fixtures/ss_ipv4_tcp",
    "datadog-integrations-core/network/tests/fixtures/ss_ipv6_tcp",
    "insights-core/extracted/ss_-tupna__SS_TUPNA_2.txt",
    "insights-core/extracted/ss_-tulpn__SS_TULPN_2.txt",
    "insights-core/extracted/ss_-tupna__SS_TUPNA_DOCS.txt",
    "insights-core/extracted/ss_-tupna__Ss_TUPNA.old-iproute.txt",
    "insights-core/extracted/ss_-tulpn__Ss_TULPN.mixed.txt",
]

_INSIGHTS = "insights-core/extracted/netstat_-neopa__"
NETSTAT_FILES = [
    *(
        f"jc/{d}/{n}.out"
        for d, names in {
            "centos-7.7": ["netstat", "netstat-l", "netstat-p", "netstat-sudo-aeep", "netstat-sudo-lnp"],
            "ubuntu-18.04": [
                "netstat", "netstat-l", "netstat-p", "netstat-sudo-aeep", "netstat-sudo-lnp",
                "netstat-sudo-lnp-space",
            ],
            "fedora32": ["netstat"],
            "generic": ["netstat-old", "netstat-no-state"],
            "freebsd12": ["netstat-an"],
            "windows/windows-10": ["netstat-aon"],
        }.items()
        for n in names
    ),
    "datadog-integrations-core/network/tests/fixtures/netstat",
    *(
        f"{_INSIGHTS}{n}.txt"
        for n in [
            "NETSTAT", "NETSTAT_NOMATCH1", "NETSTAT_NOMATCH2", "NETSTAT_MATCH1", "NETSTAT_NO_ACTIVE_CONNS",
            "NETSTAT_TRUNCATED", "NETSTAT_CONTENT_BUT_NO_PARSED_LINES.edited",
            "NETSTAT_CONTENT_BUT_NO_PID_PROGRAM.edited", "NETSTAT_CONTENT_BUT_NO_LOCAL_ADDR_COLON.edited",
            "NETSTAT_TEST_RUNNING_PROCESSES.edited",
        ]
    ),
]  # fmt: skip

_NO_STATE = "header without a State column (single-state filter): rows cannot be read as TCP sockets"
_NON_LINUX_HEADER = "not a Linux net-tools header (BSD/Windows netstat?)"
_NON_LINUX_ROW = "TCP row in a non-Linux netstat format"

# file -> [(line number, reason)] of every warning its parse must give, and why that is right.
EXPECTED_WARNINGS: dict[str, list[tuple[int, str]]] = {
    # `ss -in --udp`: ss dropped the State column (one-state filter), so nothing says which TCP
    # state a row would be in (these rows are UDP anyway); a header warning, no bogus sockets.
    "telegraf/plugins/inputs/socketstat/testdata/udp_traffic.txt": [(1, _NO_STATE)],
    "telegraf/plugins/inputs/socketstat/testdata/udp_no_sockets.txt": [(1, _NO_STATE)],
    # The whole output is netstat's own failure message: there is no listing to read.
    f"{_INSIGHTS}NETSTAT_TRUNCATED.txt": [(1, "netstat failed reading /proc/net/netstat: no listing")],
    # Edited negative: rows with no title or header, so the optional columns are unknowable.
    f"{_INSIGHTS}NETSTAT_CONTENT_BUT_NO_PARSED_LINES.edited.txt": [
        (n, "row before any netstat column header") for n in (1, 2, 3, 4)
    ],
    # Edited negative: non-Linux separate "Port" columns.
    f"{_INSIGHTS}NETSTAT_CONTENT_BUT_NO_LOCAL_ADDR_COLON.edited.txt": [
        (2, _NON_LINUX_HEADER),
        (3, _NON_LINUX_ROW),
        (4, _NON_LINUX_ROW),
    ],
    # FreeBSD: `(state)` header and dotted addr.port; its header and each TCP row are refused.
    "jc/freebsd12/netstat-an.out": [(2, _NON_LINUX_HEADER), *((n, _NON_LINUX_ROW) for n in (3, 4, 5, 6))],
}


def _windows_warnings() -> list[tuple[int, str]]:
    """Windows `netstat -aon` (CRLF): the title is refused, then every TCP row (found here by its text)."""
    lines = corpus_text("jc/windows/windows-10/netstat-aon.out").splitlines()
    rows = [(n, _NON_LINUX_ROW) for n, line in enumerate(lines, start=1) if line.split()[:1] == ["TCP"]]
    return [(2, "not Linux net-tools output (unknown section title)"), *rows]


def _parse(rel: str) -> Parsed[Socket]:
    text = corpus_text(rel)
    parsed = (parse_ss if rel in SS_FILES else parse_netstat)(text)
    assert parsed.accounted == sum(1 for line in text.splitlines() if line.strip())
    return parsed


@pytest.mark.parametrize("rel", SS_FILES + NETSTAT_FILES)
def test_corpus_file_parses_with_only_the_expected_warnings(rel: str) -> None:
    parsed = _parse(rel)
    expected = _windows_warnings() if "windows" in rel else EXPECTED_WARNINGS.get(rel, [])
    assert [(w.line_no, w.reason) for w in parsed.warnings] == expected
    if expected:
        assert parsed.records == []  # the negatives make no socket at all


def test_every_ss_and_netstat_capture_is_covered() -> None:
    """A capture added to the corpus must be added here too."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    found = {
        str(p.relative_to(CORPUS))
        for pattern in ("jc/**/ss-*.out", "jc/**/netstat*.out", "pcp/qa/sockets/*.txt",
                        "telegraf/**/*_*.txt", "datadog-integrations-core/**/ss_*",
                        "datadog-integrations-core/network/tests/fixtures/netstat",
                        "insights-core/extracted/ss_*", "insights-core/extracted/netstat_*")
        for p in CORPUS.glob(pattern)
    }  # fmt: skip
    assert found == set(SS_FILES) | set(NETSTAT_FILES)


# -- facts read off the captures by eye ------------------------------------------------


def test_pcp_timers_in_every_unit() -> None:
    recs = _parse("pcp/qa/sockets/ss_noemitauOH.txt").records
    assert Counter(s.timer.kind for s in recs if s.timer) == {"keepalive": 30, "timewait": 4}
    timers = {s.local.port: s.timer for s in recs if s.timer}
    assert timers[37772] == Timer("keepalive", 1.178, 0)  # 1.178ms = 1.178 s (quirk 1)
    assert timers[52528] == Timer("timewait", 6.923, 0)
    assert timers[54724] == Timer("keepalive", 84.0, 0)  # 1min24sec
    assert timers[44864] == Timer("keepalive", 0.0, 0)  # keepalive,,0
    ubuntu = _parse("pcp/qa/sockets/ss_noemitauOH_ubuntu.txt").records
    assert sorted(s.timer.remaining or 0.0 for s in ubuntu if s.timer) == [35 * 60.0, 96 * 60.0, 110 * 60.0]


def test_pcp_anonymised_address_and_scopes() -> None:
    recs = _parse("pcp/qa/sockets/ss_noemitauOH.txt").records
    assert sum(1 for s in recs if s.peer.address == "123.456.78.90") == 11
    ubuntu = _parse("pcp/qa/sockets/ss_noemitauOH_ubuntu.txt").records
    (resolved,) = [s for s in ubuntu if s.local.scope]
    assert (str(resolved.local), resolved.uid, resolved.inode) == ("127.0.0.53%lo:53", 101, 181926)


def test_datadog_states_and_old_ipv6_forms() -> None:
    v4 = _parse("datadog-integrations-core/network/tests/fixtures/ss_ipv4_tcp").records
    assert Counter(s.state.value for s in v4) == {"LISTEN": 2, "TIME_WAIT": 2, "ESTABLISHED": 1}
    v6 = _parse("datadog-integrations-core/network/tests/fixtures/ss_ipv6_tcp").records
    assert [(str(s.local), s.state) for s in v6] == [
        ("[::]:9200", TcpState.LISTEN),
        ("[::1]:35048", TcpState.TIME_WAIT),
        ("[::ffff:127.0.0.1]:2181", TcpState.ESTABLISHED),
        ("[::1]:35056", TcpState.CLOSING),
    ]
    ns = _parse("datadog-integrations-core/network/tests/fixtures/netstat").records
    assert Counter(s.state.value for s in ns) == {
        "LISTEN": 3, "TIME_WAIT": 3, "ESTABLISHED": 2, "SYN_SENT": 1, "SYN_RECV": 1, "CLOSING": 3,
    }  # fmt: skip
    assert [str(s.local) for s in ns if s.local.address.startswith("::ffff:")] == [
        "[::ffff:127.0.0.1]:58488", "[::ffff:127.0.0.1]:42395", "[::ffff:127.0.0.1]:58439",
    ]  # fmt: skip


def test_insights_owners_old_and_mixed_formats() -> None:
    old = _parse("insights-core/extracted/ss_-tupna__Ss_TUPNA.old-iproute.txt").records
    sshd = [s for s in old if s.local.port == 22 and s.state is TcpState.LISTEN]
    assert [(o.pid, o.name, o.fd) for s in sshd for o in s.owners] == [(1231, "sshd", 3), (1231, "sshd", 4)]
    mixed = _parse("insights-core/extracted/ss_-tulpn__Ss_TULPN.mixed.txt").records
    assert {o.pid for s in mixed for o in s.owners} == {9787, 929, 2612, 1416, 1231}
    docs = _parse("insights-core/extracted/ss_-tupna__SS_TUPNA_DOCS.txt").records
    assert [(o.pid, o.name) for o in docs[0].owners] == [(1139, "rpcbind"), (1, "systemd")]


def test_insights_netstat_owner_and_timer_cells() -> None:
    recs = _parse(f"{_INSIGHTS}NETSTAT.txt").records
    syn = recs[-1]
    assert (syn.state, syn.owners, syn.timer) == (TcpState.SYN_RECV, (), Timer("on", 0.79, 0))
    names = [o.name for s in recs for o in s.owners]
    assert names == ["dnsd", "qpidd", "mongod", "Passenger Rac", "qdrouterd"]
    edited = _parse(f"{_INSIGHTS}NETSTAT_TEST_RUNNING_PROCESSES.edited.txt").records
    assert [[(o.pid, o.name) for o in s.owners] for s in edited] == [
        [(12, "dnsd")],
        [],
        [(1279, None)],
        [(None, "mongod")],
        [(12387, "Passenger Rac")],
        [(1272, "qdrouterd")],
    ]
    no_pid = _parse(f"{_INSIGHTS}NETSTAT_CONTENT_BUT_NO_PID_PROGRAM.edited.txt").records
    assert [(s.uid, s.inode, s.owners) for s in no_pid][:2] == [(0, 97305, ()), (26, 14071, ())]


def test_telegraf_continuation_lines() -> None:
    recs = _parse("telegraf/plugins/inputs/socketstat/testdata/tcp_traffic.txt").records
    assert [str(s.peer) for s in recs] == ["192.168.1.21:443", "192.168.122.1:6514", "127.0.0.1:50378"]


# -- field by field against jc ----------------------------------------------------------


BRACKETS = "jc keeps the brackets of [::]; the address is ::, which is how every source names it"
SERVICE = "jc leaves the service name; netdiag resolves it so a port compares across sources"

# file -> {(field, jc's value): (netdiag's value, why netdiag is right)};
# ports are compared as text, "*" for none.
DISAGREEMENTS: dict[str, dict[tuple[str, Any], tuple[Any, str]]] = {
    "jc/centos-7.7/netstat-l.out": {
        ("local_port", "smtp"): ("25", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_address", "[::]"): ("::", BRACKETS),
        ("local_address", "[::]"): ("::", BRACKETS),
    },
    "jc/centos-7.7/netstat-p.out": {
        ("local_port", "ssh"): ("22", SERVICE),
    },
    "jc/centos-7.7/netstat-sudo-aeep.out": {
        ("local_port", "smtp"): ("25", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_port", "ssh"): ("22", SERVICE),
        ("peer_address", "[::]"): ("::", BRACKETS),
        ("local_address", "[::]"): ("::", BRACKETS),
    },
    "jc/centos-7.7/netstat.out": {
        ("peer_port", "https"): ("443", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
    },
    "jc/centos-7.7/ss-sudo-a.out": {
        ("local_port", "smtp"): ("25", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_port", "ssh"): ("22", SERVICE),
        ("local_address", "[::1]"): ("::1", BRACKETS),
        ("peer_address", "[::1]"): ("::1", BRACKETS),
        ("local_address", "[::]"): ("::", BRACKETS),
        ("peer_address", "[::]"): ("::", BRACKETS),
    },
    "jc/fedora32/netstat.out": {
        ("local_port", "ssh"): ("22", SERVICE),
    },
    "jc/generic/ss-wide.out": {
        ("local_address", "[::]"): ("::", BRACKETS),
        ("peer_address", "[::]"): ("::", BRACKETS),
    },
    "jc/ubuntu-18.04/netstat-l.out": {
        ("local_port", "domain"): ("53", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("local_address", "[::]"): ("::", BRACKETS),
        ("peer_address", "[::]"): ("::", BRACKETS),
    },
    "jc/ubuntu-18.04/netstat-p.out": {
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_port", "https"): ("443", SERVICE),
    },
    "jc/ubuntu-18.04/netstat-sudo-aeep.out": {
        ("local_port", "domain"): ("53", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_port", "ssh"): ("22", SERVICE),
        ("local_address", "[::]"): ("::", BRACKETS),
        ("peer_address", "[::]"): ("::", BRACKETS),
    },
    "jc/ubuntu-18.04/netstat.out": {
        ("local_port", "ssh"): ("22", SERVICE),
        ("peer_port", "https"): ("443", SERVICE),
    },
    "jc/ubuntu-18.04/ss-sudo-a.out": {
        ("local_port", "domain"): ("53", SERVICE),
        ("local_port", "ssh"): ("22", SERVICE),
        ("local_address", "[::]"): ("::", BRACKETS),
        ("peer_address", "[::]"): ("::", BRACKETS),
    },
}

# jc reads these non-Linux listings; netdiag refuses each of their TCP rows with a warning
# (tested above), because a BSD addr.port or a Windows row is not a format it was built for.
NOT_COMPARED = {"jc/freebsd12/netstat-an.out", "jc/windows/windows-10/netstat-aon.out"}

JC_FILES = [f for f in SS_FILES + NETSTAT_FILES if f.startswith("jc/") and f not in NOT_COMPARED]


def _port(port: int | None) -> str:
    return "*" if port is None else str(port)


def _ours(s: Socket) -> dict[str, Any]:
    return {
        "state": s.state,
        "recv_q": s.recv_q,
        "send_q": s.send_q,
        "local_address": s.local.address,
        "local_port": _port(s.local.port),
        "local_scope": s.local.scope,
        "peer_address": s.peer.address,
        "peer_port": _port(s.peer.port),
        "owners": [(o.pid, o.name) for o in s.owners],
        "fds": [o.fd for o in s.owners],
        "inode": s.inode,
        "uid": s.uid,
    }


def _jc_ss(row: dict[str, Any]) -> dict[str, Any]:
    """jc's ss schema: owner names under ``user``, ``ino:`` as ``inode_number``, scope as ``interface``."""
    opts = row.get("opts", {})
    owners = opts.get("process_id", {})
    out = {
        "state": TcpState.parse(row["state"]),
        "recv_q": row["recv_q"],
        "send_q": row["send_q"],
        "local_address": row["local_address"],
        "local_port": row["local_port"],
        "local_scope": row.get("interface"),
        "peer_address": row["peer_address"],
        "peer_port": row["peer_port"],
        "owners": [(int(pid), o["user"]) for pid, o in owners.items()],
        "fds": [int(o["file_descriptor"]) for o in owners.values()],
    }
    if "inode_number" in opts:
        out["inode"] = int(opts["inode_number"]) or None
    if "uid_number" in opts:  # jc has it only where ss printed it; ss omits uid:0
        out["uid"] = int(opts["uid_number"])
    return out


def _jc_netstat(row: dict[str, Any]) -> dict[str, Any]:
    """jc's netstat schema: ``foreign_*`` for the peer, one ``pid``/``program_name`` per row."""
    out = {
        "state": TcpState.parse(row["state"]),
        "recv_q": row["recv_q"],
        "send_q": row["send_q"],
        "local_address": row["local_address"],
        "local_port": row["local_port"],
        "peer_address": row["foreign_address"],
        "peer_port": row["foreign_port"],
    }
    if "pid" in row or "program_name" in row:
        pid, name = row.get("pid"), row.get("program_name")
        out["owners"] = [(pid, name)] if pid is not None or name else []
    if "inode" in row:
        out["inode"] = row["inode"] or None
    if "user" in row:
        out["uid"] = int(row["user"]) if str(row["user"]).isdigit() else None  # names without -n
    return out


@pytest.mark.parametrize("rel", JC_FILES)
def test_agrees_with_jc_field_by_field(rel: str) -> None:
    ss = rel in SS_FILES
    rows = json.loads(corpus_text(rel[: -len(".out")] + ".json"))
    theirs = (
        [_jc_ss(r) for r in rows if r.get("netid") == "tcp"]
        if ss
        else [_jc_netstat(r) for r in rows if r.get("proto") in ("tcp", "tcp6")]
    )
    ours = [_ours(s) for s in _parse(rel).records]
    assert Counter(r["state"] for r in ours) == Counter(r["state"] for r in theirs)
    assert len(ours) == len(theirs)
    found: dict[tuple[str, Any], set[Any]] = {}
    for mine, jc in zip(ours, theirs, strict=True):
        for key, value in jc.items():
            if mine[key] != value:
                found.setdefault((key, value), set()).add(mine[key])
    expected = DISAGREEMENTS.get(rel, {})
    assert found == {k: {v} for k, (v, _why) in expected.items()}
