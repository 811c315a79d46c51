"""The CLI loads each sub-command's module only when it runs; ``--help`` still lists them all."""

from __future__ import annotations

import subprocess
import sys

import click

from netdiag.cli import COMMANDS, main

HEAVY = ("paramiko", "jinja2", "tabulate", "sqlite3", "smtplib", "netdiag.commands")


def _python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout


def test_every_table_entry_is_the_command_of_that_name() -> None:
    ctx = click.Context(main)
    assert main.list_commands(ctx) == sorted(COMMANDS)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert isinstance(command, click.Command) and command.name == name


def test_importing_the_cli_loads_no_command() -> None:
    out = _python(
        f"import sys, netdiag.cli; print(sorted(m for m in sys.modules if m.startswith({HEAVY!r})))"
    )
    assert out.strip() == "[]"


def test_a_command_loads_only_its_own_libraries() -> None:
    out = _python(
        "import sys\nfrom netdiag.cli import main\n"
        "try:\n    main(['rules'], standalone_mode=False)\nexcept SystemExit:\n    pass\n"
        "print('paramiko' in sys.modules, 'jinja2' in sys.modules, 'netdiag.commands.scan' in sys.modules)"
    )
    assert out.strip().splitlines()[-1] == "False False False"


def test_help_lists_every_command_with_its_own_short_help() -> None:
    out = _python("from netdiag.cli import main; main(['--help'])")
    listing = out.split("Commands:", 1)[1]
    ctx = click.Context(main)
    for name in COMMANDS:
        command = main.get_command(ctx, name)
        assert command is not None
        short = command.get_short_help_str(limit=45).removesuffix("...")
        line = next(x for x in listing.splitlines() if x.split()[:1] == [name])
        assert short[:30] in line, (name, line)


def test_scan_warm_up_loads_only_the_renderers_asked_for() -> None:
    base = "import sys\nfrom pathlib import Path\nfrom netdiag.commands.scan import warm_up\n"
    base += "from netdiag.render.options import ReportOptions\n"
    json_only = _python(
        base + "warm_up(ReportOptions(fmt='json'), None)\n"
        "print('netdiag.render.jsonout' in sys.modules, 'jinja2' in sys.modules, 'tabulate' in sys.modules)"
    )
    assert json_only.strip() == "True False False"
    html = _python(
        base + "warm_up(ReportOptions(html_file=Path('x.html')), None)\n"
        "from netdiag.render.html import template\n"
        "print('tabulate' in sys.modules, template.cache_info().currsize)"
    )
    assert html.strip() == "True 1"  # text for stdout, the HTML template compiled ahead


def test_rule_modules_load_at_start_only_when_a_setting_names_a_rule() -> None:
    probe = (
        "import sys\nfrom netdiag.ruleconfig import load_rule_config\n"
        "config = load_rule_config([], {sets!r})\n"
        "print(any(m.startswith('netdiag.rules.') for m in sys.modules), dict(config.options))"
    )
    plain = _python(probe.format(sets=[]))
    assert plain.strip() == "False {}"
    named = _python(probe.format(sets=["close_wait_leak.threshold=7"]))
    assert named.startswith("True {'close_wait_leak': ") and "threshold=7" in named


def test_scan_warm_up_loads_the_rules() -> None:
    out = _python(
        "import sys\nfrom netdiag.commands.scan import warm_up\n"
        "from netdiag.render.options import ReportOptions\n"
        "before = 'netdiag.rules.close_wait_leak' in sys.modules\n"
        "warm_up(ReportOptions(fmt='json'), None)\n"
        "print(before, 'netdiag.rules.close_wait_leak' in sys.modules)"
    )
    assert out.strip() == "False True"


def test_the_console_script_freezes_the_loaded_command_and_main_does_not() -> None:
    probe = (
        "import gc, sys\nfrom netdiag.cli import main, run\nsys.argv = ['netdiag', 'rules']\n"
        "try:\n    {call}()\nexcept SystemExit:\n    pass\n"
        "print('netdiag.commands.rules' in sys.modules, gc.get_freeze_count() > 1000)"
    )
    assert _python(probe.format(call="run")).strip().splitlines()[-1] == "True True"
    assert _python(probe.format(call="main")).strip().splitlines()[-1] == "True False"


def test_python_dash_m_netdiag_is_the_console_script() -> None:
    done = subprocess.run([sys.executable, "-m", "netdiag", "--version"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.startswith("netdiag, version ")
