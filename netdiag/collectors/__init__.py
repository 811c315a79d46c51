"""Collection: the one POSIX sh script (``collect.sh``) and turning its output into a ``Snapshot``.

``collect`` is the whole path for one host: run the script through any
transport, then ``assemble`` its output. The script ships as package data and
is read with importlib.resources, so an installed wheel runs the same bytes
as the source tree.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timezone
from functools import cache
from importlib import resources
from typing import Protocol

import zstandard

from netdiag.model import CommandRun, HostInfo, Snapshot
from netdiag.transport.base import Transport

__all__ = ["DEFAULT_TIMEOUT", "collect", "expand", "script_bytes"]

SCRIPT = "collect.sh"
DEFAULT_TIMEOUT = 60.0
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
NETNS_MODES = ("auto", "all", "host")


@cache
def script_bytes() -> bytes:
    """The collection script exactly as it is sent to a host (read once: every host gets the same bytes)."""
    return resources.files(__package__).joinpath(SCRIPT).read_bytes()


def expand(data: bytes) -> tuple[bytes, str | None]:
    """The script's output as text bytes; the second value says what was wrong with a stream
    that did not end cleanly.

    A zstd or gzip stream (``--compress``, ``--gzip``), known by its magic bytes, is
    expanded as far as it goes, so output cut short in transit (a host's deadline)
    still yields its sections; anything else is the plain text itself.
    """
    if data[:4] == ZSTD_MAGIC:
        return _inflate(zstandard.ZstdDecompressor().decompressobj(), data, zstandard.ZstdError)
    if data[:2] == GZIP_MAGIC:
        return _inflate(zlib.decompressobj(wbits=31), data, zlib.error)
    return data, None


class _Inflater(Protocol):
    @property
    def eof(self) -> bool: ...

    def decompress(self, data: bytes, /) -> bytes: ...


def _inflate(inflater: _Inflater, data: bytes, error: type[Exception]) -> tuple[bytes, str | None]:
    try:
        out = inflater.decompress(data)
    except error as e:
        return b"", f"compressed output is corrupt: {e}"
    return out, None if inflater.eof else "compressed output ends early"


def collect(
    transport: Transport,
    host: HostInfo,
    args: Sequence[str] = (),
    timeout: float = DEFAULT_TIMEOUT,
) -> tuple[Snapshot, ...]:
    """Run the script on ``host`` through ``transport``: one snapshot per network namespace read.

    The root namespace's snapshot (``netns="host"``) comes last, so ``samples[-1]``
    of a host is its root view; with ``--netns=NAME`` only the matching
    namespaces are returned (the root view only if none matched: its record says so).
    ``args`` are the script's own option words (``--sockets=ss|netstat|proc``,
    ``--netns=...``, ``--compress``), never host or inventory data. A non-zero exit,
    a timeout or stray stderr of the script as a whole becomes a ``script``
    ``CommandRun`` of every snapshot so none claims a clean run;
    ``TransportError`` (host unreachable) propagates.
    """
    # Imported here: the parsers load in the first host's thread while the others
    # still wait for their hosts, not before the scan's first connection.
    from netdiag.collectors.assemble import assemble_all

    collected_at = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = transport.run(script_bytes(), list(args), timeout)
    output, damage = expand(result.stdout)
    snapshots = assemble_all(output, host, collected_at, seconds=round(result.seconds, 3))
    root = snapshots[-1]
    if len(result.stdout) != len(output):  # what travelled, not what it expanded to
        root = replace(root, collection=replace(root.collection, bytes_received=len(result.stdout)))
    snapshots = (*snapshots[:-1], root)
    if _named(args) and len(snapshots) > 1:
        snapshots = snapshots[:-1]
    stderr = result.stderr.decode("utf-8", "replace").strip()
    if result.exit_code == 0 and not result.timed_out and not stderr and damage is None:
        return snapshots
    if result.timed_out:
        status, why = "failed", f"timed out after {timeout:g} s; output read as far as it went"
    elif result.exit_code != 0:
        status, why = "failed", f"exit code {result.exit_code}"
    elif damage is not None:
        status, why = "failed", damage
    else:
        status, why = "ok", "stderr outside any step"
    run = CommandRun(
        name="script",
        command="sh -s -- " + " ".join(args),
        status=status,
        seconds=round(result.seconds, 3),
        detail="; ".join(x for x in (why, damage or "", " | ".join(stderr.splitlines())) if x)[:1000],
        bytes=len(result.stdout),
    )
    return tuple(
        replace(s, collection=replace(s.collection, commands=(*s.collection.commands, run)))
        for s in snapshots
    )


def _named(args: Sequence[str]) -> bool:
    """Whether ``args`` ask for namespaces by name (not auto, all or host)."""
    return any(a.startswith("--netns=") and a[len("--netns=") :] not in NETNS_MODES for a in args)
