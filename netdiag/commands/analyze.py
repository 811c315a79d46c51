"""``netdiag analyze PATH...``: the rules over saved snapshots, with no network at all.

PATH is anything ``netdiag.save.load_saved`` reads: a ``scan --save`` directory or
its manifest, snapshots from ``collect -o``, or directories of them. Several loose
snapshots of one host become its samples, oldest first, exactly as ``scan --samples``
would have handed them to the rules, so the findings are the scan's own. (Findings
drawn from the history, like ``close_wait_growth``, are the exception: analyze reads
no history, since the saved scan is already recorded in it.) The output and the exit
status are ``scan``'s: the same ``--format/--json/--html/-v/--fail-on``.
"""

from __future__ import annotations

from pathlib import Path

import click

from netdiag.commands.report import saved_result
from netdiag.engine import RuleConfig
from netdiag.render.options import ReportOptions, emit, report_options
from netdiag.ruleconfig import rule_options
from netdiag.save import SavedError


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@rule_options
@report_options
def analyze_command(paths: tuple[Path, ...], rule_config: RuleConfig, report: ReportOptions) -> None:
    """Run the rules over saved snapshots (`collect -o` files, `scan --save` directories).

    Prints the same report as `scan` and exits with the same status (see --fail-on).
    """
    try:
        result = saved_result(paths, rule_config)
    except SavedError as e:
        raise click.ClickException(str(e)) from None
    raise SystemExit(emit(result, report))
