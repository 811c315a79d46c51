"""The run lock: a second holder is refused with who holds it, or waits when asked."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from netdiag.runlock import Holder, LockBusy, RunLock, lock_options, lock_path_for

ROOT = Path(__file__).resolve().parent.parent

# Holds the lock until its stdin closes (or for argv[2] seconds), saying "held" once it has it.
HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from netdiag.runlock import RunLock
    with RunLock(Path(sys.argv[1])):
        print("held", flush=True)
        if len(sys.argv) > 2:
            time.sleep(float(sys.argv[2]))
        else:
            sys.stdin.read()
    """
)


@contextmanager
def held_elsewhere(path: Path, seconds: float | None = None) -> Iterator[subprocess.Popen[str]]:
    args = [sys.executable, "-c", HOLDER, str(path)] + ([] if seconds is None else [str(seconds)])
    with subprocess.Popen(args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        try:
            assert p.stdout is not None
            assert p.stdout.readline().strip() == "held"
            yield p
        finally:
            if p.stdin:
                p.stdin.close()  # lets it go
            p.wait(timeout=30)


def test_lock_path_beside_history() -> None:
    assert lock_path_for(Path("/x/history.sqlite")) == Path("/x/history.sqlite.lock")


def test_second_holder_in_same_process_is_refused_with_holder(tmp_path: Path) -> None:
    path = tmp_path / "h.lock"
    with RunLock(path) as first:
        assert first.held
        with pytest.raises(LockBusy) as info:
            RunLock(path).acquire()
        assert info.value.holder is not None and info.value.holder.pid == os.getpid()
        assert re.fullmatch(
            rf"another netdiag scan holds the lock on {re.escape(str(path))} "
            rf"\(pid {os.getpid()} since \d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\dZ\)",
            str(info.value),
        )
    assert path.read_text() == ""  # holder cleared on release
    with RunLock(path):  # and free again
        assert Holder.parse(path.read_text()) is not None


def test_other_process_holds_it(tmp_path: Path) -> None:
    path = tmp_path / "h.lock"
    with held_elsewhere(path) as holder:
        started = time.monotonic()
        with pytest.raises(LockBusy, match=rf"\(pid {holder.pid} since .*\); gave up after waiting 0\.3 s"):
            RunLock(path, wait=0.3).acquire()
        assert time.monotonic() - started >= 0.3
    with RunLock(path):  # released when the holder exited
        pass


def test_waits_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "h.lock"
    with held_elsewhere(path, seconds=0.5):
        started = time.monotonic()
        with RunLock(path, wait=20) as lock:
            waited = time.monotonic() - started
            assert lock.held
            holder = Holder.parse(path.read_text())
            assert holder is not None and holder.pid == os.getpid()
    assert 0.2 < waited < 15


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    path = tmp_path / "h.lock"
    with held_elsewhere(path) as holder:
        holder.kill()
        holder.wait(timeout=30)
        assert "pid=" in path.read_text()  # its line is still there ...
        with RunLock(path):  # ... but the kernel dropped its lock
            pass


def test_holder_parse_tolerates_torn_text() -> None:
    assert Holder.parse("pid=12 since=2024-01-01T00:00:00Z\n") == Holder(12, "2024-01-01T00:00:00Z")
    assert Holder.parse("") is None
    assert Holder.parse("pid=12") is None
    assert Holder.parse("pid=x since=y") is None


def test_lock_wait_option() -> None:
    seen = {}

    @click.command()
    @lock_options
    def cmd(lock_wait: float) -> None:
        seen["wait"] = lock_wait

    assert CliRunner().invoke(cmd, []).exit_code == 0 and seen["wait"] == 0
    assert CliRunner().invoke(cmd, ["--lock-wait", "2.5"]).exit_code == 0 and seen["wait"] == 2.5
    assert CliRunner().invoke(cmd, ["--lock-wait", "-1"]).exit_code == 2


# Takes the flock, says "locked", and writes its line only after argv[2] seconds (never if "-").
SLOW_WRITER = textwrap.dedent(
    """
    import fcntl, os, sys, time
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    print("locked", flush=True)
    if sys.argv[2] != "-":
        time.sleep(float(sys.argv[2]))
        os.pwrite(fd, f"pid={os.getpid()} since=2026-01-01T00:00:00Z\\n".encode(), 0)
    sys.stdin.read()
    """
)


@pytest.mark.parametrize("write_after", ["0.05", "-"])
def test_a_holder_caught_before_its_line_is_named_once_written(tmp_path: Path, write_after: str) -> None:
    path = tmp_path / "h.lock"
    args = [sys.executable, "-c", SLOW_WRITER, str(path), write_after]
    with subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) as p:
        assert p.stdout is not None and p.stdout.readline().strip() == "locked"
        with pytest.raises(LockBusy) as busy:
            RunLock(path).acquire()
        assert p.stdin is not None
        p.stdin.close()
        p.wait(timeout=30)
    if write_after == "-":  # never written: refused all the same, the holder unnamed
        assert busy.value.holder is None
        assert str(busy.value) == f"another netdiag scan holds the lock on {path}"
    else:
        assert busy.value.holder == Holder(p.pid, "2026-01-01T00:00:00Z")
