"""Run the collection script on this machine: ``sh -s -- ARGS`` with the script on stdin.

The very same bytes and argv shape go over SSH, so local collection exercises
the real script. ``sh`` and every tool the script uses are found on PATH.
On timeout the whole process group is killed (the script's children too) and
whatever it printed so far is returned with ``timed_out=True``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Sequence

from netdiag.transport.base import ExecResult, TransportError


class LocalTransport:
    """A transport to localhost without SSH; holds no resources, so ``close`` does nothing."""

    def run(self, script: bytes, args: Sequence[str], timeout: float) -> ExecResult:
        start = time.monotonic()
        try:
            proc = subprocess.Popen(
                ["sh", "-s", "--", *args],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, killed as one on timeout
            )
        except OSError as e:
            raise TransportError(f"cannot start sh: {e}") from e
        try:
            out, err = proc.communicate(script, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            out, err = proc.communicate()
            return ExecResult(out, err, None, time.monotonic() - start, timed_out=True)
        return ExecResult(out, err, proc.returncode, time.monotonic() - start)

    def close(self) -> None:
        return None


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)
