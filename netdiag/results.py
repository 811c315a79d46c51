"""What a scan produces: per-host outcomes and the findings the rules drew from them.

These records are the contract between scanning, rules and rendering.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum, IntEnum
from typing import Any

from netdiag.model import Snapshot


class Severity(IntEnum):
    """Ordered so that ``max()`` gives the worst; ``OK`` is only used for a host's worst."""

    OK = 0
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r} (use info, warning or critical)") from None


class Outcome(str, Enum):
    """How reading one host ended; every host gets exactly one."""

    OK = "ok"
    PARTIAL = "partial"  # collected, but some sources were missing (named in the message)
    UNREACHABLE = "unreachable"
    AUTH_FAILED = "auth_failed"
    HOSTKEY_UNKNOWN = "hostkey_unknown"
    HOSTKEY_CHANGED = "hostkey_changed"
    TIMEOUT = "timeout"
    ERROR = "error"

    @property
    def scanned(self) -> bool:
        """True when the host gave us a snapshot to analyse."""
        return self in (Outcome.OK, Outcome.PARTIAL)


@dataclass(frozen=True, slots=True)
class Related:
    """The other party of a finding (e.g. the peer process in a cross-host leak)."""

    host: str
    process: str | None = None
    pid: int | None = None


@dataclass(frozen=True, slots=True)
class Finding:
    """One diagnosis: what is wrong, where, who is at fault, how sure, what to do."""

    rule: str
    severity: Severity
    host: str
    message: str
    explanation: str
    remedy: str
    process: str | None = None
    pid: int | None = None
    local: str | None = None  # "addr:port" of the listening or local side
    peer: str | None = None  # "addr:port" of the peer side
    value: float | None = None  # the number that triggered it ...
    threshold: float | None = None  # ... against this threshold
    evidence: tuple[str, ...] = ()  # socket lines behind it, bounded
    evidence_total: int = 0  # how many there were in all
    related: tuple[Related, ...] = ()
    confidence: str = "high"  # high | medium | low: a "suspect" is not a certainty
    netns: str | None = None
    series: tuple[float, ...] = ()  # recorded history of ``value``, oldest first

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "severity": self.severity.label,
            "host": self.host,
            "netns": self.netns,
            "process": self.process,
            "pid": self.pid,
            "local": self.local,
            "peer": self.peer,
            "value": self.value,
            "threshold": self.threshold,
            "confidence": self.confidence,
            "message": self.message,
            "explanation": self.explanation,
            "remedy": self.remedy,
            "evidence": list(self.evidence),
            "evidence_total": self.evidence_total,
            "related": [{"host": r.host, "process": r.process, "pid": r.pid} for r in self.related],
            "series": list(self.series),
        }


@dataclass(frozen=True, slots=True)
class HostResult:
    """One host's outcome and the snapshots taken of it (several with ``--samples``)."""

    name: str
    address: str
    outcome: Outcome
    message: str | None = None
    samples: tuple[Snapshot, ...] = ()
    seconds: float = 0.0

    @property
    def latest(self) -> Snapshot | None:
        """The last snapshot taken: the root namespace's view of the last sample."""
        return self.samples[-1] if self.samples else None

    def by_netns(self) -> dict[str, tuple[Snapshot, ...]]:
        """Each network namespace's snapshots, oldest first, namespaces in first-seen order.

        A host read in several namespaces sends one snapshot per namespace per sample.
        """
        grouped: dict[str, list[Snapshot]] = {}
        for snap in self.samples:
            grouped.setdefault(snap.host.netns, []).append(snap)
        return {ns: tuple(snaps) for ns, snaps in grouped.items()}

    @property
    def sample_count(self) -> int:
        """How many samples were taken (each sample holds one snapshot per namespace)."""
        return max(map(len, self.by_netns().values()), default=0)

    def views(self) -> tuple[Snapshot, ...]:
        """The newest snapshot of each network namespace the host was read in, first-seen order."""
        return tuple(snaps[-1] for snaps in self.by_netns().values())


@dataclass(slots=True)
class ScanResult:
    """A whole scan: metadata, every host (failed ones too) and every finding."""

    started: str  # ISO 8601 UTC
    duration_s: float
    hosts: list[HostResult]
    findings: list[Finding] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    inventory: str | None = None
