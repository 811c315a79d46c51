"""``netdiag analyze``: saved snapshots give the same findings the rules give on the live data."""

import json
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from netdiag import ruleconfig
from netdiag.cli import main
from netdiag.engine import run_rules
from netdiag.model import Process, Snapshot
from netdiag.save import load_saved
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
    loaded = {h.name: h for h in load_saved([d, tmp_path / "db1.json"])}
    assert set(loaded) == {"db1", "web1"} and loaded["web1"].samples == tuple(web)
    assert run_rules(list(loaded.values())) == live
    r = run(tmp_path, monkeypatch, d, tmp_path / "db1.json")
    assert r.exit_code == 2, r.output  # a critical finding
    for f in live:
        assert f.rule in r.output
    assert "close_wait_leak" in r.output and "fd_exhaustion" in r.output and "60 (threshold 50)" in r.output


def test_rule_options_apply(tmp_path, monkeypatch):
    p = save(tmp_path / "s.json", snap(leak(60)))
    r = run(tmp_path, monkeypatch, p, "--disable", "close_wait_leak", "--disable", "ephemeral_port_collision")
    assert r.exit_code == 0 and "findings: 0 critical, 0 warning" in r.output, r.output
    r = run(
        tmp_path,
        monkeypatch,
        p,
        "--set",
        "close_wait_leak.threshold=70",
        "--disable",
        "ephemeral_port_collision",
    )
    assert r.exit_code == 0 and "findings: 0 critical, 0 warning" in r.output, r.output


def test_bad_inputs_are_clear_errors(tmp_path, monkeypatch):
    (tmp_path / "x.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "y.json").write_text('{"schema": "other/1"}', encoding="utf-8")
    (tmp_path / "empty").mkdir()
    for path, expected in [
        (tmp_path / "x.json", "x.json"),
        (tmp_path / "y.json", "not a readable netdiag snapshot"),
        (tmp_path / "empty", "no snapshot files"),
        (tmp_path / "missing.json", "no such file"),
    ]:
        r = run(tmp_path, monkeypatch, path)
        assert r.exit_code == 1 and expected in r.output and str(path) in r.output


def test_scan_save_directory_gives_the_scans_findings(tmp_path, monkeypatch):
    from netdiag.results import ScanResult
    from netdiag.save import save_scan

    web = hosts(snap(leak(250), at=at(0)), snap(leak(250), at=at(4)))
    db = hosts(snap(leak(60), host="db1", address="10.0.0.2"))
    scan = ScanResult(started=at(0), duration_s=4.0, hosts=[web, db], findings=run_rules([web, db]))
    save_scan(scan, tmp_path / "scan")
    assert run_rules(load_saved([tmp_path / "scan"])) == scan.findings
    r = run(tmp_path, monkeypatch, tmp_path / "scan", "--format", "json")
    assert r.exit_code == 2, r.output
    assert json.loads(r.output)["findings"] == [f.to_dict() for f in scan.findings]
