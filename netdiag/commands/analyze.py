"""``netdiag analyze PATH...``: the rules over saved snapshots, with no network at all.

PATH is a snapshot written by ``netdiag collect -o`` or a directory of them. Several
snapshots of one host (and network namespace) become its samples, oldest first by
collection time, exactly as ``scan --samples`` would have handed them to the rules.

The loader here is a stopgap for ``collect -o`` JSON until ``netdiag.save`` (which
also reads ``scan --save`` directories) lands; the table is plain until the report
renderers are wired in.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path

import click
from tabulate import tabulate

from netdiag.engine import RuleConfig, run_rules
from netdiag.model import SNAPSHOT_SCHEMA, Snapshot
from netdiag.render import visible
from netdiag.results import Finding, HostResult, Outcome
from netdiag.ruleconfig import rule_options


class LoadError(Exception):
    """A path that is not a readable snapshot; the text names the path."""


def _files(paths: Iterable[Path]) -> list[Path]:
    out = []
    for p in paths:
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise LoadError(f"{p}: no *.json snapshots in this directory")
            out.extend(found)
        else:
            out.append(p)
    return out


def load_snapshot(path: Path) -> Snapshot:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise LoadError(f"{path}: cannot read: {e.strerror or e}") from None
    except (ValueError, UnicodeDecodeError) as e:
        raise LoadError(f"{path}: not JSON: {e}") from None
    if not isinstance(data, dict) or data.get("schema") != SNAPSHOT_SCHEMA:
        raise LoadError(f"{path}: not a netdiag snapshot (expected schema {SNAPSHOT_SCHEMA})")
    try:
        return Snapshot.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        raise LoadError(f"{path}: damaged snapshot: {type(e).__name__}: {e}") from None


def load_snapshots(paths: Sequence[Path]) -> list[HostResult]:
    """Snapshots grouped into one ``HostResult`` per host, samples oldest first."""
    by_host: dict[str, list[Snapshot]] = {}
    for path in _files(paths):
        snap = load_snapshot(path)
        by_host.setdefault(snap.host.name, []).append(snap)
    results = []
    for name, snaps in sorted(by_host.items()):
        snaps.sort(key=lambda s: s.host.collected_at)
        # Gaps in a snapshot are collection_incomplete's to report, not an outcome.
        results.append(HostResult(name, snaps[-1].host.address, Outcome.OK, samples=tuple(snaps)))
    return results


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
    """Run the rules over saved snapshots (files from `collect -o`, or directories of them)."""
    try:
        hosts = load_snapshots(paths)
    except LoadError as e:
        raise click.ClickException(str(e)) from None
    findings = run_rules(hosts, rule_config)
    if findings:
        click.echo(findings_table(findings))
    else:
        click.echo(f"no findings on {len(hosts)} host(s)")
