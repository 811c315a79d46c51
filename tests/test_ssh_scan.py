"""Fleet scanning over SSH against real OpenSSH sshd hosts in network namespaces (tests/nsfleet.py).

One scan of every special host (module fixture) feeds the outcome tests; the
others scan the hosts they need. Pure parts (command building, ssh_config
resolution, known_hosts, saving) are tested directly at the end, no fleet.
"""

from __future__ import annotations

import _thread
import base64
import getpass
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import paramiko
import pytest

from netdiag.inventory import Target, load_inventory
from netdiag.model import Collection, CommandRun, HostInfo, Snapshot, TcpState
from netdiag.results import HostResult, Outcome, ScanResult
from netdiag.save import load_saved, save_scan
from netdiag.scan import ScanOptions, judge, scan, scan_result
from netdiag.transport.base import ExecResult
from netdiag.transport.ssh import (
    KnownHosts,
    SshContext,
    SshError,
    SshOptions,
    SshTransport,
    Unreachable,
    build_command,
    check_name,
    sudo_refusal,
)
from tests import sockets
from tests.nsfleet import NOSUDO_USER, USER, Fleet, FleetHost

# the only remote commands a default scan sends
FIXED = {"sh -s -- --compress", "sudo -n sh -s -- --compress"}
DEADLINE = 6.0  # per-host deadline of the special-hosts scan (the hung host takes exactly this)
CONNECT_TIMEOUT = 3.0


def ssh_options(fleet: Fleet, tmp: Path | None = None, **kw: object) -> SshOptions:
    """Root with the fleet key, the fleet's known_hosts, no agent, an empty ssh_config (no host leakage)."""
    empty = fleet.root / "empty_ssh_config"
    empty.touch()
    base = SshOptions(
        user="root",
        key_file=str(fleet.client_key),
        known_hosts=str(fleet.known_hosts),
        config_file=str(empty),
        connect_timeout=CONNECT_TIMEOUT,
        use_agent=False,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def target(host: FleetHost, name: str | None = None, **kw: object) -> Target:
    return Target(name=name or host.name, host=host.address, **kw)  # type: ignore[arg-type]


def pub_fingerprint(public_line: str) -> str:
    blob = base64.b64decode(public_line.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def by_name(results: list[HostResult]) -> dict[str, HostResult]:
    return {r.name: r for r in results}


def listeners(snapshot: Snapshot) -> dict[int, tuple[int | None, ...]]:
    """Listening port -> owner pids, IPv4 wildcard listeners only."""
    return {
        s.local.port: tuple(o.pid for o in s.owners)
        for s in snapshot.sockets
        if s.state is TcpState.LISTEN and s.local.address == "0.0.0.0" and s.local.port is not None
    }


def assert_read(r: HostResult) -> Snapshot:
    """The host was read; ``partial`` only with the very sources the snapshot says failed.

    (Healthy namespace hosts should be ``ok``; collect.sh still reports a sysctl absent in a
    namespace, or a process that exits while being read, as a failed step.)
    """
    assert r.outcome in (Outcome.OK, Outcome.PARTIAL), (r.outcome, r.message)
    snap = r.latest
    assert snap is not None
    c = snap.collection
    failed = sorted(
        {x.name for x in c.commands if x.status != "ok"} - {x.name for x in c.commands if x.status == "ok"}
    )
    assert (r.outcome is Outcome.PARTIAL) == bool(failed)
    if failed:
        assert (r.message or "").startswith("missing: " + failed[0])
    return snap


def sshd_pid(host: FleetHost) -> int:
    return int((host.dir / "sshd.pid").read_text())


# -- one scan of every kind of host ------------------------------------------------------------


@pytest.fixture(scope="module")
def special(fleet: Fleet) -> tuple[dict[str, HostResult], float]:
    h = fleet.plain
    targets = [
        target(h[0]),
        target(fleet["noss"]),
        target(fleet["badkey"]),
        target(fleet["unknownkey"]),
        target(fleet["changedkey"]),
        target(fleet["tarpit"]),
        target(fleet["closed"]),
        target(fleet["hung"]),
        Target(name="no-route", host=fleet.unreachable_address),
        target(h[1], "nonroot", user=USER),
        target(h[1], "nonroot-become", user=USER, become=True),
        target(h[1], "nosudo-become", user=NOSUDO_USER, become=True),
        Target(name="localhost", connection="local"),
    ]
    t0 = time.monotonic()
    results = scan(targets, ScanOptions(deadline=DEADLINE, ssh=ssh_options(fleet)))
    elapsed = time.monotonic() - t0
    assert [r.name for r in results] == [t.name for t in targets]  # every host, once, in order
    return by_name(results), elapsed


FAILURES = {
    "badkey": (Outcome.AUTH_FAILED, r"root@198\.18\.\d+\.\d+:22: public key refused \(tried .*id_ed25519\)"),
    "unknownkey": (
        Outcome.HOSTKEY_UNKNOWN,
        r"host key for 198\.18\.\d+\.\d+ is not in .*known_hosts.*--accept-new",
    ),
    "tarpit": (Outcome.TIMEOUT, r"accepted the connection but sent no SSH banner within 3 s"),
    "closed": (Outcome.UNREACHABLE, r"198\.18\.\d+\.\d+ port 22: connection refused"),
    "no-route": (Outcome.UNREACHABLE, r"port 22: no route to host"),
    "hung": (Outcome.TIMEOUT, rf"no result within the {DEADLINE:g} s deadline \(stuck collecting\)"),
}


@pytest.mark.netns
@pytest.mark.parametrize("name", sorted(FAILURES))
def test_failed_hosts_get_their_own_outcome_and_message(special, name: str) -> None:
    results, _ = special
    outcome, pattern = FAILURES[name]
    r = results[name]
    assert r.outcome is outcome, r
    assert re.search(pattern, r.message or ""), r.message
    assert r.samples == ()


@pytest.mark.netns
def test_changed_host_key_is_refused_naming_both_fingerprints(fleet: Fleet, special) -> None:
    r = special[0]["changedkey"]
    assert r.outcome is Outcome.HOSTKEY_CHANGED
    old = paramiko.Ed25519Key(filename=str(fleet.root / "impostor_key"))
    real = fleet["changedkey"].host_key
    assert real is not None
    assert f"holds ssh-ed25519 {pub_fingerprint('x ' + old.get_base64())}" in (r.message or "")
    assert f"presented {pub_fingerprint(real)}" in (r.message or "")
    assert fleet["changedkey"].address in (r.message or "")


@pytest.mark.netns
def test_timeouts_stay_within_their_bounds(special) -> None:
    results, elapsed = special
    assert DEADLINE - 0.1 <= results["hung"].seconds <= DEADLINE + 1.0
    assert results["tarpit"].seconds < CONNECT_TIMEOUT + 1.5
    assert elapsed < DEADLINE + 2.5  # the hung host holds nobody else up


@pytest.mark.netns
def test_healthy_root_host_snapshot_is_complete(fleet: Fleet, special) -> None:
    r = special[0][fleet.plain[0].name]
    snap = assert_read(r)
    assert r.address == fleet.plain[0].address
    assert snap.host.name == fleet.plain[0].name
    assert snap.collection.uid == 0 and snap.collection.socket_source == "ss"
    assert listeners(snap)[22] == (sshd_pid(fleet.plain[0]),)
    # Our own SSH session is in it: the root-side bridge address talking to port 22.
    mine = [s for s in snap.sockets if s.local.port == 22 and s.peer.address == fleet.bridge_address]
    assert [s.state for s in mine] == [TcpState.ESTABLISHED]


@pytest.mark.netns
def test_host_without_ss_falls_back_to_netstat(fleet: Fleet, special) -> None:
    r = special[0]["noss"]
    snap = assert_read(r)
    assert snap.collection.socket_source == "netstat"
    assert "sockets read with netstat" in (r.message or "")
    assert listeners(snap)[22] == (sshd_pid(fleet["noss"]),)
    # ss is there on this machine, not on that host
    assert shutil.which("ss") is not None
    assert fleet.exec(fleet["noss"], ["sh", "-c", "command -v ss"]).returncode != 0


@pytest.mark.netns
def test_non_root_login_sees_no_other_processes_and_says_so(fleet: Fleet, special) -> None:
    r = special[0]["nonroot"]
    snap = assert_read(r)
    assert snap.collection.uid != 0
    assert snap.collection.process_visibility in ("own", "none")
    assert re.search(r"process visibility: (own|none) \(not root: uid \d+\)", r.message or "")
    assert listeners(snap)[22] == ()  # root's sshd owns it: invisible to this user


@pytest.mark.netns
def test_become_with_passwordless_sudo_sees_everything(fleet: Fleet, special) -> None:
    r = special[0]["nonroot-become"]
    snap = assert_read(r)
    assert snap.collection.uid == 0
    assert listeners(snap)[22] == (sshd_pid(fleet.plain[1]),)
    assert "sudo" not in (r.message or "")


@pytest.mark.netns
def test_become_where_sudo_fails_still_scans_and_says_why(special) -> None:
    r = special[0]["nosudo-become"]
    snap = assert_read(r)
    assert snap.collection.uid != 0 and snap.collection.process_visibility in ("own", "none")
    assert "--become: sudo -n failed (sudo: a password is required); scanned without sudo" in (
        r.message or ""
    )
    assert listeners(snap)[22] == ()


@pytest.mark.netns
def test_localhost_is_read_without_ssh(special) -> None:
    r = special[0]["localhost"]
    assert r.outcome.scanned and r.address == "local"
    assert r.latest is not None and r.latest.sockets


# -- snapshots match what is really there ----------------------------------------------------------


@pytest.mark.netns
def test_snapshot_matches_the_hosts_real_sockets(fleet: Fleet) -> None:
    host = fleet.plain[5]
    program = sockets.start("pairs", "0.0.0.0", 0, "--count", "3", prefix=fleet.prefix(host))
    try:
        [r] = scan([target(host)], ScanOptions(ssh=ssh_options(fleet)))
        truth = fleet.exec(host, ["ss", "-Htln"], text=True).stdout
    finally:
        program.stop()
    snap = assert_read(r)
    port = program.info["port"]
    assert listeners(snap)[port] == (program.pid,)
    real_listen = {int(line.split()[3].rsplit(":", 1)[1]) for line in truth.splitlines() if line.strip()}
    seen_listen = {s.local.port for s in snap.sockets if s.state is TcpState.LISTEN}
    assert seen_listen == real_listen
    pairs = [
        s for s in snap.sockets if s.state is TcpState.ESTABLISHED and port in (s.local.port, s.peer.port)
    ]
    assert len(pairs) == 6  # 3 pairs, both ends, all held by the program
    assert {o.pid for s in pairs for o in s.owners} == {program.pid}


@pytest.mark.netns
def test_samples_share_one_connection_with_one_channel_each(fleet: Fleet) -> None:
    host = fleet.plain[6]
    logins = host.log.read_text().count("Accepted publickey")
    commands = len(fleet.commands(host))
    t0 = time.monotonic()
    [r] = scan([target(host)], ScanOptions(samples=3, interval=0.5, ssh=ssh_options(fleet)))
    assert_read(r)
    assert len(r.samples) == 3
    assert time.monotonic() - t0 >= 1.0  # two intervals between three samples
    assert host.log.read_text().count("Accepted publickey") == logins + 1
    assert fleet.commands(host)[commands:] == ["sh -s -- --compress"] * 3  # the output travels compressed
    times = [s.host.collected_at for s in r.samples]
    assert times == sorted(times)


# -- ProxyJump, ssh_config, accept-new --------------------------------------------------------------


@pytest.mark.netns
def test_proxyjump_from_ssh_config_reaches_the_inner_host(fleet: Fleet, tmp_path: Path) -> None:
    inner, bastion = fleet["inner"], fleet["bastion"]
    config = tmp_path / "ssh_config"
    config.write_text(
        textwrap.dedent(f"""\
        Host inner-alias
            HostName {inner.address}
            ProxyJump jump
        Host jump
            HostName {bastion.address}
        Host *
            User root
            Port 22
            IdentityFile {fleet.client_key}
        """)
    )
    opts = ssh_options(fleet, config_file=str(config), user=None, key_file=None)
    [r] = scan([Target(name="inner-alias")], ScanOptions(ssh=opts))
    snap = assert_read(r)
    assert r.address == inner.address
    # The session came in from the bastion's private side: this is the host behind it.
    peers = {s.peer.address for s in snap.sockets if s.local.port == 22 and s.state is TcpState.ESTABLISHED}
    assert peers == {f"198.18.{fleet.subnet + 1}.1"}
    # and the inner host is unreachable directly (no route from the root namespace)
    [direct] = scan([target(inner)], ScanOptions(ssh=ssh_options(fleet)))
    assert direct.outcome is Outcome.UNREACHABLE


@pytest.mark.netns
def test_accept_new_records_the_key_and_the_next_scan_trusts_it(fleet: Fleet, tmp_path: Path) -> None:
    known = tmp_path / "known_hosts"
    shutil.copy(fleet.known_hosts, known)
    host = fleet["unknownkey"]
    opts = ssh_options(fleet, known_hosts=str(known))
    [first] = scan([target(host)], ScanOptions(ssh=replace(opts, accept_new=True)))
    assert_read(first)
    assert host.host_key is not None
    assert f"new host key recorded: {host.address} ssh-ed25519 {pub_fingerprint(host.host_key)}" in (
        first.message or ""
    )
    assert known.read_text().endswith(f"{host.address} {host.host_key}\n")
    [second] = scan([target(host)], ScanOptions(ssh=opts))
    assert_read(second)
    assert "new host key" not in (second.message or "")
    # accept-new never accepts a changed key
    [changed] = scan([target(fleet["changedkey"])], ScanOptions(ssh=replace(opts, accept_new=True)))
    assert changed.outcome is Outcome.HOSTKEY_CHANGED
    assert known.read_text().count(fleet["changedkey"].address) == 1


# -- hostile inventories ------------------------------------------------------------------------------


@pytest.mark.netns
def test_hostile_inventory_never_reaches_a_remote_command(fleet: Fleet, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    marks.mkdir(mode=0o777)
    marks.chmod(0o777)
    h = [fleet.plain[i] for i in range(10, 14)]
    m = str(marks)
    ini = tmp_path / "hosts.ini"
    ini.write_text(
        textwrap.dedent(f"""\
        [web]
        h;touch${{IFS}}{m}/m1 ansible_host={h[0].address}
        $(touch${{IFS}}{m}/m2) ansible_host={h[1].address}
        `touch${{IFS}}{m}/m3` ansible_host={h[2].address} ansible_user={USER} ansible_become=true
        "q'uo\\"te;touch${{IFS}}{m}/m4" ansible_host={h[3].address}
        $(touch${{IFS}}{m}/m5)
        bad-host ansible_host="{h[0].address};touch {m}/m6"
        bad-user ansible_host={h[0].address} ansible_user="root$(touch {m}/m7)"
        bad-key ansible_host={h[0].address} ansible_ssh_private_key_file="/x';touch {m}/m8'"
        """)
    )
    yml = tmp_path / "hosts.yml"
    yml.write_text(
        textwrap.dedent(f"""\
        all:
          hosts:
            "nl\\ntouch {m}/m9":
              ansible_host: "{h[1].address}"
            nl-host:
              ansible_host: "{h[1].address}\\ntouch {m}/m10"
            nl-user:
              ansible_host: "{h[1].address}"
              ansible_user: "root\\ntouch {m}/m11"
        """)
    )
    before = {x.name: len(fleet.commands(x)) for x in h}
    targets = load_inventory([str(ini), str(yml)]).select(None)
    assert len(targets) == 11
    results = by_name(scan(targets, ScanOptions(ssh=ssh_options(fleet))))
    scanned = [n for n, r in results.items() if r.outcome.scanned]
    assert len(scanned) == 5, {n: r.message for n, r in results.items()}
    for name in ("bad-host", "nl-host", f"$(touch${{IFS}}{m}/m5)"):
        assert results[name].outcome is Outcome.ERROR
        assert "invalid host name" in (results[name].message or "")
    for name in ("bad-user", "nl-user"):
        assert "invalid user name" in (results[name].message or "")
    assert "not found" in (results["bad-key"].message or "")
    assert list(marks.iterdir()) == []
    sent = [c for x in h for c in fleet.commands(x)[before[x.name] :]]
    assert len(sent) == 5 and set(sent) == FIXED  # the sudo one from ansible_become
    assert sorted(r.latest.host.name for r in results.values() if r.latest) == sorted(scanned)


# -- Ctrl-C and the command line ------------------------------------------------------------------------


@pytest.mark.netns
def test_ctrl_c_keeps_what_finished(fleet: Fleet) -> None:
    targets = [target(fleet.plain[15]), target(fleet["hung"]), target(fleet.plain[16])]
    timer = threading.Timer(2.0, _thread.interrupt_main)
    t0 = time.monotonic()
    timer.start()
    try:
        results = scan(targets, ScanOptions(forks=1, deadline=30, ssh=ssh_options(fleet)))
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 5
    assert_read(results[0])
    assert [r.outcome for r in results[1:]] == [Outcome.ERROR, Outcome.ERROR]
    assert results[1].message == "interrupted while collecting"
    assert results[2].message == "interrupted before it was scanned"


def _netdiag(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from netdiag.cli import main; main()", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.netns
def test_cli_scan_prints_every_host_saves_and_exits_3_when_one_failed(fleet: Fleet, tmp_path: Path) -> None:
    hosts = tmp_path / "hosts"
    hosts.write_text(f"{fleet.plain[20].address}\n{fleet.plain[21].address}\n{fleet['closed'].address}\n")
    empty = tmp_path / "ssh_config"
    empty.touch()
    save = tmp_path / "saved"
    args = [
        "scan",
        str(hosts),
        "-u",
        "root",
        "--key",
        str(fleet.client_key),
        "--known-hosts",
        str(fleet.known_hosts),
    ]
    proc = _netdiag(*args, "-F", str(empty), "--save", str(save), "--limit", f"!{fleet.plain[21].address}")
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, out + err
    assert err == ""  # not a terminal: no progress, no paramiko noise
    lines = out.splitlines()
    assert any(fleet.plain[20].address in x and re.search(r" (ok|partial) ", x) for x in lines), out
    assert any(fleet["closed"].address in x and "unreachable" in x for x in lines), out
    assert "connection refused" in out.lower()
    assert not any(fleet.plain[21].address in x for x in lines)  # --limit took it out
    manifest = json.loads((save / "manifest.json").read_text())
    assert [h["outcome"] for h in manifest["hosts"]] in (["ok", "unreachable"], ["partial", "unreachable"])
    assert manifest["options"]["ssh"]["user"] == "root"
    loaded = load_saved([save])
    assert [(h.name, h.outcome.value) for h in loaded] == [
        (fleet.plain[20].address, manifest["hosts"][0]["outcome"]),
        (fleet["closed"].address, "unreachable"),
    ]
    assert loaded[0].latest is not None and loaded[0].latest.sockets


@pytest.mark.netns
def test_cli_ctrl_c_prints_what_finished_and_exits_130(fleet: Fleet, tmp_path: Path) -> None:
    empty = tmp_path / "ssh_config"
    empty.touch()
    args = [
        "scan",
        fleet.plain[22].address,
        fleet["hung"].address,
        "-u",
        "root",
        "--key",
        str(fleet.client_key),
    ]
    before = len(fleet.commands(fleet["hung"]))
    proc = _netdiag(*args, "--known-hosts", str(fleet.known_hosts), "-F", str(empty), "--timeout", "60")
    deadline = time.monotonic() + 20
    while len(fleet.commands(fleet["hung"])) == before:
        assert time.monotonic() < deadline, "the hung host was never reached"
        time.sleep(0.1)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 130, out + err
    assert re.search(rf"{re.escape(fleet['hung'].address)}\s+error\s", out), out
    assert re.search(rf"{re.escape(fleet['hung'].address)}\b.*error: interrupted while collecting", out), out
    assert re.search(rf"{re.escape(fleet.plain[22].address)}\s+(ok|partial)", out), out


# -- pure parts: no fleet needed ---------------------------------------------------------------------------


def test_remote_command_is_fixed_and_arguments_must_be_option_words() -> None:
    assert build_command([], become=False) == "sh -s --"
    assert build_command(["--sockets=ss"], become=True) == "sudo -n sh -s -- --sockets=ss"
    for bad in ("a;b", "$(id)", "`id`", "a b", "x\ny", "'", '"', "", "a|b", "a&b", "~"):
        with pytest.raises(ValueError, match="not a plain option word"):
            build_command([bad], become=False)


@pytest.mark.parametrize(
    ("host", "user"),
    [
        ("a;b", "root"),
        ("$(id)", "root"),
        ("h\nx", "root"),
        ("h", "r`id`"),
        ("h", "root\n"),
        ("-oProxyCommand=x", "u"),
    ],
)
def test_hostile_names_are_refused_before_connecting(host: str, user: str) -> None:
    with pytest.raises(SshError, match=r"invalid (host|user) name"):
        check_name("x", host, user)


@pytest.mark.parametrize(
    ("host", "user"), [("web-17.example.com", "deploy"), ("2001:db8::1", "a.b"), ("fe80::1%eth0", "x")]
)
def test_ordinary_names_pass(host: str, user: str) -> None:
    check_name("x", host, user)


def test_ssh_config_is_honoured_and_inventory_beats_command_line(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(
        textwrap.dedent("""\
        Host web-*
            HostName %h.example.net
            User deploy
            Port 2200
            IdentityFile ~/.ssh/web_key
            ProxyJump ops@jump1:2022,jump2
            StrictHostKeyChecking accept-new
            UserKnownHostsFile ~/.ssh/fleet_known
        Host jump2
            HostName 10.0.0.2
            User jumper
            ProxyJump jump0
        """)
    )
    ctx = SshContext(SshOptions(config_file=str(config), connect_timeout=4))
    route = ctx.route("web-17")
    t = route.target
    assert (t.hostname, t.user, t.port) == ("web-17.example.net", "deploy", 2200)
    assert t.key_files == (str(Path("~/.ssh/web_key").expanduser()),)
    assert t.accept_new and t.known_hosts == str(Path("~/.ssh/fleet_known").expanduser())
    assert [(j.hostname, j.user, j.port) for j in route.jumps] == [
        ("jump1", "ops", 2022),
        ("jump0", getpass.getuser(), 22),
        ("10.0.0.2", "jumper", 22),
    ]
    assert route.connect_timeout == 4
    # -u/--port/--key beat ssh_config (as with ssh -l/-p/-i); inventory variables beat both (as in Ansible)
    cli = SshContext(SshOptions(config_file=str(config), user="cli-user", port=2, key_file="/c"))
    t = cli.route("web-17").target
    assert (t.user, t.port, t.key_files[0]) == ("cli-user", 2, "/c")
    inv = cli.route("web-17", user="inv-user", port=22, key_file="/k").target
    assert (inv.user, inv.port, inv.key_files[:2]) == ("inv-user", 22, ("/k", "/c"))
    other = cli.route("db-1")
    assert (other.target.hostname, other.target.user, other.jumps) == ("db-1", "cli-user", ())
    assert not other.target.accept_new


def test_proxycommand_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("Host *\n    ProxyCommand nc %h %p\n")
    with pytest.raises(SshError, match="ProxyCommand"):
        SshContext(SshOptions(config_file=str(config))).route("web-1")


def test_name_not_resolved_is_unreachable(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    ctx = SshContext(SshOptions(config_file=os.devnull, user="u"))
    transport = SshTransport(ctx.route("web-404"), ctx)
    with pytest.raises(Unreachable, match=r"web-404: name not resolved \(Name or service not known\)"):
        transport.connect()
    [r] = scan([Target(name="web-404")], ScanOptions(ssh=SshOptions(config_file=os.devnull, user="u")))
    assert r.outcome is Outcome.UNREACHABLE and "name not resolved" in (r.message or "")


def test_known_hosts_reads_hashed_entries_and_appends_new_ones(tmp_path: Path) -> None:
    keys = [paramiko.PKey.from_type_string("ssh-ed25519", _ed25519_blob()) for _ in range(3)]
    path = tmp_path / "known_hosts"
    path.write_text(
        f"# comment\n{paramiko.HostKeys.hash_host('[h1]:2222')} ssh-ed25519 {keys[0].get_base64()}"
    )
    known = KnownHosts(path)
    assert known.verify("[h1]:2222", keys[0], accept_new=False, hashed=False) is False
    with pytest.raises(SshError, match="CHANGED"):
        known.verify("[h1]:2222", keys[1], accept_new=True, hashed=False)
    with pytest.raises(SshError, match="not in"):
        known.verify("h2", keys[2], accept_new=False, hashed=False)
    assert known.verify("h2", keys[2], accept_new=True, hashed=True) is True
    text = path.read_text()
    lines = text.splitlines()
    assert len(lines) == 3 and lines[2].startswith("|1|")  # appended on a line of its own, hashed
    assert KnownHosts(path).verify("h2", keys[2], accept_new=False, hashed=False) is False


def _ed25519_blob() -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    pub = Ed25519PrivateKey.generate().public_key()
    raw = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return base64.b64decode(raw.split()[1])


def test_sudo_refusal_is_told_from_a_failing_script() -> None:
    refused = ExecResult(b"", b"sudo: a password is required\n", 1, 0.1)
    assert sudo_refusal(refused) == "sudo: a password is required"
    assert sudo_refusal(ExecResult(b"", b"sh: 1: sudo: not found\n", 127, 0.1)) == "sh: 1: sudo: not found"
    assert sudo_refusal(ExecResult(b"==netdiag== begin script\n", b"sudo: x", 1, 0.1)) is None
    assert sudo_refusal(ExecResult(b"", b"", 0, 0.1)) is None
    assert sudo_refusal(ExecResult(b"", b"killed", 137, 0.1)) is None


def _snapshot(name: str, at: str, commands: tuple[CommandRun, ...] = ()) -> Snapshot:
    runs = commands or (CommandRun("sockets", "ss -tanoe", "ok"),)
    return Snapshot(
        host=HostInfo(name, "10.0.0.1", collected_at=at),
        collection=Collection(socket_source="ss", uid=0, process_visibility="full", commands=runs),
    )


def test_judge_names_missing_sources_but_not_a_replaced_one() -> None:
    fallback = (
        CommandRun("sockets", "ss -tanoe", "missing", detail="ss: not found in PATH"),
        CommandRun("sockets", "netstat -tanoeW", "ok"),
        CommandRun("limits", "grep", "denied"),
    )
    outcome, message = judge([_snapshot("a", "t", fallback)])
    assert outcome is Outcome.PARTIAL
    assert message is not None and message.startswith("missing: limits (denied)")
    assert judge([_snapshot("a", "t")]) == (Outcome.OK, None)


def test_save_and_load_round_trip_with_hostile_names(tmp_path: Path) -> None:
    names = ["../../etc/passwd", "a/b", ".", "", "web 1", "WEB-1", "web-1", "x\ny"]
    hosts = [
        HostResult(n, "10.0.0.1", Outcome.OK, None, (_snapshot(n, "2024-01-01T00:00:00Z"),), 0.5)
        for n in names
    ]
    hosts.append(HostResult("down", "10.0.0.9", Outcome.UNREACHABLE, "connection refused"))
    hosts.append(
        HostResult(
            "sampled",
            "10.0.0.2",
            Outcome.OK,
            None,
            (_snapshot("sampled", "2024-01-01T00:00:00Z"), _snapshot("sampled", "2024-01-01T00:00:10Z")),
        )
    )
    result = ScanResult(started="2024-01-01T00:00:00Z", duration_s=1.5, hosts=hosts, options={"forks": 20})
    save = tmp_path / "scan"
    save_scan(result, save)
    files = sorted(p.name for p in (save / "hosts").iterdir())
    assert len(files) == len(names) + 2 and len(set(f.lower() for f in files)) == len(files)
    assert all(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*\.json", f) for f in files)
    assert [p for p in tmp_path.rglob("*") if not p.is_relative_to(save)] == []
    loaded = load_saved([save])
    assert loaded == hosts
    assert load_saved([save / "manifest.json"]) == hosts
    # a second save into the same directory replaces the first, never mixes
    save_scan(ScanResult("2024-01-02T00:00:00Z", 1.0, hosts[-1:]), save)
    assert [h.name for h in load_saved([save])] == ["sampled"]
    assert len(list((save / "hosts").iterdir())) == 2


def test_load_saved_reads_collect_output_files_as_samples(tmp_path: Path) -> None:
    later, earlier = _snapshot("web-1", "2024-01-01T00:01:00Z"), _snapshot("web-1", "2024-01-01T00:00:00Z")
    for i, snap in enumerate((later, earlier)):
        (tmp_path / f"s{i}.json").write_text(json.dumps(snap.to_dict()))
    [host] = load_saved([tmp_path])
    assert host.name == "web-1" and host.outcome is Outcome.OK and host.samples == (earlier, later)
    [single] = load_saved([tmp_path / "s0.json"])
    assert single.samples == (later,)
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match=r"bad\.json"):
        load_saved([tmp_path])


def test_scan_result_carries_options_and_timing(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(*_: object, **__: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    opts = ScanOptions(forks=3, ssh=SshOptions(config_file=os.devnull, user="u"))
    result = scan_result([Target(name="a"), Target(name="b")], opts, inventory="hosts")
    assert [h.outcome for h in result.hosts] == [Outcome.UNREACHABLE] * 2
    assert result.options["forks"] == 3 and result.options["ssh"]["user"] == "u"
    assert result.inventory == "hosts" and result.duration_s >= 0
