"""``netdiag analyze PATH...``: the rules over saved snapshots, with no network at all.

PATH is anything ``netdiag.save.load_saved`` reads: a ``scan --save`` directory or
its manifest, snapshots from ``collect -o``, or directories of them. Several loose
snapshots of one host become its samples, oldest first, exactly as ``scan --samples``
would have handed them to the rules. The table is plain until the report renderers
are wired in.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import click
from tabulate import tabulate

from netdiag.engine import RuleConfig, run_rules
from netdiag.render import visible
from netdiag.results import Finding
from netdiag.ruleconfig import rule_options
from netdiag.save import SavedError, load_saved


def findings_table(findings: Sequence[Finding]) -> str:
    rows = [
        [
            f.severity.label,
            visible(f.host if f.netns is None else f"{f.host}[{f.netns}]", one_line=True),
            f.rule,
            visible(f"{f.process} ({f.pid})" if f.process else "", one_line=True),
            f.local or "",
            "" if f.value is None else f"{f.value:g}" + ("" if f.threshold is None else f"/{f.threshold:g}"),
            visible(f.message, one_line=True),
        ]
        for f in findings
    ]
    return tabulate(
        rows,
        headers=["severity", "host", "rule", "process", "local", "value", "message"],
        maxcolwidths=[None, None, None, None, None, None, 80],
    )


@click.command("analyze")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path), metavar="PATH...")
@rule_options
def analyze_command(paths: tuple[Path, ...], rule_config: RuleConfig) -> None:
    """Run the rules over saved snapshots (`collect -o` files, `scan --save` directories)."""
    try:
        hosts = load_saved(paths)
    except SavedError as e:
        raise click.ClickException(str(e)) from None
    findings = run_rules(hosts, rule_config)
    if findings:
        click.echo(findings_table(findings))
    else:
        click.echo(f"no findings on {len(hosts)} host(s)")
