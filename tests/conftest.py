"""Session-wide fixtures, shared by every test module.

Keep this file to fixtures that several modules use; a module's own helpers
live in that module.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nsfleet import Fleet


@pytest.fixture(scope="session")
def fleet() -> Iterator[Fleet]:
    """ONE fleet of namespace hosts with real sshd for the whole session (tests/nsfleet.py).

    40 plain hosts (``fleet.plain``) plus the special ones (``fleet["bastion"]``, ``"inner"``,
    ``"badkey"``, ...). Needs root; fails loudly, never skips. Tests must leave the hosts as
    they found them (kill what they start: ``fleet.spawn`` does it at teardown at the latest).
    """
    f = Fleet.start(plain=40)
    try:
        yield f
    finally:
        f.stop()


@pytest.fixture(scope="session", autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep every netdiag run of the suite (in-process and subprocesses) out of the real
    user's config and history: XDG dirs point into the session's temp dir."""
    base = tmp_path_factory.mktemp("xdg")
    mp = pytest.MonkeyPatch()
    mp.setenv("XDG_DATA_HOME", str(base / "data"))
    mp.setenv("XDG_CONFIG_HOME", str(base / "config"))
    try:
        yield
    finally:
        mp.undo()
