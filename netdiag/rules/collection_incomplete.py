"""collection_incomplete: the snapshot lacks sources or process visibility, so silence is not health.

Every other rule can only judge what was collected. When a source was missing,
failed or denied, when process information was not (fully) visible (not root), when
the socket source cannot tell accept-queue backlogs (netstat, /proc), or when lines
could not be parsed, this rule says so, so a host is never given a clean bill of
health on partial data.

One finding per host view, listing every gap: a warning when the socket list itself
is missing (nothing about sockets can be said), info otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from itertools import compress

from netdiag.engine import HostContext, Rule, option
from netdiag.model import TcpState
from netdiag.results import Finding, Outcome, Severity
from netdiag.rules import Columns, take

SOCKET_SECTIONS = frozenset({"sockets", "ss", "netstat", "proc_tcp"})


@dataclass(frozen=True, slots=True)
class Options:
    # Any unread line is data no rule saw; hosts with a known harmless quirk can raise this.
    max_parse_warnings: int = option(0, "parse warnings tolerated before reporting them")
    # Empty: every missing source matters until someone decides a host class lacks it.
    ignore_sources: str = option("", "comma-separated sources whose absence is expected")


_OWNERLESS = (TcpState.TIME_WAIT, TcpState.SYN_RECV, TcpState.NEW_SYN_RECV)


def _held(cols: Columns) -> tuple[int, int]:
    """(process-held sockets, those of them without a known owner), in C loops over a million.

    Held: not in an ownerless state and, where the source gives inodes, with one.
    States are counted with ``list.count`` (identity tests), never hashed.
    """
    inodes = cols.inode
    with_inode = any(inodes)
    states = list(compress(cols.state, inodes)) if with_inode else list(cols.state)
    held = len(states) - sum(map(states.count, _OWNERLESS))
    owned = list(cols.owners)  # rows with owners
    if with_inode:
        owned = list(compress(owned, take(inodes, owned)))
    owned_states = take(cols.state, owned)
    owned_held = len(owned_states) - sum(map(owned_states.count, _OWNERLESS))
    return held, held - owned_held


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    coll = snap.collection
    ignored = {x.strip() for x in opts.ignore_sources.split(",") if x.strip()}
    gaps: list[str] = []
    no_sockets = not coll.socket_source
    for run in coll.commands:
        if run.status == "ok" or run.name in ignored:
            continue
        if run.name in SOCKET_SECTIONS and not coll.socket_source:
            no_sockets = True
        detail = f": {run.detail}" if run.detail else ""
        gaps.append(f"source {run.name} {run.status} ({run.command}){detail}")
    if no_sockets:
        gaps.insert(0, "no socket listing: nothing can be said about this host's sockets")
    # TIME_WAIT, request and orphaned sockets belong to no process (no inode), so a missing
    # owner there is no gap in what we saw; where the source gives no inodes, assume held.
    held, unknown = _held(ctx.index().columns) if coll.process_visibility != "full" else (0, 0)
    if unknown:
        uid = "" if coll.uid is None else f" (collected as uid {coll.uid})"
        gaps.append(
            f"process visibility {coll.process_visibility!r}{uid}: owners of {unknown} of "
            f"{held} process-held sockets unknown, so those are grouped by local port and their "
            "processes' fd limits are unread"
        )
    # Without ss the backlog is unknown; that only matters for a queue holding connections
    # (an empty queue cannot be full).
    waiting = [x for x in ctx.index().listeners() if x.queue > 0]
    if coll.socket_source and coll.socket_source != "ss" and waiting:
        gaps.append(
            f"socket source {coll.socket_source}: accept-queue backlogs unknown, so whether the "
            f"{len(waiting)} listener(s) with connections waiting are full cannot be judged"
        )
    if len(coll.warnings) > opts.max_parse_warnings:
        gaps.append(f"{len(coll.warnings)} lines could not be parsed")
    if ctx.outcome is Outcome.PARTIAL and ctx.message:
        gaps.append(f"scan: {ctx.message}")
    if not gaps:
        return
    evidence = gaps + [f"{w.source}:{w.line_no}: {w.reason}: {w.text}" for w in coll.warnings]
    yield ctx.finding(
        RULE,
        severity=Severity.WARNING if no_sockets else Severity.INFO,
        message=f"incomplete collection, {len(gaps)} gap(s): "
        + "; ".join(gaps[:3])
        + ("; ..." if len(gaps) > 3 else ""),
        value=len(gaps),
        threshold=None,
        evidence=evidence,
        evidence_total=len(evidence),
    )


RULE = Rule(
    id="collection_incomplete",
    title="Snapshot incomplete",
    severity=Severity.INFO,
    explanation=(
        "Part of what netdiag reads on a host was missing or hidden, so the other rules judged an "
        "incomplete picture: the absence of findings does not mean the host is healthy."
    ),
    remedy=(
        "Scan as root (or with sudo) to see every process's sockets and limits; install iproute2 "
        "(ss) where it is missing; report unparsed lines as a netdiag bug with the snapshot."
    ),
    options=Options,
    check=check,
)
