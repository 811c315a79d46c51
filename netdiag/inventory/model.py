"""The inventory as the rest of netdiag sees it: targets, groups, sources."""

from __future__ import annotations

from dataclasses import dataclass

from netdiag.inventory.errors import InventoryError
from netdiag.inventory.patterns import select_targets

__all__ = ["Group", "Inventory", "InventoryError", "Target"]


@dataclass(frozen=True, slots=True)
class Target:
    """One host to scan.

    ``host`` is the address to connect to (None: connect to ``name``);
    ``become``/``port``/``user``/``key_file`` are None when the inventory does
    not say, so command-line options and ``~/.ssh/config`` decide.
    ``vars`` holds every other effective host variable, sorted, as text.
    """

    name: str
    host: str | None = None
    port: int | None = None
    user: str | None = None
    key_file: str | None = None
    connection: str = "ssh"  # ssh | local
    become: bool | None = None
    groups: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()

    @property
    def address(self) -> str:
        """Where to connect: ``host`` if the inventory gives one, else the name."""
        return self.host if self.host is not None else self.name


@dataclass(frozen=True, slots=True)
class Group:
    """A group after resolution: ``hosts`` are all members, direct or through children."""

    name: str
    hosts: tuple[str, ...] = ()
    children: tuple[str, ...] = ()
    vars: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Inventory:
    """All targets in first-seen order, every group (``all`` and ``ungrouped`` too), the sources read."""

    targets: tuple[Target, ...]
    groups: dict[str, Group]
    sources: tuple[str, ...]

    def select(self, limit: str | None) -> list[Target]:
        """The targets an Ansible ``--limit`` pattern picks; all of them for None.

        Raises InventoryError when a part of the pattern matches nothing, since
        scanning fewer hosts than asked for must never pass unnoticed.
        """
        return select_targets(self.targets, self.groups, limit)
