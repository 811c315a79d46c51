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

import gc
import re
from collections.abc import Callable, Iterable, MutableSequence, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from itertools import chain, compress
from operator import itemgetter
from typing import TypeVar, cast

from netdiag.collectors.fdmap import FdMap, parse_fdmap
from netdiag.collectors.netns import HOST, Namespace, NsMap, label, parse_evidence, parse_nsmap, unique_labels
from netdiag.collectors.sections import Section, split_sections
from netdiag.gcpause import gc_paused
from netdiag.model import (
    Collection,
    CommandRun,
    HostInfo,
    Owner,
    ParseWarning,
    Process,
    Snapshot,
    Socket,
    SocketTable,
    TcpState,
)
from netdiag.parsers import Parsed
from netdiag.parsers.counters import parse_counters
from netdiag.parsers.limits import nofile, parse_limits
from netdiag.parsers.netstat import parse_netstat
from netdiag.parsers.proc_tcp import parse_proc_tcp
from netdiag.parsers.sockstat import parse_sockstat
from netdiag.parsers.ss import FREEZE_AT, parse_ss
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
_ENTER = re.compile(r"^nsenter --net=\S+ ")  # a namespace's step: the tool follows
_PROC_TCP = re.compile(r"/proc/(?:\d+/)?net/tcp")


def assemble(
    output: bytes | str,
    host: HostInfo,
    collected_at: str = "",
    *,
    seconds: float = 0.0,
) -> Snapshot:
    """The root namespace's snapshot of one run of ``collect.sh`` (``assemble_all`` has every namespace)."""
    return assemble_all(output, host, collected_at, seconds=seconds)[-1]


def assemble_all(
    output: bytes | str,
    host: HostInfo,
    collected_at: str = "",
    *,
    seconds: float = 0.0,
) -> tuple[Snapshot, ...]:
    """One snapshot per network namespace the run read, the root one (``netns="host"``) last.

    ``host`` gives the inventory name and address; ``seconds`` is the whole
    run's wall time as the transport measured it (the sections' own timings
    are per step). Sections named ``NAME@INODE`` belong to the namespace of
    that inode; the fd map, comm, limits and cmdline are machine-wide and
    serve every namespace (socket inodes are unique across namespaces).
    Processes of a namespace's snapshot are the owners of its sockets.
    """
    with gc_paused():  # up to millions of new records, no cycles: no collector passes over them
        snapshots = _assemble_all(output, host, collected_at, seconds)
        if sum(len(s.sockets) for s in snapshots) >= FREEZE_AT:
            gc.freeze()  # as parse_ss does: the records are the process's data now, never traversed again
    return snapshots


def _assemble_all(
    output: bytes | str, host: HostInfo, collected_at: str, seconds: float
) -> tuple[Snapshot, ...]:
    output = _as_read(output)
    sections, warnings = split_sections(output)
    plain: list[Section] = []
    per_ns: dict[int, list[Section]] = {}
    for s in sections:
        name, at, ino = s.name.partition("@")
        if at and ino.isdigit():
            per_ns.setdefault(int(ino), []).append(replace(s, name=name))
        else:
            plain.append(s)
    named = {s.name: s for s in plain if s.name != "sockets"}  # a repeated name keeps the last
    reader = _Reader(warnings)

    facts = _key_values(named.get("host"))
    procfs = named.get("procfs")
    by_file = _split_nsnet(procfs.text) if procfs is not None else {}
    host = replace(
        host,
        hostname=facts.get("hostname", host.hostname),
        kernel=facts.get("kernel", host.kernel),
        collected_at=collected_at or host.collected_at,
        host_time=_iso_from_epoch(facts.get("time", "") or _boot_plus(by_file.get("stat", ""), facts))
        or host.host_time,
    )
    fdmap = FdMap()
    if (fd_section := named.get("fdmap")) is not None:
        fdmap, parsed = parse_fdmap(fd_section.text)
        reader.keep(fd_section, parsed)
    uid_text = facts.get("uid", "")
    uid = int(uid_text) if uid_text.isdigit() else None
    visibility = fdmap.visibility(uid)
    # the script's one `owners` grep (comm and limits), or an older script's two sections
    owners = [*_proc_lines(named.get("owners"), reader), *_proc_lines(named.get("comm"), reader)]
    owners += _proc_lines(named.get("limits"), reader)
    names = {pid: name for pid, (kind, name) in owners if kind == "comm"}
    held = fdmap.holders(names)
    held.pop(0, None)  # inode 0 is no inode
    fdmap = replace(fdmap, inode=[], pid=[], fd=[])  # indexed: only its counts and messages are read on
    shared = _Shared(
        fdmap=fdmap,
        held=held,
        names=names,
        limits={
            pid: nofile(parse_limits(row))
            for pid, (kind, row) in owners
            if kind == "limits" and row.startswith("Max open files")
        },
        cmdlines=_cmdlines(named.get("cmdline")),
        uid=uid,
        visibility=visibility,
        owner_method=_owner_method(fdmap, visibility, "fdmap" in named),
    )

    nsmap, views, notes = _namespaces(named, per_ns, shared, host)
    reader.warnings.extend(nsmap_warnings(named))
    source, sockets = _sockets(plain, reader)
    counters: dict[str, dict[str, int]] = {}
    sockstat: dict[str, dict[str, int]] = {}
    if procfs is not None:  # the script's one grep over the host's /proc files
        sysctls = dict(reader.records(procfs.with_text(by_file["sysctl"]), parse_sysctls))
        for part in ("netstat", "snmp"):
            _merge(counters, reader.records(procfs.with_text(by_file[part]), parse_counters))
        _merge(sockstat, reader.records(procfs.with_text(by_file["sockstat"]), parse_sockstat))
    else:  # an older script: one section per source
        sysctls = dict(reader.records(named.get("sysctls"), parse_sysctls))
        for name in ("proc_net_netstat", "proc_net_snmp"):
            _merge(counters, reader.records(named.get(name), parse_counters))  # IcmpMsg wraps over pairs
        _merge(sockstat, reader.records(named.get("sockstat"), parse_sockstat))
    commands = [_command(s, fdmap) for s in plain if s.name not in _NS_EVIDENCE]
    commands = [_netns_record(c, named, nsmap, notes) if c.name == "netns" else c for c in commands]
    root = _view(
        replace(host, netns=HOST),
        source,
        sockets,
        shared,
        sysctls=sysctls,
        counters=counters,
        sockstat=sockstat,
        commands=tuple(commands),
        warnings=tuple(reader.warnings),
        seconds=seconds,
        bytes_received=len(output),
    )
    return (*views, root)


_OWNERS = itemgetter(8)  # Socket.owners
_PID = itemgetter(0)  # Owner.pid
_NS_EVIDENCE = frozenset({"nscgroup", "nshostname", "nsdocker", "nspick", "nsproc"})
_SHARED_STEPS = ("host", "fdmap", "owners", "comm", "limits", "cmdline")
_NSNET_LINE = re.compile(r"/proc/(?:\d+/)?net/(netstat|snmp|sockstat6?):(.*)")
# The script's NS_SMALL_MAX: a namespace of at most this many TCP sockets, none that a rule
# judges against its sysctls (``_judged``), is read through /proc/<pid>/net, not entered.
NS_SMALL_MAX = 32
_NSPROC_LINE = re.compile(r"/proc/(\d+)/net/(tcp6?|netstat|snmp|sockstat6?):(.*)")
_NSPROC_PARTS = {"tcp": "tcp", "tcp6": "tcp", "netstat": "netstat", "snmp": "snmp"}


@dataclass(frozen=True, slots=True)
class _Shared:
    """What every namespace's snapshot takes from the one machine-wide pass."""

    fdmap: FdMap
    held: dict[int, tuple[Owner, ...]]  # inode -> holders, for the namespaces' joins
    names: dict[int, str]
    limits: dict[int, tuple[int | None, int | None] | None]
    cmdlines: dict[int, str]
    uid: int | None
    visibility: str
    owner_method: str


def _view(
    host: HostInfo,
    source: str,
    sockets: Sequence[Socket],
    shared: _Shared,
    *,
    sysctls: dict[str, str],
    counters: dict[str, dict[str, int]],
    sockstat: dict[str, dict[str, int]],
    commands: tuple[CommandRun, ...],
    warnings: tuple[ParseWarning, ...],
    seconds: float,
    bytes_received: int,
) -> Snapshot:
    """One namespace's snapshot: its sockets joined to their owners, and those owners."""
    sockets = _join_owners(sockets, shared.held)
    held = sockets.owners.values() if isinstance(sockets, SocketTable) else map(_OWNERS, sockets)
    owning = sorted(set(map(_PID, chain.from_iterable(held))) - {None})
    processes = tuple(
        Process(
            pid=pid,
            name=shared.names.get(pid, ""),
            cmdline=shared.cmdlines.get(pid, ""),
            fd_count=shared.fdmap.fd_counts.get(pid),
            nofile_soft=(shared.limits.get(pid) or (None, None))[0],
            nofile_hard=(shared.limits.get(pid) or (None, None))[1],
        )
        for pid in owning
    )
    collection = Collection(
        socket_source=source,
        owner_method=shared.owner_method,
        uid=shared.uid,
        process_visibility=shared.visibility,
        commands=commands,
        warnings=warnings,
        seconds=seconds,
        bytes_received=bytes_received,
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


def _namespaces(
    named: dict[str, Section],
    per_ns: dict[int, list[Section]],
    shared: _Shared,
    host: HostInfo,
) -> tuple[NsMap, list[Snapshot], list[str]]:
    """The other namespaces' snapshots, and notes on those that could not be read."""
    nsmap = NsMap()
    if (section := named.get("netns")) is not None:
        nsmap, _ = parse_nsmap(section.text)
    evidence = parse_evidence(named[n].text for n in ("nscgroup", "nshostname", "nsdocker") if n in named)
    others = [ino for ino in (*nsmap.namespaces, *per_ns) if ino != nsmap.host]
    described = {
        ino: label(nsmap.namespaces.get(ino) or Namespace(ino), evidence) for ino in dict.fromkeys(others)
    }
    labels = unique_labels((ino, text) for ino, (text, _) in described.items())
    shared_commands = tuple(_command(named[n], shared.fdmap) for n in _SHARED_STEPS if n in named)
    views: list[Snapshot] = []
    notes: list[str] = []
    picked = _picked(named.get("nspick"))
    tables = _split_nsproc(named.get("nsproc"))
    nsproc_run = (_command(named["nsproc"], shared.fdmap),) if "nsproc" in named else ()
    for ino in dict.fromkeys([*picked, *per_ns]):
        name = labels.get(ino, f"netns:{ino}")
        pid = picked.get(ino, "-")
        if ino not in per_ns:
            if pid.isdigit() and "sockstat" in tables.get(int(pid), {}):  # an empty tcp table is not read
                views.append(
                    _table_view(
                        replace(host, netns=name),
                        tables[int(pid)],
                        shared,
                        commands=(*shared_commands, *nsproc_run),
                        description=described[ino][1],
                    )
                )
                continue
            why = "held only by a mount, and nsenter is missing" if pid == "-" else "not read"
            notes.append(f"{name} ({why})")
            continue
        secs = per_ns[ino]
        attempts = [s for s in secs if s.name == "sockets"]
        if attempts and all(s.status != "ok" and _vanished(s) for s in attempts):
            notes.append(f"{name} (gone before it was read)")
            continue
        reader = _Reader([])
        source, sockets = _sockets(secs, reader)
        sysctls: dict[str, str] = {}
        counters: dict[str, dict[str, int]] = {}
        sockstat: dict[str, dict[str, int]] = {}
        nsnet = next((s for s in reversed(secs) if s.name == "nsnet"), None)
        if nsnet is not None:
            by_file = _split_nsnet(nsnet.text)
            sysctls = dict(reader.records(nsnet.with_text(by_file["sysctl"]), parse_sysctls))
            for part in ("netstat", "snmp"):
                _merge(counters, reader.records(nsnet.with_text(by_file[part]), parse_counters))
            _merge(sockstat, reader.records(nsnet.with_text(by_file["sockstat"]), parse_sockstat))
        own = [_command(s, shared.fdmap) for s in secs]
        record = CommandRun(
            name="netns",
            command=_entered_by(secs),
            status="ok",
            detail=(described[ino][1] + _fallback_note(secs))[:_DETAIL_MAX],
        )
        views.append(
            _view(
                replace(host, netns=name),
                source,
                sockets,
                shared,
                sysctls=sysctls,
                counters=counters,
                sockstat=sockstat,
                commands=(*shared_commands, record, *own),
                warnings=tuple(reader.warnings),
                seconds=round(sum(s.seconds for s in secs), 3),
                bytes_received=sum(s.size for s in secs),
            )
        )
    return nsmap, views, notes


def _split_nsproc(section: Section | None) -> dict[int, dict[str, str]]:
    """The ``nsproc`` grep, back into each pid's texts: ``tcp`` (tcp and tcp6), ``netstat``,
    ``snmp`` and ``sockstat`` (sockstat and sockstat6)."""
    parts: dict[int, dict[str, list[str]]] = {}
    if section is None:
        return {}
    for line in section.text.splitlines():
        if m := _NSPROC_LINE.fullmatch(line):
            part = _NSPROC_PARTS.get(m[2], "sockstat")
            parts.setdefault(int(m[1]), {}).setdefault(part, []).append(m[3])
    return {pid: {k: "".join(x + "\n" for x in v) for k, v in p.items()} for pid, p in parts.items()}


def _table_view(
    host: HostInfo,
    tables: dict[str, str],
    shared: _Shared,
    *,
    commands: tuple[CommandRun, ...],
    description: str,
) -> Snapshot:
    """A namespace read only through its process's ``/proc/PID/net`` tables, in the script's
    one ``nsproc`` pass over every namespace: one of a few sockets and empty accept queues,
    which the script does not enter, or any when nsenter is missing."""
    reader = _Reader([])
    section = Section("nsproc", tables.get("tcp", ""), "ok")
    sockets = tuple(reader.records(section, parse_proc_tcp))
    counters: dict[str, dict[str, int]] = {}
    for part in ("netstat", "snmp"):
        _merge(counters, reader.records(section.with_text(tables.get(part, "")), parse_counters))
    sockstat: dict[str, dict[str, int]] = {}
    _merge(sockstat, reader.records(section.with_text(tables.get("sockstat", "")), parse_sockstat))
    small = len(sockets) <= NS_SMALL_MAX and not any(_judged(s) for s in sockets)
    note = (
        f"; not entered: {len(sockets)} sockets, none in CLOSE_WAIT or FIN_WAIT2 or waiting in an "
        "accept queue; read "
        "through /proc/<pid>/net in one "
        "pass with the other small namespaces, so its sysctls were not read (rules needing one "
        "fall back to the kernel default and say so)"
        if small
        else "; not entered (nsenter not found): read through /proc/<pid>/net, its sysctls not read"
    )
    record = CommandRun(
        name="netns",
        command="grep -H '' /proc/<pid>/net/...",
        status="ok",
        detail=(description + note)[:_DETAIL_MAX],
    )
    return _view(
        host,
        "proc",
        sockets,
        shared,
        sysctls={},
        counters=counters,
        sockstat=sockstat,
        commands=(*commands, record),
        warnings=tuple(reader.warnings),
        seconds=0.0,
        bytes_received=sum(len(t.encode("utf-8", "replace")) for t in tables.values()),
    )


def _judged(s: Socket) -> bool:
    """What makes the script enter a namespace (its NSREAD_AWK): CLOSE_WAIT, FIN_WAIT2, or a queue."""
    return s.state in (TcpState.CLOSE_WAIT, TcpState.FIN_WAIT2) or (
        s.state is TcpState.LISTEN and s.recv_q > 0
    )


def nsmap_warnings(named: dict[str, Section]) -> list[ParseWarning]:
    """Unreadable lines of the ``netns`` section, under its name."""
    section = named.get("netns")
    if section is None:
        return []
    _, parsed = parse_nsmap(section.text)
    return [replace(w, source=section.name) for w in parsed.warnings]


def _picked(section: Section | None) -> dict[int, str]:
    """The namespaces the script chose to enter: inode -> pid (``-`` for one held only by a mount)."""
    if section is None:
        return {}
    picked = {}
    for line in section.text.splitlines():
        f = line.split(" ", 2)
        if len(f) == 3 and f[0].isdigit():
            picked[int(f[0])] = f[1]
    return picked


def _vanished(section: Section) -> bool:
    return any("No such file or directory" in line or "No such process" in line for line in section.stderr)


def _entered_by(sections: list[Section]) -> str:
    ok = next((s for s in reversed(sections) if s.name == "sockets" and s.status == "ok"), None)
    word = ok or (sections[0] if sections else None)
    if word is None:
        return ""
    cmd = word.command
    return cmd.split(" ", 2)[0] + " " + cmd.split(" ", 2)[1] if cmd.startswith("nsenter ") else cmd


def _fallback_note(sections: list[Section]) -> str:
    """Say when the namespace could not be entered and was read through /proc/PID/net instead."""
    nsnet = next((s for s in reversed(sections) if s.name == "nsnet"), None)
    if nsnet is None or nsnet.command.startswith("nsenter "):
        return ""
    failed = [s for s in sections if s.name == "sockets" and s.status != "ok"]
    why = "; ".join(x for s in failed for x in s.stderr[:1]) or "nsenter not found"
    return f"; not entered ({why}): read through /proc/<pid>/net, its sysctls not read"


def _split_nsnet(text: str) -> dict[str, str]:
    """The one ``grep -H`` of a namespace (or of the host's ``procfs``), back into the texts of its
    files; ``stat`` holds /proc/stat's lines."""
    parts: dict[str, list[str]] = {"sysctl": [], "netstat": [], "snmp": [], "sockstat": [], "stat": []}
    for line in text.splitlines():
        if line.startswith("/proc/sys/"):
            parts["sysctl"].append(line)
        elif line.startswith("/proc/stat:"):
            parts["stat"].append(line[len("/proc/stat:") :])
        elif m := _NSNET_LINE.fullmatch(line):
            parts["sockstat" if m[1].startswith("sockstat") else m[1]].append(m[2])
        elif line.strip():
            parts["sysctl"].append(line)  # warned about by the sysctl parser, never dropped silently
    return {k: "".join(x + "\n" for x in v) for k, v in parts.items()}


def _merge(into: dict[str, dict[str, int]], records: Iterable[tuple[str, dict[str, int]]]) -> None:
    for group, values in records:
        into.setdefault(group, {}).update(values)


def _netns_record(run: CommandRun, named: dict[str, Section], nsmap: NsMap, notes: list[str]) -> CommandRun:
    """The host's record of the namespace pass: how many, which were read, which could not be and why."""
    section = named["netns"]
    others = [ino for ino in nsmap.namespaces if ino != nsmap.host]
    facts = [f"{len(others)} network namespaces besides the host's"]
    not_entered = [x for x in section.stderr if x.startswith("not entered")]
    facts += not_entered
    if notes:
        facts.append("skipped: " + ", ".join(notes))
    if nsmap.denied:
        facts.append(f"{nsmap.denied} processes' namespace links denied")
    facts += nsmap.messages[:5]
    return replace(run, detail="; ".join(facts)[:_DETAIL_MAX])


class _Reader:
    """Runs parsers over sections and gathers their warnings under the section's name."""

    def __init__(self, warnings: list[ParseWarning]) -> None:
        self.warnings = warnings

    def keep(self, section: Section, parsed: Parsed[T]) -> MutableSequence[T]:
        self.warnings.extend(replace(w, source=section.name) for w in parsed.warnings)
        return parsed.records

    def records(self, section: Section | None, parser: Callable[[str], Parsed[T]]) -> MutableSequence[T]:
        if section is None:
            return []
        return self.keep(section, parser(section.text))


def _sockets(sections: list[Section], reader: _Reader) -> tuple[str, Sequence[Socket]]:
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
    if source == "ss":  # read in blocks from the output itself: the body is never copied whole
        records = reader.keep(chosen, parse_ss(chosen.reader()))
    else:
        records = reader.records(chosen, SOCKET_PARSERS[source])
    return source, records if isinstance(records, SocketTable) else tuple(records)


def _socket_source(section: Section) -> str | None:
    """``ss``, ``netstat`` or ``proc``: from the command the script named, or for a section cut
    before its end marker, from the first line (each source's header is distinct)."""
    command = _ENTER.sub("", section.command)
    word = command.split(" ", 1)[0]
    if word in ("ss", "netstat"):
        return word
    if word == "cat" and _PROC_TCP.search(command):
        return "proc"
    if section.command:
        return None
    first = _first_words(section)
    return {"State": "ss", "Netid": "ss", "Active": "netstat", "Proto": "netstat", "sl": "proc"}.get(first[0])


def _first_words(section: Section) -> list[str]:
    """The words of the body's first non-blank line (``[""]`` if none), reading only as far as it."""
    body = section.reader()
    carry = ""
    while chunk := body.read(1 << 16):
        lines = (carry + chunk).splitlines(keepends=True)
        carry = lines.pop()  # maybe cut: read on (kept with its line break, if it has one)
        if line := next((x for x in lines if x.strip()), None):
            return line.split()
    return carry.split() or [""]


def _join_owners(sockets: Sequence[Socket], held: dict[int, tuple[Owner, ...]]) -> Sequence[Socket]:
    """Sockets with their holders (inode -> owners); owners ``ss -p`` printed stay where the fd
    map has none.

    A table gets a new owners column, joined in C loops over its inode column (no socket
    is made); other sequences are joined row by row.
    """
    if not held:
        return sockets
    if isinstance(sockets, SocketTable):
        found = list(map(held.get, cast("list[int]", sockets.inode)))  # one lookup a row; None: none
        by_row = dict(sockets.owners)
        by_row.update(zip(compress(range(len(found)), found), filter(None, found), strict=True))
        return sockets.with_owners(by_row)
    return tuple(s._replace(owners=held[s.inode]) if s.inode in held else s for s in sockets)


def _as_read(output: bytes | str) -> bytes | str:
    """The output as the sections are split from it: bytes as they came (decoded a section or a
    block at a time, never whole), an ASCII str (the usual) as it is; any other str is taken as
    bytes decoded with ``surrogateescape``, and encoded back. Its length is the bytes received."""
    if isinstance(output, bytes) or output.isascii():
        return output
    return output.encode("utf-8", "surrogateescape")


def _key_values(section: Section | None) -> dict[str, str]:
    if section is None:
        return {}
    pairs = (line.partition("=") for line in section.text.splitlines())
    return {k: v.strip() for k, sep, v in pairs if sep and k.isidentifier()}


def _boot_plus(stat: str, facts: dict[str, str]) -> str:
    """The host's clock as epoch seconds: /proc/stat's ``btime`` (the wall clock at boot, which the
    kernel keeps in step with clock changes) plus the ``uptime`` the script read; "" if either is
    missing. Both are truncated, so this may be up to a second behind ``date +%s``."""
    btime = next((line[6:].strip() for line in stat.splitlines() if line.startswith("btime ")), "")
    up = facts.get("uptime", "")
    try:
        return str(int(btime) + int(float(up))) if btime.isdigit() and up else ""
    except (ValueError, OverflowError):
        return ""


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
        bytes=section.size,
    )
