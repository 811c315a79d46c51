"""Ansible connection variables: checked where they are written, turned into ``Target`` fields.

Only the variables netdiag acts on are interpreted; every other variable is
carried along verbatim as text in ``Target.vars``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from netdiag.inventory.address import parse_port
from netdiag.inventory.model import Target

# Each field's variable names, the preferred spelling first (the others are Ansible's older aliases).
HOST_VARS = ("ansible_host", "ansible_ssh_host")
PORT_VARS = ("ansible_port", "ansible_ssh_port")
USER_VARS = ("ansible_user", "ansible_ssh_user")
KEY_VARS = ("ansible_ssh_private_key_file", "ansible_private_key_file")
CONNECTION_VARS = ("ansible_connection",)
BECOME_VARS = ("ansible_become",)
PRIORITY_VAR = "ansible_group_priority"
CONNECTION_KEYS = frozenset(HOST_VARS + PORT_VARS + USER_VARS + KEY_VARS + CONNECTION_VARS + BECOME_VARS)

# Vars that say *which* machine and as whom: a host given two different values of one is an error.
IDENTITY_VARS = frozenset(HOST_VARS + PORT_VARS + USER_VARS)

_CONNECTIONS = {
    "local": "local",
    "ssh": "ssh",
    "smart": "ssh",  # Ansible's default, which means ssh
    "paramiko": "ssh",
    "paramiko_ssh": "ssh",
}
_TRUE = frozenset({"yes", "on", "1", "true", "t", "y"})
_FALSE = frozenset({"no", "off", "0", "false", "f", "n"})
# Without an explicit connection, these names are this machine (Ansible's implicit localhost).
LOCAL_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def check_var(key: str, value: str) -> None:
    """Raise ValueError if ``value`` is unusable for a connection variable; other keys pass."""
    if not key or any(ch.isspace() for ch in key):
        raise ValueError(f"bad variable name {key!r}")
    if key in CONNECTION_KEYS and value == "":
        raise ValueError(f"{key} is empty")
    if key in PORT_VARS:
        parse_port(value)
    elif key in CONNECTION_VARS:
        _connection(value)
    elif key in BECOME_VARS:
        _boolean(key, value)
    elif key == PRIORITY_VAR and not re.fullmatch(r"-?[0-9]{1,9}", value):
        raise ValueError(f"{key}={value!r} is not an integer")


def make_target(name: str, merged: Mapping[str, str], groups: tuple[str, ...]) -> Target:
    """A Target from a host's effective variables (already checked by ``check_var``)."""
    host = _first(merged, HOST_VARS)
    port_text = _first(merged, PORT_VARS)
    user = _first(merged, USER_VARS)
    connection_text = _first(merged, CONNECTION_VARS)
    become_text = _first(merged, BECOME_VARS)
    port = None if port_text is None else parse_port(port_text)
    if connection_text is not None:
        connection = _connection(connection_text)
    elif (host if host is not None else name) in LOCAL_NAMES and port is None and user is None:
        connection = "local"
    else:
        connection = "ssh"
    return Target(
        name=name,
        host=host,
        port=port,
        user=user,
        key_file=_first(merged, KEY_VARS),
        connection=connection,
        become=None if become_text is None else _boolean("ansible_become", become_text),
        groups=groups,
        vars=tuple(sorted((k, v) for k, v in merged.items() if k not in CONNECTION_KEYS)),
    )


def _first(merged: Mapping[str, str], keys: tuple[str, ...]) -> str | None:
    for key in keys:
        if key in merged:
            return merged[key]
    return None


def _connection(value: str) -> str:
    short = value.removeprefix("ansible.builtin.")
    if short not in _CONNECTIONS:
        raise ValueError(f"ansible_connection={value!r} is not supported (netdiag connects by ssh or local)")
    return _CONNECTIONS[short]


def _boolean(key: str, value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{key}={value!r} is not a boolean (use true or false)")
