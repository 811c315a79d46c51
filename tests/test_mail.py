"""Mail: composing, settings resolution, and delivery through a real SMTP server on loopback."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from netdiag.mail import (
    JSON_FILENAME,
    PASSWORD_ENV,
    MailError,
    MailSettings,
    build_message,
    mail_options,
    parse_server,
    read_smtp_section,
    resolve_mail,
    send,
    should_mail,
    subject_for,
)
from netdiag.results import Severity
from tests.smtpserver import REFUSED_DOMAIN, TEST_PASSWORD, TEST_USER, SmtpServer, running_smtp_server

TEXT = "CRITICAL close_wait_leak on web1: nginx holds 412 CLOSE_WAIT sockets on :8080\n"
HTML = "<!doctype html><html><body><h1>netdiag</h1><p>nginx holds 412 CLOSE_WAIT</p></body></html>"
JSON = json.dumps({"findings": [{"rule": "close_wait_leak", "host": "web1", "value": 412}]})


@pytest.fixture
def starttls_server(tmp_path: Path) -> Iterator[SmtpServer]:
    with running_smtp_server(tmp_path, "starttls") as server:
        yield server


def settings_for(server: SmtpServer, **changes: object) -> MailSettings:
    base = MailSettings(
        host=server.host,
        port=server.port,
        tls=server.tls,
        user=TEST_USER,
        password=TEST_PASSWORD,
        mail_from="netdiag@example.test",
        to=("oncall@example.test", "team@example.test"),
        ca_file=server.ca_file,
        timeout=10,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def free_port() -> int:
    """A loopback port nobody listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- pure parts ------------------------------------------------------------------


def test_subject_names_worst_and_counts() -> None:
    assert subject_for("critical", 2, 5, 1) == "[netdiag] CRITICAL 2 hosts, 5 findings, 1 unreachable"
    assert subject_for(Severity.OK, 1, 0, 0) == "[netdiag] OK 1 host, 0 findings"
    assert subject_for("warning", 3, 1, 0) == "[netdiag] WARNING 3 hosts, 1 finding"


@pytest.mark.parametrize(
    ("worst", "mail_if", "expected"),
    [
        ("ok", None, True),
        ("ok", "info", False),
        ("info", "warning", False),
        ("warning", "warning", True),
        ("critical", "warning", True),
        (Severity.WARNING, Severity.CRITICAL, False),
    ],
)
def test_should_mail(worst: str | Severity, mail_if: str | Severity | None, expected: bool) -> None:
    assert should_mail(worst, mail_if) is expected


def test_message_structure_without_json() -> None:
    msg = build_message("s", TEXT, HTML, None, mail_from="a@b.test", to=["c@d.test"])
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert msg["Message-ID"].endswith("@b.test>")
    assert msg["To"] == "c@d.test"


def test_password_hidden_from_repr() -> None:
    s = MailSettings(host="h", port=25, user="u", password="hunter2-x")
    assert "hunter2-x" not in repr(s)
    assert "hunter2-x" not in str(s)


@pytest.mark.parametrize(
    ("text", "tls", "expected"),
    [
        ("mail.example.com", "starttls", ("mail.example.com", 587)),
        ("mail.example.com", "ssl", ("mail.example.com", 465)),
        ("mail.example.com:2525", "none", ("mail.example.com", 2525)),
        ("[::1]:26", "starttls", ("::1", 26)),
        ("::1", "none", ("::1", 25)),
    ],
)
def test_parse_server(text: str, tls: str, expected: tuple[str, int]) -> None:
    assert parse_server(text, tls) == expected


@pytest.mark.parametrize("text", ["host:0", "host:x", "[::1", ":25", "host:70000"])
def test_parse_server_rejects(text: str) -> None:
    with pytest.raises(MailError):
        parse_server(text, "starttls")


def test_resolve_options_win_over_config(tmp_path: Path) -> None:
    ini = tmp_path / "netdiag.ini"
    pw_file = tmp_path / "pw"
    pw_file.write_text("from-file\n")
    ini.write_text(
        "[smtp]\nhost = cfg.example.test\nport = 2525\ntls = none\nuser = cfguser\n"
        f"password_file = {pw_file}\nfrom = cfg@example.test\nto = a@x.test, b@x.test\n"
        "mail_if = critical  # only the bad news\nmail_json = yes\n"
    )
    section = read_smtp_section(ini)
    plan = resolve_mail({}, section, environ={})
    assert plan is not None
    s = plan.settings
    assert (s.host, s.port, s.tls, s.user, s.password) == (
        "cfg.example.test",
        2525,
        "none",
        "cfguser",
        "from-file",
    )
    assert s.to == ("a@x.test", "b@x.test")
    assert plan.mail_if is Severity.CRITICAL and plan.attach_json

    plan = resolve_mail(
        {"mail_to": ("z@x.test",), "smtp": "cli.example.test:26", "smtp_tls": "starttls", "mail_if": "info"},
        section,
        environ={PASSWORD_ENV: "from-env"},
    )
    assert plan is not None
    s = plan.settings
    assert (s.host, s.port, s.tls, s.password, s.to) == (
        "cli.example.test",
        26,
        "starttls",
        "from-env",
        ("z@x.test",),
    )
    assert plan.mail_if is Severity.INFO


def test_resolve_without_recipient_is_none() -> None:
    assert resolve_mail({"smtp": "h"}, {}, environ={}) is None


def test_resolve_user_without_password_is_an_error() -> None:
    with pytest.raises(MailError, match=PASSWORD_ENV):
        resolve_mail(
            {"mail_to": ("a@x.test",), "smtp": "h", "mail_from": "f@x.test", "smtp_user": "u"}, {}, {}
        )


def test_click_options_reach_the_resolver(tmp_path: Path) -> None:
    """The decorator's keyword names are the ones resolve_mail reads."""
    pw = tmp_path / "pw"
    pw.write_text("pw-from-file")
    seen = {}

    @click.command()
    @mail_options
    def cmd(**options: object) -> None:
        plan = resolve_mail(options, {}, environ={})
        seen["plan"] = plan

    result = CliRunner().invoke(
        cmd,
        [
            "--mail-to",
            "a@x.test,b@x.test",
            "--mail-to",
            "c@x.test",
            "--smtp",
            "[::1]:2525",
            "--smtp-tls",
            "none",
            "--smtp-user",
            "u",
            "--smtp-password-file",
            str(pw),
            "--mail-from",
            "f@x.test",
            "--mail-if",
            "WARNING",
            "--mail-json",
        ],
    )
    assert result.exit_code == 0, result.output
    plan = seen["plan"]
    assert plan is not None
    assert plan.settings.to == ("a@x.test", "b@x.test", "c@x.test")
    assert (plan.settings.host, plan.settings.port, plan.settings.password) == ("::1", 2525, "pw-from-file")
    assert plan.mail_if is Severity.WARNING and plan.attach_json


# -- through a real server ---------------------------------------------------------


def test_send_starttls_auth_and_parse_back(starttls_server: SmtpServer) -> None:
    settings = settings_for(starttls_server)
    subject = subject_for("critical", 2, 5, 1)
    send(build_message(subject, TEXT, HTML, JSON), settings)

    box = starttls_server.mailbox
    assert box.logins == [(TEST_USER, True)]
    assert len(box.messages) == 1
    envelope_from, rcpts, _ = box.messages[0]
    assert envelope_from == settings.mail_from
    assert rcpts == list(settings.to)

    msg = box.parsed()
    assert msg["Subject"] == "[netdiag] CRITICAL 2 hosts, 5 findings, 1 unreachable"
    assert msg["From"] == settings.mail_from
    assert msg["To"] == "oncall@example.test, team@example.test"
    assert msg.get_content_type() == "multipart/mixed"
    alternative, attachment = list(msg.iter_parts())
    assert alternative.get_content_type() == "multipart/alternative"
    text_part, html_part = list(alternative.iter_parts())
    assert text_part.get_content_type() == "text/plain"
    assert text_part.get_content().strip() == TEXT.strip()
    assert html_part.get_content_type() == "text/html"
    assert "nginx holds 412 CLOSE_WAIT" in html_part.get_content()
    assert attachment.get_content_type() == "application/json"
    assert attachment.get_filename() == JSON_FILENAME
    assert json.loads(attachment.get_content()) == json.loads(JSON)


def test_send_over_implicit_tls(tmp_path: Path) -> None:
    with running_smtp_server(tmp_path, "ssl") as server:
        send(build_message("s", TEXT, HTML), settings_for(server, to=("one@example.test",)))
        msg = server.mailbox.parsed()
        assert server.mailbox.logins == [(TEST_USER, True)]
    assert msg.get_content_type() == "multipart/alternative"
    assert msg["To"] == "one@example.test"


def test_refused_login_quotes_server_and_hides_password(starttls_server: SmtpServer) -> None:
    wrong = "Wr0ng-" + TEST_PASSWORD
    with pytest.raises(MailError) as info:
        send(build_message("s", TEXT, HTML), settings_for(starttls_server, password=wrong))
    text = str(info.value)
    assert "refused the login" in text and TEST_USER in text
    assert "535" in text  # the server's reply code ...
    assert "Authentication credentials invalid" in text  # ... and its words
    assert wrong not in text and TEST_PASSWORD not in text
    assert info.value.__suppress_context__  # a traceback shows no smtplib internals either
    assert starttls_server.mailbox.messages == []


def test_refused_recipient(starttls_server: SmtpServer) -> None:
    bad = f"nobody@{REFUSED_DOMAIN}"
    with pytest.raises(MailError, match=r"refused every recipient: nobody@refused\.invalid \(550 5\.1\.1"):
        send(build_message("s", TEXT, HTML), settings_for(starttls_server, to=(bad,)))
    with pytest.raises(MailError, match="refused some recipients") as info:
        send(build_message("s", TEXT, HTML), settings_for(starttls_server, to=("ok@example.test", bad)))
    assert bad in str(info.value) and "ok@example.test" not in str(info.value)
    assert len(starttls_server.mailbox.messages) == 1  # the good one got it


def test_untrusted_certificate_is_a_clear_error(starttls_server: SmtpServer) -> None:
    with pytest.raises(MailError, match="certificate not trusted"):
        send(build_message("s", TEXT, HTML), settings_for(starttls_server, ca_file=None))


def test_plain_server_without_auth(tmp_path: Path) -> None:
    with running_smtp_server(tmp_path, "none") as server:
        with pytest.raises(MailError, match="does not offer STARTTLS"):
            send(build_message("s", TEXT, HTML), settings_for(server, tls="starttls"))
        with pytest.raises(MailError, match="does not offer AUTH"):
            send(build_message("s", TEXT, HTML), settings_for(server))
        send(build_message("s", TEXT, HTML), settings_for(server, user=None, password=None))
        assert len(server.mailbox.messages) == 1


def test_server_down_is_a_clear_error() -> None:
    port = free_port()
    settings = MailSettings(
        host="127.0.0.1",
        port=port,
        user=TEST_USER,
        password=TEST_PASSWORD,
        mail_from="f@x.test",
        to=("a@x.test",),
    )
    with pytest.raises(MailError) as info:
        send(build_message("s", TEXT, HTML), settings)
    assert str(info.value) == f"cannot reach SMTP server 127.0.0.1:{port}: Connection refused"
    assert TEST_PASSWORD not in str(info.value)
