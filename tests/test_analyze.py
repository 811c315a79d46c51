"""``netdiag analyze``: saved snapshots give the same findings the rules give on the live data."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from netdiag import ruleconfig
from netdiag.cli import main
from netdiag.commands.analyze import load_snapshots
from netdiag.engine import run_rules
from netdiag.model import Process, Snapshot
from tests.snapbuild import at, hosts, many, snap


def save(path: Path, s: Snapshot) -> Path:
    path.write_text(json.dumps(s.to_dict()), encoding="utf-8")
    return path


def leak(n: int, first_port: int = 40000) -> list[str]:
    return many(n, "CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1", first_port=first_port, owner=("nginx", 812))


def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *args: object) -> Result:
    monkeypatch.setattr(ruleconfig, "SYSTEM_CONFIG", tmp_path / "none.cfg")
    env = {"XDG_CONFIG_HOME": str(tmp_path / "xdg"), "HOME": str(tmp_path)}
    return CliRunner().invoke(main, ["analyze", *map(str, args)], env=env)


def test_saved_samples_give_the_same_findings_as_live(tmp_path, monkeypatch):
    procs = [Process(812, "nginx", fd_count=990, nofile_soft=1024)]
    web = [snap(leak(60), at=at(0), processes=procs), snap(leak(60), at=at(5), processes=procs)]
    db = snap(leak(10), host="db1", address="10.0.0.2")
    live = run_rules([hosts(*web), hosts(db)])
    d = tmp_path / "saved"
    d.mkdir()
    save(d / "b.json", web[1])  # names out of time order: samples are ordered by collection time
    save(d / "a.json", web[0])
    save(tmp_path / "db1.json", db)
    loaded = load_snapshots([d, tmp_path / "db1.json"])
    assert [h.name for h in loaded] == ["db1", "web1"] and len(loaded[1].samples) == 2
    assert run_rules(loaded) == live
    r = run(tmp_path, monkeypatch, d, tmp_path / "db1.json")
    assert r.exit_code == 0, r.output
    for f in live:
        assert f.rule in r.output
    assert "close_wait_leak" in r.output and "fd_exhaustion" in r.output and "60/50" in r.output


def test_rule_options_apply(tmp_path, monkeypatch):
    p = save(tmp_path / "s.json", snap(leak(60)))
    r = run(tmp_path, monkeypatch, p, "--disable", "close_wait_leak", "--disable", "ephemeral_port_collision")
    assert r.exit_code == 0 and "no findings on 1 host(s)" in r.output
    r = run(
        tmp_path,
        monkeypatch,
        p,
        "--set",
        "close_wait_leak.threshold=70",
        "--disable",
        "ephemeral_port_collision",
    )
    assert "no findings" in r.output


def test_bad_inputs_are_clear_errors(tmp_path, monkeypatch):
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "y.json").write_text('{"schema": "other/1"}', encoding="utf-8")
    (tmp_path / "empty").mkdir()
    for path, expected in [
        (tmp_path / "x.json", "not JSON"),
        (tmp_path / "y.json", "not a netdiag snapshot"),
        (tmp_path / "empty", "no *.json snapshots"),
        (tmp_path / "missing.json", "cannot read"),
    ]:
        r = run(tmp_path, monkeypatch, path)
        assert r.exit_code == 1 and expected in r.output and str(path) in r.output
