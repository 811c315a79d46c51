"""A fleet of test hosts: network namespaces, each with a real OpenSSH ``sshd``.

Why real sshd and not a mock: host keys, authentication, ProxyJump, sudo and
hung sessions behave as they do in production only against the real server.

Layout (all in one /24 of 198.18.0.0/15 chosen free at start, so parallel runs
do not clash)::

    root namespace: bridge ndf<ID>br  198.18.X.1
        h00..hNN      198.18.X.10+     plain hosts (root and non-root logins)
        bastion       198.18.X.*       also on a private link to "inner"
        badkey, unknownkey, changedkey, noss, hung, tarpit, closed
    inner             198.18.(X+1).2   reachable only through the bastion

Every object carries the prefix ``ndf<ID>`` (ID = this process's id); a state
file under /run/netdiag-nsfleet/ held with flock marks a fleet as alive, so
``Fleet.start`` removes leftovers of dead runs and never touches live ones.
Each sshd runs its sessions through a small wrapper (ForceCommand) that records
the exact command the client sent, so tests can prove what ran remotely.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SSHD = "/usr/sbin/sshd"
PREFIX = "ndf"
STATE_DIR = Path("/run/netdiag-nsfleet")
GLOBAL_LOCK = STATE_DIR / "setup.lock"

USER = "netdiag-test"  # non-root login with passwordless `sudo -n`
NOSUDO_USER = "netdiag-nosudo"  # non-root login where `sudo -n` fails

SPECIAL = ("bastion", "badkey", "unknownkey", "changedkey", "noss", "hung", "tarpit", "closed")

_AUDIT = """#!/bin/sh
# sshd ForceCommand wrapper: record the command the client asked for, byte for
# byte (NUL-terminated), then run it the way sshd would have.
printf '%s\\0' "$SSH_ORIGINAL_COMMAND" >> "$1"
if [ "$2" = hang ]; then exec sleep 3600; fi
exec /bin/sh -c "$SSH_ORIGINAL_COMMAND"
"""

_TARPIT = """
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 22)); s.listen(64)
print("ready", flush=True)
held = []
while True:
    c, _ = s.accept(); held.append(c)  # accept and never say a word
"""


class FleetError(RuntimeError):
    """The fleet could not be built; tests must fail loudly, never skip."""


@dataclass(frozen=True, slots=True)
class FleetHost:
    """One test host. ``host_key`` is its public key line; None where no sshd runs."""

    name: str
    netns: str
    address: str
    dir: Path
    host_key: str | None = None
    port: int = 22

    @property
    def log(self) -> Path:
        return self.dir / "sshd.log"

    @property
    def commands_log(self) -> Path:
        return self.dir / "commands.log"


@dataclass(slots=True)
class Fleet:
    """A running fleet; build with ``Fleet.start()``, end with ``stop()`` (also at exit)."""

    id: str
    root: Path
    subnet: int  # X in 198.18.X.0/24; the bastion's private link is X+1
    hosts: dict[str, FleetHost] = field(default_factory=dict)
    plain: tuple[FleetHost, ...] = ()
    client_key: Path = Path()
    client_pub: str = ""
    known_hosts: Path = Path()
    _procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    _init_pids: dict[str, int] = field(default_factory=dict)  # host -> its sshd's pid in the root namespace
    _lock_file: IO[str] | None = None
    _stopped: bool = False

    # -- names and addresses ------------------------------------------------

    @property
    def bridge(self) -> str:
        return f"{PREFIX}{self.id}br"

    @property
    def bridge_address(self) -> str:
        return f"198.18.{self.subnet}.1"

    @property
    def unreachable_address(self) -> str:
        """An address with an ``unreachable`` route in the root namespace: no route to host."""
        return f"198.18.{self.subnet + 1}.99"

    @property
    def sudoers_file(self) -> Path:
        return Path(f"/etc/sudoers.d/{PREFIX}{self.id}")

    def __getitem__(self, name: str) -> FleetHost:
        return self.hosts[name]

    # -- running things in a host --------------------------------------------

    def prefix(self, host: FleetHost) -> list[str]:
        """The argv prefix that runs a program *in* ``host``: its network, mount and PID namespaces.

        Pids the program sees (and prints) are the host's own, as in its snapshots. Hosts
        without sshd (tarpit, closed) have only a network namespace.
        """
        init = self._init_pids.get(host.name)
        if init is None:
            return ["ip", "netns", "exec", host.netns]
        return ["nsenter", "-t", str(init), "--net", "--mount", "--pid", "--"]

    def exec(self, host: FleetHost, argv: Sequence[str], **kw: Any) -> subprocess.CompletedProcess[Any]:
        """Run a program inside ``host`` and wait for it."""
        kw.setdefault("capture_output", True)
        kw.setdefault("timeout", 30)
        return subprocess.run([*self.prefix(host), *argv], check=False, **kw)

    def spawn(self, host: FleetHost, argv: Sequence[str], **kw: Any) -> subprocess.Popen[bytes]:
        """Start a helper program inside ``host``; it is killed at teardown."""
        kw.setdefault("stdin", subprocess.DEVNULL)
        proc: subprocess.Popen[bytes] = subprocess.Popen([*self.prefix(host), *argv], **kw)
        self._procs.append(proc)
        return proc

    def commands(self, host: FleetHost) -> list[str]:
        """Every command string clients sent to ``host``'s sshd, in order."""
        try:
            data = host.commands_log.read_bytes()
        except FileNotFoundError:
            return []
        return [c.decode("utf-8", "replace") for c in data.split(b"\0")[:-1]]

    def write_known_hosts(self, path: Path, names: Sequence[str], *, hashed: bool = False) -> Path:
        """A known_hosts file holding the real keys of ``names`` (for tests that modify one)."""
        lines = [_known_line(self.hosts[n], hashed=hashed) for n in names]
        path.write_text("".join(lines))
        return path

    # -- life cycle -----------------------------------------------------------

    @classmethod
    def start(cls, plain: int = 40) -> Fleet:
        """Build the fleet; on any failure everything built so far is removed."""
        if os.geteuid() != 0:
            raise FleetError("the sshd fleet needs root (network namespaces, sshd, sudo)")
        for tool in (SSHD, "ip", "sudo", "unshare"):
            if shutil.which(tool) is None:
                raise FleetError(f"{tool} not found: run scripts/install-test-deps")
        STATE_DIR.mkdir(parents=True, exist_ok=True)
        fleet_id = str(os.getpid())
        with _locked(GLOBAL_LOCK):
            _remove_leftovers()
            fleet = cls(id=fleet_id, root=Path(tempfile.mkdtemp(prefix=f"{PREFIX}{fleet_id}-")), subnet=0)
            fleet._lock_file = (STATE_DIR / f"{fleet_id}.lock").open("w")
            fcntl.flock(fleet._lock_file, fcntl.LOCK_EX)
            atexit.register(fleet.stop)
            try:
                fleet.subnet = _free_subnet()
                (STATE_DIR / f"{fleet_id}.json").write_text(
                    json.dumps({"root": str(fleet.root), "subnet": fleet.subnet})
                )
                fleet._build(plain)
            except BaseException:
                fleet.stop()
                raise
        try:
            fleet._start_servers()
        except BaseException:
            fleet.stop()
            raise
        return fleet

    def stop(self) -> None:
        """Kill every process, delete namespaces, links, routes and the sudoers drop-in."""
        if self._stopped:
            return
        self._stopped = True
        for proc in self._procs:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
        for proc in self._procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
        _remove_fleet(self.id, self.subnet, self.root)
        if self._lock_file is not None:
            self._lock_file.close()
        for suffix in (".lock", ".json"):
            (STATE_DIR / f"{self.id}{suffix}").unlink(missing_ok=True)

    # -- building ---------------------------------------------------------------

    def _ns(self, name: str) -> str:
        return f"{PREFIX}{self.id}-{name}"

    def _build(self, plain: int) -> None:
        self.root.chmod(0o755)  # non-root logins read authorized_keys and the wrapper as themselves
        audit = self.root / "audit.sh"
        audit.write_text(_AUDIT)
        audit.chmod(0o755)
        self.client_key, self.client_pub = self.root / "id_ed25519", ""
        self.client_pub = _write_keypair(self.client_key)
        (self.root / "authorized_keys").write_text(self.client_pub + "\n")
        (self.root / "other_key").write_text(_write_keypair(self.root / "other_id") + "\n")
        (self.root / "authorized_keys").chmod(0o644)
        (self.root / "other_key").chmod(0o644)
        _ensure_users()
        self.sudoers_file.write_text(f"{USER} ALL=(ALL) NOPASSWD: ALL\n")
        self.sudoers_file.chmod(0o440)

        names = [f"h{i:02d}" for i in range(plain)] + list(SPECIAL)
        x = self.subnet
        batch = [
            f"link add {self.bridge} type bridge",
            f"addr add {self.bridge_address}/24 dev {self.bridge}",
            f"link set {self.bridge} up",
            f"route add unreachable 198.18.{x + 1}.0/24",
        ]
        per_ns: dict[str, list[str]] = {}
        for i, name in enumerate(names):
            ns, veth = self._ns(name), f"{PREFIX}{self.id}v{i:x}"
            address = f"198.18.{x}.{10 + i}"
            batch += [
                f"netns add {ns}",
                f"link add {veth} type veth peer name eth0 netns {ns}",
                f"link set {veth} master {self.bridge} up",
            ]
            per_ns[ns] = ["link set lo up", f"addr add {address}/24 dev eth0", "link set eth0 up"]
            hdir = self.root / name
            hdir.mkdir(mode=0o755)
            self.hosts[name] = FleetHost(name, ns, address, hdir)
        inner_ns, bastion_ns = self._ns("inner"), self._ns("bastion")
        batch += [
            f"netns add {inner_ns}",
            f"link add name eth1 netns {bastion_ns} type veth peer name eth0 netns {inner_ns}",
        ]
        per_ns[bastion_ns] += [f"addr add 198.18.{x + 1}.1/24 dev eth1", "link set eth1 up"]
        per_ns[inner_ns] = ["link set lo up", f"addr add 198.18.{x + 1}.2/24 dev eth0", "link set eth0 up"]
        (self.root / "inner").mkdir(mode=0o755)
        self.hosts["inner"] = FleetHost("inner", inner_ns, f"198.18.{x + 1}.2", self.root / "inner")
        _ip_batch(None, batch)
        for ns, cmds in per_ns.items():
            _ip_batch(ns, cmds)

        for name, host in list(self.hosts.items()):
            if name in ("tarpit", "closed"):
                continue
            pub = _write_keypair(host.dir / "host_ed25519")
            self.hosts[name] = host = FleetHost(host.name, host.netns, host.address, host.dir, pub)
            host.commands_log.touch()
            host.commands_log.chmod(0o666)
            keys = self.root / ("other_key" if name == "badkey" else "authorized_keys")
            force = f"{audit} {host.commands_log}" + (" hang" if name == "hung" else "")
            (host.dir / "sshd_config").write_text(_sshd_config(host, keys, force))
        self.plain = tuple(self.hosts[n] for n in names[:plain])

        known = [n for n in self.hosts if self.hosts[n].host_key and n not in ("unknownkey", "changedkey")]
        lines = [_known_line(self.hosts[n], hashed=i % 2 == 1) for i, n in enumerate(known)]
        impostor = _write_keypair(self.root / "impostor_key")
        changed = self.hosts["changedkey"]
        lines.append(f"{changed.address} {impostor}\n")
        self.known_hosts = self.root / "known_hosts"
        self.known_hosts.write_text("".join(lines))

    def _start_servers(self) -> None:
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege separation directory
        waiting: list[tuple[FleetHost, subprocess.Popen[bytes]]] = []
        for name, host in self.hosts.items():
            if name == "closed":
                continue
            if name == "tarpit":
                tarpit = self.spawn(host, ["python3", "-c", _TARPIT], stdout=subprocess.PIPE)
                assert tarpit.stdout is not None
                if tarpit.stdout.readline().strip() != b"ready":
                    raise FleetError("tarpit helper did not start")
                continue
            # Each sshd is PID 1 of its own PID namespace (the host sees its own processes only,
            # with its own /proc) and has its own mount namespace, where files are covered by
            # /dev/null (not a regular file: `command -v` and `[ -x ]` fail on it, it reads
            # empty): the controller's shell start-up files (bash runs ~/.bashrc for sshd
            # sessions, here a pyenv init of 100 processes), so a host is a plain server; on
            # "noss", ss.
            hide = [str(Path(f"{home}/.bashrc")) for home in _homes() if Path(f"{home}/.bashrc").is_file()]
            if name == "noss":
                hide += _ss_paths()
            mounts = "".join(f"mount --bind /dev/null {p} && " for p in hide)
            # and the machine's named network namespaces (every fleet host's, others'): a host
            # reads only its own (collect.sh enters every namespace it finds)
            mounts += "{ umount -R /run/netns 2>/dev/null || :; } && "
            argv = ["unshare", "--mount", "--pid", "--fork", "--mount-proc", "--propagation", "private"]
            argv += ["sh", "-c", f'{mounts}exec "$0" "$@"']
            argv += [SSHD, "-D", "-f", str(host.dir / "sshd_config"), "-E", str(host.log)]
            waiting.append((host, self.spawn(host, argv, stderr=subprocess.PIPE)))
        deadline = time.monotonic() + 20
        for host, proc in waiting:
            while "Server listening on" not in _read(host.log):
                if proc.poll() is not None:
                    err = proc.stderr.read().decode() if proc.stderr else ""
                    raise FleetError(f"sshd for {host.name} exited {proc.returncode}: {err}{_read(host.log)}")
                if time.monotonic() > deadline:
                    raise FleetError(f"sshd for {host.name} did not start: {_read(host.log)}")
                time.sleep(0.02)
            self._init_pids[host.name] = _child_of(proc.pid)


def _sshd_config(host: FleetHost, authorized_keys: Path, force_command: str) -> str:
    return f"""Port {host.port}
ListenAddress 0.0.0.0
HostKey {host.dir / "host_ed25519"}
PidFile {host.dir / "sshd.pid"}
AuthorizedKeysFile {authorized_keys}
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
LogLevel VERBOSE
MaxStartups 200
MaxSessions 100
AllowTcpForwarding yes
ForceCommand {force_command}
"""


def _write_keypair(path: Path) -> str:
    """An ed25519 key in OpenSSH format at ``path`` (0600); returns the public key line."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
        )
    )
    path.chmod(0o600)
    pub = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return pub.decode()


def _known_line(host: FleetHost, *, hashed: bool) -> str:
    name = host.address if host.port == 22 else f"[{host.address}]:{host.port}"
    if hashed:  # OpenSSH's HashKnownHosts form: |1|salt|HMAC-SHA1(salt, name)
        salt = os.urandom(20)
        digest = hmac.new(salt, name.encode(), hashlib.sha1).digest()
        name = "|1|" + _b64(salt) + "|" + _b64(digest)
    return f"{name} {host.host_key}\n"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _ss_paths() -> list[str]:
    found = {
        os.path.realpath(p)
        for p in ("/usr/bin/ss", "/usr/sbin/ss", "/bin/ss", "/sbin/ss")
        if Path(p).exists()
    }
    if not found:
        raise FleetError("no ss binary to hide")
    return sorted(found)


def _child_of(pid: int) -> int:
    """The one child of ``pid`` (unshare --fork's child: the host's PID 1)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    if len(children) != 1:
        raise FleetError(f"expected one child of unshare {pid}, found {children}")
    return int(children[0])


def _homes() -> list[str]:
    """Home directories of the users the fleet logs in as."""
    homes = {"/root"}
    for user in (USER, NOSUDO_USER):
        with contextlib.suppress(KeyError):
            homes.add(pwd.getpwnam(user).pw_dir)
    return sorted(homes)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""


def _ip_batch(netns: str | None, commands: Sequence[str]) -> None:
    argv = ["ip", "-batch", "-"] if netns is None else ["ip", "-n", netns, "-batch", "-"]
    r = subprocess.run(argv, input="\n".join(commands) + "\n", capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise FleetError(f"{' '.join(argv)} failed: {r.stderr.strip()}")


def _ensure_users() -> None:
    for user in (USER, NOSUDO_USER):
        if subprocess.run(["id", "-u", user], capture_output=True, check=False).returncode != 0:
            subprocess.run(
                ["useradd", "--system", "-M", "-d", "/", "-s", "/bin/sh", user],
                capture_output=True,
                check=True,
            )
        # "*" (no password, not locked): with UsePAM no, sshd refuses even keys to a locked ("!") account.
        subprocess.run(["usermod", "-p", "*", user], capture_output=True, check=True)


def _free_subnet() -> int:
    """An even X such that 198.18.X.0/24 and X+1 are in no route of the root namespace."""
    routes = subprocess.run(
        ["ip", "-4", "route", "show", "table", "all"], capture_output=True, text=True
    ).stdout
    used = {int(m) for m in re.findall(r"\b198\.18\.(\d+)\.", routes)}
    for x in range(0, 254, 2):
        if x not in used and x + 1 not in used:
            return x
    raise FleetError("no free /24 in 198.18.0.0/16")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        yield


def _remove_leftovers() -> None:
    """Remove what dead runs left: every ``ndf<ID>`` whose state lock nobody holds."""
    live: set[str] = set()
    for lock in STATE_DIR.glob("*.lock"):
        if lock == GLOBAL_LOCK:
            continue
        with lock.open("a") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                live.add(lock.stem)
                continue
        state = STATE_DIR / f"{lock.stem}.json"
        info = json.loads(state.read_text()) if state.exists() else {}
        _remove_fleet(lock.stem, info.get("subnet"), Path(info["root"]) if "root" in info else None)
        lock.unlink(missing_ok=True)
        state.unlink(missing_ok=True)
    # Objects from a run that died before writing its state file.
    for fid in _present_ids() - live:
        _remove_fleet(fid, None, None)


def _present_ids() -> set[str]:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    ids = set(re.findall(rf"^{PREFIX}(\d+)-", names, re.M))
    ids |= set(re.findall(rf"^\d+: {PREFIX}(\d+)(?:br|v)", links, re.M))
    ids |= {
        p.name[len(PREFIX) :]
        for p in Path("/etc/sudoers.d").glob(f"{PREFIX}*")
        if p.name[len(PREFIX) :].isdigit()
    }
    return ids


def _remove_fleet(fleet_id: str, subnet: int | None, root: Path | None) -> None:
    names = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    namespaces = re.findall(rf"^({PREFIX}{fleet_id}-\S+)", names, re.M)
    for ns in namespaces:
        pids = subprocess.run(["ip", "netns", "pids", ns], capture_output=True, text=True).stdout.split()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
    for ns in namespaces:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True, check=False)
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    for link in re.findall(rf"^\d+: ({PREFIX}{fleet_id}(?:br|v[0-9a-f]+))[@:]", links, re.M):
        subprocess.run(["ip", "link", "del", link], capture_output=True, check=False)
    if subnet is not None:
        subprocess.run(
            ["ip", "route", "del", "unreachable", f"198.18.{subnet + 1}.0/24"], capture_output=True
        )
    Path(f"/etc/sudoers.d/{PREFIX}{fleet_id}").unlink(missing_ok=True)
    if root is not None and root.name.startswith(f"{PREFIX}{fleet_id}-"):
        shutil.rmtree(root, ignore_errors=True)
