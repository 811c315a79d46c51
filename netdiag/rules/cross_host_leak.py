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
from itertools import compress

from netdiag.engine import FleetContext, HostContext, Rule, option, render_socket
from netdiag.model import Endpoint, Socket, TcpState
from netdiag.results import Finding, Related, Severity
from netdiag.rules import (
    Culprit,
    SocketIndex,
    Tuple4,
    addr_key,
    culprit,
    culprit_of,
    is_loopback,
    most_common,
    reversed4,
    take,
    top,
    tuple4,
)


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


def _rows_by_tuple(index: SocketIndex, wanted: set[Tuple4]) -> dict[Tuple4, int]:
    """The row of each ``wanted`` 4-tuple among the non-LISTEN sockets (the last, if several)."""
    cols = index.columns
    ports = {t[1] for t in wanted}
    near = list(compress(range(len(cols)), map(ports.__contains__, cols.local_port)))
    found: dict[Tuple4, int] = {}
    tuples = zip(
        index.keys(take(cols.local_address, near)),
        take(cols.local_port, near),
        index.keys(take(cols.peer_address, near)),
        take(cols.peer_port, near),
        strict=True,
    )
    for row, t in zip(near, tuples, strict=True):
        if t in wanted and cols.state[row] is not TcpState.LISTEN:
            found[t] = row
    return found


def _b_process(
    b: HostContext, halves: list[Socket], a_local: set[tuple[str, int | None]]
) -> tuple[Culprit | None, bool]:
    """B's process and whether it is certain (a FIN_WAIT_2 owner) or inferred."""
    snap = b.latest
    index = b.index()
    names = index.names()
    owned = top((c for s in halves if (c := culprit(s, snap, names)).known), 1)
    if owned:
        return owned[0][0], True
    cols = index.columns
    ports = {p for _, p in a_local}
    rows = [r for r in cols.owners if cols.peer_port[r] in ports]  # only an owned socket has a known culprit
    keys = index.keys(take(cols.peer_address, rows))
    others = top(
        (
            c
            for r, k in zip(rows, keys, strict=True)
            if (k, cols.peer_port[r]) in a_local
            and (c := culprit_of(cols.owners[r], cols.local_port[r], names)).known
        ),
        1,
    )
    return (others[0][0], False) if others else (None, False)


def check(fleet: FleetContext, opts: Options) -> Iterator[Finding]:
    nodes = fleet.hosts
    if len(nodes) < 2:
        return  # the other half must be on another scanned host
    owners_of: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        for address in _own_addresses(node):
            owners_of.setdefault(address, []).append(i)

    for ai, a in enumerate(nodes):
        snap = a.latest
        index = a.index()
        names = index.names()
        foreign = {k: others for k, v in owners_of.items() if (others := [i for i in v if i != ai])}
        rows = index.rows(TcpState.CLOSE_WAIT)
        keys = index.peer_keys(TcpState.CLOSE_WAIT)
        positions = list(compress(range(len(rows)), map(foreign.__contains__, keys)))
        if not positions:
            continue
        tuples = index.tuples(TcpState.CLOSE_WAIT)
        wanted: dict[int, set[Tuple4]] = {}
        for pos in positions:
            la, lp, pa, pp = tuples[pos]
            for i in foreign[keys[pos]]:
                wanted.setdefault(i, set()).add((pa, pp, la, lp))
        found_rows = {i: _rows_by_tuple(nodes[i].index(), w) for i, w in wanted.items()}
        pairs: dict[tuple[Culprit, int], _Pairing] = {}
        for pos, s in zip(positions, index.columns.rows(take(rows, positions)), strict=True):
            candidates = foreign[keys[pos]]
            la, lp, pa, pp = tuples[pos]
            other = (pa, pp, la, lp)
            found = [(i, r) for i in candidates if (r := found_rows[i].get(other)) is not None]
            halves = [(i, r) for i, r in found if nodes[i].index().columns.state[r] is TcpState.FIN_WAIT2]
            if halves:
                bi, row = halves[0]
                half = nodes[bi].index().columns.rows([row])[0]
                pairing = pairs.setdefault((culprit(s, snap, names), bi), _Pairing([], []))
                pairing.a_sockets.append(s)
                pairing.b_halves.append(half)
            elif not found and len(candidates) == 1:
                pairing = pairs.setdefault((culprit(s, snap, names), candidates[0]), _Pairing([], []))
                pairing.a_sockets.append(s)
                pairing.gone += 1
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
