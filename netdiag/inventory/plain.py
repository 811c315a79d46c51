"""Plain host lists: one target a line (``host``, ``user@host:port``, ``[v6]:port``), ``#`` comments."""

from __future__ import annotations

import re

from netdiag.inventory.address import PlainTarget, parse_target
from netdiag.inventory.builder import Builder
from netdiag.inventory.errors import Where

_COMMENT = re.compile(r"(?:^|\s)#.*")


def strip_comment(line: str) -> str:
    """The line without a ``#`` comment (one at the start, or after whitespace), stripped."""
    return _COMMENT.sub("", line, count=1).strip()


def parse_plain(text: str, source: str, builder: Builder) -> None:
    for number, raw in enumerate(text.split("\n"), start=1):
        line = strip_comment(raw)
        if not line:
            continue
        where = Where(source, number)
        if any(ch.isspace() for ch in line):
            raise where.error(f"expected one target per line, got {line!r}")
        add_target(builder, line, where)


def add_target(builder: Builder, text: str, where: Where) -> None:
    """Add one plain target (from a list or the command line) as an ungrouped host."""
    try:
        target = parse_target(text)
    except ValueError as e:
        raise where.error(str(e)) from None
    builder.add_host(target.name, None, target_vars(target), where)


def target_vars(target: PlainTarget) -> dict[str, str]:
    """The Ansible variables a plain target stands for."""
    variables = {}
    if target.host != target.name:
        variables["ansible_host"] = target.host
    if target.port is not None:
        variables["ansible_port"] = str(target.port)
    if target.user is not None:
        variables["ansible_user"] = target.user
    return variables
