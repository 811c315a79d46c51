"""``netdiag rules [RULE]``: every rule with its severity, thresholds and explanation.

Takes the same ``--config``/``--set``/``--disable`` as ``scan`` and ``analyze`` and shows
the values in effect, marking those that differ from the defaults, so a config file
can be checked before a cron job relies on it.
"""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import click
from tabulate import tabulate

from netdiag.engine import AnyRule, RuleConfig, all_rules, rules_by_id
from netdiag.ruleconfig import rule_options


def option_rows(rule: AnyRule, config: RuleConfig) -> list[tuple[str, Any, Any, str]]:
    """(name, value in effect, default, description) for each of the rule's options."""
    current = config.options_for(rule)
    return [
        (f.name, getattr(current, f.name), f.default, str(f.metadata.get("help", "")))
        for f in dataclasses.fields(current)
    ]


def _options_cell(rule: AnyRule, config: RuleConfig) -> str:
    parts = []
    for name, value, default, _ in option_rows(rule, config):
        parts.append(f"{name}={value!s}" + ("" if value == default else f" (default {default!s})"))
    return "\n".join(parts)


@click.command("rules")
@click.argument("rule_id", required=False, metavar="[RULE]")
@rule_options
def rules_command(rule_id: str | None, rule_config: RuleConfig) -> None:
    """List every rule with its thresholds and explanation, or document RULE in full."""
    if rule_id is not None:
        rule = rules_by_id().get(rule_id)
        if rule is None:
            raise click.UsageError(f"unknown rule {rule_id!r} (see `netdiag rules`)")
        state = "enabled" if rule_config.enabled(rule.id) else "disabled"
        click.echo(f"{rule.id}: {rule.title} ({rule.severity.label}, {rule.scope} rule, {state})\n")
        click.echo(rule.doc + "\n")
        click.echo(textwrap.fill("Why it matters: " + rule.explanation, 100) + "\n")
        click.echo(textwrap.fill("Remedy: " + rule.remedy, 100) + "\n")
        rows = option_rows(rule, rule_config)
        if rows:
            click.echo(tabulate(rows, headers=["option", "value", "default", "meaning"]))
        return
    table = [
        [
            r.id,
            r.severity.label,
            "yes" if rule_config.enabled(r.id) else "no",
            _options_cell(r, rule_config),
            textwrap.fill(r.explanation, 60),
        ]
        for r in all_rules()
    ]
    click.echo(
        tabulate(table, headers=["rule", "severity", "on", "thresholds", "explanation"], tablefmt="grid")
    )
