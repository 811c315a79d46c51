"""collect.sh itself: POSIX syntax, the section grammar under every shell here, fallbacks, and lightness.

No shellcheck: the script is checked by running it under dash (the strictest
common POSIX sh) and bash, and by the grammar its readers rely on.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from netdiag.collectors import GZIP_MAGIC, expand, script_bytes
from netdiag.parsers.sysctl import SYSCTLS
from tests import sockets
from tests.test_parse_proc import sysctl_path
from tests.unprivileged import run_script_as_nobody

SCRIPT = script_bytes()
TOOLS = ("awk", "cat", "date", "find", "grep", "head", "id", "ls", "xargs", "ss", "netstat")
SECTIONS = (
    "script", "host", "sockets", "fdmap", "owners", "cmdline", "procfs",
)  # fmt: skip
MARKER = re.compile(
    r"==netdiag== (?:begin (\S+)|stderr (\S+) .*|done"
    r"|end (\S+) status=(ok|missing|failed|denied) rc=\d+ t=\d+\.\d\d cmd=.+)"
)
SHELLS = [s for s in ("sh", "dash", "bash", "busybox") if shutil.which(s)]


def run(
    *args: str, shell: tuple[str, ...] = ("sh",), env: dict[str, str] | None = None, script: bytes = SCRIPT
) -> subprocess.CompletedProcess[bytes]:
    """The script in the root network namespace only, unless ``args`` choose (tests/test_collect_netns.py)."""
    if not any(a.startswith("--netns=") for a in args):
        args = ("--netns=host", *args)
    return subprocess.run([*shell, "-s", "--", *args], input=script, capture_output=True, env=env, timeout=60)


def markers(out: bytes) -> list[tuple[str, ...]]:
    """The marker lines as (verb, name, status); fails on any malformed marker line."""
    found: list[tuple[str, ...]] = []
    for line in out.decode("utf-8", "replace").split("\n"):
        if line.startswith("==netdiag=="):
            m = MARKER.fullmatch(line)
            assert m is not None, line
            if m[1]:
                found.append(("begin", m[1]))
            elif m[3]:
                found.append(("end", m[3], m[4]))
    return found


def test_dash_is_here_to_check_posix() -> None:
    assert "dash" in SHELLS or "busybox" in SHELLS, "install dash (Debian: apt-get install dash)"


@pytest.mark.parametrize("shell", SHELLS)
def test_syntax(shell: str) -> None:
    argv = ["busybox", "sh", "-n"] if shell == "busybox" else [shell, "-n"]
    r = subprocess.run(argv, input=SCRIPT, capture_output=True, timeout=10)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_every_section_under_each_shell(shell: str) -> None:
    r = run(shell=("busybox", "sh") if shell == "busybox" else (shell,))
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    found = markers(r.stdout)
    begins = [m[1] for m in found if m[0] == "begin"]
    ends = [m[1:] for m in found if m[0] == "end"]
    assert begins == [name for name, _ in ends]  # each section closed, in order, none nested
    assert tuple(dict.fromkeys(begins)) == SECTIONS
    assert all(status == "ok" for _, status in ends), ends
    # every body line, cmdline data included, ends before the next marker
    assert b"\0==netdiag==" not in r.stdout
    assert r.stdout.endswith(b"\n==netdiag== done\n")


def test_unknown_argument_is_refused_before_anything_runs() -> None:
    r = run("--sockets=ss", "--bogus")
    assert r.returncode == 2
    assert r.stdout == b""
    assert b"unknown argument: --bogus" in r.stderr


@pytest.mark.parametrize("source", ["ss", "netstat", "proc"])
def test_forced_socket_source(source: str) -> None:
    found = markers(run(f"--sockets={source}").stdout)
    assert [m for m in found if m[0] == "end" and m[1] == "sockets"] == [("end", "sockets", "ok")]
    r = run(f"--sockets={source}")
    assert re.search(
        rb"end sockets status=ok rc=0 t=\S+ cmd="
        + {"ss": b"ss", "netstat": b"netstat", "proc": b"cat"}[source],
        r.stdout,
    )


def test_fallback_records_why(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", *TOOLS):
        if tool not in ("ss", "netstat"):
            (tools / tool).symlink_to(shutil.which(tool) or f"/missing/{tool}")
    r = run(env={"PATH": str(tools)})
    out = r.stdout.decode()
    assert "==netdiag== stderr sockets ss: not found in PATH\n" in out
    assert "==netdiag== stderr sockets netstat: not found in PATH\n" in out
    assert [m for m in markers(r.stdout) if m[0] == "end" and m[1] == "sockets"] == [
        ("end", "sockets", "missing"),
        ("end", "sockets", "missing"),
        ("end", "sockets", "ok"),
    ]


def test_a_failing_step_keeps_its_stderr(tmp_path: Path) -> None:
    """A tool that fails: its status, exit code and stderr land in the section's end."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in ("sh", *TOOLS):
        (tools / tool).symlink_to(shutil.which(tool) or f"/missing/{tool}")
    (tools / "ss").unlink()
    (tools / "ss").write_text(
        "#!/bin/sh\necho 'Cannot open netlink socket: Protocol not supported' >&2\nexit 1\n"
    )
    (tools / "ss").chmod(0o755)
    out = run(env={"PATH": str(tools)}).stdout.decode()
    assert "==netdiag== stderr sockets Cannot open netlink socket: Protocol not supported\n" in out
    assert "==netdiag== end sockets status=failed rc=1 " in out
    assert "==netdiag== end sockets status=ok rc=0 t=" in out  # then netstat did the job


def test_a_script_cut_in_transit_runs_nothing() -> None:
    """Everything runs from main() on the last line: a truncated script prints no section."""
    for cut in (len(SCRIPT) // 3, len(SCRIPT) // 2, SCRIPT.rindex(b"main ")):
        r = subprocess.run(["sh", "-s"], input=SCRIPT[:cut], capture_output=True, timeout=10)
        assert b"==netdiag==" not in r.stdout, cut


def test_sysctls_read_are_the_parsers_list() -> None:
    text = SCRIPT.decode()
    assert re.findall(r"/proc/sys/net/[\w/]+", text) == [sysctl_path(name) for name in SYSCTLS]


def test_no_per_process_owner_lookup() -> None:
    code = "\n".join(line for line in SCRIPT.decode().splitlines() if not line.lstrip().startswith("#"))
    assert not re.search(r"\b(ss|netstat) -\w*p", code)
    assert "lsof" not in code and "fuser" not in code


def _logged_run(tmp_path: Path, tag: str, script: bytes = SCRIPT) -> list[str]:
    """Run the script with every tool behind a wrapper that logs its name: the commands spawned."""
    return _logged_output(tmp_path, tag, script)[0]


def _logged_output(tmp_path: Path, tag: str, script: bytes) -> tuple[list[str], str]:
    """The commands spawned, and the script's output."""
    log = tmp_path / f"{tag}.log"
    tools = tmp_path / f"bin-{tag}"
    tools.mkdir()
    (tools / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None
        (tools / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec {real} "$@"\n')
        (tools / tool).chmod(0o755)
    r = run(env={"PATH": str(tools)}, script=script)
    assert r.returncode == 0, r.stderr
    return log.read_text().split(), r.stdout.decode()


def test_commands_spawned_do_not_grow_with_processes(tmp_path: Path) -> None:
    """40 more socket-owning processes (a listener shared by forked children) spawn no more commands."""
    one = sockets.start("listener", "127.0.0.1", 0)
    try:
        before = _logged_run(tmp_path, "before")
        crowd = sockets.start("forked", "127.0.0.1", 0, "--count", "40")
        try:
            after = _logged_run(tmp_path, "after")
        finally:
            crowd.stop()
    finally:
        one.stop()
    assert sorted(before) == sorted(after)  # pipeline members start in any order
    # ss, find + awk (fd map), grep (comm + limits), head (cmdline), grep (every /proc file);
    # was 20 (xargs pipelines, id, date, a command per /proc file, an ls + awk for the netns pids)
    assert len(before) <= 6, (len(before), before)
    assert "find" in before and "ls" not in before


@pytest.fixture(scope="module")
def held() -> Iterator[set[int]]:
    """Socket holders that stay put: a listener and a listener shared by 3 forked children."""
    one = sockets.start("listener", "127.0.0.1", 0)
    crowd = sockets.start("forked", "127.0.0.1", 0, "--count", "3")
    try:
        yield {one.pid, crowd.pid, *crowd.info["children"]}
    finally:
        crowd.stop()
        one.stop()


@pytest.mark.parametrize("lines", [64, 1], ids=["read-builtin", "grep-past-the-lines"])
def test_cgroup2_mount_is_found_in_mounts(held: set[int], tmp_path: Path, lines: int) -> None:
    """Where no cgroup.controllers file is in the usual places, /proc/self/mounts is read by the
    `read` builtin for MOUNTS_READ_MAX lines, by grep past them; either finds this machine's mount."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    at = [i for i, line in enumerate(mounts) if line.split()[2] == "cgroup2"]
    assert at and at[0] < 64, "the test needs a cgroup2 mount in the first 64 lines of /proc/self/mounts"
    script, usual = re.subn(
        rb"\[ ! -e /sys/fs/cgroup/[a-z/]*cgroup\.controllers \] \|\| return 0", b":", SCRIPT
    )
    script, limit = re.subn(rb"\nMOUNTS_READ_MAX=64\n", f"\nMOUNTS_READ_MAX={lines}\n".encode(), script)
    assert (usual, limit) == (2, 1)
    spawned, out = _logged_output(tmp_path, f"mounts-{lines}", script)
    assert "cmd=ss -tanoe\n" in out  # ss keeps its stderr: the mount was seen
    assert spawned.count("grep") == (2 if lines > at[0] else 3), spawned  # + the mounts grep


# -- the fd map: find -printf, or ls -l where find has none ---------------------

FAKE_FIND = """#!/bin/sh
# busybox's find: no -printf
for a do
    if [ "$a" = -printf ]; then
        echo 'find: unrecognized: -printf' >&2
        printf 'BusyBox v1.36.1 multi-call binary.\\n\\nUsage: find [-HL] [PATH]... [EXPR]\\n' >&2
        exit 1
    fi
done
exec {real} "$@"
"""


def _toolbox(tmp_path: Path, tag: str, fake_find: bool = False) -> Path:
    """A PATH of exactly the script's tools; ``fake_find``: a find that, like busybox's, has no -printf."""
    tools = tmp_path / f"bin-{tag}"
    tools.mkdir()
    for tool in ("sh", *TOOLS):
        (tools / tool).symlink_to(shutil.which(tool) or f"/missing/{tool}")
    if fake_find:
        (tools / "find").unlink()
        (tools / "find").write_text(FAKE_FIND.format(real=shutil.which("find")))
        (tools / "find").chmod(0o755)
    return tools


def _section(out: bytes, name: str) -> tuple[list[str], str]:
    """A section's body lines and its end marker line."""
    text = out.decode("utf-8", "replace")
    body = text.split(f"==netdiag== begin {name}\n", 1)[1]
    body, end = body.split(f"\n==netdiag== end {name} ", 1)
    return body.split("\n"), end.split("\n", 1)[0]


def _held_by(lines: list[str], pids: set[int]) -> list[str]:
    """The S and P records of ``pids`` (other processes come and go between runs)."""
    return sorted(line for line in lines if line[:2] in ("S ", "P ") and int(line.split()[1]) in pids)


@pytest.mark.parametrize("args_max", [None, 2], ids=["as-arguments", "through-xargs"])
def test_fd_map_by_find_and_by_ls_agree(held: set[int], tmp_path: Path, args_max: int | None) -> None:
    """GNU find -printf and the ls -l fallback (a find without -printf) give the same records;
    ``args_max`` 2 sends every path list through xargs, as past 4,000 processes."""
    script = SCRIPT
    if args_max is not None:
        script = SCRIPT.replace(b"\nARGS_MAX=4000\n", f"\nARGS_MAX={args_max}\n".encode())
        assert script != SCRIPT
    runs = {}
    for tag, fake in (("find", False), ("ls", True)):
        r = subprocess.run(
            ["sh", "-s", "--", "--netns=host"], input=script, capture_output=True, timeout=60,
            env={"PATH": str(_toolbox(tmp_path, tag, fake))},
        )  # fmt: skip
        assert r.returncode == 0 and r.stderr == b"", r.stderr
        assert all(m[2] == "ok" for m in markers(r.stdout) if m[0] == "end"), markers(r.stdout)
        runs[tag] = r.stdout
    find_lines, find_end = _section(runs["find"], "fdmap")
    ls_lines, ls_end = _section(runs["ls"], "fdmap")
    assert "cmd=find /proc/<pids of this netns>/fd -printf | awk" in find_end
    assert "cmd=ls -l /proc/<pids of this netns>/fd | awk" in ls_end
    mine = _held_by(find_lines, held)
    assert len(mine) == 2 * len(held) and mine == _held_by(ls_lines, held)
    # no "E" lines (busybox's complaint and usage are dropped), one V line each
    for lines in (find_lines, ls_lines):
        assert not [line for line in lines if line.startswith("E")], lines
        (v,) = [line.split() for line in lines if line.startswith("V ")]
        assert int(v[1]) >= len(held)  # (v[3], vanished processes, depends on the machine)
    # the owners and their cmdlines were read either way
    for out in runs.values():
        owners, _ = _section(out, "owners")
        assert {f"/proc/{pid}/comm" for pid in held} <= {line.split(":", 1)[0] for line in owners}


def test_fd_map_counts_what_find_may_not_read(held: set[int]) -> None:
    """Run as nobody: root's processes' fd directories are refused (denied), not read."""
    if os.geteuid() != 0:
        pytest.fail("needs root to run the script as nobody (CI runs as root)")
    r = run_script_as_nobody(timeout=60)
    assert r.returncode == 0, r.stderr
    lines, end = _section(r.stdout, "fdmap")
    assert "cmd=find " in end and end.startswith("status=ok ")
    assert not [line for line in lines if line.startswith(("E", "S"))], lines  # nobody holds no socket
    (v,) = [line.split() for line in lines if line.startswith("V ")]
    readable, denied = int(v[1]), int(v[2])
    # its own shell's read; root's processes (the holders among them), named by find first,
    # are refused and not counted readable
    assert readable >= 1 and denied >= len(held) and readable < denied


# -- processes forked on a small host, and --gzip only where it pays ---------

# In a network namespace of its own: ``ip link set lo up``, PAIRS connected pairs held,
# then the script (its stdin) run with the arguments that follow, its output passed on.
IN_NS = r"""
import socket, subprocess, sys
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
pairs = int(sys.argv[1])
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(4096)
held = [srv]
for _ in range(pairs):
    c = socket.create_connection(srv.getsockname()); s, _ = srv.accept(); held += (c, s)
sys.exit(subprocess.run(sys.argv[2:], stdin=sys.stdin).returncode)
"""


def _in_own_netns(pairs: int, *argv: str, pid_ns: bool = False) -> subprocess.CompletedProcess[bytes]:
    """``argv`` (with the script on stdin) in a new network namespace holding ``pairs`` pairs;
    ``pid_ns``: and a PID and mount namespace where no other process or named namespace is seen."""
    if os.geteuid() != 0:
        pytest.fail("needs root for a network namespace (CI runs as root)")
    prefix = ["unshare", "--net"]
    if pid_ns:
        hide = '{ [ ! -d /run/netns ] || mount -t tmpfs tmpfs /run/netns; } && exec "$0" "$@"'
        prefix = [*prefix, "--pid", "--fork", "--mount-proc", "--propagation", "private", "sh", "-c", hide]
    argv = (*prefix, sys.executable, "-c", IN_NS, str(pairs), *argv)
    return subprocess.run(argv, input=SCRIPT, capture_output=True, timeout=120)


def _compress_line(out: bytes) -> str:
    (line,) = [x for x in _section(out, "script")[0] if x.startswith("compress=")]
    return line


def test_gzip_only_when_it_pays() -> None:
    """--gzip on a namespace of a few sockets sends plain text (no gzip process); at
    GZIP_MIN_SOCKETS sockets and more, or with other namespaces to read, gzip."""
    found = re.search(rb"\nGZIP_MIN_SOCKETS=(\d+)\n", SCRIPT)
    assert found is not None
    limit = int(found[1])
    few = _in_own_netns(3, "sh", "-s", "--", "--netns=host", "--gzip")
    assert few.returncode == 0 and few.stderr == b"", few.stderr
    assert not few.stdout.startswith(GZIP_MAGIC)
    assert _compress_line(few.stdout) == (
        f"compress=none (7 TCP sockets, one network namespace: under {limit}, not worth a gzip)"
    )
    many = _in_own_netns(limit // 2, "sh", "-s", "--", "--netns=host", "--gzip")
    assert many.returncode == 0 and many.stdout.startswith(GZIP_MAGIC), many.stderr
    text, _ = expand(many.stdout)
    assert _compress_line(text) == "compress=gzip" and text.endswith(b"\n==netdiag== done\n")
    # --netns=all, few sockets: other namespaces (this machine's) are read too, so gzip
    others = _in_own_netns(3, "sh", "-s", "--", "--netns=all", "--gzip")
    assert others.stdout.startswith(GZIP_MAGIC), others.stderr
    # and where this namespace is the only one, not
    alone = _in_own_netns(3, "sh", "-s", "--", "--netns=all", "--gzip", pid_ns=True)
    assert alone.returncode == 0 and not alone.stdout.startswith(GZIP_MAGIC), alone.stderr
    assert _compress_line(alone.stdout).startswith("compress=none (7 TCP sockets")


def test_forks_on_a_small_host() -> None:
    """Every process the script starts on a host of a few sockets, counted by strace: one
    fork per command (a command alone in $(...) is exec'd by the subshell), no gzip.
    Was 16 forks for 8 commands (a subshell per step around a shell function, gzip)."""
    strace = shutil.which("strace")
    assert strace is not None, "install strace (Debian: apt-get install strace)"
    r = _in_own_netns(
        3, "sh", "-c", f'exec {strace} -f -qq -z -e trace=execve,fork,vfork,clone,clone3 -o /dev/stderr "$@"',
        "sh", "sh", "-s", "--", "--netns=host", "--gzip",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    trace = r.stderr.decode().splitlines()
    # -z: successful calls only (not dash's execve tries along PATH), each on one line
    execs = [line.split('"')[1].rsplit("/", 1)[-1] for line in trace if " execve(" in line]
    forks = [line for line in trace if re.search(r" (clone3?|v?fork)\(", line)]
    assert execs[0] == "sh" and sorted(execs[1:]) == ["awk", "find", "grep", "grep", "head", "ss"], execs
    assert len(forks) <= 7, forks
