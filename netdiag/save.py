"""Saved scans: ``--save DIR`` writes them, ``netdiag analyze`` reads them back.

A saved scan is a directory::

    DIR/manifest.json          targets, options, outcomes, timings (written last)
    DIR/hosts/<name>.json      one snapshot per host (``<name>.<k>.json`` per sample with --samples)

Snapshot files are the very JSON ``netdiag collect -o`` writes, so the loader
reads either kind: a save directory (or its manifest), a directory of
snapshot files, or single snapshot files. File names are derived from host
names but never trusted: the manifest says which file is whose.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from netdiag.model import Snapshot
from netdiag.results import HostResult, Outcome, ScanResult
from netdiag.scan import judge

MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "netdiag.saved/1"
# The JSON *report*'s schema (netdiag.render.jsonout.SCAN_SCHEMA, spelt here so saving
# does not import rendering): recognised only to say that a report is not a save.
REPORT_SCHEMA = "netdiag.scan/1"
HOSTS_DIR = "hosts"

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class SavedError(ValueError):
    """A saved scan or snapshot file that cannot be read; the message names the file."""


def save_scan(result: ScanResult, directory: Path) -> Path:
    """Write ``result`` under ``directory`` (created if need be); returns the manifest's path."""
    hosts_dir = directory / HOSTS_DIR
    hosts_dir.mkdir(parents=True, exist_ok=True)
    for old in hosts_dir.glob("*.json"):  # a previous scan saved here: never mix two scans
        old.unlink()
    (directory / MANIFEST).unlink(missing_ok=True)
    used: set[str] = set()
    entries = []
    for host in result.hosts:
        stem = _file_stem(host.name, used)
        files = []
        for k, snapshot in enumerate(host.samples, start=1):
            name = f"{stem}.json" if len(host.samples) == 1 else f"{stem}.{k}.json"
            _write_json(hosts_dir / name, snapshot.to_dict(), compact=True)
            files.append(f"{HOSTS_DIR}/{name}")
        entries.append(
            {
                "name": host.name,
                "address": host.address,
                "outcome": host.outcome.value,
                "message": host.message,
                "seconds": host.seconds,
                "samples": files,
            }
        )
    manifest = {
        "schema": MANIFEST_SCHEMA,
        "started": result.started,
        "duration_s": result.duration_s,
        "inventory": result.inventory,
        "options": result.options,
        "hosts": entries,
    }
    path = directory / MANIFEST
    _write_json(path, manifest, compact=False)
    return path


def load_saved(paths: Sequence[str | Path]) -> list[HostResult]:
    """Host results from save directories, manifests, directories of snapshots or snapshot files.

    Loose snapshots of the same host (several ``collect -o`` runs) become one
    host with its samples in collection order.
    """
    results: list[HostResult] = []
    loose: dict[str, list[Snapshot]] = {}
    for raw in paths:
        path = Path(raw)
        if path.is_dir() and (path / MANIFEST).is_file():
            results.extend(_load_manifest(path / MANIFEST))
        elif path.is_dir():
            files = sorted(path.glob("*.json"))
            if not files:
                raise SavedError(f"{path}: no manifest.json and no snapshot files")
            for f in files:
                data = _read_json_any(f)
                for item in data if isinstance(data, list) else [data]:
                    _add_loose(loose, f, _snapshot_dict(f, item))
        elif path.is_file() and path.name == MANIFEST:
            results.extend(_load_manifest(path))
        elif path.is_file():
            data = _read_json_any(path)
            if isinstance(data, list):  # `netdiag collect -o` of a host read in several namespaces
                for item in data:
                    _add_loose(loose, path, _snapshot_dict(path, item))
                continue
            _refuse_report(path, data)
            if data.get("schema") == MANIFEST_SCHEMA:
                results.extend(_load_manifest(path, data))
            else:
                _add_loose(loose, path, data)
        else:
            raise SavedError(f"{path}: no such file or directory")
    for samples in loose.values():
        samples.sort(key=lambda s: s.host.collected_at)
        outcome, message = judge(samples)
        latest = samples[-1]
        results.append(HostResult(latest.host.name, latest.host.address, outcome, message, tuple(samples)))
    return results


def _refuse_report(path: Path, data: dict[str, Any]) -> None:
    """A JSON report holds findings and counts, not the sockets the rules need: say so plainly."""
    if data.get("schema") == REPORT_SCHEMA:
        raise SavedError(
            f"{path}: this is a JSON report ({REPORT_SCHEMA}), not saved snapshots; "
            "give the directory of `netdiag scan --save DIR` or files of `netdiag collect -o FILE`"
        )


def _load_manifest(path: Path, data: dict[str, Any] | None = None) -> list[HostResult]:
    data = _read_json(path) if data is None else data
    _refuse_report(path, data)
    if data.get("schema") != MANIFEST_SCHEMA:
        raise SavedError(f"{path}: not a netdiag scan manifest (schema {data.get('schema')!r})")
    results = []
    try:
        for h in data["hosts"]:
            samples = tuple(_read_snapshot(path.parent / f) for f in h["samples"])
            results.append(
                HostResult(
                    name=h["name"],
                    address=h["address"],
                    outcome=Outcome(h["outcome"]),
                    message=h.get("message"),
                    samples=samples,
                    seconds=float(h.get("seconds", 0.0)),
                )
            )
    except (KeyError, TypeError, ValueError) as e:
        if isinstance(e, SavedError):
            raise
        raise SavedError(f"{path}: malformed manifest: {e!r}") from e
    return results


def _add_loose(loose: dict[str, list[Snapshot]], path: Path, data: dict[str, Any] | None = None) -> None:
    snapshot = _read_snapshot(path, data)
    loose.setdefault(snapshot.host.name, []).append(snapshot)


def _read_snapshot(path: Path, data: dict[str, Any] | None = None) -> Snapshot:
    data = _read_json(path) if data is None else data
    _refuse_report(path, data)
    try:
        return Snapshot.from_dict(data)
    except (KeyError, TypeError, ValueError) as e:
        raise SavedError(f"{path}: not a readable netdiag snapshot: {e}") from e


def _read_json(path: Path) -> dict[str, Any]:
    return _snapshot_dict(path, _read_json_any(path))


def _read_json_any(path: Path) -> Any:
    """A JSON object, or a list of them (several namespaces' snapshots from ``collect -o``)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise SavedError(f"{path}: {e}") from e
    if not isinstance(data, dict | list):
        raise SavedError(f"{path}: not a JSON object")
    return data


def _snapshot_dict(path: Path, item: Any) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise SavedError(f"{path}: not a JSON object")
    return item


def _write_json(path: Path, data: dict[str, Any], *, compact: bool) -> None:
    """Write then rename, so a reader never sees half a file."""
    tmp = path.with_name(f".{path.name}.tmp")
    text = json.dumps(data, separators=(",", ":")) if compact else json.dumps(data, indent=2)
    tmp.write_text(text + "\n", encoding="utf-8")
    tmp.replace(path)


def _file_stem(name: str, used: set[str]) -> str:
    """A file name from a host name: plain characters only, unique, and never ``..`` or hidden."""
    stem = _UNSAFE.sub("_", name).strip("._")[:80] or "host"
    if stem != name or stem.lower() in used:
        stem = f"{stem}-{hashlib.sha256(name.encode()).hexdigest()[:8]}"
    while stem.lower() in used:
        stem += "_"
    used.add(stem.lower())
    return stem
