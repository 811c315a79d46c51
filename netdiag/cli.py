"""The ``netdiag`` command line: a click group; each sub-command lives in ``netdiag.commands``."""

from __future__ import annotations

import click

from netdiag import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdiag")
def main() -> None:
    """Fleet triage of TCP socket trouble: leaks, full accept queues, FIN_WAIT_2 pile-ups."""


# Sub-commands register here, one line each:
from netdiag.commands.collect import collect_command  # noqa: E402

main.add_command(collect_command)

from netdiag.commands.history import history as history_command  # noqa: E402

main.add_command(history_command)

from netdiag.commands.rules import rules_command  # noqa: E402

main.add_command(rules_command)

from netdiag.commands.analyze import analyze_command  # noqa: E402

main.add_command(analyze_command)

from netdiag.commands.scan import scan_command  # noqa: E402

main.add_command(scan_command)

from netdiag.commands.report import report_command  # noqa: E402

main.add_command(report_command)
