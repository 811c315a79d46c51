"""cross_host_leak: both halves of leaked connections are in the scan: one finding names both ends.

A connection leaked on host A sits there in CLOSE_WAIT; its other half on host B,
which closed first, sits in FIN_WAIT_2 until it times out and then is gone. When
both hosts are in the scan the two symptoms (close_wait_leak on A,
fin_wait2_pileup on B) are one fault: "A's nginx is not closing connections from
B's envoy". Hosts (and network namespaces, which count as hosts here) are known by
the addresses on their sockets and the address they were scanned at; loopback
addresses never match across them.

For each CLOSE_WAIT on A whose peer address belongs to another scanned host B, B's
socket with the reversed 4-tuple is looked up: FIN_WAIT_2 or no socket at all pairs
it (any other state means the peer reused the port: not this fault). A missing half
pairs only when a single scanned host has that address. The process on B is the
FIN_WAIT_2 owner, or else the one holding other connections to A's endpoint
(confidence medium). Fires at ``threshold`` paired sockets per process pair, as a
warning; critical at ``critical_factor`` times the threshold. The finding is
reported on A, where the fix is, with B's side as ``related``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import FleetContext, HostContext, Rule, option, render_socket
from netdiag.model import Endpoint, Socket, TcpState
from netdiag.results import Finding, Related, Severity
from netdiag.rules import (
    Culprit,
    addr_key,
    culprit,
    is_loopback,
    most_common,
    process_names,
    reversed4,
    top,
    tuple4,
)

Tuple4 = tuple[str, int | None, str, int | None]


@dataclass(frozen=True, slots=True)
class Options:
    # A CLOSE_WAIT caught mid-close can pair with a FIN_WAIT_2 on a healthy pair of hosts;
    # ten paired from one client process are a pattern, not a moment.
    threshold: int = option(10, "paired CLOSE_WAIT sockets between two processes that fire")
    # 4x, as close_wait_leak.
    critical_factor: float = option(4.0, "critical at this many times the threshold")


@dataclass(slots=True)
class _Pairing:
    a_sockets: list[Socket]
    b_halves: list[Socket]
    gone: int = 0


def _own_addresses(ctx: HostContext) -> set[str]:
    return {a for a in ctx.index().local_addresses() if not is_loopback(a)}


def _b_process(
    b: HostContext, halves: list[Socket], a_local: set[tuple[str, int | None]]
) -> tuple[Culprit | None, bool]:
    """B's process and whether it is certain (a FIN_WAIT_2 owner) or inferred."""
    snap = b.latest
    names = process_names(snap)
    owned = top((c for s in halves if (c := culprit(s, snap, names)).known), 1)
    if owned:
        return owned[0][0], True
    others = top(
        (
            c
            for s in snap.sockets
            if (addr_key(s.peer), s.peer.port) in a_local and (c := culprit(s, snap, names)).known
        ),
        1,
    )
    return (others[0][0], False) if others else (None, False)


def check(fleet: FleetContext, opts: Options) -> Iterator[Finding]:
    nodes = fleet.hosts
    owners_of: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for address in _own_addresses(node):
            owners_of.setdefault(address, []).append(i)
    tables: dict[int, dict[Tuple4, Socket]] = {}

    def table(i: int) -> dict[Tuple4, Socket]:
        if i not in tables:
            tables[i] = {tuple4(s): s for s in nodes[i].latest.sockets if s.state is not TcpState.LISTEN}
        return tables[i]

    for ai, a in enumerate(nodes):
        snap = a.latest
        names = process_names(snap)
        pairs: dict[tuple[Culprit, int], _Pairing] = {}
        for s in a.index().in_state(TcpState.CLOSE_WAIT):
            candidates = [i for i in owners_of.get(addr_key(s.peer), ()) if i != ai]
            if not candidates:
                continue
            other = reversed4(s)
            found = [(i, h) for i in candidates if (h := table(i).get(other)) is not None]
            halves = [(i, h) for i, h in found if h.state is TcpState.FIN_WAIT2]
            if halves:
                bi, half = halves[0]
                p = pairs.setdefault((culprit(s, snap, names), bi), _Pairing([], []))
                p.a_sockets.append(s)
                p.b_halves.append(half)
            elif not found and len(candidates) == 1:
                p = pairs.setdefault((culprit(s, snap, names), candidates[0]), _Pairing([], []))
                p.a_sockets.append(s)
                p.gone += 1
        for (ac, bi), p in sorted(pairs.items(), key=lambda kv: -len(kv[1].a_sockets)):
            n = len(p.a_sockets)
            if n < opts.threshold:
                continue
            b = nodes[bi]
            a_local = {(addr_key(s.local), s.local.port) for s in p.a_sockets}
            bc, certain = _b_process(b, p.b_halves, a_local)
            a_name = f"{ac.name} (pid {ac.pid})" if ac.known else f"process on port {ac.port}"
            b_name = f"{bc.name} (pid {bc.pid})" if bc is not None else "client (process unknown)"
            local = most_common(str(s.local) for s in p.a_sockets) or "?"
            b_addr = most_common(addr_key(s.peer) for s in p.a_sockets) or "?"
            b_ports = {s.peer.port for s in p.a_sockets}
            peer = str(Endpoint(b_addr, b_ports.pop() if len(b_ports) == 1 else None))
            how = []
            if p.b_halves:
                how.append(f"{len(p.b_halves)} still in FIN_WAIT_2 on {b.label}")
            if p.gone:
                how.append(f"{p.gone} already gone there (FIN_WAIT_2 timed out)")
            message = (
                f"{a.label}'s {a_name} is not closing connections from {b.label}'s {b_name}: "
                f"{n} CLOSE_WAIT sockets on {local} (threshold {opts.threshold}), their other half "
                + " and ".join(how)
            )
            if not certain and bc is not None:
                message += f"; {bc.name} inferred from its other connections to {local}"
            evidence: list[str] = []
            halves_by_tuple = {tuple4(h): h for h in p.b_halves}
            for s in sorted(p.a_sockets, key=lambda x: str(x.peer)):
                evidence.append(f"{a.label}: {render_socket(s)}")
                b_half = halves_by_tuple.get(reversed4(s))
                if b_half is not None:
                    evidence.append(f"{b.label}: {render_socket(b_half)}")
            severe = n >= opts.critical_factor * opts.threshold
            yield a.finding(
                RULE,
                severity=Severity.CRITICAL if severe else Severity.WARNING,
                message=message,
                process=ac.name,
                pid=ac.pid,
                local=local,
                peer=peer,
                value=n,
                threshold=opts.threshold,
                evidence=evidence,
                related=[Related(b.label, bc.name if bc else None, bc.pid if bc else None)],
                confidence="high" if ac.known and certain else "medium",
            )


RULE = Rule(
    id="cross_host_leak",
    title="Leaked connections seen from both ends",
    severity=Severity.WARNING,
    explanation=(
        "The peer closed these connections and the local process never did: here they sit in "
        "CLOSE_WAIT, on the peer in FIN_WAIT_2 or already expired. The fault is the local process; "
        "the peer's FIN_WAIT_2 pile and any timeouts it sees are the consequence."
    ),
    remedy=(
        "Fix the missing close() in the named local process (see close_wait_leak); the peer needs "
        "no change, its FIN_WAIT_2 sockets clear once the local side closes."
    ),
    options=Options,
    check=check,
    scope="fleet",
)
