"""Mailing a report: SMTP settings, the message, and sending it.

A cron run has no terminal, so mail is how a finding reaches the people who must
act. Settings come from the ``[smtp]`` section of the config file and from the
``--mail-*``/``--smtp*`` options (options win); the password only ever comes from
``NETDIAG_SMTP_PASSWORD`` or a password file, never from the command line, where
``ps`` would show it.

Every failure becomes a :class:`MailError` whose text names the server and
quotes its reply, and never contains the password.

The config file section (INI)::

    [smtp]
    host = mail.example.com
    port = 587
    tls = starttls            # starttls | ssl | none
    user = netdiag
    password_file = /etc/netdiag/smtp-password
    ca_file = /etc/ssl/certs/internal-ca.pem   # optional: a private CA
    from = netdiag@example.com
    to = oncall@example.com, team@example.com
    mail_if = warning         # optional: info | warning | critical
    mail_json = yes           # optional: attach the JSON report
"""

from __future__ import annotations

import configparser
import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any, TypeVar

import click

from netdiag.results import Severity

log = logging.getLogger(__name__)

TLS_MODES = ("starttls", "ssl", "none")
DEFAULT_PORTS = {"starttls": 587, "ssl": 465, "none": 25}
PASSWORD_ENV = "NETDIAG_SMTP_PASSWORD"  # noqa: S105 (the variable's name, not a password)
JSON_FILENAME = "netdiag-report.json"


class MailError(Exception):
    """Mail could not be configured or sent; the text is meant for the operator as is."""


@dataclass(frozen=True, slots=True)
class MailSettings:
    """How to reach the SMTP server and whom to write. ``repr`` hides the password."""

    host: str
    port: int
    tls: str = "starttls"  # starttls | ssl | none
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    mail_from: str = ""
    to: tuple[str, ...] = ()
    ca_file: Path | None = None  # a private CA (or a self-signed server certificate) to trust
    timeout: float = 30.0

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise MailError(f"unknown SMTP TLS mode {self.tls!r} (use {', '.join(TLS_MODES)})")

    @property
    def server(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class MailPlan:
    """What to mail after a scan: the settings, when (``mail_if``; None = always) and the JSON or not."""

    settings: MailSettings
    mail_if: Severity | None = None
    attach_json: bool = False

    def wanted(self, worst: str | Severity) -> bool:
        return should_mail(worst, self.mail_if)


# -- deciding and composing --------------------------------------------------


def _severity(level: str | Severity) -> Severity:
    return level if isinstance(level, Severity) else Severity.parse(level)


def should_mail(worst: str | Severity, mail_if: str | Severity | None) -> bool:
    """True when the scan's worst severity reaches ``mail_if``; no ``mail_if`` mails every run."""
    if mail_if is None:
        return True
    return _severity(worst) >= _severity(mail_if)


def _count(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def subject_for(worst: str | Severity, hosts: int, findings: int, unreachable: int) -> str:
    """``[netdiag] CRITICAL 2 hosts, 5 findings, 1 unreachable``: the worst first, for inbox triage.

    The unreachable count is left out when nothing was unreachable.
    """
    label = worst.name if isinstance(worst, Severity) else worst.strip().upper()
    parts = [_count(hosts, "host"), _count(findings, "finding")]
    if unreachable:
        parts.append(f"{unreachable} unreachable")
    return f"[netdiag] {label} {', '.join(parts)}"


def build_message(
    subject: str,
    text: str,
    html: str,
    json_text: str | None = None,
    *,
    mail_from: str = "",
    to: Sequence[str] = (),
) -> EmailMessage:
    """A multipart/alternative of the terminal text and the HTML report, plus the JSON if given.

    With the JSON the message becomes multipart/mixed: [alternative(text, html), report.json].
    From/To may be left empty here and are filled in by :func:`send` from the settings.
    """
    msg = EmailMessage()
    msg["Subject"] = subject
    if mail_from:
        msg["From"] = mail_from
    if to:
        msg["To"] = ", ".join(to)
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    # An explicit domain: make_msgid() would otherwise look up this host's FQDN (a DNS query).
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "netdiag.invalid"
    msg["Message-ID"] = make_msgid("netdiag", domain=domain)
    msg.set_content(text)
    msg.add_alternative(html, subtype="html")
    if json_text is not None:
        msg.add_attachment(
            json_text.encode("utf-8"), maintype="application", subtype="json", filename=JSON_FILENAME
        )
    return msg


# -- sending -----------------------------------------------------------------


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    return f"{code} {' '.join(text.split())}"


def _server_said(e: smtplib.SMTPResponseException) -> str:
    return _reply(e.smtp_code, e.smtp_error)


def _scrub(text: str, secret: str | None) -> str:
    """Belt and braces: a server that echoes what it got must not put the password in our output."""
    return text.replace(secret, "***") if secret else text


def send(message: EmailMessage, settings: MailSettings) -> None:
    """Deliver ``message`` through the configured server; :class:`MailError` says why not.

    A recipient refused while others were accepted is still an error: the mail
    did not reach everyone it should have.
    """
    if not settings.to:
        raise MailError("no mail recipients (--mail-to or [smtp] to)")
    if not settings.mail_from:
        raise MailError("no mail sender (--mail-from or [smtp] from)")
    if settings.user and settings.password is None:
        raise MailError(f"an SMTP user is set but no password ({PASSWORD_ENV} or --smtp-password-file)")
    if "From" not in message:
        message["From"] = settings.mail_from
    if "To" not in message:
        message["To"] = ", ".join(settings.to)
    try:
        _deliver(message, settings)
    except MailError as e:
        raise MailError(_scrub(str(e), settings.password)) from None
    log.info("mailed %s to %d recipient(s) via %s", message["Subject"], len(settings.to), settings.server)


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    try:
        return ssl.create_default_context(cafile=str(settings.ca_file) if settings.ca_file else None)
    except (OSError, ssl.SSLError) as e:
        raise MailError(f"cannot read the CA file {settings.ca_file}: {e.strerror or e}") from None


def _deliver(message: EmailMessage, settings: MailSettings) -> None:
    server, timeout = settings.server, settings.timeout
    context = _tls_context(settings) if settings.tls != "none" else None
    smtp: smtplib.SMTP
    try:
        if settings.tls == "ssl":
            smtp = smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
        else:
            smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    except ssl.SSLError as e:
        raise MailError(f"TLS with SMTP server {server} failed: {_ssl_reason(e)}") from None
    except TimeoutError:
        raise MailError(f"cannot reach SMTP server {server}: timed out after {timeout:g} s") from None
    except smtplib.SMTPConnectError as e:
        raise MailError(f"SMTP server {server} refused the connection: {_server_said(e)}") from None
    except OSError as e:
        raise MailError(f"cannot reach SMTP server {server}: {e.strerror or e}") from None
    try:
        with smtp:
            _converse(smtp, message, settings, context)
    except ssl.SSLError as e:
        raise MailError(f"TLS with SMTP server {server} failed: {_ssl_reason(e)}") from None
    except smtplib.SMTPAuthenticationError as e:
        raise MailError(
            f"SMTP server {server} refused the login of {settings.user!r}: {_server_said(e)}"
        ) from None
    except smtplib.SMTPRecipientsRefused as e:
        raise MailError(f"SMTP server {server} refused every recipient: {_refusals(e.recipients)}") from None
    except smtplib.SMTPSenderRefused as e:
        raise MailError(
            f"SMTP server {server} refused the sender {settings.mail_from}: {_server_said(e)}"
        ) from None
    except smtplib.SMTPResponseException as e:
        raise MailError(f"SMTP server {server} refused the mail: {_server_said(e)}") from None
    except smtplib.SMTPServerDisconnected as e:
        raise MailError(f"SMTP server {server} closed the connection: {e}") from None
    except smtplib.SMTPException as e:
        raise MailError(f"SMTP with {server} failed: {e}") from None
    except TimeoutError:
        raise MailError(f"SMTP server {server} stopped answering (timed out after {timeout:g} s)") from None
    except OSError as e:
        raise MailError(f"connection to SMTP server {server} failed: {e.strerror or e}") from None


def _converse(
    smtp: smtplib.SMTP, message: EmailMessage, settings: MailSettings, context: ssl.SSLContext | None
) -> None:
    smtp.ehlo()
    if settings.tls == "starttls":
        if not smtp.has_extn("starttls"):
            raise MailError(f"SMTP server {settings.server} does not offer STARTTLS (use --smtp-tls)")
        smtp.starttls(context=context)
        smtp.ehlo()
    if settings.user:
        if not smtp.has_extn("auth"):
            raise MailError(f"SMTP server {settings.server} does not offer AUTH (no login possible)")
        smtp.login(settings.user, settings.password or "")
    refused = smtp.send_message(message, from_addr=settings.mail_from, to_addrs=list(settings.to))
    if refused:
        raise MailError(
            f"SMTP server {settings.server} refused some recipients (the others got the mail): "
            + _refusals(refused)
        )


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{addr} ({_reply(code, reply)})" for addr, (code, reply) in sorted(refused.items()))


def _ssl_reason(e: ssl.SSLError) -> str:
    if isinstance(e, ssl.SSLCertVerificationError) and e.verify_message:
        return f"certificate not trusted: {e.verify_message} (--smtp-ca-file names a CA to trust)"
    return e.reason or str(e)


# -- settings from the config file, the environment and the options ------------


def read_smtp_section(path: Path) -> dict[str, str]:
    """The ``[smtp]`` section of an INI config file; empty when there is none."""
    parser = configparser.ConfigParser(inline_comment_prefixes=("#", ";"), interpolation=None)
    try:
        with path.open(encoding="utf-8") as f:
            parser.read_file(f)
    except (OSError, configparser.Error) as e:
        raise MailError(f"cannot read config file {path}: {e}") from None
    return dict(parser["smtp"]) if parser.has_section("smtp") else {}


def parse_server(text: str, tls: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` for IPv6) to (host, port); the port defaults by TLS mode."""
    text = text.strip()
    port_text = ""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep or (rest and not rest.startswith(":")):
            raise MailError(f"bad SMTP server {text!r} (use HOST[:PORT] or [IPv6]:PORT)")
        port_text = rest[1:]
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host = text  # a bare name, IPv4 or unbracketed IPv6 address
    if not host:
        raise MailError(f"bad SMTP server {text!r}: no host")
    if not port_text:
        return host, DEFAULT_PORTS[tls]
    try:
        port = int(port_text)
    except ValueError:
        port = 0
    if not 0 < port < 65536:
        raise MailError(f"bad SMTP port in {text!r}")
    return host, port


def _split_addresses(values: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        out.extend(a.strip() for a in v.replace(";", ",").split(",") if a.strip())
    return tuple(dict.fromkeys(out))


def _flag(text: str, name: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "yes", "true", "on"):
        return True
    if low in ("0", "no", "false", "off", ""):
        return False
    raise MailError(f"[smtp] {name} must be yes or no, not {text!r}")


def _read_password_file(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise MailError(f"cannot read the SMTP password file {path}: {e.strerror or e}") from None
    return text.rstrip("\r\n")


def resolve_mail(
    options: Mapping[str, Any],
    section: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> MailPlan | None:
    """The mail plan from the options (the keyword arguments :func:`mail_options` adds), the
    config file's ``[smtp]`` section and the environment; None when no recipient is set.

    Precedence: options, then the environment (password only), then the config file.
    The password: ``--smtp-password-file``, else ``NETDIAG_SMTP_PASSWORD``, else the
    section's ``password_file``.
    """
    section = section or {}
    environ = os.environ if environ is None else environ

    def pick(option: str, key: str) -> Any:
        value = options.get(option)
        return value if value not in (None, (), "") else section.get(key) or None

    to = _split_addresses(options.get("mail_to") or ()) or _split_addresses([section.get("to", "")])
    if not to:
        return None
    tls = (pick("smtp_tls", "tls") or "starttls").lower()
    if tls not in TLS_MODES:
        raise MailError(f"unknown SMTP TLS mode {tls!r} (use {', '.join(TLS_MODES)})")
    server = options.get("smtp")
    if server:
        host, port = parse_server(server, tls)
    elif section.get("host"):
        host, port = parse_server(section["host"], tls)
        if section.get("port"):
            try:
                port = int(section["port"])
            except ValueError:
                raise MailError(f"[smtp] port must be a number, not {section['port']!r}") from None
    else:
        raise MailError("mail requested but no SMTP server (--smtp HOST[:PORT] or [smtp] host)")
    mail_from = pick("mail_from", "from")
    if not mail_from:
        raise MailError("mail requested but no sender (--mail-from or [smtp] from)")
    user = pick("smtp_user", "user")
    password: str | None = None
    if options.get("smtp_password_file"):
        password = _read_password_file(Path(options["smtp_password_file"]))
    elif environ.get(PASSWORD_ENV):
        password = environ[PASSWORD_ENV]
    elif section.get("password_file"):
        password = _read_password_file(Path(section["password_file"]).expanduser())
    if user and password is None:
        raise MailError(f"SMTP user {user!r} has no password ({PASSWORD_ENV} or --smtp-password-file)")
    ca_file = pick("smtp_ca_file", "ca_file")
    mail_if_text = pick("mail_if", "mail_if")
    try:
        mail_if = _severity(mail_if_text) if mail_if_text else None
    except ValueError as e:
        raise MailError(f"--mail-if: {e}") from None
    attach_json = bool(options.get("mail_json")) or _flag(section.get("mail_json", ""), "mail_json")
    settings = MailSettings(
        host=host,
        port=port,
        tls=tls,
        user=user,
        password=password,
        mail_from=mail_from,
        to=to,
        ca_file=Path(ca_file).expanduser() if ca_file else None,
    )
    return MailPlan(settings=settings, mail_if=mail_if, attach_json=attach_json)


# -- click options -------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])

mail_to_option = click.option(
    "--mail-to",
    "mail_to",
    multiple=True,
    metavar="ADDR",
    help="Mail the report to ADDR (repeat, or separate with commas).",
)
mail_from_option = click.option("--mail-from", metavar="ADDR", help="Sender address of the mail.")
mail_if_option = click.option(
    "--mail-if",
    type=click.Choice(["info", "warning", "critical"], case_sensitive=False),
    help="Mail only when a finding reaches this severity (default: mail every run).",
)
mail_json_option = click.option("--mail-json", is_flag=True, default=False, help="Attach the JSON report.")
smtp_option = click.option("--smtp", metavar="HOST[:PORT]", help="SMTP server (port defaults by --smtp-tls).")
smtp_tls_option = click.option(
    "--smtp-tls",
    type=click.Choice(TLS_MODES, case_sensitive=False),
    help="starttls (default, port 587), ssl (port 465) or none (port 25).",
)
smtp_user_option = click.option(
    "--smtp-user", metavar="USER", help=f"SMTP login; the password comes from {PASSWORD_ENV}."
)
smtp_password_file_option = click.option(
    "--smtp-password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"File holding the SMTP password (instead of {PASSWORD_ENV}).",
)
smtp_ca_file_option = click.option(
    "--smtp-ca-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="CA certificate(s) to trust for the SMTP server (a private CA, a self-signed server).",
)

MAIL_OPTIONS = (
    mail_to_option,
    mail_from_option,
    mail_if_option,
    mail_json_option,
    smtp_option,
    smtp_tls_option,
    smtp_user_option,
    smtp_password_file_option,
    smtp_ca_file_option,
)

MAIL_OPTION_NAMES = (
    "mail_to",
    "mail_from",
    "mail_if",
    "mail_json",
    "smtp",
    "smtp_tls",
    "smtp_user",
    "smtp_password_file",
    "smtp_ca_file",
)


def mail_options(f: F) -> F:
    """Add every ``--mail-*``/``--smtp*`` option to a click command (keyword names: MAIL_OPTION_NAMES)."""
    for option in reversed(MAIL_OPTIONS):
        f = option(f)
    return f
