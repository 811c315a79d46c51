"""The ``netdiag`` command line: a click group; each sub-command lives in ``netdiag.commands``.

Sub-commands load lazily: each one's module (and what it pulls in: paramiko, jinja2,
sqlite3, smtplib, tabulate) is imported only when that command runs, so a cron
``netdiag scan`` does not pay for ``report`` or ``rules``. ``--help`` imports them all
to show each one's own short help, which therefore cannot drift from its docstring.
"""

from __future__ import annotations

import gc
import importlib
import sys
from collections.abc import Mapping
from typing import Any

import click

from netdiag import __version__

#: Sub-command name -> "module:attribute" of its click command.
COMMANDS: Mapping[str, str] = {
    "collect": "netdiag.commands.collect:collect_command",
    "history": "netdiag.commands.history:history",
    "rules": "netdiag.commands.rules:rules_command",
    "analyze": "netdiag.commands.analyze:analyze_command",
    "scan": "netdiag.commands.scan:scan_command",
    "report": "netdiag.commands.report:report_command",
}


class LazyGroup(click.Group):
    """A click group that imports a sub-command's module the first time the command is looked up."""

    def __init__(self, *args: Any, lazy_commands: Mapping[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_commands = dict(lazy_commands)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            module, _, attr = self.lazy_commands[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attr)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy_commands[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(cls=LazyGroup, lazy_commands=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdiag")
def main() -> None:
    """Fleet triage of TCP socket trouble: leaks, full accept queues, FIN_WAIT_2 pile-ups."""


# Sub-commands register in COMMANDS above (loaded on demand), or eagerly here with main.add_command(...).


def run() -> None:
    """The console script: ``main`` as a one-shot process.

    Once the sub-command's modules are loaded, ``gc.freeze()`` moves their objects
    (functions, classes, constants: most of what the process holds) out of the
    cyclic collector's sight, so the collections that a scan's allocations trigger
    do not traverse them again and again: 5-8% of a 40-host scan's wall time here
    (``benchmarks/RESULTS.md``). A program that calls ``main`` keeps its collector
    as it is.
    """
    name = next((arg for arg in sys.argv[1:] if not arg.startswith("-")), "")
    if name in COMMANDS:
        importlib.import_module(COMMANDS[name].partition(":")[0])
    gc.freeze()
    main()
