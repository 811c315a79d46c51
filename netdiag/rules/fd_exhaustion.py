"""fd_exhaustion: a process is close to its open-file limit; accept() will fail with EMFILE.

Every socket is a file descriptor, and a process cannot hold more than its soft
``RLIMIT_NOFILE`` (``/proc/<pid>/limits``, "Max open files"). At the limit accept()
fails with EMFILE: a server that mishandles that stops draining its accept queue,
and connections time out (seed 001).

Fires when a process's open fds reach ``warn_share`` of its soft limit (warning),
critical at ``critical_share``. The message counts how many of its sockets are in
CLOSE_WAIT, which ties a leak to the exhaustion.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

from netdiag.engine import HostContext, Rule, option
from netdiag.model import Process, TcpState
from netdiag.results import Finding, Severity
from netdiag.rules import EVIDENCE_LIMIT, local_endpoints, sorted_rows


@dataclass(frozen=True, slots=True)
class Options:
    # 80% and 95% are the common warning and critical shares (issue 4); with the usual 1024
    # limit (seed 001) that is 820 and 973 fds.
    warn_share: float = option(0.8, "share of the soft RLIMIT_NOFILE that warns")
    critical_share: float = option(0.95, "share that is critical")


def check(ctx: HostContext, opts: Options) -> Iterator[Finding]:
    snap = ctx.latest
    near: list[tuple[Process, int, int, int]] = []  # process, fds, soft limit, firing point
    for p in sorted(snap.processes, key=lambda p: p.pid):
        if p.fd_count is not None and p.nofile_soft:
            fire_at = math.ceil(opts.warn_share * p.nofile_soft)
            if p.fd_count >= fire_at:
                near.append((p, p.fd_count, p.nofile_soft, fire_at))
    if not near:
        return
    wanted = {p.pid for p, *_ in near}
    cols = ctx.index().columns
    by_pid: dict[int, list[int]] = {}  # pid -> rows, only owned rows read
    for row, owners in cols.owners.items():
        if len(owners) == 1:  # the common case, without a set per row
            if owners[0].pid in wanted:
                by_pid.setdefault(owners[0].pid, []).append(row)
            continue
        for pid in {o.pid for o in owners if o.pid in wanted}:
            by_pid.setdefault(pid, []).append(row)  # a socket shared after fork is in each one's fds
    for p, fds, soft, fire_at in near:
        share = fds / soft
        rows = sorted(by_pid.get(p.pid, []))
        states = [cols.state[r] for r in rows]
        close_wait = [r for r, st in zip(rows, states, strict=True) if st is TcpState.CLOSE_WAIT]
        listening = [r for r, st in zip(rows, states, strict=True) if st is TcpState.LISTEN]
        hard = f", hard {p.nofile_hard}" if p.nofile_hard is not None else ""
        message = (
            f"{p.name} (pid {p.pid}) has {fds} open fds, {100 * share:.0f}% of its soft "
            f"RLIMIT_NOFILE {soft}{hard} (warns at {fire_at}): accept() fails with EMFILE "
            "at the limit"
        )
        if rows:
            message += f"; {len(rows)} of them are TCP sockets"
        if close_wait:
            message += f", {len(close_wait)} in CLOSE_WAIT (see close_wait_leak)"
        shown = sorted_rows(cols, close_wait)
        if len(shown) < EVIDENCE_LIMIT:
            shown += sorted_rows(cols, listening, EVIDENCE_LIMIT - len(shown))
        yield ctx.finding(
            RULE,
            severity=Severity.CRITICAL if share >= opts.critical_share else Severity.WARNING,
            message=message,
            process=p.name,
            pid=p.pid,
            local=str(local_endpoints(cols, listening[:1])[0]) if listening else None,
            value=fds,
            threshold=fire_at,
            evidence=cols.rows(shown),
            evidence_total=len(close_wait) + len(listening),
        )


RULE = Rule(
    id="fd_exhaustion",
    title="Process near its open-file limit",
    severity=Severity.WARNING,
    explanation=(
        "Each socket and file takes a file descriptor, and this process is close to its soft "
        "RLIMIT_NOFILE. At the limit accept() and connect() fail with EMFILE; a server that "
        "mishandles the error stops draining its accept queue and clients time out."
    ),
    remedy=(
        "If the count grows, look for a leak first (CLOSE_WAIT sockets, unclosed files: "
        "ls -l /proc/PID/fd); otherwise raise the limit (LimitNOFILE= in the systemd unit, "
        "ulimit -n, limits.conf)."
    ),
    options=Options,
    check=check,
)
