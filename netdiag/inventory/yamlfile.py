"""Ansible YAML inventories: ``all: {hosts: …, vars: …, children: …}``, groups nested to any depth.

Walks the composed YAML nodes rather than the loaded data so every error can
name its key path and line. Keys other than hosts, vars and children are errors
(Ansible skips them with a warning: a host listed without ``hosts:`` would
silently not be scanned).
"""

from __future__ import annotations

import json

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from netdiag.inventory.address import parse_hostpattern
from netdiag.inventory.builder import Builder
from netdiag.inventory.errors import Where

_NULL = "tag:yaml.org,2002:null"


def parse_yaml(text: str, source: str, builder: Builder) -> None:
    try:
        loader = yaml.SafeLoader(text)  # already reads, and may refuse, the first characters
    except yaml.YAMLError as e:
        raise Where(source).error(f"not valid YAML: {e}") from None
    try:
        try:
            root = loader.get_single_node()
        except yaml.MarkedYAMLError as e:
            line = e.problem_mark.line + 1 if e.problem_mark else None
            raise Where(source, line).error(f"not valid YAML: {e.problem or e}") from None
        except yaml.YAMLError as e:
            raise Where(source).error(f"not valid YAML: {e}") from None
        except RecursionError:
            raise Where(source).error("YAML nested too deeply") from None
        if root is not None:
            _Walker(loader, source, builder).top(root)
    finally:
        loader.dispose()


class _Walker:
    def __init__(self, loader: yaml.SafeLoader, source: str, builder: Builder) -> None:
        self.loader = loader
        self.source = source
        self.builder = builder

    def where(self, node: Node, path: str) -> Where:
        return Where(self.source, node.start_mark.line + 1, path or None)

    def top(self, node: Node) -> None:
        if not isinstance(node, MappingNode):
            raise self.where(node, "").error("the top level must map group names to groups (all: …)")
        for key_node, value in self.pairs(node, ""):
            name = self.key(key_node, "")
            self.group(name, value, name)

    def group(self, name: str, node: Node, path: str) -> None:
        self.builder.add_group(name, self.where(node, path))
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.where(node, path).error("a group must be a mapping with hosts, vars or children")
        for key_node, value in self.pairs(node, path):
            key = self.key(key_node, path)
            sub = f"{path}.{key}"
            if key == "hosts":
                self.hosts(name, value, sub)
            elif key == "vars":
                for var_node, var_value in self.pairs(value, sub):
                    var = self.key(var_node, sub)
                    where = self.where(var_node, f"{sub}.{var}")
                    self.builder.set_group_var(name, var, self.text(var_value, where), where)
            elif key == "children":
                for child_node, child_value in self.pairs(value, sub):
                    child = self.key(child_node, sub)
                    self.builder.add_child(name, child, self.where(child_node, f"{sub}.{child}"))
                    self.group(child, child_value, f"{sub}.{child}")
            else:
                raise self.where(key_node, sub).error(f"unexpected key {key!r} (want hosts, vars, children)")

    def hosts(self, group: str, node: Node, path: str) -> None:
        for host_node, host_value in self.pairs(node, path):
            pattern = self.key(host_node, path)
            where = self.where(host_node, f"{path}.{pattern}")
            try:
                names, port = parse_hostpattern(pattern)
            except ValueError as e:
                raise where.error(str(e)) from None
            variables = {} if port is None else {"ansible_port": str(port)}
            if not _is_null(host_value):
                if not isinstance(host_value, MappingNode):
                    raise where.error("a host's value must be a mapping of variables (or empty)")
                for var_node, var_value in self.pairs(host_value, where.path or ""):
                    var = self.key(var_node, f"{path}.{pattern}")
                    var_where = self.where(var_node, f"{path}.{pattern}.{var}")
                    variables[var] = self.text(var_value, var_where)
                    self.builder.check(var, variables[var], var_where)
            for name in names:
                self.builder.add_host(name, group, variables, where)

    def pairs(self, node: Node, path: str) -> list[tuple[Node, Node]]:
        """A mapping's key/value nodes, ``<<`` merge keys applied; null counts as empty."""
        if _is_null(node):
            return []
        if not isinstance(node, MappingNode):
            raise self.where(node, path).error("expected a mapping")
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as e:
            raise self.where(node, path).error(f"bad merge key: {e}") from None
        return list(node.value)

    def key(self, node: Node, path: str) -> str:
        if not isinstance(node, ScalarNode):
            raise self.where(node, path).error("keys must be plain names, not lists or mappings")
        return str(node.value)

    def text(self, node: Node, where: Where) -> str:
        """A variable's value as text: strings verbatim, other YAML values as JSON."""
        try:
            value = self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as e:
            if isinstance(node, ScalarNode):  # a tag only Ansible knows (!vault, !unsafe): keep the text
                return str(node.value)
            raise where.error(f"bad value: {e.problem or e}") from None
        except (yaml.YAMLError, RecursionError) as e:
            raise where.error(f"bad value: {e}") from None
        if isinstance(value, str):
            return value
        if value is None:
            return ""
        try:
            return json.dumps(value, ensure_ascii=False, default=str)
        except (TypeError, ValueError, RecursionError):
            return str(value)


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == _NULL
