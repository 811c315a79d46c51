"""Turn the collection script's output into a ``Snapshot``.

Each section goes to the parser of its format; owners are joined to sockets by
inode through the fd map's index (one dict lookup per socket); every step
becomes a ``CommandRun`` and every unreadable line a ``ParseWarning`` whose
``source`` is the section name and whose ``line_no`` counts from that
section's first body line (what a reader of the raw section would count).

Garbage, truncated or partial output never raises: whatever could be read is
in the snapshot, and the rest is in ``collection.commands``/``warnings``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timezone
from typing import TypeVar

from netdiag.collectors.fdmap import FdMap, parse_fdmap
from netdiag.collectors.sections import Section, split_sections
from netdiag.model import (
    Collection,
    CommandRun,
    HostInfo,
    Owner,
    ParseWarning,
    Process,
    Snapshot,
    Socket,
)
from netdiag.parsers import Parsed
from netdiag.parsers.counters import parse_counters
from netdiag.parsers.limits import nofile, parse_limits
from netdiag.parsers.netstat import parse_netstat
from netdiag.parsers.proc_tcp import parse_proc_tcp
from netdiag.parsers.sockstat import parse_sockstat
from netdiag.parsers.ss import parse_ss
from netdiag.parsers.sysctl import parse_sysctls

T = TypeVar("T")

# The sockets section's command names its source (the script tries them in this order).
SOCKET_PARSERS: dict[str, Callable[[str], Parsed[Socket]]] = {
    "ss": parse_ss,
    "netstat": parse_netstat,
    "proc": parse_proc_tcp,
}

OWNER_METHOD = "inode match: socket:[inode] links of /proc/<pid>/fd, read in one ls -l pass"

_PROC_LINE = re.compile(r"/proc/(\d+)/(comm|limits):(.*)")
_CMDLINE_HEAD = re.compile(r"==> /proc/(\d+)/cmdline <==")
_DETAIL_MAX = 1000


def assemble(
    output: bytes | str,
    host: HostInfo,
    collected_at: str = "",
    *,
    seconds: float = 0.0,
) -> Snapshot:
    """The snapshot of one run of ``collect.sh``; ``host`` gives the inventory name and address.

    ``seconds`` is the whole run's wall time as the transport measured it
    (the sections' own timings are per step).
    """
    raw = output if isinstance(output, bytes) else output.encode("utf-8", "surrogateescape")
    text = raw.decode("utf-8", "replace")
    sections, warnings = split_sections(text)
    named: dict[str, Section] = {}
    for s in sections:
        if s.name != "sockets":
            named[s.name] = s  # a repeated name (never printed by the script) keeps the last
    reader = _Reader(warnings)

    facts = _key_values(named.get("host"))
    host = replace(
        host,
        hostname=facts.get("hostname", host.hostname),
        kernel=facts.get("kernel", host.kernel),
        collected_at=collected_at or host.collected_at,
        host_time=_iso_from_epoch(facts.get("time", "")) or host.host_time,
    )

    source, sockets = _sockets(sections, reader)

    fdmap = FdMap()
    if (fd_section := named.get("fdmap")) is not None:
        fdmap, parsed = parse_fdmap(fd_section.text)
        reader.keep(fd_section, parsed)

    names = {pid: name for pid, (kind, name) in _proc_lines(named.get("comm"), reader) if kind == "comm"}
    limits = {
        pid: nofile(parse_limits(row))
        for pid, (kind, row) in _proc_lines(named.get("limits"), reader)
        if kind == "limits"
    }
    cmdlines = _cmdlines(named.get("cmdline"))

    sockets = _join_owners(sockets, fdmap, names)
    owning = sorted({o.pid for s in sockets for o in s.owners if o.pid is not None})
    processes = tuple(
        Process(
            pid=pid,
            name=names.get(pid, ""),
            cmdline=cmdlines.get(pid, ""),
            fd_count=fdmap.fd_counts.get(pid),
            nofile_soft=(limits.get(pid) or (None, None))[0],
            nofile_hard=(limits.get(pid) or (None, None))[1],
        )
        for pid in owning
    )

    sysctls = dict(reader.records(named.get("sysctls"), parse_sysctls))
    counters: dict[str, dict[str, int]] = {}
    for name in ("proc_net_netstat", "proc_net_snmp"):
        for group, values in reader.records(named.get(name), parse_counters):
            counters.setdefault(group, {}).update(values)  # IcmpMsg wraps over several pairs
    sockstat: dict[str, dict[str, int]] = {}
    for label, values in reader.records(named.get("sockstat"), parse_sockstat):
        sockstat.setdefault(label, {}).update(values)

    uid_text = facts.get("uid", "")
    uid = int(uid_text) if uid_text.isdigit() else None
    visibility = fdmap.visibility(uid)
    collection = Collection(
        socket_source=source,
        owner_method=_owner_method(fdmap, visibility, "fdmap" in named),
        uid=uid,
        process_visibility=visibility,
        commands=tuple(_command(s, fdmap) for s in sections),
        warnings=tuple(reader.warnings),
        seconds=seconds,
        bytes_received=len(raw),
    )
    return Snapshot(
        host=host,
        sockets=sockets,
        processes=processes,
        sysctls=sysctls,
        counters=counters,
        sockstat=sockstat,
        collection=collection,
    )


class _Reader:
    """Runs parsers over sections and gathers their warnings under the section's name."""

    def __init__(self, warnings: list[ParseWarning]) -> None:
        self.warnings = warnings

    def keep(self, section: Section, parsed: Parsed[T]) -> list[T]:
        self.warnings.extend(replace(w, source=section.name) for w in parsed.warnings)
        return parsed.records

    def records(self, section: Section | None, parser: Callable[[str], Parsed[T]]) -> list[T]:
        if section is None:
            return []
        return self.keep(section, parser(section.text))


def _sockets(sections: list[Section], reader: _Reader) -> tuple[str, tuple[Socket, ...]]:
    """The last sockets attempt that succeeded, or, failing that, one cut short (read as far as it goes)."""
    attempts = [s for s in sections if s.name == "sockets"]
    chosen = next((s for s in reversed(attempts) if s.status == "ok"), None)
    chosen = chosen or next((s for s in reversed(attempts) if not s.complete), None)
    if chosen is None:
        return "", ()
    source = _socket_source(chosen)
    if source is None:
        reader.warnings.append(
            ParseWarning("sockets", 0, chosen.command[:500], "unknown socket source; section not read")
        )
        return "", ()
    return source, tuple(reader.records(chosen, SOCKET_PARSERS[source]))


def _socket_source(section: Section) -> str | None:
    """``ss``, ``netstat`` or ``proc``: from the command the script named, or for a section cut
    before its end marker, from the first line (each source's header is distinct)."""
    word = section.command.split(" ", 1)[0]
    if word in ("ss", "netstat"):
        return word
    if word == "cat" and "/proc/net/tcp" in section.command:
        return "proc"
    if section.command:
        return None
    first = next((line.split() for line in section.text.splitlines() if line.strip()), [""])
    return {"State": "ss", "Netid": "ss", "Active": "netstat", "Proto": "netstat", "sl": "proc"}.get(first[0])


def _join_owners(sockets: tuple[Socket, ...], fdmap: FdMap, names: dict[int, str]) -> tuple[Socket, ...]:
    if not fdmap.owners:
        return sockets
    joined = []
    for s in sockets:
        holders = fdmap.owners.get(s.inode) if s.inode else None
        if holders:
            owners = tuple(Owner(pid, names.get(pid), fd) for pid, fd in sorted(holders))
            s = replace(s, owners=owners)
        joined.append(s)
    return tuple(joined)


def _key_values(section: Section | None) -> dict[str, str]:
    if section is None:
        return {}
    pairs = (line.partition("=") for line in section.text.splitlines())
    return {k: v.strip() for k, sep, v in pairs if sep and k.isidentifier()}


def _iso_from_epoch(text: str) -> str:
    if not text.isdigit():
        return ""
    try:
        return datetime.fromtimestamp(int(text), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return ""


def _proc_lines(section: Section | None, reader: _Reader) -> Iterable[tuple[int, tuple[str, str]]]:
    """``/proc/PID/comm:NAME`` and ``/proc/PID/limits:ROW`` lines (grep -H), by pid."""
    if section is None:
        return
    for line_no, line in enumerate(section.text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _PROC_LINE.fullmatch(line)
        if m is None:
            reader.warnings.append(
                ParseWarning(section.name, line_no, line[:500], "not a /proc/PID/FILE:TEXT line")
            )
            continue
        yield int(m[1]), (m[2], m[3])


def _cmdlines(section: Section | None) -> dict[int, str]:
    """``head -c`` output: a ``==> /proc/PID/cmdline <==`` heading, then NUL-separated arguments.

    Arguments are joined with spaces (as ``ps`` shows them); an argument with a
    newline inside spans lines, which are joined back.
    """
    if section is None:
        return {}
    found: dict[int, list[str]] = {}
    current: list[str] | None = None
    for line in section.text.split("\n"):
        m = _CMDLINE_HEAD.fullmatch(line)
        if m is not None:
            current = found.setdefault(int(m[1]), [])
        elif line.startswith("==> ") and line.endswith(" <=="):
            current = None  # /dev/null, named so head prints headings even for one file
        elif current is not None:
            current.append(line)
    return {pid: "\n".join(lines).replace("\0", " ").strip() for pid, lines in found.items()}


def _owner_method(fdmap: FdMap, visibility: str, ran: bool) -> str:
    if not ran:
        return "none: the fd map was not collected"
    if visibility == "full":
        return f"{OWNER_METHOD}; all {fdmap.readable} processes readable"
    if visibility == "own":
        return (
            f"{OWNER_METHOD}; only the collecting user's processes: {fdmap.denied} processes "
            "denied (not root), so sockets of other users show no owner"
        )
    if visibility == "partial":
        return (
            f"{OWNER_METHOD}; {fdmap.denied} of the processes denied even to root, "
            "so their sockets show no owner"
        )
    return f"{OWNER_METHOD}; no process was readable, so no socket shows an owner"


def _command(section: Section, fdmap: FdMap) -> CommandRun:
    detail = list(section.stderr)
    if section.name == "fdmap":
        detail += fdmap.messages
        if fdmap.counted and (fdmap.denied or fdmap.gone):
            detail.append(f"{fdmap.denied} fd directories denied, {fdmap.gone} vanished while listed")
    if not section.complete:
        detail.append("output ends inside this section")
    return CommandRun(
        name=section.name,
        command=section.command,
        status=section.status,
        seconds=section.seconds,
        detail="; ".join(detail)[:_DETAIL_MAX],
        bytes=len(section.text.encode("utf-8", "replace")),
    )
