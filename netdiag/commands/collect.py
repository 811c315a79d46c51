"""``netdiag collect [HOST] [-o FILE]``: one host's snapshot as JSON.

``localhost`` (the default) is collected without SSH, by running the very
script SSH collection sends through ``LocalTransport``. Which transport serves
which host is decided in ``transport_for`` alone, so SSH slots in there.
JSON goes to stdout indented for reading, or to FILE compact (snapshots of
busy hosts are large and files are for programs). A host read in several
network namespaces gives a JSON array of snapshots, the root one last; one
namespace gives the snapshot object itself.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import click

from netdiag.collectors import DEFAULT_TIMEOUT, collect
from netdiag.model import HostInfo
from netdiag.transport.base import Transport, TransportError
from netdiag.transport.local import LocalTransport

LOCAL_NAMES = frozenset({"localhost", "local"})
SOCKET_SOURCES = ("auto", "ss", "netstat", "proc")
_NETNS_WORD = re.compile(r"[A-Za-z0-9_.,:/+-]+")  # what the script's option words may hold


def transport_for(host: str) -> tuple[Transport, HostInfo]:
    """The transport reaching ``host`` and the inventory identity it is recorded under."""
    if host in LOCAL_NAMES:
        return LocalTransport(), HostInfo(name="localhost", address="local")
    raise click.UsageError(
        f"cannot collect {host!r}: only localhost is collected directly; "
        "SSH collection comes with `netdiag scan`"
    )


@click.command("collect")
@click.argument("host", default="localhost")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write the JSON here, not stdout."
)
@click.option(
    "--sockets",
    type=click.Choice(SOCKET_SOURCES),
    default="auto",
    show_default=True,
    help="Socket source: auto tries ss, then netstat, then /proc/net/tcp*.",
)
@click.option("--timeout", type=float, default=DEFAULT_TIMEOUT, show_default=True, help="Seconds.")
@click.option(
    "--netns",
    default="auto",
    show_default=True,
    help="Network namespaces: all, host, or NAME (named netns, container, pod or inode); "
    "auto = all when allowed to enter them (root, CAP_SYS_ADMIN).",
)
def collect_command(host: str, output: Path | None, sockets: str, timeout: float, netns: str) -> None:
    """Take a snapshot of HOST's TCP sockets and the facts around them (default: localhost)."""
    if not _NETNS_WORD.fullmatch(netns):
        raise click.BadParameter(f"{netns!r} is not a namespace name", param_hint="--netns")
    transport, info = transport_for(host)
    try:
        snapshots = collect(transport, info, [f"--sockets={sockets}", f"--netns={netns}"], timeout=timeout)
    except TransportError as e:
        raise click.ClickException(f"{host}: {e}") from e
    finally:
        transport.close()
    snapshot = snapshots[-1]
    data: Any = snapshot.to_dict() if len(snapshots) == 1 else [s.to_dict() for s in snapshots]
    if output is None:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        output.write_text(
            json.dumps(data, separators=(",", ":"), ensure_ascii=False) + "\n", encoding="utf-8"
        )
    not_ok = [
        f"{c.name} ({c.status})" + ("" if s.host.netns == "host" else f" in netns {s.host.netns}")
        for s in snapshots
        for c in s.collection.commands
        if c.status != "ok"
    ]
    if not_ok:
        click.echo(f"netdiag: {host}: steps not ok: {', '.join(not_ok)}", err=True)
