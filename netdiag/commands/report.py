"""``netdiag report PATH... -o FILE``: the HTML report from saved results, with no network at all.

PATH is anything ``netdiag.save.load_saved`` reads: a ``scan --save`` directory or
its manifest, snapshots from ``collect -o``, or directories of them. The rules run
again over the saved snapshots (with the usual ``--config/--set/--disable``), so a
report made tomorrow from today's save shows today's sockets judged by today's rules.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import click

from netdiag.engine import RuleConfig, run_rules
from netdiag.render.exitcode import scan_exit_status
from netdiag.render.html import render_html
from netdiag.render.jsonout import dumps
from netdiag.render.options import fail_on_option, write_atomic
from netdiag.render.terminal import recap
from netdiag.results import HostResult, ScanResult, Severity
from netdiag.ruleconfig import rule_options
from netdiag.save import SavedError, load_saved


def _started(hosts: list[HostResult]) -> str:
    """When the saved data was collected: its earliest sample, else now (UTC)."""
    times = [s.host.collected_at for h in hosts for s in h.samples if s.host.collected_at]
    if times:
        return min(times)
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def saved_result(paths: tuple[Path, ...], rule_config: RuleConfig) -> ScanResult:
    """The saved hosts and the findings the rules draw from them, as one ScanResult."""
    hosts = load_saved(paths)
    return ScanResult(
        started=_started(hosts),
        duration_s=sum(h.seconds for h in hosts),
        hosts=hosts,
        findings=run_rules(hosts, rule_config),
        options={"from": [str(p) for p in paths]},
    )


@click.command("report")
@click.argument(
    "paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path), metavar="PATH..."
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Write the self-contained HTML report to FILE.",
)
@click.option(
    "--json",
    "json_file",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    metavar="FILE",
    help="Also write the JSON document (schema netdiag.scan/1) to FILE.",
)
@click.option("--title", default="netdiag report", show_default=True, help="The report's heading.")
@fail_on_option()
@rule_options
def report_command(
    paths: tuple[Path, ...],
    output: Path,
    json_file: Path | None,
    title: str,
    fail_on: str,
    rule_config: RuleConfig,
) -> None:
    """Write an HTML report of saved results (`scan --save` directories, `collect -o` snapshots).

    Prints a one-line recap and exits with the same status as `scan` would have.
    """
    try:
        result = saved_result(paths, rule_config)
    except SavedError as e:
        raise click.ClickException(str(e)) from None
    write_atomic(output, render_html(result, title=title))
    if json_file is not None:
        write_atomic(json_file, dumps(result))
    click.echo(f"{output}: {recap(result)}")
    raise SystemExit(int(scan_exit_status(result, Severity.parse(fail_on))))
