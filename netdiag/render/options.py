"""The output options every reporting command shares, and :func:`emit`, which honours them.

``@report_options`` adds ``--format``, ``--json``, ``--html``, ``-v``, ``--fail-on``
and ``--color/--no-color`` to a click command and hands the command one
:class:`ReportOptions` (keyword ``report``) instead of six loose parameters.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from netdiag.render.exitcode import DEFAULT_FAIL_ON, FAIL_ON_LEVELS, scan_exit_status
from netdiag.results import ScanResult, Severity

FAIL_ON_HELP = (
    "LEVEL is info, warning or critical: the lowest finding severity that makes the exit status 1. "
    "Exit status: 0 nothing at or above LEVEL; 1 a finding at or above LEVEL, none critical; "
    "2 a critical finding (whatever LEVEL); 3 a host could not be scanned and nothing critical was found."
)


@dataclass(frozen=True, slots=True)
class ReportOptions:
    """What to write where: stdout in ``fmt``, plus optional JSON and HTML files."""

    fmt: str = "text"  # text | json
    json_file: Path | None = None
    html_file: Path | None = None
    verbose: bool = False
    fail_on: Severity = DEFAULT_FAIL_ON
    color: bool | None = None  # None: colour when stdout is a terminal and NO_COLOR is unset

    def use_color(self, stream: Any = None) -> bool:
        if self.color is not None:
            return self.color
        if os.environ.get("NO_COLOR"):
            return False
        out = sys.stdout if stream is None else stream
        return bool(getattr(out, "isatty", lambda: False)())


def fail_on_option(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--fail-on`` (``names`` adds a parameter name): one definition for every command that has it."""
    return click.option(
        "--fail-on",
        *names,
        type=click.Choice(FAIL_ON_LEVELS),
        default=DEFAULT_FAIL_ON.label,
        show_default=True,
        metavar="LEVEL",
        help=FAIL_ON_HELP,
    )


def _options() -> list[Callable[[Callable[..., Any]], Callable[..., Any]]]:
    file_type = click.Path(dir_okay=False, writable=True, path_type=Path)
    return [
        click.option(
            "--format",
            "report_format",
            type=click.Choice(["text", "json"]),
            default="text",
            show_default=True,
            help="What to print on standard output.",
        ),
        click.option(
            "--json",
            "report_json",
            type=file_type,
            metavar="FILE",
            help="Also write the JSON document (schema netdiag.scan/1) to FILE.",
        ),
        click.option(
            "--html",
            "report_html",
            type=file_type,
            metavar="FILE",
            help="Also write the self-contained HTML report to FILE.",
        ),
        click.option("-v", "--verbose", "report_verbose", is_flag=True, help="Show evidence lines."),
        fail_on_option("report_fail_on"),
        click.option(
            "--color/--no-color",
            "report_color",
            default=None,
            help="Colour the text output (default: only on a terminal, and not when NO_COLOR is set).",
        ),
    ]


def report_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator (below ``@click.command``): adds the options, passes ``report=ReportOptions``."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        report = ReportOptions(
            fmt=kwargs.pop("report_format"),
            json_file=kwargs.pop("report_json"),
            html_file=kwargs.pop("report_html"),
            verbose=kwargs.pop("report_verbose"),
            fail_on=Severity.parse(kwargs.pop("report_fail_on")),
            color=kwargs.pop("report_color"),
        )
        return command(*args, report=report, **kwargs)

    decorated: Callable[..., Any] = wrapper
    for option in reversed(_options()):
        decorated = option(decorated)
    return decorated


def write_atomic(path: Path, text: str) -> None:
    """Write via a temporary file and rename, so a mailer never picks up half a report."""
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644  # mkstemp would leave 0600
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def emit(result: ScanResult, opts: ReportOptions) -> int:
    """Write every requested output and return the exit status (see ``netdiag.render.exitcode``)."""
    # Imported here: each renderer pulls in its own library (tabulate, jinja2), and a
    # command asking for JSON only should not pay for the others.
    from netdiag.render import jsonout

    if opts.fmt == "json":
        click.echo(jsonout.dumps(result), nl=False)
    else:
        from netdiag.render.terminal import render_text

        color = opts.use_color()
        click.echo(render_text(result, color=color, verbose=opts.verbose), nl=False, color=color)
    if opts.json_file is not None:
        write_atomic(opts.json_file, jsonout.dumps(result))
    if opts.html_file is not None:
        from netdiag.render.html import render_html

        write_atomic(opts.html_file, render_html(result))
    return int(scan_exit_status(result, opts.fail_on))
