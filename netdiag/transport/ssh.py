"""SSH transport: the collection script over one paramiko connection per host.

Why paramiko and not the ``ssh`` binary: one process reaches a whole fleet,
and every failure (refused port, unknown key, rejected key, silent server) is
told apart as data instead of being scraped from ssh's stderr.

Safety: the remote command is one of two fixed strings (``sh -s -- ARGS`` or
``sudo -n sh -s -- ARGS``), where ARGS are the script's own option words,
checked against a strict pattern. Nothing from the inventory, ssh_config or
the host ever enters a command string; host and user names only travel in the
SSH protocol fields, and are refused locally when they look like anything but
a name. There is no ProxyCommand (a local shell command built from host names)
and no ``AutoAddPolicy``: host keys are checked against known_hosts like
OpenSSH's ``StrictHostKeyChecking=yes`` (or ``accept-new``).
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import getpass
import hashlib
import re
import shlex
import socket
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import paramiko

from netdiag.transport.base import ExecResult, TransportError

DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
MAX_JUMPS = 8

_SAFE_ARG = re.compile(r"[A-Za-z0-9_=.,:/+-]+")
# A host name, IPv4 or IPv6 address (with an optional %scope); nothing a shell or ssh would read as syntax.
_SAFE_HOST = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*|[0-9A-Fa-f:.]+(%[A-Za-z0-9_.-]+)?")
_SAFE_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\$?")
# Known-host key types to the host key algorithms that present them, for ordering the offer.
_KEY_ALGORITHMS = {
    "ssh-ed25519": ("ssh-ed25519",),
    "ecdsa-sha2-nistp256": ("ecdsa-sha2-nistp256",),
    "ecdsa-sha2-nistp384": ("ecdsa-sha2-nistp384",),
    "ecdsa-sha2-nistp521": ("ecdsa-sha2-nistp521",),
    "ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256"),
}


# -- failures, each its own type so the scan can name the outcome ---------------


class SshError(TransportError):
    """Reaching or using the host over SSH failed; the subclass says how."""


class Unreachable(SshError):
    """No TCP connection: refused, no route, name not resolved, connect timeout."""


class NoSshBanner(SshError):
    """Something accepted the TCP connection but never spoke SSH."""


class AuthFailed(SshError):
    """The server refused every key we could offer."""


class HostKeyUnknown(SshError):
    """The host's key is not in known_hosts and accepting new keys was not asked for."""


class HostKeyChanged(SshError):
    """known_hosts holds a different key of the same type: refused, always."""


class Closed(SshError):
    """The transport was closed (deadline or Ctrl-C) while it was in use."""


# -- what to connect to -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SshOptions:
    """Command-line choices; None means "let ~/.ssh/config, then the default, decide"."""

    user: str | None = None
    port: int | None = None
    key_file: str | None = None
    config_file: str | None = None  # -F; None: ~/.ssh/config when it exists
    known_hosts: str | None = None  # None: the config's UserKnownHostsFile, else ~/.ssh/known_hosts
    accept_new: bool = False
    connect_timeout: float | None = None  # None: the config's ConnectTimeout, else 10 s
    use_agent: bool = True


@dataclass(frozen=True, slots=True)
class Hop:
    """One SSH connection to make, everything about it resolved."""

    alias: str  # the name as given (inventory or ProxyJump), for messages
    hostname: str
    port: int
    user: str
    key_files: tuple[str, ...]
    explicit_keys: tuple[str, ...]  # --key / ansible_ssh_private_key_file: an error when missing
    identities_only: bool
    known_hosts: str
    accept_new: bool
    hash_known_hosts: bool

    @property
    def known_name(self) -> str:
        """The host's name in known_hosts, as OpenSSH writes it."""
        return self.hostname if self.port == 22 else f"[{self.hostname}]:{self.port}"

    def __str__(self) -> str:
        return f"{self.user}@{self.hostname}:{self.port}"


@dataclass(frozen=True, slots=True)
class Route:
    """The bastions to pass through, in order, then the host itself."""

    jumps: tuple[Hop, ...]
    target: Hop
    connect_timeout: float

    @property
    def hops(self) -> tuple[Hop, ...]:
        return (*self.jumps, self.target)


class SshContext:
    """What all connections of one scan share: options, parsed ssh_config, known_hosts, loaded keys.

    Thread-safe; building it once per scan keeps a 1,000-host scan from parsing
    the same files 1,000 times.
    """

    def __init__(self, options: SshOptions) -> None:
        self.options = options
        self.config = _load_config(options.config_file)
        self._lock = threading.Lock()
        self._known: dict[str, KnownHosts] = {}
        self._keys: dict[str, paramiko.PKey | str] = {}

    def route(
        self, address: str, *, user: str | None = None, port: int | None = None, key_file: str | None = None
    ) -> Route:
        """Resolve ``address`` through ssh_config; inventory user/port/key beat the command line."""
        cfg = self.config.lookup(address)
        timeout = self.options.connect_timeout
        if timeout is None:
            timeout = float(cfg.get("connecttimeout", DEFAULT_CONNECT_TIMEOUT))
        target = self._hop(address, cfg, user, port, key_file)
        jumps = self._jumps(cfg.get("proxyjump"), depth=0)
        if cfg.get("proxycommand", "none").lower() != "none" and not jumps:
            raise SshError(f"{address}: ProxyCommand in ssh_config is not supported; use ProxyJump")
        return Route(jumps, target, timeout)

    def known_hosts(self, path: str) -> KnownHosts:
        with self._lock:
            if path not in self._known:
                self._known[path] = KnownHosts(Path(path))
            return self._known[path]

    def key(self, path: str) -> paramiko.PKey | str:
        """The private key at ``path``, or why it cannot be used."""
        with self._lock:
            if path not in self._keys:
                self._keys[path] = _load_key(path)
            return self._keys[path]

    def _hop(
        self,
        alias: str,
        cfg: paramiko.SSHConfigDict,
        user: str | None,
        port: int | None,
        key_file: str | None,
    ) -> Hop:
        o = self.options
        hostname = cfg.get("hostname", alias)
        user = user or o.user or cfg.get("user") or getpass.getuser()
        port = port or o.port or int(cfg.get("port", 22))
        check_name(alias, hostname, user)
        explicit = tuple(str(Path(k).expanduser()) for k in (key_file, o.key_file) if k)
        configured = tuple(str(Path(k).expanduser()) for k in cfg.get("identityfile", []))
        defaults = () if explicit or configured else tuple(str(Path(k).expanduser()) for k in DEFAULT_KEYS)
        strict = cfg.get("stricthostkeychecking", "ask").lower()
        known = o.known_hosts or _first_word(cfg.get("userknownhostsfile")) or "~/.ssh/known_hosts"
        return Hop(
            alias=alias,
            hostname=hostname,
            port=port,
            user=user,
            key_files=_unique(explicit + configured + defaults),
            explicit_keys=explicit,
            identities_only=cfg.get("identitiesonly", "no").lower() == "yes",
            known_hosts=str(Path(known).expanduser()),
            accept_new=o.accept_new or strict in ("accept-new", "no", "off"),
            hash_known_hosts=cfg.get("hashknownhosts", "no").lower() == "yes",
        )

    def _jumps(self, spec: str | None, depth: int) -> tuple[Hop, ...]:
        """ProxyJump ``[user@]host[:port][,...]``; each jump host has its own config (and jumps)."""
        if not spec or spec.lower() == "none":
            return ()
        if depth >= MAX_JUMPS:
            raise SshError(f"ProxyJump nests deeper than {MAX_JUMPS} hops (a loop in ssh_config?)")
        hops: list[Hop] = []
        for part in spec.split(","):
            user, host, port = _split_jump(part.strip())
            cfg = self.config.lookup(host)
            hops.extend(self._jumps(cfg.get("proxyjump"), depth + 1))
            hops.append(self._hop(host, cfg, user, port, None))
        return tuple(hops)


def check_name(alias: str, hostname: str, user: str) -> None:
    """Refuse host and user names that are not plain names (the hostile-inventory guard)."""
    for what, value, pattern in (("host name", hostname, _SAFE_HOST), ("user name", user, _SAFE_USER)):
        if not pattern.fullmatch(value) or len(value) > 255:
            raise SshError(f"{alias!r}: invalid {what} {value!r}; not connecting")


def build_command(args: Sequence[str], *, become: bool) -> str:
    """The remote command: fixed words plus the script's own option words, which must look like options."""
    for arg in args:
        if not _SAFE_ARG.fullmatch(arg):
            raise ValueError(f"collection argument {arg!r} is not a plain option word")
    words = ["sudo", "-n", "sh", "-s", "--"] if become else ["sh", "-s", "--"]
    return " ".join(shlex.quote(w) for w in (*words, *args))


def sudo_refusal(result: ExecResult) -> str | None:
    """sudo's complaint when ``sudo -n`` could not run the script at all (nothing on stdout)."""
    if result.exit_code in (0, None) or result.stdout.strip():
        return None
    err = result.stderr.decode("utf-8", "replace").strip()
    if "sudo" not in err:
        return None
    return err.splitlines()[0][:300] if err else "sudo failed"


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


# -- known_hosts ---------------------------------------------------------------------


class KnownHosts:
    """One known_hosts file (hashed entries too); ``accept_new`` appends, never rewrites."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys = paramiko.HostKeys()
        self._lock = threading.Lock()
        if path.exists():
            try:
                self._keys.load(str(path))
            except (OSError, paramiko.SSHException, ValueError) as e:
                raise SshError(f"cannot read known_hosts {path}: {e}") from e

    def types(self, name: str) -> tuple[str, ...]:
        with self._lock:
            found = self._keys.lookup(name)
            return tuple(found.keys()) if found else ()

    def verify(self, name: str, key: paramiko.PKey, *, accept_new: bool, hashed: bool) -> bool:
        """True when ``key`` was newly recorded; raises when it is unknown or has changed."""
        ktype = key.get_name()
        with self._lock:
            known: Mapping[str, paramiko.PKey] = self._keys.lookup(name) or {}
            old = known.get(ktype)
            if old is not None:
                if old.asbytes() == key.asbytes():
                    return False
                raise HostKeyChanged(
                    f"host key for {name} has CHANGED: {self.path} holds {ktype} {fingerprint(old)}, "
                    f"the host presented {fingerprint(key)}; refused (possible impostor; if the change "
                    f"is expected, remove the old entry with: ssh-keygen -R '{name}' -f '{self.path}')"
                )
            if not accept_new:
                others = f" (only {', '.join(sorted(known))} known)" if known else ""
                raise HostKeyUnknown(
                    f"host key for {name} is not in {self.path}{others}: {ktype} {fingerprint(key)}; "
                    "refused (verify it and add it, or scan with --accept-new)"
                )
            self._append(name, key, hashed=hashed)
            self._keys.add(paramiko.HostKeys.hash_host(name) if hashed else name, ktype, key)
            return True

    def _append(self, name: str, key: paramiko.PKey, *, hashed: bool) -> None:
        entry = paramiko.HostKeys.hash_host(name) if hashed else name
        line = f"{entry} {key.get_name()} {key.get_base64()}\n"
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            with self.path.open("a+b") as f:
                fcntl.flock(f, fcntl.LOCK_EX)  # other netdiag processes may append too
                f.seek(0, 2)
                if f.tell() > 0:
                    f.seek(-1, 2)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode())
        except OSError as e:
            raise SshError(f"cannot record the new host key of {name} in {self.path}: {e}") from e


# -- the transport ----------------------------------------------------------------------


class SshTransport:
    """One SSH connection (through bastions if need be) to one host; one exec channel per ``run``.

    ``close`` may be called from another thread at any time (the scan's deadline
    or Ctrl-C): it tears the connection down and a blocked ``connect``/``run``
    returns promptly with ``Closed``.
    """

    def __init__(self, route: Route, context: SshContext, *, become: bool = False) -> None:
        self.route = route
        self.context = context
        self.become = become and route.target.user != "root"  # root needs no sudo
        self.become_refused: str | None = None  # sudo's message when --become could not be used
        self.new_host_keys: list[str] = []  # hosts whose key --accept-new recorded
        self._transports: list[paramiko.Transport] = []
        self._socket: socket.socket | None = None
        self._closed = threading.Event()
        self._lock = threading.Lock()

    # -- connecting ----------------------------------------------------------

    def connect(self) -> None:
        """TCP, SSH negotiation, host key check and key authentication, hop by hop."""
        sock: socket.socket | paramiko.Channel | None = None
        for i, hop in enumerate(self.route.hops):
            self._check_open()
            sock = self._tcp(hop) if i == 0 else self._forward(self._transports[-1], hop)
            transport = self._negotiate(sock, hop)
            self._verify(transport, hop)
            self._authenticate(transport, hop)

    def _tcp(self, hop: Hop) -> socket.socket:
        timeout = self.route.connect_timeout
        try:
            addresses = socket.getaddrinfo(hop.hostname, hop.port, type=socket.SOCK_STREAM)
        except socket.gaierror as e:
            raise Unreachable(f"{hop.hostname}: name not resolved ({e.strerror})") from e
        error: Unreachable | None = None
        for family, kind, proto, _, address in addresses:
            sock = socket.socket(family, kind, proto)
            with self._lock:
                if self._closed.is_set():
                    sock.close()
                    raise Closed("closed before connecting")
                self._socket = sock
            sock.settimeout(timeout)
            try:
                sock.connect(address)
            except OSError as e:
                sock.close()
                error = Unreachable(f"{hop.hostname} port {hop.port}: {_connect_reason(e, timeout)}")
                continue
            sock.settimeout(None)
            return sock
        raise error or Unreachable(f"{hop.hostname}: no address to connect to")

    def _forward(self, via: paramiko.Transport, hop: Hop) -> paramiko.Channel:
        jump = self.route.hops[len(self._transports) - 1]
        try:
            return via.open_channel(
                "direct-tcpip",
                (hop.hostname, hop.port),
                ("127.0.0.1", 0),
                timeout=self.route.connect_timeout,
            )
        except paramiko.ChannelException as e:
            raise Unreachable(f"{hop.hostname} port {hop.port} via {jump.alias}: {e.text}") from e
        except (paramiko.SSHException, OSError, EOFError) as e:
            self._check_open()
            raise Unreachable(f"{hop.hostname} port {hop.port} via {jump.alias}: {e or 'timed out'}") from e

    def _negotiate(self, sock: socket.socket | paramiko.Channel, hop: Hop) -> paramiko.Transport:
        timeout = self.route.connect_timeout
        transport = paramiko.Transport(sock)
        transport.banner_timeout = transport.handshake_timeout = transport.auth_timeout = timeout
        known = self.context.known_hosts(hop.known_hosts).types(hop.known_name)
        options = transport.get_security_options()
        options.key_types = _preferred_key_types(known, options.key_types)
        with self._lock:
            self._transports.append(transport)
            if self._closed.is_set():
                transport.close()
        done = threading.Event()
        try:
            transport.start_client(event=done)
        except (paramiko.SSHException, OSError) as e:
            raise SshError(f"{hop}: cannot start SSH: {e}") from e
        done.wait(2 * timeout + 1)
        self._check_open()
        if transport.is_active() and done.is_set():
            return transport
        error = transport.get_exception()
        transport.close()
        if (error is None and not done.is_set()) or "banner" in str(error):
            raise NoSshBanner(
                f"{hop.hostname} port {hop.port} accepted the connection but sent no SSH banner "
                f"within {timeout:g} s (not an SSH server?)"
            )
        raise SshError(f"{hop}: SSH negotiation failed: {error or 'connection closed'}")

    def _verify(self, transport: paramiko.Transport, hop: Hop) -> None:
        key = transport.get_remote_server_key()
        known = self.context.known_hosts(hop.known_hosts)
        if known.verify(hop.known_name, key, accept_new=hop.accept_new, hashed=hop.hash_known_hosts):
            self.new_host_keys.append(f"{hop.known_name} {key.get_name()} {fingerprint(key)}")

    def _authenticate(self, transport: paramiko.Transport, hop: Hop) -> None:
        tried: list[str] = []
        notes: list[str] = []
        for label, key in self._identities(hop, notes):
            self._check_open()
            try:
                transport.auth_publickey(hop.user, key)
                return
            except paramiko.BadAuthenticationType as e:
                raise AuthFailed(  # noqa: B904 (the server's answer, not an error of ours)
                    f"{hop} does not accept public keys (it allows: {', '.join(e.allowed_types)})"
                )
            except paramiko.AuthenticationException:
                tried.append(label)
            except (paramiko.SSHException, OSError, EOFError) as e:
                self._check_open()
                raise AuthFailed(f"{hop}: connection dropped during authentication ({e})") from e
            if not transport.is_active():
                break
        detail = "; ".join(notes)
        if not tried:
            raise AuthFailed(
                f"{hop}: no key to offer (no --key, IdentityFile, default key or agent key)"
                + (f"; {detail}" if detail else "")
            )
        raise AuthFailed(
            f"{hop}: public key refused (tried {', '.join(tried)})" + (f"; {detail}" if detail else "")
        )

    def _identities(self, hop: Hop, notes: list[str]) -> Iterator[tuple[str, paramiko.PKey]]:
        """Agent keys first (as OpenSSH), then key files; unusable files are noted, not fatal."""
        if self.context.options.use_agent and not hop.identities_only:
            try:
                agent = paramiko.Agent()
            except (paramiko.SSHException, OSError) as e:
                notes.append(f"ssh-agent: {e}")
            else:
                try:
                    for key in agent.get_keys():
                        yield f"agent key {fingerprint(key)}", key
                finally:
                    agent.close()
        for path in hop.key_files:
            loaded = self.context.key(path)
            if isinstance(loaded, str):
                if path in hop.explicit_keys:
                    raise SshError(f"key file {path}: {loaded}")
                if Path(path).exists():
                    notes.append(f"{path}: {loaded}")
                continue
            yield path, loaded

    # -- running -------------------------------------------------------------

    def run(self, script: bytes, args: Sequence[str], timeout: float) -> ExecResult:
        """Run the script once on its own exec channel; with become, fall back to no sudo if sudo refuses."""
        if not self._transports:
            self.connect()
        deadline = time.monotonic() + timeout
        use_sudo = self.become and self.become_refused is None
        result = self._exec(build_command(args, become=use_sudo), script, deadline)
        if use_sudo and (refusal := sudo_refusal(result)):
            self.become_refused = refusal
            result = self._exec(build_command(args, become=False), script, deadline)
        return result

    def _exec(self, command: str, script: bytes, deadline: float) -> ExecResult:
        self._check_open()
        start = time.monotonic()
        transport = self._transports[-1]
        try:
            channel = transport.open_session(timeout=max(0.1, deadline - start))
        except (paramiko.SSHException, OSError, EOFError) as e:
            self._check_open()
            raise SshError(f"{self.route.target}: cannot open a session channel: {e}") from e
        out = bytearray()
        timed_out = False
        try:
            channel.exec_command(command)
            channel.sendall(script)
            channel.shutdown_write()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                channel.settimeout(remaining)
                try:
                    data = channel.recv(1 << 16)
                except TimeoutError:
                    timed_out = True
                    break
                if not data:
                    break
                out += data
            if not timed_out:
                timed_out = not channel.status_event.wait(max(0.0, deadline - time.monotonic()))
            err = bytearray()
            while channel.recv_stderr_ready():
                err += channel.recv_stderr(1 << 16)
        except (paramiko.SSHException, OSError, EOFError) as e:
            self._check_open()
            raise SshError(f"{self.route.target}: the session failed: {e}") from e
        finally:
            channel.close()
        self._check_open()
        code = None if timed_out or not channel.exit_status_ready() else channel.recv_exit_status()
        # as it travelled: collect() expands a compressed stream and records both sizes
        return ExecResult(bytes(out), bytes(err), code, time.monotonic() - start, timed_out=timed_out)

    # -- closing -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._closed.set()
            transports = self._transports[::-1]
            sock = self._socket
        for t in transports:
            t.close()
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _check_open(self) -> None:
        if self._closed.is_set():
            raise Closed(f"{self.route.target}: connection closed by the scan (deadline or interrupt)")


# -- helpers -----------------------------------------------------------------------------


def _load_config(path: str | None) -> paramiko.SSHConfig:
    if path is None:
        default = Path("~/.ssh/config").expanduser()
        return paramiko.SSHConfig.from_path(str(default)) if default.exists() else paramiko.SSHConfig()
    try:
        return paramiko.SSHConfig.from_path(str(Path(path).expanduser()))
    except OSError as e:
        raise SshError(f"cannot read ssh config {path}: {e}") from e


def _load_key(path: str) -> paramiko.PKey | str:
    try:
        return paramiko.PKey.from_path(path)
    except FileNotFoundError:
        return "not found"
    except paramiko.PasswordRequiredException:
        return "encrypted (load it into ssh-agent)"
    except (OSError, paramiko.SSHException, ValueError, TypeError) as e:
        return f"unusable ({e})"


def _connect_reason(e: OSError, timeout: float) -> str:
    if isinstance(e, ConnectionRefusedError):
        return "connection refused"
    if isinstance(e, TimeoutError):
        return f"connect timeout after {timeout:g} s"
    if e.errno == errno.EHOSTUNREACH:
        return "no route to host"
    if e.errno == errno.ENETUNREACH:
        return "no route to host (network unreachable)"
    return e.strerror or str(e)


def _split_jump(spec: str) -> tuple[str | None, str, int | None]:
    """``[ssh://][user@]host[:port]`` of a ProxyJump entry."""
    spec = spec.removeprefix("ssh://")
    user, _, rest = spec.rpartition("@")
    port: int | None = None
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        if tail.startswith(":"):
            port = int(tail[1:])
    elif rest.count(":") == 1:
        host, _, p = rest.partition(":")
        port = int(p)
    else:
        host = rest
    return user or None, host, port


def _preferred_key_types(known: Sequence[str], offered: Sequence[str]) -> tuple[str, ...]:
    """Ask first for key types known_hosts holds for this host, as OpenSSH does."""
    first = [a for k in known for a in _KEY_ALGORITHMS.get(k, ()) if a in offered]
    return tuple(dict.fromkeys([*first, *offered]))


def _first_word(value: str | None) -> str | None:
    return value.split()[0] if value else None


def _unique(items: Sequence[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))
