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
