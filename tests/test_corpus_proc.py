"""Every /proc file of the shared corpus, parsed where it lies.

Each file is parsed with zero warnings unless listed in ``EXPECTED_WARNINGS``
with the reason. Where jc's reading is stored beside a file, every socket and
counter is compared field by field.

Disagreements with jc (all representation, none of value; netdiag is right for the reason given):

* jc ``remote_port``/``local_port`` 0 vs netdiag ``None``: port 0 on a
  socket means "unbound/any"; netdiag's Endpoint spells that ``*`` (None), as
  ss and netstat print it, so /proc and ss snapshots compare equal.
* jc ``inode`` 0 vs netdiag ``None``: TIME_WAIT minisockets, request socks and
  orphans have no inode; 0 is "none", and None can never match an fd link.
* jc ``timer_active`` 0 with ``jiffies_until_timer_expires`` vs netdiag
  ``timer=None``: code 0 is "no timer pending"; the kernel then prints
  ``jiffies - jiffies``, a meaningless value.
* jc ``jiffies_until_timer_expires`` (hex text) vs netdiag seconds: the kernel
  prints ``jiffies_delta_to_clock_t``, clock ticks at USER_HZ = 100, not
  jiffies (HZ is 250/1000 on most kernels), so the ticks / 100 is the time.
* jc keeps tcp6 addresses in two byte orders (``opposite_endian_*``); netdiag
  decodes the little-endian one only, which is the one jc lists first.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from netdiag.model import Endpoint, Socket, TcpState, Timer
from netdiag.parsers import Parsed
from netdiag.parsers.counters import parse_counters
from netdiag.parsers.limits import Limit, nofile, parse_limits
from netdiag.parsers.proc_tcp import TIMER_KINDS, USER_HZ, parse_proc_tcp
from netdiag.parsers.sockstat import parse_sockstat
from tests.corpus import CORPUS, corpus_text

PCP_415 = "pcp/qa/linux/procnet-4.15.14-root-001/proc/net/"
DATADOG = "datadog-integrations-core/network/tests/fixtures/net/netstat"
NODE = "node_exporter/collector/fixtures/proc/net/"
INSIGHTS = "insights-core/extracted/"

PARSERS: dict[str, Callable[[str], Parsed[Any]]] = {
    # /proc/net/tcp, tcp6
    "jc/linux-proc/net_tcp": parse_proc_tcp,
    "jc/linux-proc/net_tcp6": parse_proc_tcp,
    PCP_415 + "tcp": parse_proc_tcp,
    PCP_415 + "tcp6": parse_proc_tcp,
    NODE + "tcpstat": parse_proc_tcp,
    "procfs/testdata/fixtures/proc/net/tcp": parse_proc_tcp,
    "procfs/testdata/fixtures/proc/net/tcp6": parse_proc_tcp,
    # /proc/net/netstat
    "jc/linux-proc/net_netstat": parse_counters,
    DATADOG: parse_counters,
    PCP_415 + "netstat": parse_counters,
    "procfs/testdata/fixtures/proc/26231/net/netstat": parse_counters,
    NODE + "netstat": parse_counters,
    "pcp/qa/linux/proc_net_netstat": parse_counters,
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT.edited.txt": parse_counters,
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT_2.edited-no-PFMemallocDrop.txt": parse_counters,
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT_4.header-value-mismatch.txt": parse_counters,
    # /proc/net/sockstat, sockstat6
    NODE + "sockstat": parse_sockstat,
    NODE + "sockstat6": parse_sockstat,
    NODE + "sockstat_rhe4": parse_sockstat,
    "procfs/testdata/fixtures/proc/net/sockstat": parse_sockstat,
    "procfs/testdata/fixtures/proc/net/sockstat6": parse_sockstat,
    "pcp/qa/linux/proc_net_sockstat": parse_sockstat,
    "pcp/qa/linux/proc_net_sockstat6": parse_sockstat,
    "sysstat/tests/root1/proc/net/sockstat": parse_sockstat,
    "sysstat/tests/root1/proc/net/sockstat6": parse_sockstat,
    INSIGHTS + "proc_net_sockstat__SOCK_STATS.txt": parse_sockstat,
    INSIGHTS + "proc_net_sockstat__SOCK_STATS_NO_2.garbage.txt": parse_sockstat,
    # /proc/<pid>/limits
    "procure/testdata/proc/1/limits": parse_limits,
    "procfs/testdata/fixtures/proc/26231/limits": parse_limits,
    "procfs/testdata/fixtures/proc/26232/limits": parse_limits,
    INSIGHTS + "proc_pid_limits__PROC_LIMITS.txt": parse_limits,
    INSIGHTS + "proc_pid_limits__PROC_LIMITS_ERR.txt": parse_limits,
}

# file -> [(line_no, words in the reason)] for every warning that must remain.
EXPECTED_WARNINGS: dict[str, list[tuple[int, str]]] = {
    # A udp6 table saved as "tcp6" (header ends in "ref pointer drops", states 07):
    # reading it as TCP would invent two CLOSE sockets.
    "procfs/testdata/fixtures/proc/net/tcp6": [
        (1, "not TCP"),
        (2, "non-TCP table"),
        (3, "non-TCP table"),
    ],
    # Header names and values disagree (TcpExt 112 vs 113, IpExt 17 vs 18): which value
    # belongs to which name cannot be known, so neither group is guessed at.
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT_4.header-value-mismatch.txt": [
        (1, "112 names, value line 2 has 113 values"),
        (2, "112 names, value line 2 has 113 values"),
        (3, "17 names, value line 4 has 18 values"),
        (4, "17 names, value line 4 has 18 values"),
    ],
    # "In valid data is present": not sockstat at all.
    INSIGHTS + "proc_net_sockstat__SOCK_STATS_NO_2.garbage.txt": [(1, "not a 'LABEL:")],
    # The process vanished before cat read its limits.
    INSIGHTS + "proc_pid_limits__PROC_LIMITS_ERR.txt": [(1, "not a 'NAME SOFT HARD")],
}


def _proc_files() -> set[str]:
    """Corpus files that are /proc captures: under a proc path, or a ``net/netstat`` (datadog)."""
    rels = (str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*") if p.is_file() and p.suffix != ".json")
    return {r for r in rels if "proc" in r or r.endswith("/net/netstat")}


def test_every_proc_file_of_the_corpus_is_covered() -> None:
    corpus_text("jc/linux-proc/net_tcp")  # skips when the corpus is absent
    assert _proc_files() == set(PARSERS)


@pytest.mark.parametrize("rel", sorted(PARSERS))
def test_corpus_file_parses_with_only_expected_warnings(rel: str) -> None:
    text = corpus_text(rel)
    parsed = PARSERS[rel](text)
    got = sorted((w.line_no, w.reason) for w in parsed.warnings)
    want = EXPECTED_WARNINGS.get(rel, [])
    assert len(got) == len(want), got
    for (line_no, reason), (want_no, words) in zip(got, want, strict=True):
        assert line_no == want_no
        assert words in reason
    assert parsed.accounted == sum(1 for line in text.splitlines() if line.strip())
    if rel not in EXPECTED_WARNINGS:
        assert parsed.records


# -- /proc/net/tcp against jc ---------------------------------------------------------


def _state_code(state: TcpState) -> str:
    return f"{list(TcpState).index(state) + 1:02X}"


def _jc_view(s: Socket) -> dict[str, Any]:
    """netdiag's reading in jc's terms, mapping only the representations the module docstring lists."""
    return {
        "local_address": s.local.address,
        "local_port": s.local.port or 0,
        "remote_address": s.peer.address,
        "remote_port": s.peer.port or 0,
        "state": _state_code(s.state),
        "tx_queue": s.send_q,
        "rx_queue": s.recv_q,
        "timer_active": 0 if s.timer is None else {v: k for k, v in TIMER_KINDS.items()}[s.timer.kind],
        "ticks": 0 if s.timer is None else round((s.timer.remaining or 0) * USER_HZ),
        "retrnsmt": 0 if s.timer is None else s.timer.retrans,
        "uid": s.uid,
        "inode": s.inode or 0,
    }


def _jc_row(e: dict[str, Any]) -> dict[str, Any]:
    return {
        "local_address": e["local_address"],
        "local_port": e["local_port"],
        "remote_address": e["remote_address"],
        "remote_port": e["remote_port"],
        "state": e["state"],
        "tx_queue": int(e["tx_queue"], 16),
        "rx_queue": int(e["rx_queue"], 16),
        "timer_active": e["timer_active"],
        "ticks": int(e["jiffies_until_timer_expires"], 16) if e["timer_active"] else 0,
        "retrnsmt": int(e["unrecovered_rto_timeouts"], 16),
        "uid": e["uid"],
        "inode": e["inode"],
    }


@pytest.mark.parametrize("rel", ["jc/linux-proc/net_tcp", "jc/linux-proc/net_tcp6"])
def test_proc_tcp_agrees_with_jc_field_by_field(rel: str) -> None:
    parsed = parse_proc_tcp(corpus_text(rel))
    jc = json.loads(corpus_text(rel + ".json"))
    assert len(parsed.records) == len(jc)
    for i, (s, e) in enumerate(zip(parsed.records, jc, strict=True)):
        assert _jc_view(s) == _jc_row(e), f"row {i}"
    assert Counter(_state_code(s.state) for s in parsed.records) == Counter(e["state"] for e in jc)


def test_jc_net_tcp_two_concatenated_dumps_and_their_quirks() -> None:
    socks = parse_proc_tcp(corpus_text("jc/linux-proc/net_tcp")).records
    assert len(socks) == 4 + 23
    assert Counter(s.state for s in socks) == {
        TcpState.LISTEN: 4,
        TcpState.ESTABLISHED: 1,
        TcpState.FIN_WAIT1: 6,
        TcpState.TIME_WAIT: 15,
        TcpState.CLOSE_WAIT: 1,
    }
    (cw,) = (s for s in socks if s.state is TcpState.CLOSE_WAIT)
    assert (cw.recv_q, cw.local, cw.peer) == (
        0x52,
        Endpoint("192.168.42.128", 54352),
        Endpoint("152.199.4.33", 443),
    )
    assert cw.timer == Timer("keepalive", 0xA6F / USER_HZ, 0)
    tw = [s for s in socks if s.state is TcpState.TIME_WAIT]
    assert all(s.inode is None and s.timer is not None and s.timer.kind == "timewait" for s in tw)
    fw1 = [s for s in socks if s.state is TcpState.FIN_WAIT1]
    assert all(s.send_q == 1 and s.timer is not None and s.timer.kind == "on" for s in fw1)


def test_jc_net_tcp6_addresses() -> None:
    socks = parse_proc_tcp(corpus_text("jc/linux-proc/net_tcp6")).records
    assert socks[0].local == Endpoint("::", 22)
    assert {s.local for s in socks[1:]} >= {Endpoint("2601:646:9e01:f100::3a4c", 59136)}
    assert socks[1].peer == Endpoint("2a03:2880:f131:83:face:b00c:0:25de", 80)


def test_pcp_415_hashed_pointers_and_uids() -> None:
    v4 = parse_proc_tcp(corpus_text(PCP_415 + "tcp")).records
    v6 = parse_proc_tcp(corpus_text(PCP_415 + "tcp6")).records
    assert Counter(s.state for s in v4) == {
        TcpState.ESTABLISHED: 14,
        TcpState.TIME_WAIT: 2,
        TcpState.LISTEN: 9,
    }
    assert {s.uid for s in v4} >= {386, 384, 0}
    assert [s.state for s in v6] == [TcpState.LISTEN] * 9
    assert Endpoint("::1", 631) in {s.local for s in v6}
    assert all(s.family == 6 for s in v6) and all(s.family == 4 for s in v4)


def test_node_exporter_tcpstat_queues_and_keepalive() -> None:
    listen, est = parse_proc_tcp(corpus_text(NODE + "tcpstat")).records
    assert (listen.state, listen.send_q, listen.recv_q) == (TcpState.LISTEN, 0x15, 0)
    assert (est.state, est.send_q, est.recv_q) == (TcpState.ESTABLISHED, 0x15, 1)
    assert est.local == Endpoint("10.0.2.15", 22)
    assert est.timer == Timer("keepalive", 0xAC99B / USER_HZ, 0)


def test_procfs_tcp_listen_queues() -> None:
    socks = parse_proc_tcp(corpus_text("procfs/testdata/fixtures/proc/net/tcp")).records
    assert [(s.local.address, s.send_q, s.recv_q) for s in socks] == [
        ("10.0.0.5", 0, 1),
        ("0.0.0.0", 1, 0),
        ("0.0.0.0", 1, 1),
    ]


# -- /proc/net/netstat ------------------------------------------------------------------

FIELD_COUNTS = {
    "jc/linux-proc/net_netstat": {"TcpExt": 121, "IpExt": 18, "MPTcpExt": 13},
    DATADOG: {
        "TcpExt": 123,
        "IpExt": 18,
        "MPTcpExt": 22,
    },
    PCP_415 + "netstat": {"TcpExt": 111, "IpExt": 17},
    "procfs/testdata/fixtures/proc/26231/net/netstat": {"TcpExt": 113, "IpExt": 18},
    NODE + "netstat": {"TcpExt": 84, "IpExt": 12},
    "pcp/qa/linux/proc_net_netstat": {"TcpExt": 145, "IpExt": 18, "MPTcpExt": 77},
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT.edited.txt": {"TcpExt": 114, "IpExt": 18},
    INSIGHTS + "proc_net_netstat__PROC_NETSTAT_2.edited-no-PFMemallocDrop.txt": {"TcpExt": 113, "IpExt": 18},
}


@pytest.mark.parametrize("rel", sorted(FIELD_COUNTS))
def test_netstat_field_counts(rel: str) -> None:
    parsed = parse_counters(corpus_text(rel))
    assert {g: len(v) for g, v in parsed.records} == FIELD_COUNTS[rel]
    tcpext = dict(parsed.records)["TcpExt"]
    assert "ListenOverflows" in tcpext and "ListenDrops" in tcpext


def test_netstat_agrees_with_jc() -> None:
    parsed = parse_counters(corpus_text("jc/linux-proc/net_netstat"))
    jc = json.loads(corpus_text("jc/linux-proc/net_netstat.json"))
    want = [(e.pop("type"), e) for e in jc]
    assert parsed.records == want


def test_pcp_synthetic_netstat_keeps_every_value_in_its_place() -> None:
    groups = dict(parse_counters(corpus_text("pcp/qa/linux/proc_net_netstat")).records)
    assert list(groups["TcpExt"].values()) == list(range(1, 146))
    mp = list(groups["MPTcpExt"].values())
    assert mp[10:13] == [11, 22, 13]  # not increasing upstream: kept as written, not "fixed"
    assert groups["MPTcpExt"]["MPCapableSYNRX"] == 1


def test_datadog_netstat_64_bit_counter() -> None:
    groups = dict(parse_counters(corpus_text(DATADOG)).records)
    assert 117375621699 in groups["IpExt"].values()


def test_insights_netstat_without_pfmemallocdrop_stays_aligned() -> None:
    groups = dict(
        parse_counters(
            corpus_text(INSIGHTS + "proc_net_netstat__PROC_NETSTAT_2.edited-no-PFMemallocDrop.txt")
        ).records
    )
    assert "PFMemallocDrop" not in groups["TcpExt"]
    full = dict(parse_counters(corpus_text(INSIGHTS + "proc_net_netstat__PROC_NETSTAT.edited.txt")).records)
    assert (full["TcpExt"]["SyncookiesSent"], full["TcpExt"]["EmbryonicRsts"]) == (10, 40)


# -- sockstat and limits -------------------------------------------------------------------


def test_sockstat_busy_host_and_rhel4() -> None:
    busy = dict(parse_sockstat(corpus_text(INSIGHTS + "proc_net_sockstat__SOCK_STATS.txt")).records)
    assert busy["TCP"] == {"inuse": 1365, "orphan": 17, "tw": 2030, "alloc": 2788, "mem": 4109}
    assert busy["FRAG"] == {"inuse": 0, "memory": 10}
    rhel4 = dict(parse_sockstat(corpus_text(NODE + "sockstat_rhe4")).records)
    assert rhel4["UDP"] == {"inuse": 0}
    assert "UDPLITE" not in rhel4
    v6 = dict(parse_sockstat(corpus_text(NODE + "sockstat6")).records)
    assert v6["TCP6"] == {"inuse": 17}


def test_limits_real_padding_and_empty_units() -> None:
    parsed = parse_limits(corpus_text("procure/testdata/proc/1/limits"))
    assert len(parsed.records) == 16
    by_name = {lim.name: lim for lim in parsed.records}
    assert by_name["Max nice priority"] == Limit("Max nice priority", 0, 0, "")
    assert by_name["Max processes"] == Limit("Max processes", 61253, 61253, "processes")
    assert nofile(parsed) == (1024, 4096)


def test_limits_above_int64_and_unlimited_hard() -> None:
    parsed = parse_limits(corpus_text("procfs/testdata/fixtures/proc/26231/limits"))
    by_name = {lim.name: lim for lim in parsed.records}
    assert by_name["Max locked memory"].soft == 18446744073708503040 == 2**64 - 2**20
    assert by_name["Max address space"] == Limit("Max address space", 8589934592, None, "bytes")
    assert nofile(parsed) == (2048, 4096)
    assert nofile(parse_limits(corpus_text("procfs/testdata/fixtures/proc/26232/limits"))) == (1024, 4096)
    assert nofile(parse_limits(corpus_text(INSIGHTS + "proc_pid_limits__PROC_LIMITS.txt"))) == (1024, 4096)
    assert nofile(parse_limits(corpus_text(INSIGHTS + "proc_pid_limits__PROC_LIMITS_ERR.txt"))) is None
