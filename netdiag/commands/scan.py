"""``netdiag scan``: read a fleet over SSH and account for every host.

``scan_from_options`` turns the command line into a ``ScanResult`` and knows
nothing of output; ``print_hosts`` is the simple per-host table. Reports and
rules plug in between the two.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import click
from tabulate import tabulate

from netdiag.inventory import InventoryError, load_inventory
from netdiag.render.exitcode import scan_exit_status
from netdiag.results import HostResult, Outcome, ScanResult
from netdiag.save import save_scan
from netdiag.scan import DEFAULT_DEADLINE, DEFAULT_FORKS, ScanOptions, scan_result, tty_progress
from netdiag.transport.ssh import SshError, SshOptions

INTERRUPTED = 130  # the shell's code for a Ctrl-C


def scan_from_options(
    sources: Sequence[str], limit: str | None, options: ScanOptions, *, progress: bool = True
) -> ScanResult:
    """Load the inventory, apply ``--limit`` and scan; raises ``click.UsageError`` for a bad inventory."""
    try:
        targets = load_inventory(sources).select(limit)
    except InventoryError as e:
        raise click.UsageError(str(e)) from e
    if not targets:
        raise click.UsageError("no hosts to scan")
    logging.getLogger("paramiko").addHandler(logging.NullHandler())  # its tracebacks are our outcomes
    try:
        return scan_result(
            targets, options, inventory=" ".join(sources), progress=tty_progress() if progress else None
        )
    except SshError as e:  # an unreadable -F file or known_hosts: nothing can be scanned
        raise click.UsageError(str(e)) from e


def print_hosts(hosts: Sequence[HostResult]) -> None:
    """One line per host: outcome, message and its socket counts by state."""
    rows = []
    for h in hosts:
        snap = h.latest
        counts = "" if snap is None else _counts(snap.state_counts())
        rows.append([h.name, h.outcome.value, h.message or "", counts])
    click.echo(
        tabulate(rows, headers=["host", "outcome", "message", "sockets"], maxcolwidths=[30, None, 70, 40])
    )
    failed = sum(not h.outcome.scanned for h in hosts)
    click.echo(f"\n{len(hosts)} hosts: {len(hosts) - failed} scanned, {failed} not scanned")


def _counts(states: dict[str, int]) -> str:
    total = sum(states.values())
    parts = ", ".join(f"{k} {v}" for k, v in sorted(states.items(), key=lambda kv: -kv[1]))
    return f"{total}: {parts}" if parts else "0"


@click.command("scan")
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY_OR_HOST...")
@click.option("--limit", "-l", help="Ansible pattern: names, globs, groups, a:b, a:&b, a:!b.")
@click.option("-f", "--forks", type=click.IntRange(1, 1000), default=DEFAULT_FORKS, show_default=True)
@click.option("-u", "--user", help="Remote user (inventory ansible_user wins).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), help="Private key file.")
@click.option("--port", type=click.IntRange(1, 65535), help="SSH port (inventory ansible_port wins).")
@click.option("-F", "ssh_config", type=click.Path(dir_okay=False, exists=True), help="ssh_config file.")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known_hosts file.")
@click.option("--accept-new", is_flag=True, help="Record unknown host keys (never changed ones).")
@click.option("--become", is_flag=True, help="Collect under `sudo -n` to see every process.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), help="Seconds (default 10).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="Per-host deadline in seconds: connect and collection (waits between samples come on top).",
)
@click.option("--samples", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--interval", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Seconds.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path), help="Save here.")
def scan_command(
    sources: tuple[str, ...],
    limit: str | None,
    forks: int,
    user: str | None,
    key_file: str | None,
    port: int | None,
    ssh_config: str | None,
    known_hosts: str | None,
    accept_new: bool,
    become: bool,
    connect_timeout: float | None,
    timeout: float,
    samples: int,
    interval: float,
    save_dir: Path | None,
) -> None:
    """Collect a snapshot of every host in INVENTORY_OR_HOST... (files or host names) over SSH."""
    options = ScanOptions(
        forks=forks,
        deadline=timeout,
        samples=samples,
        interval=interval if samples > 1 else 0.0,
        become=become,
        ssh=SshOptions(
            user=user,
            port=port,
            key_file=key_file,
            config_file=ssh_config,
            known_hosts=known_hosts,
            accept_new=accept_new,
            connect_timeout=connect_timeout,
        ),
    )
    result = scan_from_options(sources, limit, options)
    if save_dir is not None:
        save_scan(result, save_dir)
    print_hosts(result.hosts)
    if any(h.outcome is Outcome.ERROR and (h.message or "").startswith("interrupted") for h in result.hosts):
        sys.exit(INTERRUPTED)
    sys.exit(int(scan_exit_status(result)))
