"""The JSON document (``netdiag.scan/1``): the interface other tools (jq, dashboards) read.

Its shape is documented in ``docs/json-schema.json`` and ``docs/REPORTS.md``;
adding a field is compatible, renaming or removing one needs a new schema version.
"""

from __future__ import annotations

import json
import math
from typing import Any

from netdiag import __version__
from netdiag.render import (
    findings_by_host,
    fullest_queue,
    host_worst,
    severity_counts,
    sort_findings,
    state_counts,
)
from netdiag.results import Finding, HostResult, ScanResult

SCAN_SCHEMA = "netdiag.scan/1"


def _plain(value: Any) -> Any:
    """Options as JSON can carry them: tuples to lists, paths and enums to strings, NaN to null."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_plain(v) for v in value]
        return sorted(items, key=str) if isinstance(value, set | frozenset) else items
    return str(value)


def _host(host: HostResult, findings: dict[str, list[Finding]]) -> dict[str, Any]:
    views = host.views()
    info = views[-1].host if views else None
    mine = findings.get(host.name, [])
    verdict = host_worst(host, mine)
    fullest = fullest_queue(views)
    return {
        "name": host.name,
        "address": host.address,
        "outcome": host.outcome.value,
        "message": host.message,
        "seconds": host.seconds,
        "samples": host.sample_count,
        "netns": [s.host.netns for s in views],
        "hostname": (info.hostname or None) if info else None,
        "kernel": (info.kernel or None) if info else None,
        "collected_at": (info.collected_at or None) if info else None,
        "states": state_counts(views) if views else None,
        "states_by_netns": {s.host.netns: state_counts([s]) for s in views},
        "fullest_queue": None
        if fullest is None
        else {
            "local": fullest.local,
            "queue": fullest.queue,
            "backlog": fullest.backlog,
            "process": fullest.process,
            "pid": fullest.pid,
            "netns": fullest.netns,
        },
        "worst": None if verdict is None else verdict.label,
        "findings": len(mine),
    }


def to_document(result: ScanResult) -> dict[str, Any]:
    """The whole scan as a JSON-ready dict; findings most severe first."""
    ordered = sort_findings(result.findings)
    grouped = findings_by_host(ordered)
    counts = severity_counts(ordered)
    failed = sum(1 for h in result.hosts if not h.outcome.scanned)
    return {
        "schema": SCAN_SCHEMA,
        "netdiag_version": __version__,
        "started": result.started,
        "duration_s": result.duration_s,
        "options": _plain(result.options),
        "inventory": result.inventory,
        "summary": {
            "hosts": len(result.hosts),
            "scanned": len(result.hosts) - failed,
            "failed": failed,
            "findings": {sev.label: n for sev, n in counts.items()},
        },
        "hosts": [_host(h, grouped) for h in result.hosts],
        "findings": [_finding(f.to_dict()) for f in ordered],
    }


def _finding(d: dict[str, Any]) -> dict[str, Any]:
    for key in ("value", "threshold"):
        v = d[key]
        if isinstance(v, float) and not math.isfinite(v):
            d[key] = None  # JSON has no Infinity/NaN
    d["series"] = [v if math.isfinite(v) else None for v in d["series"]]
    return d


def dumps(result: ScanResult, *, indent: int | None = 2) -> str:
    """The document as text (strict JSON: no NaN), ending in a newline.

    Non-ASCII stays readable; only if host text holds something UTF-8 cannot
    encode (a lone surrogate from a mis-decoded name) is everything \\u-escaped.
    """
    doc = to_document(result)
    text = json.dumps(doc, indent=indent, ensure_ascii=False, allow_nan=False)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = json.dumps(doc, indent=indent, ensure_ascii=True, allow_nan=False)
    return text + "\n"
