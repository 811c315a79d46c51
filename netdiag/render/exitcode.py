"""The exit-code policy, in one place: the monitoring (Nagios) convention.

=====  ==========================================================================
code   meaning
=====  ==========================================================================
0      OK: no finding at or above the ``--fail-on`` level, every host scanned
1      WARNING: a finding at or above ``--fail-on`` (default ``warning``), none critical
2      CRITICAL: a critical finding (always counts: ``--fail-on`` cannot go above it)
3      UNKNOWN: a host could not be scanned, and nothing critical was found
=====  ==========================================================================

Precedence is 2, then 3, then 1, then 0: a critical finding is news even when
another host was unreachable, but an unreachable host outranks a warning, since
an unread host may hide anything. A ``partial`` host was scanned (its gaps are the
``collection_incomplete`` finding's business), so it never gives 3 by itself.
``--fail-on info`` makes info findings give 1; ``--fail-on critical`` lets warnings
pass with 0. Hosts that could not be scanned give 3 whatever ``--fail-on`` says.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from netdiag.results import Finding, HostResult, ScanResult, Severity

#: The levels ``--fail-on`` accepts, lowest first.
FAIL_ON_LEVELS: tuple[str, ...] = ("info", "warning", "critical")
DEFAULT_FAIL_ON = Severity.WARNING


class ExitStatus(IntEnum):
    OK = 0
    WARNING = 1
    CRITICAL = 2
    UNKNOWN = 3  # a host could not be scanned


def exit_status(
    findings: Iterable[Finding], hosts: Iterable[HostResult], fail_on: Severity = DEFAULT_FAIL_ON
) -> ExitStatus:
    """The process exit status for a scan's findings and hosts under a ``--fail-on`` level."""
    if fail_on not in (Severity.INFO, Severity.WARNING, Severity.CRITICAL):
        raise ValueError(f"--fail-on must be info, warning or critical, not {fail_on.label}")
    top = max((f.severity for f in findings), default=Severity.OK)
    if top is Severity.CRITICAL:
        return ExitStatus.CRITICAL
    if any(not h.outcome.scanned for h in hosts):
        return ExitStatus.UNKNOWN
    if top >= fail_on:
        return ExitStatus.WARNING
    return ExitStatus.OK


def scan_exit_status(result: ScanResult, fail_on: Severity = DEFAULT_FAIL_ON) -> ExitStatus:
    """:func:`exit_status` of a whole scan."""
    return exit_status(result.findings, result.hosts, fail_on)
