"""Ansible INI inventories, read as Ansible's ``ini`` plugin reads them, but strictly.

Differences from Ansible, all on the side of refusing rather than guessing:
every malformed line is an error (Ansible only warns about some); a trailing
`` # comment`` is dropped from ``[group:vars]`` values; ``user@host`` is refused
as a host name (write ``ansible_user=``); values are kept as text, never
evaluated as Python literals or templates.
"""

from __future__ import annotations

import re
import shlex

from netdiag.inventory.address import is_ipv6, parse_hostpattern
from netdiag.inventory.builder import ALL, UNGROUPED, Builder
from netdiag.inventory.errors import Where

# [group], [group:vars], [group:children], optionally followed by a comment.
SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s\[=]+)\s*(?:[#;].*)?$")
_TRAILING_COMMENT = re.compile(r"\s+#.*$")


def is_section(line: str) -> bool:
    """A ``[...]`` line that is meant as a section header (a bracketed IPv6 target is not)."""
    if SECTION.match(line):
        return True
    body = line.split("#", 1)[0].strip()
    return body.startswith("[") and body.endswith("]") and not is_ipv6(body[1:-1])


def parse_ini(text: str, source: str, builder: Builder) -> None:
    group = UNGROUPED  # host lines before any section are ungrouped
    kind = "hosts"
    declared = {ALL, UNGROUPED}
    pending: dict[str, tuple[Where, str]] = {}  # group -> where it was used before being defined, why
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        where = Where(source, number)
        if line.startswith("[") and is_section(line):
            m = SECTION.match(line)
            if m is None:
                raise where.error(f"bad section header {line!r} (use [name], [name:vars], [name:children])")
            group, kind = m.group(1), m.group(2) or "hosts"
            if kind not in ("hosts", "vars", "children"):
                raise where.error(f"section [{group}:{kind}] has unknown type {kind!r} (vars or children)")
            builder.add_group(group, where)
            if kind == "vars":
                if group not in declared:
                    pending.setdefault(group, (where, f"[{group}:vars] is for undefined group {group!r}"))
            else:
                declared.add(group)
                pending.pop(group, None)
        elif kind == "hosts":
            _host_line(line, group, builder, where)
        elif kind == "vars":
            key, value = _var_line(line, group, where)
            builder.set_group_var(group, key, value, where)
        else:
            m = _GROUP_NAME.match(line)
            if m is None:
                raise where.error(f"expected a group name in [{group}:children], got {line!r}")
            child = m.group(1)
            builder.add_child(group, child, where)
            if child not in declared:
                pending.setdefault(child, (where, f"[{group}:children] names undefined group {child!r}"))
    for where, message in pending.values():
        raise where.error(message)


def _host_line(line: str, group: str, builder: Builder, where: Where) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as e:
        raise where.error(f"cannot split host line: {e}") from None
    if not tokens:
        raise where.error(f"expected a host, got {line!r}")
    try:
        names, port = parse_hostpattern(tokens[0])
    except ValueError as e:
        raise where.error(str(e)) from None
    variables = {} if port is None else {"ansible_port": str(port)}
    for token in tokens[1:]:
        key, eq, value = token.partition("=")
        if not eq or not key:
            raise where.error(f"expected key=value after the host name, got {token!r}")
        variables[key] = value
    for name in names:
        builder.add_host(name, group, variables, where)


def _var_line(line: str, group: str, where: Where) -> tuple[str, str]:
    key, eq, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not eq or not key:
        raise where.error(f"expected key=value in [{group}:vars], got {line!r}")
    if value[:1] in ("'", '"'):
        try:
            tokens = shlex.split(value, comments=True)
        except ValueError as e:
            raise where.error(f"bad quoting in {key}: {e}") from None
        if len(tokens) != 1:
            raise where.error(f"{key}: expected one quoted value, got {value!r}")
        return key, tokens[0]
    return key, _TRAILING_COMMENT.sub("", value)
