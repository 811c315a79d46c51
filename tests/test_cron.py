"""Cron use end to end: history across scans, growth below the threshold, mail, the run lock.

Real parts only: namespace hosts with sshd (the session fleet), a program inside a host
that leaks more CLOSE_WAIT sockets each time the test asks, the SQLite history in
tmp_path, an aiosmtpd server with STARTTLS and AUTH on loopback, and netdiag itself
(in-process through click, or as two processes racing for one history).
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from netdiag import ruleconfig
from netdiag.cli import main
from netdiag.engine import rules_by_id
from netdiag.history import History, close_wait_key, read_history_section
from netdiag.mail import PASSWORD_ENV, read_smtp_section, resolve_mail
from netdiag.rules import close_wait_growth
from tests.nsfleet import Fleet, FleetHost
from tests.smtpserver import TEST_PASSWORD, TEST_USER, SmtpServer, running_smtp_server

ROOT = Path(__file__).resolve().parents[1]
STEP = close_wait_growth.Options().growth_min  # sockets leaked between scans: each step alone fires
STEADY = 20

# Listens on ARGV[1], names itself ARGV[2] (comm), then for each line N on stdin opens N
# connections to itself, half-closes the client ends and never closes the accepted ones:
# N more CLOSE_WAIT sockets. Prints "PORT" once, then the total after each line.
LEAKER = r"""
import ctypes, socket, sys
ctypes.CDLL(None).prctl(15, sys.argv[2].encode()[:15], 0, 0, 0)
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((sys.argv[1], 0))
srv.listen(512)
print(srv.getsockname()[1], flush=True)
held = []
for line in sys.stdin:
    for _ in range(int(line)):
        c = socket.create_connection(srv.getsockname(), timeout=5)
        a, _ = srv.accept()
        c.shutdown(socket.SHUT_WR)
        held += [c, a]
    print(len(held) // 2, flush=True)
"""


class Leaker:
    """The leaking program running inside a fleet host."""

    def __init__(self, fleet: Fleet, host: FleetHost, name: str) -> None:
        self.proc = fleet.spawn(
            host,
            [sys.executable, "-c", LEAKER, host.address, name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        self.port = int(self._line())

    def _line(self) -> str:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()
        if not line:
            raise RuntimeError(f"leaker died (exit {self.proc.poll()})")
        return line.strip()

    def leak(self, n: int) -> int:
        """Leak ``n`` more; returns the total held in CLOSE_WAIT."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(f"{n}\n".encode())
        self.proc.stdin.flush()
        return int(self._line())

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)


@dataclass(frozen=True)
class Setup:
    fleet: Fleet
    leaky: FleetHost
    steady: FleetHost
    leaker: Leaker
    history: Path
    ssh: list[str]
    tmp: Path


@pytest.fixture(scope="module")
def setup(fleet: Fleet, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp = tmp_path_factory.mktemp("cron")
    empty = tmp / "ssh_config"
    empty.touch()
    ssh = ["-u", "root", "--key", str(fleet.client_key), "--known-hosts", str(fleet.known_hosts)]
    ssh += ["-F", str(empty), "--timeout", "20"]
    leaky_host, steady_host = fleet.plain[24], fleet.plain[25]
    leaker = Leaker(fleet, leaky_host, "leaky")
    steady = Leaker(fleet, steady_host, "steady")
    with pytest.MonkeyPatch.context() as mp:  # no /etc or ~/.config settings leak in
        mp.setattr(ruleconfig, "SYSTEM_CONFIG", tmp / "none.cfg")
        mp.setenv("XDG_CONFIG_HOME", str(tmp / "xdg"))
        mp.setenv("XDG_DATA_HOME", str(tmp / "data"))  # a forgotten --history lands here, not in ~
        mp.delenv(PASSWORD_ENV, raising=False)
        try:
            steady.leak(STEADY)
            yield Setup(fleet, leaky_host, steady_host, leaker, tmp / "history.sqlite", ssh, tmp)
        finally:
            leaker.stop()
            steady.stop()


def netdiag(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args], env=env, catch_exceptions=False)


def growth(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [f for f in doc["findings"] if f["rule"] == "close_wait_growth"]


def mail_args(server: SmtpServer, *more: object) -> list[str]:
    args = ["--mail-to", "oncall@example.test", "--mail-from", "netdiag@example.test"]
    args += ["--smtp", f"{server.host}:{server.port}", "--smtp-tls", server.tls, "--smtp-user", TEST_USER]
    return [*args, "--smtp-ca-file", str(server.ca_file), *map(str, more)]


def fresh(directory: Path) -> Path:
    directory.mkdir()
    return directory


def part(msg: EmailMessage, subtype: str) -> str:
    body = msg.get_body(preferencelist=(subtype,))
    assert body is not None, f"no text/{subtype} part"
    return str(body.get_content())


# -- growth over three scans, mailed -------------------------------------------------------


@pytest.mark.netns
def test_three_scans_find_growth_below_the_threshold_and_mail_it(setup: Setup) -> None:
    hosts = [setup.leaky.address, setup.steady.address]
    common = [*hosts, *setup.ssh, "--history", setup.history, "--format", "json"]
    counts = [setup.leaker.leak(STEP // 2)]
    first = netdiag("scan", *common)
    counts.append(setup.leaker.leak(STEP))
    second = netdiag("scan", *common)
    assert growth(json.loads(first.stdout)) == growth(json.loads(second.stdout)) == []  # two points: no trend

    counts.append(setup.leaker.leak(STEP))
    html = setup.tmp / "third.html"
    with running_smtp_server(fresh(setup.tmp / "smtp")) as server:
        third = netdiag(
            "scan",
            *common,
            "--html",
            html,
            *mail_args(server, "--mail-json"),
            env={PASSWORD_ENV: TEST_PASSWORD},
        )
        assert server.mailbox.logins == [(TEST_USER, True)]
        msg = server.mailbox.parsed()
    doc = json.loads(third.stdout)
    below = close_wait_growth.Options().below
    assert counts[-1] < below  # the leak rule stays silent: only growth can tell
    assert [f for f in doc["findings"] if f["rule"] == "close_wait_leak"] == []
    (found,) = growth(doc)
    assert found["host"] == setup.leaky.address and found["process"] == "leaky"
    assert found["series"] == counts and found["value"] == counts[-1] and found["severity"] == "warning"
    assert found["local"].endswith(f":{setup.leaker.port}")
    assert " -> ".join(map(str, counts)) in found["message"]
    assert not [f for f in doc["findings"] if f["host"] == setup.steady.address and "close_wait" in f["rule"]]
    assert third.exit_code == 1, third.output + third.stderr  # a warning; the mail went out
    assert 'class="spark"' in html.read_text(encoding="utf-8")

    # The mail: verdict and counts in the subject, the terminal text, the HTML report, the JSON.
    n = len(doc["findings"])
    assert msg["Subject"] == f"[netdiag] WARNING 2 hosts, {n} finding{'s' * (n != 1)}"
    text, html_part = part(msg, "plain"), part(msg, "html")
    assert "close_wait_growth" in text and "\x1b[" not in text
    assert "findings: 0 critical" in text.splitlines()[-1]
    assert html_part.lstrip().lower().startswith("<!doctype html") and 'class="spark"' in html_part
    assert "leaky" in html_part
    (attached,) = [p for p in msg.iter_attachments() if p.get_content_type() == "application/json"]
    assert json.loads(attached.get_content())["findings"] == doc["findings"]

    # ... and the history holds the three scans, the growing series and the steady one.
    with History.open(setup.history) as db:
        assert db.scan_count() == 3
        series = db.series(setup.leaky.address, close_wait_key("leaky", setup.leaker.port))
        assert [v for _, v in series] == counts
    r = netdiag("history", setup.leaky.address, "--history", setup.history, "--key", "close_wait:*")
    assert r.exit_code == 0, r.output
    (row,) = [line for line in r.stdout.splitlines() if f"close_wait:leaky:{setup.leaker.port}" in line]
    assert row.split()[-4:] == ["3", *map(str, counts)]
    r = netdiag("history", setup.steady.address, "--history", setup.history, "--key", "close_wait:*")
    (row,) = [line for line in r.stdout.splitlines() if "close_wait:steady:" in line]
    assert row.split()[-3:] == [str(STEADY)] * 3


# -- mail failures ------------------------------------------------------------------------------


@pytest.mark.netns
def test_refused_login_is_a_clear_error_and_the_html_is_still_written(setup: Setup) -> None:
    html = setup.tmp / "refused.html"
    wrong = setup.tmp / "wrong-password"
    wrong.write_text("not-the-password\n")
    with running_smtp_server(fresh(setup.tmp / "smtp-refused")) as server:
        r = netdiag(
            "scan",
            setup.steady.address,
            *setup.ssh,
            "--no-history",
            "--html",
            html,
            *mail_args(server, "--smtp-password-file", wrong),
        )
        logins = server.mailbox.logins  # smtplib tries each mechanism the server offers
        assert logins and all(login == (TEST_USER, False) for login in logins)
        assert server.mailbox.messages == []
    assert r.exit_code == 3, r.output
    assert f"refused the login of '{TEST_USER}'" in r.stderr and "535" in r.stderr
    assert "not-the-password" not in r.stderr + r.stdout
    assert setup.steady.address in html.read_text(encoding="utf-8")
    assert setup.steady.address in r.stdout  # the report was printed as usual


@pytest.mark.netns
def test_smtp_server_down_is_a_clear_error_with_settings_from_the_config_file(setup: Setup) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    history = setup.tmp / "from-config.sqlite"
    config = setup.tmp / "netdiag.cfg"
    config.write_text(
        f"""
[smtp]
host = 127.0.0.1
port = {port}
tls = none
from = netdiag@example.test
to = oncall@example.test

[history]
path = {history}
keep_days = 30
"""
    )
    r = netdiag("scan", setup.steady.address, *setup.ssh, "--config", config)
    assert r.exit_code == 3, r.output
    assert f"Error: the report was not mailed: cannot reach SMTP server 127.0.0.1:{port}" in r.stderr
    assert "refused" in r.stderr.lower()
    assert setup.steady.address in r.stdout  # the report itself was printed
    with History.open(history, create=False) as db:
        assert db.scan_count() == 1 and db.hosts() == [setup.steady.address]


def test_bad_settings_are_usage_errors_before_anything_runs(tmp_path: Path) -> None:
    config = tmp_path / "netdiag.cfg"
    config.write_text("[history]\nkeep_dayz = 30\n")
    args = ["scan", "localhost", "--config", config, "--history", tmp_path / "h.sqlite"]
    r = CliRunner().invoke(main, [str(a) for a in args])
    assert r.exit_code == 2 and f"{config}: [history] has no setting 'keep_dayz'" in r.output
    r = CliRunner().invoke(main, ["scan", "localhost", "--no-history", "--mail-to", "a@example.test"])
    assert r.exit_code == 2 and "no SMTP server" in r.output
    r = CliRunner().invoke(main, ["scan", "localhost", "--no-history", "--history", str(tmp_path / "x")])
    assert r.exit_code == 2 and "contradict" in r.output
    assert not (tmp_path / "h.sqlite").exists()


def test_the_readme_config_example_is_what_netdiag_reads(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"```ini\n(.*?)```", readme, re.S)
    config = tmp_path / "netdiag.cfg"
    config.write_text(example)
    rules = ruleconfig.load_rule_config([config])
    leak, grow = rules_by_id()["close_wait_leak"], rules_by_id()["close_wait_growth"]
    assert rules.options_for(leak).threshold == rules.options_for(grow).below == 80
    smtp = read_smtp_section(config)
    (tmp_path / "pw").write_text("x")
    plan = resolve_mail({}, {**smtp, "password_file": str(tmp_path / "pw")}, environ={})
    assert plan is not None and plan.settings.server == "mail.example.com:587"
    assert plan.settings.to == ("oncall@example.com", "team@example.com") and plan.attach_json
    assert read_history_section([config]) == {
        "path": "/var/lib/netdiag/history.sqlite",
        "keep_days": "90",
        "lock_wait": "300",
        "enabled": "yes",
    }


# -- two scans at once on one history ----------------------------------------------------------------


def _race(setup: Setup, history: Path, *extra: str) -> list[subprocess.CompletedProcess[str]]:
    argv = [sys.executable, "-c", "from netdiag.cli import main; main()", "scan", setup.steady.address]
    argv += [*setup.ssh, "--history", str(history), "--samples", "2", "--interval", "1", *extra]
    procs = [
        subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=60) for p in procs]
    return [
        subprocess.CompletedProcess(p.args, p.returncode, *out) for p, out in zip(procs, outputs, strict=True)
    ]


@pytest.mark.netns
@pytest.mark.parametrize("wait", ["0", "30"])
def test_two_scans_at_once_complete_or_refuse_clearly(setup: Setup, wait: str) -> None:
    history = setup.tmp / f"race-{wait}.sqlite"
    runs = _race(setup, history, "--lock-wait", wait)
    done = [r for r in runs if r.stdout.strip()]
    for r in runs:
        if r in done:
            assert r.returncode in (0, 1), r.stderr
        else:  # refused: said so, named the holder, scanned nothing
            assert r.returncode == 3
            assert r.stderr.startswith(f"Error: another netdiag scan holds the lock on {history}.lock (pid ")
            assert "nothing scanned" in r.stderr
    if wait != "0":
        assert len(done) == 2  # the second waited for the first
    assert done
    with sqlite3.connect(history) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert db.execute("SELECT count(*) FROM scans").fetchone()[0] == len(done)
