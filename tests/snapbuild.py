"""Snapshots for rule tests, built from ``ss``-style text with the real ss parser.

A test reads like the incident: a few ``ss`` rows (or a generator of many), the
sysctls and processes that matter, and which rule with which options.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterable, Sequence
from typing import Any

from netdiag.engine import AnyRule, History, RuleConfig, rules_by_id, run_rules
from netdiag.model import Collection, CommandRun, HostInfo, ParseWarning, Process, Snapshot, Socket
from netdiag.parsers.ss import parse_ss
from netdiag.results import Finding, HostResult, Outcome

T0 = "2025-01-01T00:00:00+00:00"
RANGE = "32768\t60999"


def users(name: str, pid: int, fd: int = 10) -> str:
    return f'users:(("{name}",pid={pid},fd={fd}))'


def row(state: str, local: str, peer: str, recv_q: int = 0, send_q: int = 0, extra: str = "") -> str:
    """One ``ss -tanoep`` row, e.g. ``row("CLOSE-WAIT", "127.0.0.1:5000", "127.0.0.1:40000")``."""
    return f"{state} {recv_q} {send_q} {local} {peer} {extra}".rstrip()


def many(
    n: int,
    state: str,
    local: str,
    peer_addr: str,
    *,
    first_port: int = 40000,
    recv_q: int = 0,
    owner: tuple[str, int] | None = None,
    extra: str = "",
    vary: str = "peer",
) -> list[str]:
    """``n`` rows differing in the peer port (``vary="peer"``) or the local port (``"local"``)."""
    out = []
    for i in range(n):
        fields = [extra]
        if owner is not None:
            fields.append(users(owner[0], owner[1], 100 + i))
        tail = " ".join(f for f in fields if f)
        if vary == "peer":
            out.append(row(state, local, f"{peer_addr}:{first_port + i}", recv_q, 0, tail))
        else:
            host = local.rsplit(":", 1)[0]
            out.append(row(state, f"{host}:{first_port + i}", peer_addr, recv_q, 0, tail))
    return out


def parse_table(lines: Iterable[str]) -> Sequence[Socket]:
    """The rows as ``parse_ss`` gives them: a ``SocketTable``, what rules meet in a real scan."""
    text = "State Recv-Q Send-Q Local Address:Port Peer Address:Port Process\n" + "\n".join(lines)
    parsed = parse_ss(textwrap.dedent(text))
    assert not parsed.warnings, parsed.warnings
    return parsed.records


def parse(lines: Iterable[str]) -> tuple[Socket, ...]:
    return tuple(parse_table(lines))


def snap(
    lines: Iterable[str] = (),
    *,
    host: str = "web1",
    address: str = "10.0.0.1",
    netns: str = "host",
    at: str = T0,
    processes: Sequence[Process] = (),
    sysctls: dict[str, str] | None = None,
    counters: dict[str, dict[str, int]] | None = None,
    sockstat: dict[str, dict[str, int]] | None = None,
    visibility: str = "full",
    source: str = "ss",
    commands: Sequence[CommandRun] = (),
    warnings: Sequence[ParseWarning] = (),
) -> Snapshot:
    base_sysctls = {"net.ipv4.ip_local_port_range": RANGE, "net.core.somaxconn": "4096"}
    return Snapshot(
        host=HostInfo(name=host, address=address, collected_at=at, netns=netns),
        sockets=parse_table(lines),
        processes=tuple(processes),
        sysctls=base_sysctls if sysctls is None else sysctls,
        counters=counters or {},
        sockstat=sockstat or {},
        collection=Collection(
            socket_source=source,
            owner_method="inode match over /proc/<pid>/fd",
            uid=0,
            process_visibility=visibility,
            commands=tuple(commands) or (CommandRun("sockets", "ss -tanoe", "ok"),),
            warnings=tuple(warnings),
        ),
    )


def at(seconds: int) -> str:
    """A collection time ``seconds`` after T0."""
    return f"2025-01-01T00:{seconds // 60:02d}:{seconds % 60:02d}+00:00"


def hosts(*samples: Snapshot, outcome: Outcome = Outcome.OK, message: str | None = None) -> HostResult:
    """One host's result from its samples, oldest first."""
    first = samples[0].host
    return HostResult(first.name, first.address, outcome, message, tuple(samples))


def rule(rule_id: str) -> AnyRule:
    return rules_by_id()[rule_id]


def findings(
    rule_id: str, *results: HostResult | Snapshot, history: History | None = None, **options: Any
) -> list[Finding]:
    """Run one rule (with ``options`` over its defaults) over hosts or single snapshots."""
    r = rule(rule_id)
    cfg = RuleConfig(options={rule_id: r.options(**options)})
    wrapped = [x if isinstance(x, HostResult) else hosts(x) for x in results]
    return run_rules(wrapped, cfg, history, rules=[r])


class FakeHistory:
    """A fixed history: ``{(host, key): [values]}``, timestamps made up, oldest first."""

    def __init__(self, values: dict[tuple[str, str], list[float]]) -> None:
        self.values = values
        self.asked: list[tuple[str, str, str]] = []

    def series(self, host: str, key: str, netns: str = "host", limit: int = 10) -> list[tuple[str, float]]:
        self.asked.append((host, key, netns))
        vals = self.values.get((host, key), [])[-limit:]
        return [(at(i), v) for i, v in enumerate(vals)]
