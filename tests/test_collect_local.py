"""`netdiag collect localhost` against real sockets made by tests/sockets.py, with psutil as the oracle.

The same programs are collected three times: with everything on PATH (ss),
with ss hidden (netstat) and with both hidden (/proc/net/tcp*; find hidden too,
so the fd map comes from the `ls -l` pass, not find's -printf). PATH is a
directory of symlinks to exactly the tools the script needs, so a tool the
script forgot to list, or one it finds outside PATH, fails here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner

from netdiag.cli import main
from netdiag.collectors import collect
from netdiag.collectors.assemble import assemble
from netdiag.model import HostInfo, Snapshot, Socket, TcpState
from netdiag.transport.local import LocalTransport
from tests import sockets
from tests.unprivileged import run_script_as_nobody

# Every tool collect.sh runs (its header lists them); ss, netstat and find are added per case.
TOOLS = ("sh", "awk", "cat", "date", "grep", "head", "id", "ls", "xargs")
HIDDEN = {"ss": (), "netstat": ("ss",), "proc": ("ss", "netstat", "find")}
NAME = "nd t(1) x"  # comm with a space and parentheses


@pytest.fixture(scope="module")
def programs() -> Iterator[dict[str, sockets.Running]]:
    specs = {
        "listener": ("listener", "127.0.0.1", "--backlog", "7"),
        "pairs": ("pairs", "::1", "--count", "2", "--unread", "5"),
        "closewait": ("closewait", "127.0.0.1", "--count", "2", "--orphans", "1"),
        "fullqueue": ("fullqueue", "127.0.0.1", "--backlog", "2", "--extra", "2"),
        "manyfds": ("manyfds", "127.0.0.1", "--count", "60", "--nofile", "777"),
        "forked": ("forked", "127.0.0.1", "--count", "2"),
    }
    running: dict[str, sockets.Running] = {}
    try:
        for key, (program, host, *args) in specs.items():
            running[key] = sockets.start(program, host, 0, *args, "--name", NAME)
        yield running
    finally:
        for r in running.values():
            r.stop()


def _tooldir(root: Path, hide: tuple[str, ...]) -> Path:
    d = root / ("path-without-" + ("-".join(hide) or "nothing"))
    d.mkdir()
    for tool in (*TOOLS, "ss", "netstat", "find"):
        if tool in hide:
            continue
        real = shutil.which(tool)
        assert real is not None, f"{tool} is needed on this machine for the test"
        (d / tool).symlink_to(real)
    return d


@pytest.fixture(scope="module")
def collected(
    programs: dict[str, sockets.Running], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, tuple[Snapshot, dict[str, Any]]]]:
    """Per source: the snapshot `netdiag collect` wrote, and psutil's view taken right after."""
    root = tmp_path_factory.mktemp("tools")
    pids = _pids(programs)
    out: dict[str, tuple[Snapshot, dict[str, Any]]] = {}
    mp = pytest.MonkeyPatch()
    try:
        for source, hide in HIDDEN.items():
            mp.setenv("PATH", str(_tooldir(root, hide)))
            result = CliRunner().invoke(
                main, ["collect", "localhost", "--netns", "host"], catch_exceptions=False
            )
            assert result.exit_code == 0, result.output
            snapshot = Snapshot.from_dict(json.loads(result.stdout))
            mp.undo()
            out[source] = (snapshot, {"conns": _psutil_view(pids)})
    finally:
        mp.undo()
    yield out


def _pids(programs: dict[str, sockets.Running]) -> set[int]:
    pids = {r.pid for r in programs.values()}
    return pids | set(programs["forked"].info["children"])


def _psutil_view(pids: set[int]) -> dict[tuple[Any, ...], int]:
    """4-tuple + state -> pid; psutil names one owner per socket (the first it met)."""
    view = {}
    for c in psutil.net_connections(kind="tcp"):
        if c.pid in pids:
            raddr = (c.raddr.ip, c.raddr.port) if c.raddr else None
            view[((c.laddr.ip, c.laddr.port), raddr, c.status)] = c.pid
    return view


def _our_view(snapshot: Snapshot, pids: set[int]) -> dict[tuple[Any, ...], set[int | None]]:
    view = {}
    for s in snapshot.sockets:
        raddr = None if s.state is TcpState.LISTEN else (s.peer.address, s.peer.port)
        if _owner_pids(s) & pids:
            view[((s.local.address, s.local.port), raddr, s.state.value)] = _owner_pids(s)
    return view


def _some_fd_link_refused() -> bool:
    """The oracle for process visibility: is any /proc/<pid>/fd link unreadable to us?"""
    for fd_dir in Path("/proc").glob("[0-9]*/fd"):
        try:
            for entry in fd_dir.iterdir():
                entry.readlink()
        except PermissionError:
            return True
        except FileNotFoundError:
            continue
    return False


def _on_port(snapshot: Snapshot, port: int) -> list[Socket]:
    return [s for s in snapshot.sockets if port in (s.local.port, s.peer.port)]


def _owner_pids(s: Socket) -> set[int | None]:
    return {o.pid for o in s.owners}


@pytest.mark.parametrize("source", list(HIDDEN))
def test_socket_set_matches_psutil(source, programs, collected) -> None:
    snapshot, oracle = collected[source]
    ours = _our_view(snapshot, _pids(programs))
    theirs = oracle["conns"]
    assert set(ours) == set(theirs)
    assert all(theirs[key] in ours[key] for key in theirs)
    assert len(ours) >= 20  # every program's sockets, not an empty match


@pytest.mark.parametrize("source", list(HIDDEN))
def test_collection_record(source, collected) -> None:
    snapshot, _ = collected[source]
    c = snapshot.collection
    assert c.socket_source == source
    attempts = [(x.command.split()[0], x.status) for x in c.commands if x.name == "sockets"]
    expected = {"ss": [("ss", "ok")], "netstat": [("ss", "missing"), ("netstat", "ok")]}
    assert attempts == expected.get(source, [("ss", "missing"), ("netstat", "missing"), ("cat", "ok")])
    assert all(x.status == "ok" for x in c.commands if x.name != "sockets"), c.commands
    (fdmap,) = [x.command for x in c.commands if x.name == "fdmap"]
    assert fdmap.startswith("ls -l " if source == "proc" else "find ")
    assert c.uid == os.geteuid()
    refused = "own" if os.geteuid() else "partial"  # root refused too: LSM, ptrace rules, sandbox init
    assert c.process_visibility == (refused if _some_fd_link_refused() else "full")
    assert "/proc/<pid>/fd" in c.owner_method
    assert c.warnings == ()
    assert snapshot.host.kernel == os.uname().release
    assert snapshot.host.hostname == os.uname().nodename
    assert c.seconds > 0 and c.bytes_received > 0


@pytest.mark.parametrize("source", list(HIDDEN))
def test_states_queues_and_owners(source, programs, collected) -> None:
    snapshot, _ = collected[source]

    listener = programs["listener"]
    (lst,) = _on_port(snapshot, listener.info["port"])
    assert (lst.state, lst.recv_q, _owner_pids(lst)) == (TcpState.LISTEN, 0, {listener.pid})
    assert lst.send_q == (7 if source == "ss" else 0)  # only ss shows the backlog

    pairs = programs["pairs"]
    conns = [s for s in _on_port(snapshot, pairs.info["port"]) if s.state is not TcpState.LISTEN]
    assert len(conns) == 4 and all(s.state is TcpState.ESTABLISHED for s in conns)
    assert all(_owner_pids(s) == {pairs.pid} and s.local.address == "::1" for s in conns)
    servers = [s for s in conns if s.local.port == pairs.info["port"]]
    assert sorted(s.peer.port or 0 for s in servers) == sorted(pairs.info["client_ports"])
    assert [s.recv_q for s in servers] == [5, 5]  # bytes sent, never read

    cw = programs["closewait"]
    around = _on_port(snapshot, cw.info["port"])
    close_wait = [s for s in around if s.state is TcpState.CLOSE_WAIT]
    assert sorted(s.peer.port or 0 for s in close_wait) == sorted(
        cw.info["client_ports"] + cw.info["orphan_ports"]
    )
    assert all(_owner_pids(s) == {cw.pid} and s.recv_q == 1 for s in close_wait)  # FIN never read
    fin_wait2 = {s.local.port: s for s in around if s.state is TcpState.FIN_WAIT2}
    assert set(fin_wait2) == set(cw.info["client_ports"] + cw.info["orphan_ports"])
    assert all(_owner_pids(fin_wait2[p]) == {cw.pid} for p in cw.info["client_ports"])  # shutdown()
    assert all(fin_wait2[p].owners == () for p in cw.info["orphan_ports"])  # close(): orphaned

    fq = programs["fullqueue"]
    (fq_listener,) = (s for s in _on_port(snapshot, fq.info["port"]) if s.state is TcpState.LISTEN)
    assert fq_listener.recv_q == 3 and _owner_pids(fq_listener) == {fq.pid}
    (queue,) = (q for q in snapshot.listeners if q.socket == fq_listener)
    if source == "ss":
        assert (queue.queue, queue.backlog, queue.full) == (3, 2, True)
    else:
        assert (queue.queue, queue.backlog, queue.full) == (3, None, False)
    syn_sent = [s for s in _on_port(snapshot, fq.info["port"]) if s.state is TcpState.SYN_SENT]
    assert sorted(s.local.port or 0 for s in syn_sent) == sorted(fq.info["pending_ports"])
    assert all(_owner_pids(s) == {fq.pid} for s in syn_sent)

    forked = programs["forked"]
    (shared,) = _on_port(snapshot, forked.info["port"])
    assert _owner_pids(shared) == {forked.pid, *forked.info["children"]}
    assert {o.name for o in shared.owners} == {NAME}


@pytest.mark.parametrize("source", list(HIDDEN))
def test_processes(source, programs, collected) -> None:
    snapshot, _ = collected[source]
    for r in programs.values():
        p = snapshot.process(r.pid)
        assert p is not None, r.info
        ps = psutil.Process(r.pid)
        soft, hard = ps.rlimit(psutil.RLIMIT_NOFILE)
        assert (p.name, p.cmdline) == (ps.name(), " ".join(ps.cmdline()))
        assert (p.fd_count, p.nofile_soft, p.nofile_hard) == (ps.num_fds(), soft, hard)
    many = snapshot.process(programs["manyfds"].pid)
    assert many is not None and many.nofile_soft == 777 and many.fd_count is not None and many.fd_count > 60


def test_console_script_writes_a_snapshot_that_round_trips(programs, tmp_path) -> None:
    """The installed `netdiag` entry point, in a subprocess, writing to -o FILE."""
    exe = shutil.which("netdiag")
    argv = [exe] if exe else [sys.executable, "-c", "from netdiag.cli import main; main()"]
    out = tmp_path / "snap.json"
    r = subprocess.run(
        [*argv, "collect", "--netns", "host", "-o", str(out)], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout == ""
    data = json.loads(out.read_text())
    snapshot = Snapshot.from_dict(data)
    assert snapshot.to_dict() == data
    assert Snapshot.from_dict(json.loads(json.dumps(snapshot.to_dict()))) == snapshot
    assert snapshot.process(programs["listener"].pid) is not None


def test_other_hosts_are_refused_for_now() -> None:
    result = CliRunner().invoke(main, ["collect", "web1.example"])
    assert result.exit_code == 2
    assert "SSH collection comes with `netdiag scan`" in result.output


def test_without_root_only_own_processes_are_visible(programs) -> None:
    """The script run as nobody: its own processes are readable, the test programs' (root's) are not."""
    if os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI runs as root; this test needs root to drop to nobody")
        pytest.skip("needs root to run the script as another user")
    r = run_script_as_nobody(timeout=60)
    assert r.returncode == 0, r.stderr
    snapshot = assemble(r.stdout, HostInfo("localhost", "local"))
    c = snapshot.collection
    assert (c.uid, c.process_visibility) == (65534, "own")
    assert "denied" in c.owner_method
    (lst,) = _on_port(snapshot, programs["listener"].info["port"])
    assert lst.owners == () and lst.state is TcpState.LISTEN
    assert snapshot.process(programs["listener"].pid) is None


def test_local_transport_returns_partial_output_on_timeout() -> None:
    """A hung host: the process group is killed and what came before is kept."""
    script = b"echo started; sleep 30 & wait\n"
    result = LocalTransport().run(script, [], timeout=0.5)
    assert (result.stdout, result.exit_code, result.timed_out) == (b"started\n", None, True)
    assert 0.5 <= result.seconds < 10


def test_a_refused_run_is_recorded_not_raised() -> None:
    (snapshot,) = collect(LocalTransport(), HostInfo("localhost", "local"), ["--no-such-option"])
    (run,) = snapshot.collection.commands
    assert (run.name, run.status) == ("script", "failed")
    assert "exit code 2" in run.detail and "unknown argument: --no-such-option" in run.detail
    assert snapshot.sockets == ()
