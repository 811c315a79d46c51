"""orphan_sockets: orphaned TCP sockets approach ``tcp_max_orphans``.

An orphan is a socket its process has closed that the kernel is still finishing
(FIN_WAIT_1, FIN_WAIT_2, CLOSING, LAST_ACK). ``/proc/net/sockstat`` counts them;
beyond ``net.ipv4.tcp_max_orphans`` the kernel resets new orphans at once and logs
"too many orphaned sockets", so peers see connection resets instead of a clean close.

Fires at ``warn_share`` of the limit (warning), critical at ``critical_share``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.model import TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import sorted_rows, take, top

ORPHAN_STATES = frozenset({TcpState.FIN_WAIT1, TcpState.FIN_WAIT2, TcpState.CLOSING, TcpState.LAST_ACK})


@dataclass(frozen=True, slots=True)
class Options:
    # 80% and 95% are the common warning and critical shares (issue 4); the limit is sized
    # from memory at boot, so reaching most of it means the peers are not finishing closes.
    warn_share: float = option(0.8, "share of tcp_max_orphans that warns")
    critical_share: float = option(0.95, "share that is critical")


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    orphans = snap.sockstat.get("TCP", {}).get("orphan")
    limit = snap.sysctl_int("net.ipv4.tcp_max_orphans")
    if orphans is None or not limit:
        return
    fire_at = max(1, math.ceil(opts.warn_share * limit))
    if orphans < fire_at:
        return
    # Which sockets: only certain when owners were visible for every process.
    seen: list[int] = []  # rows
    index = ctx.index()
    if snap.collection.process_visibility == "full":
        owned = index.columns.owners
        rows = sorted(r for state in ORPHAN_STATES for r in index.rows(state))
        seen = [r for r in rows if r not in owned]
    message = (
        f"{orphans} orphaned TCP sockets against net.ipv4.tcp_max_orphans {limit} "
        f"(warns at {fire_at}): past the limit the kernel resets connections instead of closing them"
    )
    if seen:
        peers = top(index.keys(take(index.columns.peer_address, seen)))
        message += "; mostly toward " + ", ".join(f"{a} ({k})" for a, k in peers)
    yield ctx.finding(
        RULE,
        severity=Severity.CRITICAL if orphans >= opts.critical_share * limit else Severity.WARNING,
        message=message,
        value=orphans,
        threshold=fire_at,
        evidence=index.columns.rows(sorted_rows(index.columns, seen)),
        evidence_total=len(seen),
    )


RULE = Rule(
    id="orphan_sockets",
    title="Orphaned sockets near tcp_max_orphans",
    severity=Severity.WARNING,
    explanation=(
        "Orphans are connections their processes already closed that the kernel is still shutting "
        "down, usually waiting on peers that do not answer the FIN. Near tcp_max_orphans the kernel "
        "starts resetting connections and logs 'too many orphaned sockets'."
    ),
    remedy=(
        "Find the peers holding them (the top peers above; fin_wait2_pileup names them) and why they "
        "do not close; lowering tcp_fin_timeout shortens FIN_WAIT_2 orphans' lives, raising "
        "tcp_max_orphans costs up to 64 kB of memory each."
    ),
    options=Options,
    check=check,
)
