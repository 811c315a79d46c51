"""The incidents of DOMAIN.md on real sockets, scanned over SSH, each giving exactly its findings.

Nine hosts of the session fleet (tests/nsfleet.py) each carry one incident, made by the
programs of tests/incidents.py run inside the host (its network, mount and PID
namespaces, so the pids they print are those the snapshots show); a tenth, never
scanned, plays the remote proxy for two of them. One ``netdiag`` scan with two samples
reads them all through sshd, exactly as ``netdiag scan --samples 2 --save DIR`` does; the
rules run over it, and every test checks one host: the rule ids, severities, processes
and ports of its findings above info, and nothing else. The last test runs
``netdiag analyze`` on the saved scan and demands the very same findings.

With two samples the leaked sockets are seen twice with the same 4-tuples, so each leak
rule escalates to critical as its documentation says ("persist across samples").
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import pytest
from click.testing import CliRunner

from netdiag.cli import main
from netdiag.engine import run_rules
from netdiag.model import Endpoint, Snapshot, TcpState
from netdiag.results import Finding, Related, ScanResult, Severity
from netdiag.rules import close_wait_leak, close_wait_unread, fd_exhaustion, listen_overflows
from netdiag.save import load_saved, save_scan
from netdiag.scan import ScanOptions, scan_result
from tests import incidents, sockets
from tests.nsfleet import Fleet, FleetHost
from tests.test_ssh_scan import ssh_options, target

pytestmark = pytest.mark.netns

CRITICAL, WARNING = Severity.CRITICAL, Severity.WARNING

# Roles, each on its own fleet host; "proxy" is the remote peer of "nginx" and "imap", not scanned
# (a machine outside the inventory), so their findings are about the leaking servers alone.
ROLES = ("leak522", "nginx", "imap", "acceptq", "backend", "client", "fdhog", "churn", "healthy", "proxy")
SCANNED = ROLES[:-1]

LEAKED = close_wait_leak.Options().threshold + 10  # 60: fires, below 4x the threshold (critical by count)
UNREAD = close_wait_unread.Options().threshold + 7  # 12: fires, below close_wait_leak's 50 and 4 x 5
BODY = 64  # bytes of request body nginx never reads
PORT_RANGE = (20000, 29999)  # outside the kernel default 32768-60999: only the namespace's sysctl tells it
BACKLOG = 8
NOFILE, FDS = 100, 90  # 90% of the soft limit: past fd_exhaustion's 80%, short of its 95%
TIME_WAITS = 3000
LIFETIME = "120"  # seconds: no program outlives a crashed test run by more
SAMPLE_INTERVAL = 1.0


class Row(NamedTuple):
    """One line of ``ss -Htan`` inside a namespace."""

    state: str
    recv_q: int
    send_q: int
    local: str
    peer: str


@dataclass(frozen=True, slots=True)
class Scene:
    hosts: dict[str, FleetHost]
    programs: dict[str, incidents.Running | sockets.Running]
    result: ScanResult
    findings: list[Finding]
    saved: Path


Key = tuple[str, Severity, str | None, int | None, str | None]  # rule, severity, process, pid, local


# -- setting the scene -------------------------------------------------------------------


def run_in(fleet: Fleet, host: FleetHost, *argv: str) -> str:
    """Run a command in the host's namespace; its stdout, or a loud failure."""
    done = fleet.exec(host, argv, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{host.name}: {' '.join(argv)} failed ({done.returncode}): {done.stderr}")
    return str(done.stdout)


def ss_rows(fleet: Fleet, host: FleetHost) -> list[Row]:
    out = run_in(fleet, host, "ss", "-Htan")
    rows = []
    for line in out.splitlines():
        state, recv_q, send_q, local, peer = line.split()[:5]
        rows.append(Row(state, int(recv_q), int(send_q), local, peer))
    return rows


def wait_until(fleet: Fleet, host: FleetHost, what: str, ok: Callable[[list[Row]], bool]) -> None:
    """Poll the namespace's sockets until ``ok``; fail loudly with what was there instead."""
    deadline = time.monotonic() + 15
    while not ok(rows := ss_rows(fleet, host)):
        if time.monotonic() > deadline:
            seen = Counter((r.state, r.recv_q) for r in rows)
            raise AssertionError(f"{host.name}: never reached {what}; (state, Recv-Q) counts: {seen}")
        time.sleep(0.1)


def count(
    rows: list[Row], port: int, recv_q: int | None, state: str = "CLOSE-WAIT", side: str = "local"
) -> int:
    """Sockets in ``state`` on (or, ``side="peer"``, toward) ``port``, with that Recv-Q unless None."""
    return sum(
        1
        for r in rows
        if r.state == state
        and getattr(r, side).endswith(f":{port}")
        and (recv_q is None or r.recv_q == recv_q)
    )


def set_sysctls(fleet: Fleet, host: FleetHost, values: dict[str, str], stack: contextlib.ExitStack) -> None:
    """Set namespace sysctls, restoring the old values when ``stack`` closes (the host is shared)."""
    for name, value in values.items():
        old = " ".join(run_in(fleet, host, "sysctl", "-n", name).split())
        stack.callback(run_in, fleet, host, "sysctl", "-qw", f"{name}={old}")
        run_in(fleet, host, "sysctl", "-qw", f"{name}={value}")


@pytest.fixture(scope="module")
def scene(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Scene:
    if len(fleet.plain) < len(ROLES):
        raise RuntimeError(f"the incidents need {len(ROLES)} plain fleet hosts, not {len(fleet.plain)}")
    hosts = dict(zip(ROLES, fleet.plain[-len(ROLES) :], strict=True))
    programs: dict[str, incidents.Running | sockets.Running] = {}
    with contextlib.ExitStack() as stack:

        def run(key: str, role: str, program: str, address: str, port: int, *args: str) -> None:
            inside = fleet.prefix(hosts[role])  # the host's network, mount and PID namespaces
            p = incidents.start(program, address, port, *args, "--lifetime", LIFETIME, prefix=inside)
            stack.callback(p.stop)
            programs[key] = p

        # 1. Seed 001: the listener on 127.0.0.1:5000 reads EOF and forgets close(); its local clients'
        #    halves expire (tcp_fin_timeout 1 s), so their ports are free for reuse.
        range_text = f"{PORT_RANGE[0]} {PORT_RANGE[1]}"
        set_sysctls(
            fleet,
            hosts["leak522"],
            {"net.ipv4.tcp_fin_timeout": "1", "net.ipv4.ip_local_port_range": range_text},
            stack,
        )
        forget = ("--behaviour", "forget-close", "--name", "leaky-api")
        run("leak522", "leak522", "server", "127.0.0.1", 5000, *forget)
        spread = ("--ports", str(PORT_RANGE[0]), str(PORT_RANGE[1]))
        run("leak522-clients", "leak522", "clients", "127.0.0.1", 5000, "--count", str(LEAKED), *spread)
        # 2. Seed 000: nginx answers before reading the body; Envoy (on the proxy host) closes.
        run("nginx", "nginx", "server", "0.0.0.0", 8080, "--behaviour", "reply-early", "--name", "nginx")
        post = ("--count", str(LEAKED), "--post", str(BODY), "--name", "envoy")
        run("envoy", "proxy", "clients", hosts["nginx"].address, 8080, *post)
        # 3. Seed 002: the IMAP backend reads all but the last byte; nginx (on the proxy host) closes.
        short = ("--behaviour", "short-read", "--read", "31", "--name", "imapd")
        run("imap", "imap", "server", "0.0.0.0", 1143, *short)
        send = ("--count", str(UNREAD), "--send", "32", "--name", "nginx")
        run("imap-proxy", "proxy", "clients", hosts["imap"].address, 1143, *send)
        # 4. A listener that never accepts, its queue full and SYNs still arriving (~500/s).
        acceptless = ("--behaviour", "never-accept", "--backlog", str(BACKLOG), "--name", "slowapp")
        run("acceptq", "acceptq", "server", "0.0.0.0", 7000, *acceptless)
        syns = ("--queued", str(BACKLOG + 1), "--rate", "500", "--pending", "64", "--seconds", "90")
        run("loadgen", "acceptq", "flood", "127.0.0.1", 7000, *syns, "--name", "loadgen")
        # 5. The client half-closes; its peer on another host never closes (nor reads).
        run("backend", "backend", "server", "0.0.0.0", 9000, "--behaviour", "never-read", "--name", "backend")
        halfclose = ("--count", str(LEAKED), "--then", "shutdown", "--name", "api-client")
        run("client", "client", "clients", hosts["backend"].address, 9000, *halfclose)
        # 6. A process near its fd limit.
        hog = ("--nofile", str(NOFILE), "--fds", str(FDS), "--name", "fdhog")
        run("fdhog", "fdhog", "fdhog", "0.0.0.0", 0, *hog)
        # 7. Busy and healthy: thousands of TIME_WAIT left by short connections the clients closed.
        run("churn", "churn", "churn", "127.0.0.1", 8000, "--count", str(TIME_WAITS), "--name", "web")
        # And a healthy host: a listener with a few live connections.
        inside = fleet.prefix(hosts["healthy"])
        healthy = sockets.start("pairs", "0.0.0.0", 0, "--count", "3", "--name", "healthy-app", prefix=inside)
        stack.callback(healthy.stop)
        programs["healthy"] = healthy

        wait_until(
            fleet,
            hosts["leak522"],
            f"{LEAKED} CLOSE_WAIT on :5000 with Recv-Q 0 and no FIN_WAIT_2 left",
            lambda r: count(r, 5000, 0) == LEAKED and not any(x.state == "FIN-WAIT-2" for x in r),
        )
        waits: list[tuple[str, str, Callable[[list[Row]], bool]]] = [
            ("nginx", "CLOSE_WAIT on :8080, body unread", lambda r: count(r, 8080, BODY + 1) == LEAKED),
            ("imap", "CLOSE_WAIT on :1143, Recv-Q 2", lambda r: count(r, 1143, 2) == UNREAD),
            ("acceptq", "a full queue on :7000", lambda r: count(r, 7000, BACKLOG + 1, "LISTEN") == 1),
            ("backend", "CLOSE_WAIT on :9000, Recv-Q 1", lambda r: count(r, 9000, 1) == LEAKED),
            ("client", "FIN_WAIT_2 to :9000", lambda r: count(r, 9000, None, "FIN-WAIT-2", "peer") == LEAKED),
        ]
        for role, what, ok in waits:
            wait_until(fleet, hosts[role], what, ok)

        result = scan_result(
            [target(hosts[role]) for role in SCANNED],
            ScanOptions(forks=len(SCANNED), samples=2, interval=SAMPLE_INTERVAL, ssh=ssh_options(fleet)),
        )
    still = [key for key, p in programs.items() if p.proc.poll() is None]
    if still:
        raise AssertionError(f"programs still running after teardown: {still}")
    for h in result.hosts:  # the programs are gone; what matters is what the scan saw
        if not h.outcome.scanned or len(h.samples) != 2:
            raise AssertionError(f"{h.name} was not read twice: {h.outcome.value}: {h.message}")
    saved = tmp_path_factory.mktemp("incidents") / "scan"
    save_scan(result, saved)  # what `netdiag scan --save DIR` writes
    return Scene(hosts, programs, result, run_rules(result.hosts), saved)


# -- reading the findings ------------------------------------------------------------------------


def serious(scene: Scene, role: str) -> Counter[Key]:
    """The host's findings above info, as (rule, severity, process, pid, local)."""
    name = scene.hosts[role].name
    return Counter(
        (f.rule, f.severity, f.process, f.pid, f.local)
        for f in scene.findings
        if f.host == name and f.severity > Severity.INFO
    )


def expected(scene: Scene) -> dict[str, Counter[Key]]:
    """Every finding above info the scan must give, per role; nothing else may appear."""
    h, p = scene.hosts, scene.programs

    def at(role: str, port: int) -> str:
        return f"{h[role].address}:{port}"

    return {
        "leak522": Counter(
            {
                ("close_wait_leak", CRITICAL, "leaky-api", p["leak522"].pid, "127.0.0.1:5000"): 1,
                ("ephemeral_port_collision", WARNING, "leaky-api", p["leak522"].pid, "127.0.0.1:5000"): 1,
            }
        ),
        "nginx": Counter(
            {
                ("close_wait_leak", CRITICAL, "nginx", p["nginx"].pid, at("nginx", 8080)): 1,
                ("close_wait_unread", CRITICAL, "nginx", p["nginx"].pid, at("nginx", 8080)): 1,
            }
        ),
        "imap": Counter({("close_wait_unread", CRITICAL, "imapd", p["imap"].pid, at("imap", 1143)): 1}),
        "acceptq": Counter(
            {
                ("listen_queue_full", CRITICAL, "slowapp", p["acceptq"].pid, "0.0.0.0:7000"): 1,
                ("listen_overflows", CRITICAL, "slowapp", p["acceptq"].pid, "0.0.0.0:7000"): 1,
            }
        ),
        "backend": Counter(
            {
                ("close_wait_leak", CRITICAL, "backend", p["backend"].pid, at("backend", 9000)): 1,
                ("cross_host_leak", CRITICAL, "backend", p["backend"].pid, at("backend", 9000)): 1,
            }
        ),
        "client": Counter({("fin_wait2_pileup", CRITICAL, "api-client", p["client"].pid, None): 1}),
        "fdhog": Counter(
            {("fd_exhaustion", WARNING, "fdhog", p["fdhog"].pid, f"0.0.0.0:{p['fdhog'].info['port']}"): 1}
        ),
        "churn": Counter(),
        "healthy": Counter(),
    }


def the(scene: Scene, role: str, rule: str) -> Finding:
    [found] = [f for f in scene.findings if f.host == scene.hosts[role].name and f.rule == rule]
    return found


def samples(scene: Scene, role: str) -> tuple[Snapshot, ...]:
    [h] = [h for h in scene.result.hosts if h.name == scene.hosts[role].name]
    return h.samples


# -- one test per incident -----------------------------------------------------------------------


def test_leaking_loopback_listener_with_peer_ports_in_the_ephemeral_range(scene: Scene) -> None:
    assert serious(scene, "leak522") == expected(scene)["leak522"]
    leak = the(scene, "leak522", "close_wait_leak")
    assert leak.value == LEAKED
    assert f"{LEAKED} with Recv-Q 0 (read end-of-file, never called close())" in leak.message
    assert f"{LEAKED} of them were already there" in leak.message  # same 4-tuples in both samples
    collision = the(scene, "leak522", "ephemeral_port_collision")
    assert collision.value == LEAKED
    # The peer ports lie in 20000-29999, outside the kernel default range: the rule can only have
    # judged them ephemeral from the namespace's own sysctl, which the collection read.
    assert "ip_local_port_range 20000-29999" in collision.message
    snap = samples(scene, "leak522")[-1]
    assert snap.port_range() == PORT_RANGE
    peers = sorted(s.peer.port or 0 for s in snap.sockets if s.state is TcpState.CLOSE_WAIT)
    assert peers == sorted(scene.programs["leak522-clients"].info["client_ports"])
    assert peers[0] == PORT_RANGE[0] and peers[-1] == PORT_RANGE[1]  # spread over the whole range
    assert not [s for s in snap.sockets if s.state is TcpState.FIN_WAIT2]  # the clients' halves expired


def test_keepalive_server_answering_before_reading_the_body(scene: Scene) -> None:
    assert serious(scene, "nginx") == expected(scene)["nginx"]
    unread = the(scene, "nginx", "close_wait_unread")
    assert unread.value == LEAKED
    assert f"{LEAKED * BODY} bytes unread in all, largest Recv-Q {BODY + 1}" in unread.message
    leak = the(scene, "nginx", "close_wait_leak")
    assert f"{LEAKED} with unread data" in leak.message
    assert leak.peer == str(Endpoint(scene.hosts["proxy"].address, None))  # the proxy, many ports


def test_backend_that_never_reads_the_last_byte(scene: Scene) -> None:
    assert serious(scene, "imap") == expected(scene)["imap"]
    unread = the(scene, "imap", "close_wait_unread")
    assert unread.value == UNREAD
    assert f"{UNREAD} bytes unread in all, largest Recv-Q 2" in unread.message  # one byte each, plus the FIN
    assert f"{UNREAD} of them already held unread data in the first sample" in unread.message
    imap = scene.hosts["imap"].name
    assert not [f for f in scene.findings if f.host == imap and f.rule == "close_wait_leak"]


def test_listener_that_never_accepts_flooded(scene: Scene) -> None:
    assert serious(scene, "acceptq") == expected(scene)["acceptq"]
    full = the(scene, "acceptq", "listen_queue_full")
    assert full.value == BACKLOG + 1
    assert f"accept queue of {BACKLOG} (full" in full.message
    assert "full in all 2 samples" in full.message
    first, last = samples(scene, "acceptq")
    grew = max(last.counters["TcpExt"][c] - first.counters["TcpExt"][c] for c in listen_overflows.COUNTERS)
    overflows = the(scene, "acceptq", "listen_overflows")
    assert overflows.value == grew >= listen_overflows.Options().critical_delta
    assert "ListenOverflows grew by" in overflows.message


def test_client_whose_peer_on_another_host_never_closes(scene: Scene) -> None:
    h, p = scene.hosts, scene.programs
    assert serious(scene, "backend") == expected(scene)["backend"]
    assert serious(scene, "client") == expected(scene)["client"]
    pile = the(scene, "client", "fin_wait2_pileup")
    assert pile.value == LEAKED and pile.peer == f"{h['backend'].address}:9000"
    assert f"{LEAKED} still owned by api-client (pid {p['client'].pid}) (they never time out)" in pile.message
    cross = the(scene, "backend", "cross_host_leak")
    assert cross.value == LEAKED
    assert cross.related == (Related(h["client"].name, "api-client", p["client"].pid),)
    assert cross.message.startswith(
        f"{h['backend'].name}'s backend (pid {p['backend'].pid}) is not closing connections from "
        f"{h['client'].name}'s api-client (pid {p['client'].pid}): {LEAKED} CLOSE_WAIT sockets"
    )
    assert f"{LEAKED} still in FIN_WAIT_2 on {h['client'].name}" in cross.message
    leak = the(scene, "backend", "close_wait_leak")
    assert f"{LEAKED} with Recv-Q 1 (never read end-of-file" in leak.message


def test_process_near_its_fd_limit(scene: Scene) -> None:
    assert serious(scene, "fdhog") == expected(scene)["fdhog"]
    f = the(scene, "fdhog", "fd_exhaustion")
    assert f.value == FDS == scene.programs["fdhog"].info["fds"]
    assert f.threshold == fd_exhaustion.Options().warn_share * NOFILE
    assert f"soft RLIMIT_NOFILE {NOFILE}" in f.message


def test_busy_healthy_host_with_thousands_of_time_wait(scene: Scene) -> None:
    snap = samples(scene, "churn")[-1]
    assert snap.state_counts().get("TIME_WAIT", 0) >= TIME_WAITS
    assert serious(scene, "churn") == Counter()
    assert not [f for f in scene.findings if f.rule == "time_wait_exhaustion"]


def test_healthy_host_has_nothing_above_info(scene: Scene) -> None:
    snap = samples(scene, "healthy")[-1]
    app = scene.programs["healthy"]
    mine = [s for s in snap.sockets if any(o.pid == app.pid for o in s.owners)]
    assert Counter(s.state for s in mine) == {TcpState.LISTEN: 1, TcpState.ESTABLISHED: 6}
    assert serious(scene, "healthy") == Counter()


def test_nothing_else_above_info_anywhere(scene: Scene) -> None:
    everything = Counter(
        (f.host, f.rule, f.severity, f.process, f.pid, f.local)
        for f in scene.findings
        if f.severity > Severity.INFO
    )
    wanted: Counter[tuple[object, ...]] = Counter()
    for role, keys in expected(scene).items():
        wanted.update({(scene.hosts[role].name, *key): n for key, n in keys.items()})
    assert everything == wanted


# -- the saved scan --------------------------------------------------------------------------------


def identity(f: Finding) -> tuple[object, ...]:
    return (f.rule, f.host, f.severity, f.process, f.pid, f.local, f.peer, f.value)


def test_analyze_of_the_saved_scan_gives_the_scans_findings(scene: Scene) -> None:
    out = CliRunner().invoke(main, ["analyze", "--format", "json", str(scene.saved)])
    assert out.exit_code == 2, out.output  # critical findings
    reported = json.loads(out.output)["findings"]
    assert reported == [f.to_dict() for f in scene.findings]
    again = run_rules(load_saved([scene.saved]))
    assert [identity(f) for f in again] == [identity(f) for f in scene.findings]
    assert [f.to_dict() for f in again] == [f.to_dict() for f in scene.findings]
