"""What every transport offers: run the collection script on one host, return its bytes.

Modelled on Ansible's ``ConnectionBase``: the collection layer hands over the
script and its argument words and gets an ``ExecResult`` back; it never knows
whether the bytes came from a subprocess or an SSH channel. A transport that
cannot reach its host at all raises ``TransportError``; anything that did run,
even cut short by the timeout, is a result (partial output is still evidence).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class TransportError(Exception):
    """The host could not be reached or the shell not started; nothing ran."""


@dataclass(frozen=True, slots=True)
class ExecResult:
    """One run. ``exit_code`` is None when the run was killed (``timed_out``) or never reported one."""

    stdout: bytes
    stderr: bytes
    exit_code: int | None
    seconds: float
    timed_out: bool = False


class Transport(Protocol):
    """Runs ``sh -s -- ARGS`` with ``script`` on stdin, on the transport's host."""

    def run(self, script: bytes, args: Sequence[str], timeout: float) -> ExecResult: ...

    def close(self) -> None: ...
