"""``--limit``: Ansible host patterns over an inventory.

A pattern is a list of parts, split on ``,`` (or, without commas, on ``:``):
names, globs (``web-*``), group names, ``~regex`` (matched from the start),
``all`` or ``*``. Plain parts are united in order, then ``&part`` intersects
and ``!part`` excludes, as Ansible does. Unlike Ansible, which warns, a part
that matches nothing is an error: a typo must not make a scan silently short.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from netdiag.inventory.address import is_ipv6
from netdiag.inventory.errors import InventoryError

if TYPE_CHECKING:
    from netdiag.inventory.model import Group, Target

# A whole pattern that is one address with a port, as in a plain list's "127.0.0.1:2201".
_ADDRESS_WITH_PORT = re.compile(r"^(?:\[[^\]]+\]|[^\s:\[\]*?~]+):[0-9]+$")
_GLOB_CHARS = frozenset(".?*[")


def split_pattern(limit: str) -> list[str]:
    """The parts of a ``--limit``, with their ``&``/``!`` prefixes."""
    if "," in limit:
        parts = limit.split(",")
    elif _ADDRESS_WITH_PORT.match(limit.strip().lstrip("&!")) or is_ipv6(limit.strip().lstrip("&!")):
        parts = [limit]
    else:
        parts = _split_colons(limit)
    return [p.strip() for p in parts if p.strip()]


def _split_colons(limit: str) -> list[str]:
    """Split on ":" outside ``[...]``, keeping every other character (a stray "[" included)."""
    parts = [""]
    depth = 0
    for ch in limit:
        if ch == ":" and depth == 0:
            parts.append("")
            continue
        depth += (ch == "[") - (ch == "]" and depth > 0)
        parts[-1] += ch
    return parts


def select_targets(targets: Sequence[Target], groups: Mapping[str, Group], limit: str | None) -> list[Target]:
    """The targets ``limit`` picks, in the order its parts name them; all targets for None."""
    if limit is None:
        return list(targets)
    parts = split_pattern(limit)
    if not parts:
        raise InventoryError(f"--limit {limit!r} matches no host")
    regular = [p for p in parts if p[0] not in "&!"] or ["all"]
    chosen: dict[str, None] = {}
    for part in regular:
        chosen.update(dict.fromkeys(_match(part, part, targets, groups)))
    for part in (p for p in parts if p[0] == "&"):
        keep = set(_match(part[1:], part, targets, groups))
        chosen = {name: None for name in chosen if name in keep}
    for part in (p for p in parts if p[0] == "!"):
        drop = set(_match(part[1:], part, targets, groups))
        chosen = {name: None for name in chosen if name not in drop}
    if not chosen:
        raise InventoryError(f"--limit {limit!r} matches no host")
    by_name = {t.name: t for t in targets}
    return [by_name[name] for name in chosen]


def _match(pattern: str, written: str, targets: Sequence[Target], groups: Mapping[str, Group]) -> list[str]:
    """Host names one part matches: members of matching groups, then matching host names."""
    if not pattern:
        raise InventoryError(f"--limit part {written!r} is empty")
    matches = _matcher(pattern, written)
    names: list[str] = []
    matched_groups = [g for g in groups.values() if matches(g.name)]
    for group in matched_groups:
        names.extend(group.hosts)
    if not matched_groups or pattern[0] == "~" or not _GLOB_CHARS.isdisjoint(pattern):
        names.extend(t.name for t in targets if matches(t.name))
    if not names:
        raise InventoryError(f"--limit {written!r} matches no host")
    return names


def _matcher(pattern: str, written: str) -> Callable[[str], bool]:
    if pattern.startswith("~"):
        try:
            regex = re.compile(pattern[1:])
        except re.error as e:
            raise InventoryError(f"--limit {written!r}: bad regular expression: {e}") from None
        return lambda name: regex.match(name) is not None
    return lambda name: name == pattern or fnmatchcase(name, pattern)
