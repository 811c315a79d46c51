"""Inventories: which hosts a scan reaches, and how.

Sources are plain host lists, Ansible INI and YAML inventories (detected by
content) and bare targets from the command line. Everything is parsed into one
``Inventory`` of frozen ``Target`` records; ``Inventory.select`` applies an
Ansible ``--limit`` pattern. A malformed line is an ``InventoryError`` naming
file and line: a typo must never make a scan silently shorter.

Names and values are data, never interpreted: no templating, no expansion, no
shell. The transport decides how (and whether) any of it reaches a host.
"""

from netdiag.inventory.load import load_inventory
from netdiag.inventory.model import Group, Inventory, InventoryError, Target

__all__ = ["Group", "Inventory", "InventoryError", "Target", "load_inventory"]
