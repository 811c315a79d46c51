"""The rule engine: finds the rules, runs them over scanned hosts, and never lets one crash the run.

A rule is a module in ``netdiag.rules`` exporting ``RULE = Rule(...)``; the engine
lists them with ``pkgutil`` so adding a rule touches no other file. A rule's
``check(ctx, options)`` yields findings. Host rules see one host's view of one
network namespace (every sample of it, oldest first); fleet rules see them all.
A rule that raises becomes a ``rule_error`` finding (ansible-lint's
RuntimeErrorRule): a traceback would hide every other diagnosis.
"""

from __future__ import annotations

import dataclasses
import importlib
import pkgutil
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Generic, Literal, Protocol, TypeVar

from netdiag.gcpause import gc_paused
from netdiag.model import Snapshot, Socket, TcpState
from netdiag.results import Finding, HostResult, Outcome, Related, Severity
from netdiag.rules import EVIDENCE_LIMIT as EVIDENCE_LIMIT  # socket lines kept per finding
from netdiag.rules import SocketIndex

FLEET = "(fleet)"  # the host named by a fleet rule's error finding


class History(Protocol):
    """Values recorded by earlier scans (issue 6, ``netdiag.history.History``), oldest first.

    Keys are ``netdiag.history``'s metric keys (``close_wait_key``, ``counter_key``...);
    a rule computes the current value with ``netdiag.history.metrics`` so both count alike.
    The series must not yet hold the scan being analysed: rules append the current value.
    """

    def series(self, host: str, key: str, netns: str = "host", limit: int = 10) -> list[tuple[str, float]]:
        """``(ISO 8601 time, value)`` pairs of earlier scans of ``host``, oldest first."""
        ...


Ctx = TypeVar("Ctx")
Opts = TypeVar("Opts")


def option(default: Any, help: str) -> Any:
    """An options-dataclass field with the one-line description ``netdiag rules`` shows."""
    return field(default=default, metadata={"help": help})


@dataclass(frozen=True, slots=True)
class Rule(Generic[Ctx, Opts]):
    """A rule's declaration; its module docstring is the user documentation (``doc``)."""

    id: str
    title: str
    severity: Severity  # the usual severity; a finding may escalate or lower it
    explanation: str  # what the symptom means, two or three sentences
    remedy: str
    options: type[Opts]  # a dataclass: names, types, defaults
    check: Callable[[Ctx, Opts], Iterable[Finding]]
    scope: Literal["host", "fleet"] = "host"
    doc: str = ""

    def option_fields(self) -> tuple[dataclasses.Field[Any], ...]:
        return dataclasses.fields(self.options)  # type: ignore[arg-type]


AnyRule = Rule[Any, Any]


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """Which rules run and with which options; absent rules run with their defaults."""

    options: Mapping[str, Any] = field(default_factory=dict)  # rule id -> options instance
    disabled: frozenset[str] = frozenset()

    def enabled(self, rule_id: str) -> bool:
        return rule_id not in self.disabled

    def options_for(self, rule: AnyRule) -> Any:
        found = self.options.get(rule.id)
        return rule.options() if found is None else found


@dataclass(frozen=True, slots=True)
class HostContext:
    """One host's view of one network namespace: its samples, oldest first."""

    host: str  # inventory name
    samples: tuple[Snapshot, ...]
    outcome: Outcome = Outcome.OK
    message: str | None = None
    history: History | None = None
    # Each sample's SocketIndex, built on first use and shared by every rule run on this context.
    indexes: dict[int, SocketIndex] = field(default_factory=dict, compare=False, repr=False)

    @property
    def latest(self) -> Snapshot:
        return self.samples[-1]

    def index(self, snap: Snapshot | None = None) -> SocketIndex:
        """``snap``'s sockets by state and its own addresses (default: the latest sample)."""
        snap = self.latest if snap is None else snap
        found = self.indexes.get(id(snap))  # the samples are held here, so their ids stay theirs
        if found is None or found.snapshot is not snap:
            found = self.indexes[id(snap)] = SocketIndex(snap)
        return found

    @property
    def earliest(self) -> Snapshot:
        return self.samples[0]

    @property
    def netns(self) -> str | None:
        ns = self.latest.host.netns
        return None if ns == "host" else ns

    @property
    def label(self) -> str:
        """The host as a person names it, with the namespace when it is not the root one."""
        return self.host if self.netns is None else f"{self.host}[{self.netns}]"

    def sampled_seconds(self) -> float | None:
        """Time between the first and the last sample, when both carry a time."""
        return seconds_between(self.earliest.host.collected_at, self.latest.host.collected_at)

    def series(self, key: str, limit: int = 10) -> list[tuple[str, float]]:
        """Recorded history of this host and namespace; empty without history."""
        if self.history is None:
            return []
        return self.history.series(self.host, key, self.latest.host.netns, limit)

    def finding(
        self,
        rule: AnyRule,
        *,
        message: str,
        severity: Severity | None = None,
        process: str | None = None,
        pid: int | None = None,
        local: str | None = None,
        peer: str | None = None,
        value: float | None = None,
        threshold: float | None = None,
        evidence: Sequence[Socket | str] = (),
        evidence_total: int | None = None,
        related: Sequence[Related] = (),
        confidence: str = "high",
        explanation: str | None = None,
        remedy: str | None = None,
        series: Sequence[float] = (),
    ) -> Finding:
        """A finding of ``rule`` on this host; evidence is bounded and rendered like ``ss`` rows."""
        return Finding(
            rule=rule.id,
            severity=rule.severity if severity is None else severity,
            host=self.host,
            message=message,
            explanation=rule.explanation if explanation is None else explanation,
            remedy=rule.remedy if remedy is None else remedy,
            process=process,
            pid=pid,
            local=local,
            peer=peer,
            value=value,
            threshold=threshold,
            evidence=tuple(render_evidence(evidence[:EVIDENCE_LIMIT])),
            evidence_total=len(evidence) if evidence_total is None else evidence_total,
            related=tuple(related),
            confidence=confidence,
            netns=self.netns,
            series=tuple(series),
        )


@dataclass(frozen=True, slots=True)
class FleetContext:
    """Every scanned host's views, for rules that pair sockets across hosts."""

    hosts: tuple[HostContext, ...]
    history: History | None = None


# -- rendering evidence -------------------------------------------------------

_SS_STATE = {
    "ESTABLISHED": "ESTAB",
    "FIN_WAIT1": "FIN-WAIT-1",
    "FIN_WAIT2": "FIN-WAIT-2",
    "CLOSE": "UNCONN",
}
# By the state's value (a plain attribute read: an enum's hash and ``.value`` are Python calls).
_STATE_TEXT = {s._value_: _SS_STATE.get(s.value, s.value.replace("_", "-")) for s in TcpState}


def render_socket(s: Socket) -> str:
    """A socket as an ``ss -tanoep`` row, so evidence reads like what an engineer would type."""
    line = f"{_STATE_TEXT[s.state._value_]:<11} {s.recv_q:<6} {s.send_q:<6} {s.local!s:<23} {s.peer!s:<23}"
    timer = s.timer
    if timer is not None:
        remaining = "" if timer.remaining is None else f"{timer.remaining:g}sec"
        line += f" timer:({timer.kind},{remaining},{timer.retrans})"
    if s.owners:
        users = ",".join(f'("{o.name or "?"}",pid={o.pid},fd={o.fd})' for o in s.owners)
        line += f" users:({users})"
    return line.rstrip()


def render_evidence(items: Iterable[Socket | str]) -> list[str]:
    return [x if isinstance(x, str) else render_socket(x) for x in items]


def seconds_between(start: str, end: str) -> float | None:
    try:
        return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
    except ValueError:
        return None


# -- discovery -----------------------------------------------------------------


@cache
def all_rules() -> tuple[AnyRule, ...]:
    """Every rule module in ``netdiag.rules`` (``_private`` modules skipped), sorted by id.

    A module's name is its rule's id, so a rule can be found from either.
    """
    import netdiag.rules as package  # here, not at the top: rule modules import this module

    found: list[AnyRule] = []
    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.ispkg:
            continue
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        rule = getattr(module, "RULE", None)
        if not isinstance(rule, Rule):
            raise TypeError(f"{module.__name__} does not export RULE = Rule(...)")
        if rule.id != info.name:
            raise ValueError(f"{module.__name__}: RULE.id {rule.id!r} differs from the module name")
        if not dataclasses.is_dataclass(rule.options):
            raise TypeError(f"{module.__name__}: RULE.options is not a dataclass")
        found.append(dataclasses.replace(rule, doc=rule.doc or (module.__doc__ or "").strip()))
    return tuple(sorted(found, key=lambda r: r.id))


def rules_by_id() -> dict[str, AnyRule]:
    return {r.id: r for r in all_rules()}


# -- running -------------------------------------------------------------------


def host_contexts(hosts: Iterable[HostResult], history: History | None = None) -> list[HostContext]:
    """One context per scanned host and network namespace; unscanned hosts have nothing to analyse."""
    contexts = []
    for h in hosts:
        if not h.outcome.scanned or not h.samples:
            continue
        for samples in h.by_netns().values():
            contexts.append(HostContext(h.name, samples, h.outcome, h.message, history))
    return contexts


def run_rules(
    hosts: Sequence[HostResult],
    config: RuleConfig | None = None,
    history: History | None = None,
    rules: Sequence[AnyRule] | None = None,
) -> list[Finding]:
    """Every enabled rule over every scanned host; most severe first, then host, rule."""
    config = RuleConfig() if config is None else config
    contexts = host_contexts(hosts, history)
    findings: list[Finding] = []
    with gc_paused():
        for rule in all_rules() if rules is None else rules:
            if not config.enabled(rule.id):
                continue
            opts = config.options_for(rule)
            if rule.scope == "fleet":
                findings.extend(_run_one(rule, FleetContext(tuple(contexts), history), opts, FLEET, None))
            else:
                for ctx in contexts:
                    findings.extend(_run_one(rule, ctx, opts, ctx.host, ctx.netns))
        del contexts  # and their indexes, by reference counting: the next collection need not walk them
    return sorted(findings, key=finding_order)


def finding_order(f: Finding) -> tuple[Any, ...]:
    return (-f.severity, f.host, f.rule, f.netns or "", f.local or "", -(f.value or 0), f.message)


def _run_one(rule: AnyRule, ctx: Any, opts: Any, host: str, netns: str | None) -> list[Finding]:
    """The rule's findings; an exception is kept as a finding together with what came before it."""
    out: list[Finding] = []
    try:
        out.extend(rule.check(ctx, opts))
    except Exception as exc:  # any bug in a rule must become a finding, not a traceback
        out.append(rule_error(rule.id, host, netns, exc))
    return out


def rule_error(rule_id: str, host: str, netns: str | None, exc: BaseException) -> Finding:
    where = ""
    frames = traceback.extract_tb(exc.__traceback__)
    if frames:
        last = frames[-1]
        where = f" at {Path(last.filename).name}:{last.lineno}"
    return Finding(
        rule="rule_error",
        severity=Severity.WARNING,
        host=host,
        netns=netns,
        message=f"rule {rule_id} failed: {type(exc).__name__}: {exc}{where}",
        explanation=(
            f"The rule {rule_id} raised an error, so its diagnosis for this host is missing: "
            "the host is not known to be free of what that rule looks for."
        ),
        remedy=(
            "Report it as a netdiag bug with the snapshot attached (netdiag collect -o FILE); "
            f"meanwhile `--disable {rule_id}` silences it."
        ),
        confidence="high",
    )
