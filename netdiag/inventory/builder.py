"""Collects hosts, groups and variables as the parsers read them, then resolves them Ansible's way.

Resolution: a group without a parent is a child of ``all``; a host in no group
but ``all`` is in ``ungrouped``. A host's variables are its groups' variables
merged from shallow to deep (then ``ansible_group_priority``, then name, as
Ansible sorts them), so a child group wins over its parent, and the host's own
variables win over every group's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netdiag.inventory.errors import InventoryError, Where
from netdiag.inventory.hostvars import IDENTITY_VARS, PRIORITY_VAR, check_var, make_target
from netdiag.inventory.model import Group, Inventory, Target

ALL = "all"
UNGROUPED = "ungrouped"


@dataclass(frozen=True, slots=True)
class _Var:
    value: str
    where: Where


@dataclass(slots=True)
class _GroupDraft:
    name: str
    children: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)
    vars: dict[str, _Var] = field(default_factory=dict)


@dataclass(slots=True)
class _HostDraft:
    name: str
    groups: list[str] = field(default_factory=list)
    vars: dict[str, _Var] = field(default_factory=dict)


class Builder:
    """Mutable while one ``load_inventory`` call reads its sources; ``build`` freezes the result."""

    def __init__(self) -> None:
        self._hosts: dict[str, _HostDraft] = {}
        self._groups: dict[str, _GroupDraft] = {ALL: _GroupDraft(ALL), UNGROUPED: _GroupDraft(UNGROUPED)}

    def add_group(self, name: str, where: Where) -> None:
        if not name or any(ch.isspace() for ch in name):
            raise where.error(f"bad group name {name!r}")
        self._groups.setdefault(name, _GroupDraft(name))

    def add_host(self, name: str, group: str | None, variables: dict[str, str], where: Where) -> None:
        """Add (or extend) a host; with ``group`` None it is ``ungrouped`` unless another line groups it."""
        host = self._hosts.setdefault(name, _HostDraft(name))
        for key, value in variables.items():
            self.check(key, value, where)
            old = host.vars.get(key)
            if key in IDENTITY_VARS and old is not None and old.value != value:
                raise where.error(
                    f"host {name!r}: {key}={value!r} conflicts with {old.value!r} set at {old.where}"
                )
            host.vars[key] = _Var(value, where)
        if group is not None:
            self.add_group(group, where)
            if group not in host.groups:
                host.groups.append(group)

    def set_group_var(self, group: str, key: str, value: str, where: Where) -> None:
        self.check(key, value, where)
        self.add_group(group, where)
        self._groups[group].vars[key] = _Var(value, where)

    def add_child(self, parent: str, child: str, where: Where) -> None:
        """Make ``child`` a sub-group of ``parent``; a cycle is an error at ``where``."""
        if child == ALL:
            raise where.error(f"{ALL!r} cannot be a child group")
        self.add_group(parent, where)
        self.add_group(child, where)
        if parent == child or parent in self._descendants(child):
            raise where.error(f"making {child!r} a child of {parent!r} creates a cycle")
        if child not in self._groups[parent].children:
            self._groups[parent].children.append(child)
            self._groups[child].parents.append(parent)

    def build(self, sources: tuple[str, ...]) -> Inventory:
        if not self._hosts:
            raise InventoryError(f"no hosts in {', '.join(sources) or 'the inventory'}")
        depth: dict[str, int] = {}
        for name in self._groups:
            self._depth(name, depth)
        members: dict[str, list[str]] = {name: [] for name in self._groups}
        targets: list[Target] = []
        for host in self._hosts.values():
            direct = [g for g in host.groups if g not in (ALL, UNGROUPED)] or [UNGROUPED]
            member_of = self._ancestors(direct) | {ALL}
            for name in member_of:
                members[name].append(host.name)
            targets.append(self._target(host, member_of, depth))
        groups = {
            g.name: Group(
                name=g.name,
                hosts=tuple(members[g.name]),
                children=tuple(g.children),
                vars=tuple(sorted((k, v.value) for k, v in g.vars.items())),
            )
            for g in self._groups.values()
        }
        return Inventory(targets=tuple(targets), groups=groups, sources=sources)

    def check(self, key: str, value: str, where: Where) -> None:
        """Refuse an unusable connection variable at ``where`` (its own line, not its host's)."""
        try:
            check_var(key, value)
        except ValueError as e:
            raise where.error(str(e)) from None

    def _target(self, host: _HostDraft, member_of: set[str], depth: dict[str, int]) -> Target:
        def order(name: str) -> tuple[int, int, str]:
            priority = self._groups[name].vars.get(PRIORITY_VAR)
            return depth[name], int(priority.value) if priority else 1, name

        merged: dict[str, str] = {}
        for name in sorted(member_of, key=order):
            merged.update((k, v.value) for k, v in self._groups[name].vars.items())
        merged.update((k, v.value) for k, v in host.vars.items())
        merged.pop(PRIORITY_VAR, None)
        return make_target(host.name, merged, tuple(sorted(member_of - {ALL})))

    def _descendants(self, name: str) -> set[str]:
        seen: set[str] = set()
        stack = [name]
        while stack:
            for child in self._groups[stack.pop()].children:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        return seen

    def _ancestors(self, names: list[str]) -> set[str]:
        seen = set(names)
        stack = list(names)
        while stack:
            for parent in self._groups[stack.pop()].parents:
                if parent not in seen:
                    seen.add(parent)
                    stack.append(parent)
        return seen

    def _depth(self, name: str, memo: dict[str, int]) -> int:
        """Longest path from ``all``; iterative, so a deep chain of children cannot overflow the stack."""
        stack = [name]
        while stack:
            current = stack[-1]
            parents = [p for p in self._groups[current].parents if p != ALL]
            pending = [p for p in parents if p not in memo]
            if pending:
                stack.extend(pending)
                continue
            stack.pop()
            memo[current] = 0 if current == ALL else 1 + max((memo[p] for p in parents), default=0)
        return memo[name]
