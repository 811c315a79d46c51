"""``netdiag scan``: read a fleet over SSH, judge it, remember it, report it, mail it.

The steps, in the order a cron run needs them:

1. settings: the mail plan (options, then ``[smtp]`` of the config files) and the
   history plan (options, then ``[history]``); a bad one is a usage error before
   anything is touched;
2. :func:`judged_scan`: the history's run lock (so overlapping cron runs do not
   interleave their scans), the scan (hosts that hung or were unreachable last time
   first), the rules with the history's series, then
   the scan recorded (after the rules, which must not see it as a past scan) and
   old scans pruned;
3. :func:`deliver`: the terminal text or JSON on stdout and the ``--json``/``--html``
   files, then the mail. A failed delivery is an error on stderr and turns the exit
   status to 3 (unless critical), but never stops the other outputs.

Both steps are functions of their inputs, apart from the click command.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from netdiag.engine import RuleConfig, all_rules, run_rules
from netdiag.history import (
    History,
    HistoryError,
    default_history_path,
    history_options,
    read_history_section,
    resolve_history_path,
)
from netdiag.inventory import InventoryError, load_inventory
from netdiag.mail import (
    MAIL_OPTION_NAMES,
    MailError,
    MailPlan,
    build_message,
    mail_options,
    read_smtp_section,
    resolve_mail,
    send,
    subject_for,
)
from netdiag.render import worst
from netdiag.render.exitcode import ExitStatus
from netdiag.render.options import ReportOptions, emit, report_options
from netdiag.results import Outcome, ScanResult, Severity
from netdiag.ruleconfig import config_paths, parse_bool, rule_options
from netdiag.runlock import LockBusy, RunLock, lock_options, lock_path_for
from netdiag.scan import DEFAULT_DEADLINE, DEFAULT_FORKS, ScanOptions, scan_result, tty_progress
from netdiag.transport.ssh import SshError, SshOptions

INTERRUPTED = 130  # the shell's code for a Ctrl-C


class NoVerdict(click.ClickException):
    """The scan could not run (history locked or unusable): ``Error: ...`` on stderr, exit 3 (UNKNOWN)."""

    exit_code = int(ExitStatus.UNKNOWN)


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """Where this run's history lives, how long scans are kept, how long to wait for the run lock."""

    path: Path
    keep_days: float
    lock_wait: float = 0.0


def scan_from_options(
    sources: Sequence[str],
    limit: str | None,
    options: ScanOptions,
    *,
    progress: bool = True,
    first: Collection[str] = (),
) -> ScanResult:
    """Load the inventory, apply ``--limit`` and scan (``first`` before the others).

    Raises ``click.UsageError`` for a bad inventory.
    """
    try:
        targets = load_inventory(sources).select(limit)
    except InventoryError as e:
        raise click.UsageError(str(e)) from e
    if not targets:
        raise click.UsageError("no hosts to scan")
    logging.getLogger("paramiko").addHandler(logging.NullHandler())  # its tracebacks are our outcomes
    try:
        return scan_result(
            targets,
            options,
            inventory=" ".join(sources),
            progress=tty_progress() if progress else None,
            first=first,
        )
    except SshError as e:  # an unreadable -F file or known_hosts: nothing can be scanned
        raise click.UsageError(str(e)) from e


def judged_scan(
    sources: Sequence[str],
    limit: str | None,
    options: ScanOptions,
    rule_config: RuleConfig,
    history: HistoryPlan | None,
    *,
    progress: bool = True,
) -> ScanResult:
    """Scan and run the rules; with a history, under its run lock, recording and pruning it.

    Raises :class:`~netdiag.runlock.LockBusy` when another scan holds the history and
    :class:`~netdiag.history.HistoryError` when it cannot be used; nothing is scanned then.
    """
    if history is None:
        result = scan_from_options(sources, limit, options, progress=progress)
        result.findings = run_rules(result.hosts, rule_config)
        return result
    with RunLock(lock_path_for(history.path), history.lock_wait), History.open(history.path) as db:
        result = scan_from_options(sources, limit, options, progress=progress, first=db.unfinished())
        result.findings = run_rules(result.hosts, rule_config, history=db)
        db.record_scan(result.started, result.duration_s, result.hosts, result.options)
        db.prune(keep_days=history.keep_days)
    return result


# -- reporting and mailing ---------------------------------------------------------


def warm_up(report: ReportOptions, mail: MailPlan | None) -> None:
    """Import (and compile) what :func:`deliver` will need; run on a thread while the scan waits.

    Why: the rule modules, the renderers' libraries and the HTML template cost ~0.15 s
    of CPU to load.
    After the scan, that time adds to every scan's wall time (and to a hung host's
    deadline overshoot); during it, it hides in seconds spent waiting for the hosts.
    Only a head start: any failure here is left for the real import to report.
    """
    with contextlib.suppress(Exception):
        all_rules()  # the rule modules (not imported at start-up unless a setting named a rule)
        from netdiag.render import jsonout  # noqa: F401 (the import is the point)

        if report.fmt != "json" or mail is not None:
            from netdiag.render import terminal  # noqa: F401

        if report.html_file is not None or mail is not None:
            from netdiag.render.html import template

            template()


def mail_level(result: ScanResult) -> Severity:
    """What ``--mail-if`` compares: the worst finding, and at least warning when a host went unread.

    A cron job's mail is how anyone learns that part of the fleet was not looked at.
    """
    level = worst(result.findings)
    if any(not h.outcome.scanned for h in result.hosts):
        level = max(level, Severity.WARNING)
    return level


def compose(result: ScanResult, plan: MailPlan, *, verbose: bool = False) -> EmailMessage:
    """The mail: subject with the verdict and counts, terminal text (no colour), HTML, optional JSON."""
    from netdiag.render.html import render_html
    from netdiag.render.jsonout import dumps
    from netdiag.render.terminal import render_text

    top = worst(result.findings)
    unread = sum(1 for h in result.hosts if not h.outcome.scanned)
    # The exit status's precedence: critical, then "could not read a host", then the worst finding.
    label = top.label if top is Severity.CRITICAL or not unread else "unknown"
    return build_message(
        subject_for(label, len(result.hosts), len(result.findings), unread),
        render_text(result, color=False, verbose=verbose),
        render_html(result),
        dumps(result) if plan.attach_json else None,
        mail_from=plan.settings.mail_from,
        to=plan.settings.to,
    )


def deliver(result: ScanResult, report: ReportOptions, mail: MailPlan | None) -> int:
    """Print and write the report, then mail it; returns the exit status.

    A report file that cannot be written or a mail that cannot be sent is an error
    on stderr (the mail error quotes the server's reply) and makes the status 3
    (UNKNOWN), unless it is already 2: a critical finding stays the headline.
    """
    failed = False
    try:
        status = emit(result, report)
    except OSError as e:
        click.echo(f"Error: cannot write the report: {e}", err=True)
        status, failed = int(ExitStatus.UNKNOWN), True
    if mail is not None and mail.wanted(mail_level(result)):
        try:
            send(compose(result, mail, verbose=report.verbose), mail.settings)
        except MailError as e:
            click.echo(f"Error: the report was not mailed: {e}", err=True)
            failed = True
    if failed and status != ExitStatus.CRITICAL:
        status = int(ExitStatus.UNKNOWN)
    return status


# -- settings from options and the config file -------------------------------------


def smtp_section(paths: Sequence[Path]) -> dict[str, str]:
    """``[smtp]`` of every config file, later files winning key by key."""
    merged: dict[str, str] = {}
    for path in paths:
        merged.update(read_smtp_section(path))
    return merged


def _given(ctx: click.Context, name: str) -> bool:
    """True when the option was set on the command line (or its environment variable)."""
    return ctx.get_parameter_source(name) not in (None, ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP)


def _positive(section: Mapping[str, str], key: str, default: float, *, zero_ok: bool) -> float:
    text = section.get(key)
    if text is None:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0 or (value == 0 and not zero_ok):
        what = "a number, 0 or more" if zero_ok else "a positive number"
        raise click.UsageError(f"[history] {key} must be {what}, not {text!r}")
    return value


def history_plan(
    ctx: click.Context,
    history_path: Path | None,
    no_history: bool,
    keep_days: float,
    lock_wait: float,
    section: Mapping[str, str],
) -> HistoryPlan | None:
    """The history to use: options given on the command line, then ``[history]``, then the defaults."""
    path = resolve_history_path(history_path, no_history)  # --history with --no-history: usage error
    if path is None:
        return None
    if history_path is None:
        if "enabled" in section:
            try:
                if not parse_bool(section["enabled"]):
                    return None
            except ValueError as e:
                raise click.UsageError(f"[history] enabled: {e}") from None
        path = Path(section["path"]).expanduser() if section.get("path") else default_history_path()
    if not _given(ctx, "history_keep_days"):
        keep_days = _positive(section, "keep_days", keep_days, zero_ok=False)
    if not _given(ctx, "lock_wait"):
        lock_wait = _positive(section, "lock_wait", lock_wait, zero_ok=True)
    return HistoryPlan(path, keep_days, lock_wait)


# -- the command ---------------------------------------------------------------------


@click.command("scan")
@click.argument("sources", nargs=-1, required=True, metavar="INVENTORY_OR_HOST...")
@click.option("--limit", "-l", help="Ansible pattern: names, globs, groups, a:b, a:&b, a:!b.")
@click.option("-f", "--forks", type=click.IntRange(1, 1000), default=DEFAULT_FORKS, show_default=True)
@click.option("-u", "--user", help="Remote user (inventory ansible_user wins).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False), help="Private key file.")
@click.option("--port", type=click.IntRange(1, 65535), help="SSH port (inventory ansible_port wins).")
@click.option("-F", "ssh_config", type=click.Path(dir_okay=False, exists=True), help="ssh_config file.")
@click.option("--known-hosts", type=click.Path(dir_okay=False), help="known_hosts file.")
@click.option("--accept-new", is_flag=True, help="Record unknown host keys (never changed ones).")
@click.option("--become", is_flag=True, help="Collect under `sudo -n` to see every process.")
@click.option("--connect-timeout", type=click.FloatRange(min=0.1), help="Seconds (default 10).")
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=DEFAULT_DEADLINE,
    show_default=True,
    help="Per-host deadline in seconds: connect and collection (waits between samples come on top).",
)
@click.option("--samples", type=click.IntRange(1, 1000), default=1, show_default=True)
@click.option("--interval", type=click.FloatRange(min=0), default=10.0, show_default=True, help="Seconds.")
@click.option("--save", "save_dir", type=click.Path(file_okay=False, path_type=Path), help="Save here.")
@click.option(
    "--netns",
    default="auto",
    show_default=True,
    help="Network namespaces: all, host, or NAME (named netns, container, pod or inode); "
    "auto = all when the collection may enter them (root, CAP_SYS_ADMIN).",
)
@rule_options
@report_options
@history_options
@lock_options
@mail_options
def scan_command(
    sources: tuple[str, ...],
    limit: str | None,
    forks: int,
    user: str | None,
    key_file: str | None,
    port: int | None,
    ssh_config: str | None,
    known_hosts: str | None,
    accept_new: bool,
    become: bool,
    connect_timeout: float | None,
    timeout: float,
    samples: int,
    interval: float,
    save_dir: Path | None,
    netns: str,
    rule_config: RuleConfig,
    report: ReportOptions,
    history_path: Path | None,
    no_history: bool,
    history_keep_days: float,
    lock_wait: float,
    **mail: Any,
) -> None:
    """Scan every host in INVENTORY_OR_HOST... (files or host names) over SSH and report what the rules find.

    Each scan is recorded in the history (SQLite; --no-history to skip), so the
    rules can tell a growing leak from a steady pool. Settings come from the
    options, then the [rule:...], [smtp] and [history] sections of netdiag.cfg
    (/etc/netdiag/, ~/.config/netdiag/, --config).

    \b
    Exit status (see --fail-on):
      0  nothing at or above --fail-on, every host scanned
      1  a finding at or above --fail-on (default warning), none critical
      2  a critical finding
      3  a host could not be scanned, or netdiag could not do its job: another
         scan holds the history lock, the history is unusable, the mail was not
         sent or a report file not written (errors on stderr); 2 still wins
      130 interrupted (Ctrl-C)
    """
    ctx = click.get_current_context()
    paths = config_paths(ctx.params.get("config_file"))
    try:
        mail_plan = resolve_mail({name: mail.get(name) for name in MAIL_OPTION_NAMES}, smtp_section(paths))
        section = read_history_section(paths)
    except (MailError, HistoryError) as e:
        raise click.UsageError(str(e)) from None
    plan = history_plan(ctx, history_path, no_history, history_keep_days, lock_wait, section)
    options = ScanOptions(
        forks=forks,
        deadline=timeout,
        samples=samples,
        interval=interval if samples > 1 else 0.0,
        become=become,
        netns=netns,
        ssh=SshOptions(
            user=user,
            port=port,
            key_file=key_file,
            config_file=ssh_config,
            known_hosts=known_hosts,
            accept_new=accept_new,
            connect_timeout=connect_timeout,
        ),
    )
    warm = threading.Thread(target=warm_up, args=(report, mail_plan), name="netdiag-warm-up")
    warm.start()
    try:
        result = judged_scan(sources, limit, options, rule_config, plan)
    except LockBusy as e:
        raise NoVerdict(f"{e}; nothing scanned (--lock-wait SECONDS waits for it)") from None
    except HistoryError as e:
        raise NoVerdict(f"{e}; nothing scanned (--no-history scans without it)") from None
    if save_dir is not None:
        from netdiag.save import save_scan

        save_scan(result, save_dir)
    warm.join()
    status = deliver(result, report, mail_plan)
    if any(h.outcome is Outcome.ERROR and (h.message or "").startswith("interrupted") for h in result.hosts):
        status = INTERRUPTED
    raise SystemExit(status)
