"""collect.sh itself: POSIX syntax, the section grammar under every shell here, fallbacks, and lightness.

No shellcheck: the script is checked by running it under dash (the strictest
common POSIX sh) and bash, and by the grammar its readers rely on.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from netdiag.collectors import script_bytes
from netdiag.parsers.sysctl import SYSCTLS, sysctl_path
from tests import sockets

SCRIPT = script_bytes()
TOOLS = ("awk", "cat", "date", "grep", "head", "id", "ls", "xargs", "ss", "netstat")
SECTIONS = (
    "script", "host", "sockets", "fdmap", "owners", "cmdline", "procfs",
)  # fmt: skip
MARKER = re.compile(
    r"==netdiag== (?:begin (\S+)|stderr (\S+) .*|done"
    r"|end (\S+) status=(ok|missing|failed|denied) rc=\d+ t=\d+\.\d\d cmd=.+)"
)
SHELLS = [s for s in ("sh", "dash", "bash", "busybox") if shutil.which(s)]


def run(
    *args: str, shell: tuple[str, ...] = ("sh",), env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[bytes]:
    """The script in the root network namespace only, unless ``args`` choose (tests/test_collect_netns.py)."""
    if not any(a.startswith("--netns=") for a in args):
        args = ("--netns=host", *args)
    return subprocess.run([*shell, "-s", "--", *args], input=SCRIPT, capture_output=True, env=env, timeout=60)


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


def _logged_run(tmp_path: Path, tag: str) -> list[str]:
    """Run the script with every tool behind a wrapper that logs its name: the commands spawned."""
    log = tmp_path / f"{tag}.log"
    tools = tmp_path / f"bin-{tag}"
    tools.mkdir()
    (tools / "sh").symlink_to(shutil.which("sh") or "/bin/sh")
    for tool in TOOLS:
        real = shutil.which(tool)
        assert real is not None
        (tools / tool).write_text(f'#!/bin/sh\necho {tool} >> "{log}"\nexec {real} "$@"\n')
        (tools / tool).chmod(0o755)
    r = run(env={"PATH": str(tools)})
    assert r.returncode == 0, r.stderr
    return log.read_text().split()


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
    # ss, ls + awk (fd map), grep (comm + limits), head (cmdline), grep (every /proc file);
    # was 20 (xargs pipelines, id, date, a command per /proc file, an ls + awk for the netns pids)
    assert len(before) <= 6, (len(before), before)
