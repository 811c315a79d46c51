"""The frame both program modules (tests/sockets.py, tests/incidents.py) share: stdlib only.

A program makes its sockets, prints ONE JSON readiness line and holds everything until
stdin closes; ``start()`` runs one from a test and waits for that line.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

PR_SET_NAME = 15

#: A program: parsed arguments and a list to keep its sockets alive in -> the readiness info.
Program = Callable[[argparse.Namespace, list[Any]], dict[str, Any]]


def parser(
    doc: str | None, programs: dict[str, Program], *, host_help: str, port_help: str
) -> argparse.ArgumentParser:
    """The arguments every program takes: PROGRAM HOST PORT; the module adds its own options."""
    p = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("program", choices=sorted(programs))
    p.add_argument("host", help=host_help)
    p.add_argument("port", type=int, help=port_help)
    return p


def set_name(name: str) -> None:
    """Set /proc/PID/comm (15 bytes at most) so findings show a known process name."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_NAME, ctypes.c_char_p(name.encode()[:15]), 0, 0, 0)


def serve(a: argparse.Namespace, programs: dict[str, Program], lifetime: float | None, **extra: Any) -> None:
    """Name the process, run the program, print its readiness line (``extra`` goes in too) and hold
    its sockets until stdin closes (or ``lifetime`` seconds pass), so the test decides when we go."""
    if a.name:
        set_name(a.name)
    keep: list[Any] = []
    info = programs[a.program](a, keep)
    print(json.dumps({"pid": os.getpid(), "program": a.program, **extra, **info}), flush=True)
    deadline = None if lifetime is None else time.monotonic() + lifetime
    with contextlib.suppress(KeyboardInterrupt):
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                break
            readable, _, _ = select.select([sys.stdin.buffer], [], [], left)
            if readable and not os.read(sys.stdin.fileno(), 4096):
                break  # stdin closed: the test is done with us


# -- for tests ---------------------------------------------------------------------------------


class Running:
    """A started program: its readiness line as ``info``; ``stop()`` ends it (kills it if need be)."""

    def __init__(self, proc: subprocess.Popen[bytes], info: dict[str, Any]) -> None:
        self.proc = proc
        self.info = info

    @property
    def pid(self) -> int:
        return int(self.info["pid"])

    def stop(self) -> None:
        if self.proc.poll() is None and self.proc.stdin is not None:
            with contextlib.suppress(BrokenPipeError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


def start(
    script: Path, program: str, host: str, port: int, *args: str, prefix: Sequence[str], timeout: float
) -> Running:
    """Run ``script``'s program (in this interpreter) and wait for its readiness line; raise if it dies."""
    argv = [*prefix, sys.executable, str(script), program, host, str(port), *args]
    proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdout is not None
    readable, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if readable else b""
    if not line:
        proc.kill()
        proc.wait()
        proc.stdout.close()
        if proc.stdin is not None:
            proc.stdin.close()
        what = " ".join([program, *args])
        raise RuntimeError(f"{what} not ready within {timeout} s (exit {proc.returncode})")
    return Running(proc, json.loads(line))
