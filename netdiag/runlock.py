"""One netdiag scan at a time per history: an ``flock`` on ``<history path>.lock``.

Cron does not know that the previous run is still going; two runs interleaving
their scans in one history would make a series jump back and forth. SQLite
alone would keep the file intact, not the order of scans.

``flock`` rather than a pid file: the kernel drops the lock when its holder dies,
so a crashed run never leaves a stale lock behind. The holder writes its pid and
start time into the file, only so the refused run can say who is in the way.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import click

POLL_S = 0.1
SETTLE_S, SETTLE_TRIES = 0.01, 20  # up to 0.2 s for a holder caught between its flock and its line


class LockBusy(Exception):
    """Another run holds the lock (and waiting, if asked, did not help)."""

    def __init__(self, path: Path, holder: Holder | None, waited: float) -> None:
        self.path = path
        self.holder = holder
        self.waited = waited
        who = f" ({holder})" if holder else ""
        after = f"; gave up after waiting {waited:g} s" if waited > 0 else ""
        super().__init__(f"another netdiag scan holds the lock on {path}{who}{after}")


@dataclass(frozen=True, slots=True)
class Holder:
    pid: int
    since: str  # ISO 8601 UTC

    def __str__(self) -> str:
        return f"pid {self.pid} since {self.since}"

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        """What :meth:`RunLock.acquire` wrote: ``pid=N since=T``; None if absent or torn."""
        fields = dict(part.partition("=")[::2] for part in text.split())
        try:
            return cls(int(fields["pid"]), fields["since"])
        except (KeyError, ValueError):
            return None


def lock_path_for(history_path: Path) -> Path:
    return history_path.with_name(history_path.name + ".lock")


class RunLock:
    """An exclusive lock on one file, held from :meth:`acquire` (or ``with``) until :meth:`release`."""

    def __init__(self, path: Path, wait: float = 0.0) -> None:
        self.path = path
        self.wait = wait
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, polling up to ``wait`` seconds; :class:`LockBusy` names the holder if not."""
        if self._fd is not None:
            raise RuntimeError(f"lock {self.path} already held by this process")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: the holder's line must survive until we own the lock.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + max(0.0, self.wait)
        settle = SETTLE_TRIES
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    holder = _read_holder(fd)
                    if holder is None and settle:
                        # Locked but no line: the holder is between its flock and its write, or
                        # releasing (it empties the file first). Either ends within moments.
                        settle -= 1
                        time.sleep(SETTLE_S)
                        continue
                    if time.monotonic() >= deadline:
                        raise LockBusy(self.path, holder, self.wait) from None
                    time.sleep(POLL_S)
            since = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid={os.getpid()} since={since}\n".encode(), 0)
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Drop the lock. The file stays: unlinking a lock file races with the next run opening it."""
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        try:
            os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing the last descriptor releases the flock

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> Holder | None:
    try:
        return Holder.parse(os.pread(fd, 200, 0).decode("utf-8", "replace"))
    except OSError:
        return None


F = TypeVar("F", bound=Callable[..., Any])

lock_wait_option = click.option(
    "--lock-wait",
    type=click.FloatRange(min=0),
    default=0.0,
    show_default=True,
    metavar="SECONDS",
    help="When another scan holds the history lock, wait this long for it (0: exit at once).",
)


def lock_options(f: F) -> F:
    """Add ``--lock-wait SECONDS`` to a click command."""
    return lock_wait_option(f)
