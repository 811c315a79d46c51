"""Rule configuration: precedence defaults < files < --set < --disable, and every error path."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from netdiag import ruleconfig
from netdiag.cli import main
from netdiag.engine import RuleConfig, rules_by_id
from netdiag.ruleconfig import ConfigError, config_paths, load_rule_config, user_config_path


def cfg(tmp_path: Path, text: str, name: str = "netdiag.cfg") -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def threshold(config: RuleConfig, rule_id: str = "close_wait_leak") -> int:
    value: int = config.options_for(rules_by_id()[rule_id]).threshold
    return value


def test_defaults_without_any_setting():
    c = load_rule_config()
    assert threshold(c) == 50 and not c.disabled


def test_file_values_switches_and_other_sections(tmp_path):
    p = cfg(
        tmp_path,
        "[smtp]\nhost = mail\n[history]\nkeep = 3\n"
        "[rule:close_wait_leak]\nthreshold = 80\ncritical_factor = 2.5\n"
        "[rule:orphan_sockets]\nenabled = false\n"
        "[rule:listen_overflows]\nreport_since_boot = no\n"
        "[rule:collection_incomplete]\nignore_sources = cmdline,comm\n",
    )
    c = load_rule_config([p])
    opts = c.options_for(rules_by_id()["close_wait_leak"])
    assert (opts.threshold, opts.critical_factor, opts.persist_share) == (80, 2.5, 0.5)
    assert c.disabled == {"orphan_sockets"}
    assert c.options_for(rules_by_id()["listen_overflows"]).report_since_boot is False
    assert c.options_for(rules_by_id()["collection_incomplete"]).ignore_sources == "cmdline,comm"


def test_precedence_later_files_then_set_then_disable(tmp_path):
    system = cfg(tmp_path, "[rule:close_wait_leak]\nthreshold = 10\ngrowth_min = 3\n", "system.cfg")
    user = cfg(
        tmp_path, "[rule:close_wait_leak]\nthreshold = 20\n[rule:fd_exhaustion]\nenabled = false\n", "u.cfg"
    )
    c = load_rule_config([system, user])
    assert threshold(c) == 20 and c.options_for(rules_by_id()["close_wait_leak"]).growth_min == 3
    c = load_rule_config([system, user], sets=["close_wait_leak.threshold=30", "fd_exhaustion.enabled=true"])
    assert threshold(c) == 30 and c.enabled("fd_exhaustion")
    c = load_rule_config([system], sets=["fd_exhaustion.enabled=true"], disable=["fd_exhaustion"])
    assert not c.enabled("fd_exhaustion")


def test_config_paths_order_and_user_location(tmp_path, monkeypatch):
    system = cfg(tmp_path, "", "system.cfg")
    monkeypatch.setattr(ruleconfig, "SYSTEM_CONFIG", system)
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path / "home")}
    assert user_config_path(env) == tmp_path / "xdg" / "netdiag" / "netdiag.cfg"
    assert user_config_path({"HOME": str(tmp_path / "home")}) == tmp_path / "home/.config/netdiag/netdiag.cfg"
    assert config_paths(None, env) == [system]  # the user file does not exist: skipped
    user = user_config_path(env)
    user.parent.mkdir(parents=True)
    user.write_text("", encoding="utf-8")
    explicit = tmp_path / "x.cfg"
    assert config_paths(explicit, env) == [system, user, explicit]  # --config last, even if missing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[rule:close_wait_leek]\nthreshold = 5\n", "[rule:close_wait_leek]: unknown rule 'close_wait_leek'"),
        (
            "[rule:close_wait_leak]\ntreshold = 5\n",
            "[rule:close_wait_leak]: rule close_wait_leak has no parameter 'treshold'",
        ),
        ("[rule:close_wait_leak]\nthreshold = many\n", "parameter threshold: 'many' is not a whole number"),
        ("[rule:close_wait_leak]\nthreshold = 5.5\n", "parameter threshold: '5.5' is not a whole number"),
        ("[rule:close_wait_leak]\ncritical_factor = x\n", "parameter critical_factor: 'x' is not a number"),
        ("[rule:close_wait_leak]\nenabled = maybe\n", "parameter enabled: 'maybe' is not a boolean"),
        (
            "[rule:listen_overflows]\nreport_since_boot = 2\n",
            "parameter report_since_boot: '2' is not a boolean",
        ),
        (
            "[rule:fd_exhaustion]\nwarn_share = 80\n",
            "parameter warn_share: 80.0 is not a share between 0 and 1",
        ),
        ("[rule:close_wait_leak]\nthreshold = -1\n", "parameter threshold: -1 is negative"),
        ("threshold = 5\n", "not a valid config file"),
        ("[rule:close_wait_leak]\nthreshold = 1\nthreshold = 2\n", "not a valid config file"),
    ],
)
def test_file_errors_name_file_section_rule_and_parameter(tmp_path, text, expected):
    p = cfg(tmp_path, text)
    with pytest.raises(ConfigError) as e:
        load_rule_config([p])
    assert str(e.value).startswith(str(p)) and expected in str(e.value)


def test_unreadable_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_rule_config([tmp_path / "nope.cfg"])


@pytest.mark.parametrize(
    ("sets", "disable", "expected"),
    [
        (["close_wait_leak.threshold"], [], "--set close_wait_leak.threshold: expected RULE.PARAM=VALUE"),
        (["threshold=5"], [], "expected RULE.PARAM=VALUE"),
        (["nope.threshold=5"], [], "--set nope.threshold=5: unknown rule 'nope'"),
        (["close_wait_leak.nope=5"], [], "rule close_wait_leak has no parameter 'nope'"),
        (
            ["close_wait_leak.threshold=lots"],
            [],
            "rule close_wait_leak, parameter threshold: 'lots' is not a whole number",
        ),
        ([], ["nope"], "--disable nope: unknown rule 'nope'"),
    ],
)
def test_command_line_errors(sets, disable, expected):
    with pytest.raises(ConfigError) as e:
        load_rule_config(sets=sets, disable=disable)
    assert expected in str(e.value)


def _env(tmp_path: Path) -> dict[str, str]:
    return {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}


def test_rules_command_lists_every_rule_with_effective_values(tmp_path, monkeypatch):
    monkeypatch.setattr(ruleconfig, "SYSTEM_CONFIG", tmp_path / "none.cfg")
    p = cfg(tmp_path, "[rule:fd_exhaustion]\nwarn_share = 0.7\n")
    r = CliRunner().invoke(
        main, ["rules", "--config", str(p), "--disable", "orphan_sockets"], env=_env(tmp_path)
    )
    assert r.exit_code == 0, r.output
    for rule_id in rules_by_id():
        assert rule_id in r.output
    assert "warn_share=0.7 (default 0.8)" in r.output and "threshold=50" in r.output
    orphan_row = next(line for line in r.output.splitlines() if "| orphan_sockets" in line)
    assert "| no " in orphan_row
    detail = CliRunner().invoke(main, ["rules", "close_wait_leak"], env=_env(tmp_path))
    assert detail.exit_code == 0 and "Recv-Q 0" in detail.output and "persist_share" in detail.output


def test_cli_config_errors_are_usage_errors(tmp_path, monkeypatch):
    monkeypatch.setattr(ruleconfig, "SYSTEM_CONFIG", tmp_path / "none.cfg")
    r = CliRunner().invoke(main, ["rules", "--set", "close_wait_leak.treshold=5"], env=_env(tmp_path))
    assert r.exit_code == 2 and "no parameter 'treshold'" in r.output
    r = CliRunner().invoke(main, ["rules", "nope"], env=_env(tmp_path))
    assert r.exit_code == 2 and "unknown rule 'nope'" in r.output


def test_user_config_file_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(ruleconfig, "SYSTEM_CONFIG", tmp_path / "none.cfg")
    user = tmp_path / "xdg" / "netdiag" / "netdiag.cfg"
    user.parent.mkdir(parents=True)
    user.write_text("[rule:close_wait_leak]\nthreshold = 7\n", encoding="utf-8")
    r = CliRunner().invoke(main, ["rules", "close_wait_leak"], env=_env(tmp_path))
    assert r.exit_code == 0, r.output
    row = next(line.split() for line in r.output.splitlines() if line.startswith("threshold "))
    assert row[:3] == ["threshold", "7", "50"]
