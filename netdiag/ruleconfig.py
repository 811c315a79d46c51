"""Rule thresholds and switches: defaults, then config files, then the command line.

Layers, later ones winning: each rule's option defaults; ``/etc/netdiag/netdiag.cfg``;
``$XDG_CONFIG_HOME/netdiag/netdiag.cfg`` (``~/.config/...``); ``--config FILE``;
``--set RULE.PARAM=VALUE``; ``--disable RULE``. In a config file a rule is a section::

    [rule:close_wait_leak]
    threshold = 80
    enabled = false

Other sections (``[smtp]``, ``[history]``) belong to other parts of netdiag and are
left alone here. An unknown rule or parameter, or a value of the wrong type, is an
error naming the rule and parameter (and ``file: [section]``), never ignored: a
misspelt threshold silently left at its default is how alerts go missing.
"""

from __future__ import annotations

import configparser
import dataclasses
import functools
import os
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from netdiag.engine import AnyRule, RuleConfig, rules_by_id

SYSTEM_CONFIG = Path("/etc/netdiag/netdiag.cfg")
RULE_SECTION = "rule:"
ENABLED = "enabled"

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

R = TypeVar("R")


class ConfigError(ValueError):
    """A bad rule setting; the text names where it came from, the rule and the parameter."""


def user_config_path(environ: Mapping[str, str] | None = None) -> Path:
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "netdiag" / "netdiag.cfg"


def config_paths(explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> list[Path]:
    """The config files to read, in order: the system and user files that exist, then ``--config``."""
    found = [p for p in (SYSTEM_CONFIG, user_config_path(environ)) if p.is_file()]
    return [*found, explicit] if explicit is not None else found


def parse_bool(text: str) -> bool:
    low = text.strip().lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (use true or false)")


def convert(rule: AnyRule, name: str, text: str) -> Any:
    """``text`` as the option's declared type; ValueError says what was expected."""
    kind = typing.get_type_hints(rule.options)[name]
    text = text.strip()
    if kind is bool:
        return parse_bool(text)
    if kind is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a whole number") from None
    if kind is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"{text!r} is not a number") from None
    if kind is str:
        return text
    raise TypeError(f"option {rule.id}.{name} has unsupported type {kind!r}")  # a rule's bug


def check_value(name: str, value: Any) -> None:
    """What every rule's numbers share: none is negative, a ``*_share`` is a fraction of 1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return
    if value < 0:
        raise ValueError(f"{value!r} is negative")
    if name.endswith("_share") and not 0 < value <= 1:
        raise ValueError(f"{value!r} is not a share between 0 and 1 (0.8 means 80%)")


class _Builder:
    """Accumulates settings layer by layer, checking each where it is made.

    The rules are looked up only when a setting names one: a plain ``netdiag scan``
    (no rule section, ``--set`` or ``--disable``) starts connecting without first
    importing every rule module, which then loads while the hosts answer.
    """

    def __init__(self, rules: Callable[[], Mapping[str, AnyRule]]) -> None:
        self._rules = rules
        self.options: dict[str, Any] = {}
        self.disabled: set[str] = set()

    @functools.cached_property
    def rules(self) -> Mapping[str, AnyRule]:
        return self._rules()

    def rule(self, rule_id: str, where: str) -> AnyRule:
        rule = self.rules.get(rule_id)
        if rule is None:
            known = ", ".join(sorted(self.rules))
            raise ConfigError(f"{where}unknown rule {rule_id!r} (known rules: {known})")
        return rule

    def set(self, rule_id: str, name: str, text: str, where: str) -> None:
        rule = self.rule(rule_id, where)
        name = name.strip()
        if name == ENABLED:
            try:
                on = parse_bool(text)
            except ValueError as e:
                raise ConfigError(f"{where}rule {rule_id}, parameter {name}: {e}") from None
            (self.disabled.discard if on else self.disabled.add)(rule_id)
            return
        fields = {f.name for f in rule.option_fields()}
        if name not in fields:
            known = ", ".join([*sorted(fields), ENABLED])
            raise ConfigError(f"{where}rule {rule_id} has no parameter {name!r} (its parameters: {known})")
        try:
            value = convert(rule, name, text)
            check_value(name, value)
            current = self.options.get(rule_id) or rule.options()
            self.options[rule_id] = dataclasses.replace(current, **{name: value})
        except ValueError as e:
            raise ConfigError(f"{where}rule {rule_id}, parameter {name}: {e}") from None

    def read_file(self, path: Path) -> None:
        parser = configparser.ConfigParser(interpolation=None, default_section="\0none")
        try:
            with path.open(encoding="utf-8") as fh:
                parser.read_file(fh)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
        except (configparser.Error, UnicodeDecodeError) as e:
            raise ConfigError(f"{path}: not a valid config file: {e}") from None
        for section in parser.sections():
            if not section.startswith(RULE_SECTION):
                continue
            rule_id = section[len(RULE_SECTION) :].strip()
            where = f"{path}: [{section}]: "
            self.rule(rule_id, where)
            for name, text in parser.items(section):
                self.set(rule_id, name, text, where)

    def build(self) -> RuleConfig:
        return RuleConfig(options=dict(self.options), disabled=frozenset(self.disabled))


def load_rule_config(
    files: Iterable[Path] = (),
    sets: Sequence[str] = (),
    disable: Sequence[str] = (),
    rules: Mapping[str, AnyRule] | None = None,
) -> RuleConfig:
    """Defaults, then each file in order, then ``--set`` items, then ``--disable``."""
    b = _Builder(rules_by_id if rules is None else lambda: rules)
    for path in files:
        b.read_file(path)
    for item in sets:
        where = f"--set {item}: "
        target, eq, text = item.partition("=")
        rule_id, dot, name = target.partition(".")
        if not eq or not dot or not rule_id.strip() or not name.strip():
            raise ConfigError(f"{where}expected RULE.PARAM=VALUE, e.g. close_wait_leak.threshold=80")
        b.set(rule_id.strip(), name, text, where)
    for rule_id in disable:
        b.rule(rule_id.strip(), f"--disable {rule_id}: ")
        b.disabled.add(rule_id.strip())
    return b.build()


def rule_options(f: Callable[..., R]) -> Callable[..., R]:
    """``--config``, ``--set`` and ``--disable`` for a command, handed to it as ``rule_config``.

    Shared by ``scan`` and ``analyze`` (pip-tools' reusable options): the decorated
    function receives one ``rule_config: RuleConfig`` instead of the three options.
    """

    @click.option(
        "--config",
        "config_file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Read rule settings from this file too (after /etc/netdiag/netdiag.cfg and "
        "~/.config/netdiag/netdiag.cfg).",
    )
    @click.option(
        "--set",
        "settings",
        multiple=True,
        metavar="RULE.PARAM=VALUE",
        help="Set a rule parameter, e.g. close_wait_leak.threshold=80 (repeatable).",
    )
    @click.option(
        "--disable", "disabled", multiple=True, metavar="RULE", help="Do not run RULE (repeatable)."
    )
    @functools.wraps(f)
    def wrapper(
        *args: Any,
        config_file: Path | None,
        settings: tuple[str, ...],
        disabled: tuple[str, ...],
        **kwargs: Any,
    ) -> R:
        try:
            config = load_rule_config(config_paths(config_file), settings, disabled)
        except ConfigError as e:
            raise click.UsageError(str(e)) from None
        return f(*args, rule_config=config, **kwargs)

    return wrapper
