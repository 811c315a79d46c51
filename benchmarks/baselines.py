"""The baseline tools (jc, ansible-core, parallel-ssh) in a venv of their own under the cache dir.

Why a separate venv: they are what netdiag is measured against, never its
dependencies, so they must not leak into the project's requirements or its
test environment. The venv is built once and reused; ``ensure`` is idempotent.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PACKAGES = ("jc", "ansible-core", "parallel-ssh")


def cache_dir() -> Path:
    """``$NETDIAG_BENCH_CACHE``, else ``$XDG_CACHE_HOME/netdiag-bench`` (``~/.cache`` by default)."""
    explicit = os.environ.get("NETDIAG_BENCH_CACHE")
    if explicit:
        path = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        path = Path(base) / "netdiag-bench"
    path.mkdir(parents=True, exist_ok=True)
    return path


def venv_dir() -> Path:
    return cache_dir() / "baselines-venv"


def tool(name: str) -> Path:
    """The path of a baseline's executable inside the venv (``jc``, ``ansible``...)."""
    return venv_dir() / "bin" / name


def ensure(log: bool = True) -> Path:
    """Create the venv and install the baselines if a marker says it is not done yet."""
    venv = venv_dir()
    marker = venv / ".installed"
    wanted = " ".join(PACKAGES)
    if marker.exists() and marker.read_text() == wanted:
        return venv
    if log:
        print(f"[baselines] installing {wanted} into {venv} (once)", file=sys.stderr, flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *PACKAGES], check=True)
    marker.write_text(wanted)
    return venv


if __name__ == "__main__":
    print(ensure())
