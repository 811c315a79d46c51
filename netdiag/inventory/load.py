"""``load_inventory``: files and command-line targets into one ``Inventory``; which format a file is."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from netdiag.inventory.address import is_ipv6
from netdiag.inventory.builder import Builder
from netdiag.inventory.errors import InventoryError, Where
from netdiag.inventory.ini import is_section, parse_ini
from netdiag.inventory.model import Inventory
from netdiag.inventory.plain import add_target, parse_plain, strip_comment
from netdiag.inventory.yamlfile import parse_yaml

YAML_SUFFIXES = frozenset({".yml", ".yaml", ".json"})
# Names ending so are file names, never hosts: a mistyped path must not be "scanned" as a host.
_FILE_SUFFIXES = YAML_SUFFIXES | {".txt", ".ini", ".cfg", ".conf", ".inventory", ".list"}
# YAML starts with a document marker, a flow mapping, a list item or "key: value"; or with
# "key:" alone when an indented line follows (a plain list's "web-17:" is a bad port, not YAML).
_YAML_START = re.compile(r"^(?:---|%YAML|\{|-\s|[A-Za-z0-9_.-]+:\s+\S)")
_YAML_BLOCK_KEY = re.compile(r"^[A-Za-z0-9_.-]+:$")


def load_inventory(sources: Sequence[str]) -> Inventory:
    """Read every source in order (a file, or a bare target like ``user@web-17:22``) into one inventory.

    A host named in several sources is one host; later sources add to it.
    """
    builder = Builder()
    for source in sources:
        path = Path(source)
        if _exists(path):
            _load_file(path, source, builder)
        elif _looks_like_path(source):
            raise InventoryError(f"{source}: no such inventory file")
        else:
            try:
                add_target(builder, source, Where("command line"))
            except InventoryError as e:
                raise InventoryError(f"{source!r} is no inventory file, nor a host target: {e}") from None
    return builder.build(tuple(sources))


def detect_format(text: str, suffix: str = "") -> str:
    """``yaml``, ``ini`` or ``plain``, from the content (a .yml/.yaml/.json suffix settles it as YAML).

    YAML: the first meaningful line is ``---``, ``{``, ``key: value``, or ``key:`` with an indented line
    after it. INI: some line is a ``[section]`` or has more than one word, an ``=`` or a range.
    Otherwise a plain list of one target a line.
    """
    raw_lines = [raw for raw in text.split("\n") if strip_comment(raw) and not raw.lstrip().startswith(";")]
    meaningful = [strip_comment(raw) for raw in raw_lines]
    if suffix.lower() in YAML_SUFFIXES:
        return "yaml"
    if meaningful and (
        _YAML_START.match(meaningful[0])
        or (_YAML_BLOCK_KEY.match(meaningful[0]) and len(raw_lines) > 1 and raw_lines[1][:1].isspace())
    ):
        return "yaml"
    for line in meaningful:
        if line.startswith("[") and is_section(line):
            return "ini"
        host = line.rpartition("@")[2]  # "[" may open a plain target's v6 address, as in user@[::1]:22
        if "=" in line or "[" in host[1:] or any(ch.isspace() for ch in line):
            return "ini"
    return "plain"


def _load_file(path: Path, source: str, builder: Builder) -> None:
    if path.is_dir():
        raise InventoryError(f"{source}: is a directory; name the inventory files in it")
    try:
        data = path.read_bytes()
    except OSError as e:
        raise InventoryError(f"{source}: cannot read: {e.strerror or e}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise InventoryError(f"{source}:{line}: not UTF-8 text") from None
    text = text.replace("\r\n", "\n")
    parse = {"yaml": parse_yaml, "ini": parse_ini, "plain": parse_plain}[detect_format(text, path.suffix)]
    parse(text, source, builder)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long, or with a NUL byte: not a file we can read
        return False


def _looks_like_path(source: str) -> bool:
    if is_ipv6(source.strip("[]")):
        return False
    return "/" in source or source.startswith((".", "~")) or Path(source).suffix.lower() in _FILE_SUFFIXES
