"""The package as users get it: a wheel that carries the templates and the collection script.

Built without build isolation (no index needed) and installed into a fresh
virtual environment that sees the test environment's dependencies, then used
from a directory outside the source tree, so nothing can come from the checkout.
"""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, ROOT],
        check=True,
        capture_output=True,
    )
    (whl,) = out.glob("netdiag-*.whl")
    return whl


def test_wheel_ships_templates_and_script(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    templates = {Path(n).name for n in names if n.startswith("netdiag/templates/")}
    assert {p.name for p in (ROOT / "reports" / "templates").iterdir()} <= templates
    assert "netdiag/collectors/collect.sh" in names
    assert any(n.startswith("netdiag/commands/") for n in names)


def test_installed_wheel_renders_a_template(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    py = env_dir / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-deps", "--no-index", wheel],
        check=True,
        capture_output=True,
    )
    probe = (
        "import netdiag, pathlib, sys\n"
        "from netdiag.render.html import render_html\n"
        "from netdiag.results import ScanResult\n"
        "assert 'site-packages' in netdiag.__file__, netdiag.__file__\n"
        "html = render_html(ScanResult(started='2026-01-01T00:00:00Z', duration_s=0.5, hosts=[]))\n"
        "sys.stdout.write(html)\n"
    )
    # -I: isolated mode, so neither the checkout nor an editable install is on the path.
    r = subprocess.run([str(py), "-I", "-c", probe], cwd=tmp_path, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout.lstrip().lower().startswith("<!doctype html>")
    assert "<style" in r.stdout and "netdiag" in r.stdout
