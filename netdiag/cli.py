"""The ``netdiag`` command line: a click group; each sub-command lives in ``netdiag.commands``."""

from __future__ import annotations

import click

from netdiag import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="netdiag")
def main() -> None:
    """Fleet triage of TCP socket trouble: leaks, full accept queues, FIN_WAIT_2 pile-ups."""


# Sub-commands register here, one line each:
