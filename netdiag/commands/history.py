"""``netdiag history [HOST]``: the recorded series, one row per host, namespace and metric key."""

from __future__ import annotations

from pathlib import Path

import click
from tabulate import tabulate

from netdiag.history import History, HistoryError, default_history_path, history_path_option, iter_rows


def _values(points: list[tuple[str, float]]) -> str:
    return " ".join(str(int(v)) if v.is_integer() else f"{v:g}" for _, v in points)


@click.command("history")
@click.argument("host", required=False)
@click.option(
    "--key", "pattern", metavar="PATTERN", help="Only keys matching this glob, e.g. 'close_wait:*'."
)
@click.option(
    "--last", type=click.IntRange(min=1), default=10, show_default=True, metavar="N", help="Last N scans."
)
@history_path_option
def history(host: str | None, pattern: str | None, last: int, history_path: Path | None) -> None:
    """Print the recorded series of HOST (or of every host), oldest value first.

    Keys (documented in netdiag/history.py): close_wait:<process>:<port>,
    fin_wait2:<peer>, listen_queue:<addr:port>, fds:<process>, counter:<Group>.<Name> ...
    """
    path = history_path or default_history_path()
    try:
        with History.open(path, create=False) as db:
            if host is not None and host not in db.hosts():
                known = ", ".join(db.hosts()) or "none"
                raise click.ClickException(f"no history for host {host!r} in {path} (hosts: {known})")
            rows = [
                (h, ns, key, points[0][0], points[-1][0], len(points), _values(points))
                for h, ns, key, points in iter_rows(db, host, pattern, last)
                if points
            ]
    except HistoryError as e:
        raise click.ClickException(str(e)) from None
    if not rows:
        what = f" matching {pattern!r}" if pattern else ""
        click.echo(f"no recorded series{what} in {path}", err=True)
        return
    headers = ("host", "netns", "key", "from", "to", "scans", "values (oldest first)")
    click.echo(tabulate(rows, headers=headers, tablefmt="simple", disable_numparse=True))
