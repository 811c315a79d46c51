"""Collection: the one POSIX sh script (``collect.sh``) and turning its output into a ``Snapshot``.

``collect`` is the whole path for one host: run the script through any
transport, then ``assemble`` its output. The script ships as package data and
is read with importlib.resources, so an installed wheel runs the same bytes
as the source tree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from importlib import resources

from netdiag.collectors.assemble import assemble
from netdiag.model import CommandRun, HostInfo, Snapshot
from netdiag.transport.base import Transport

__all__ = ["DEFAULT_TIMEOUT", "collect", "script_bytes"]

SCRIPT = "collect.sh"
DEFAULT_TIMEOUT = 60.0


def script_bytes() -> bytes:
    """The collection script exactly as it is sent to a host."""
    return resources.files(__package__).joinpath(SCRIPT).read_bytes()


def collect(
    transport: Transport,
    host: HostInfo,
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> Snapshot:
    """Run the script on ``host`` through ``transport`` and assemble its snapshot.

    ``args`` are the script's own option words (``--sockets=ss|netstat|proc``),
    never host or inventory data. A non-zero exit, a timeout or stray stderr
    of the script as a whole becomes a ``script`` ``CommandRun`` so the snapshot
    says the run was not clean; ``TransportError`` (host unreachable) propagates.
    """
    collected_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = transport.run(script_bytes(), list(args), timeout)
    snapshot = assemble(result.stdout, host, collected_at, seconds=round(result.seconds, 3))
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.exit_code == 0 and not result.timed_out and not stderr:
        return snapshot
    if result.timed_out:
        status, why = "failed", f"timed out after {timeout:g} s; output read as far as it went"
    elif result.exit_code != 0:
        status, why = "failed", f"exit code {result.exit_code}"
    else:
        status, why = "ok", "stderr outside any step"
    run = CommandRun(
        name="script",
        command="sh -s -- " + " ".join(args),
        status=status,
        seconds=round(result.seconds, 3),
        detail="; ".join(x for x in (why, " | ".join(stderr.splitlines())) if x)[:1000],
        bytes=len(result.stdout),
    )
    c = snapshot.collection
    return replace(snapshot, collection=replace(c, commands=(*c.commands, run)))
