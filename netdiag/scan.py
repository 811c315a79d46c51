"""Scan a fleet: collect every target in parallel and give each exactly one outcome.

Why a thread per host and a deadline kept by the main thread: a paramiko
connection blocks in socket reads, and a hung host (a full disk, a stuck
``/proc`` read) must never hold the scan. The main thread watches each host's
deadline (connect + all samples) and, when it passes, closes that host's
transport under the worker's feet and records ``timeout``; the worker's late
answer is ignored. Ctrl-C closes every open transport the same way, keeps what
finished and reports the rest as ``error: interrupted``.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, TextIO

from netdiag.collectors import collect
from netdiag.inventory import Target
from netdiag.model import HostInfo, Snapshot
from netdiag.results import HostResult, Outcome, ScanResult
from netdiag.transport.base import ExecResult, Transport, TransportError
from netdiag.transport.local import LocalTransport
from netdiag.transport.ssh import (
    AuthFailed,
    Closed,
    HostKeyChanged,
    HostKeyUnknown,
    NoSshBanner,
    SshContext,
    SshError,
    SshOptions,
    SshTransport,
    Unreachable,
)

DEFAULT_FORKS = 20
DEFAULT_DEADLINE = 60.0
LOCAL_NAMES = frozenset({"localhost", "local"})

Progress = Callable[[int, int, int], None]  # (done, total, failed so far)

_OUTCOME_OF_ERROR: tuple[tuple[type[SshError], Outcome], ...] = (
    (Unreachable, Outcome.UNREACHABLE),
    (NoSshBanner, Outcome.TIMEOUT),
    (AuthFailed, Outcome.AUTH_FAILED),
    (HostKeyUnknown, Outcome.HOSTKEY_UNKNOWN),
    (HostKeyChanged, Outcome.HOSTKEY_CHANGED),
)


@dataclass(frozen=True, slots=True)
class ScanOptions:
    """How to scan. ``deadline`` bounds one host's connect and collection; waits between samples add to it."""

    forks: int = DEFAULT_FORKS
    deadline: float = DEFAULT_DEADLINE
    samples: int = 1
    interval: float = 0.0
    become: bool = False
    script_args: tuple[str, ...] = ()
    netns: str = "auto"  # auto (all when privileged) | all | host | a namespace's name, id or inode
    ssh: SshOptions = field(default_factory=SshOptions)

    def host_deadline(self) -> float:
        return self.deadline + max(0, self.samples - 1) * self.interval

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def scan(
    targets: Sequence[Target],
    options: ScanOptions,
    progress: Progress | None = None,
    *,
    first: Collection[str] = (),
) -> list[HostResult]:
    """One ``HostResult`` per target, in target order, whatever happens (Ctrl-C included).

    Targets named in ``first`` (those that hung or could not be reached last time)
    take a fork slot before the others: a host that runs to its deadline then does so
    from the scan's start, instead of after waiting for a slot behind the whole fleet.
    """
    if options.forks < 1 or options.samples < 1 or options.deadline <= 0 or options.interval < 0:
        raise ValueError("forks and samples must be at least 1, the deadline positive, the interval >= 0")
    context = SshContext(options.ssh)
    runs = [_HostRun(t, options, context) for t in targets]
    results: list[HostResult | None] = [None] * len(runs)
    failed = 0

    def record(i: int, result: HostResult) -> None:
        nonlocal failed
        results[i] = result
        failed += not result.outcome.scanned
        if progress is not None:
            progress(sum(r is not None for r in results), len(results), failed)

    pool = ThreadPoolExecutor(max_workers=options.forks, thread_name_prefix="netdiag-scan")
    pending: dict[Future[HostResult], int] = {
        pool.submit(runs[i].work): i for i in submission_order(targets, first)
    }
    try:
        while pending:
            done, _ = wait(pending, timeout=_next_wake(runs), return_when=FIRST_COMPLETED)
            for future in done:
                i = pending.pop(future)
                record(i, future.result())
            now = time.monotonic()
            for future, i in list(pending.items()):
                late = runs[i].expire_if_late(now)
                if late is not None:
                    del pending[future]
                    record(i, late)
    except KeyboardInterrupt:
        for future in pending:  # first, so no worker picks up a new host while others are closed
            future.cancel()
        for i in pending.values():
            record(i, runs[i].interrupt())
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return [r for r in results if r is not None]


def submission_order(targets: Sequence[Target], first: Collection[str]) -> list[int]:
    """Indexes of ``targets``: those named in ``first``, then the rest, each in inventory order."""
    wanted = frozenset(first)
    return sorted(range(len(targets)), key=lambda i: targets[i].name not in wanted)


def scan_result(
    targets: Sequence[Target],
    options: ScanOptions,
    *,
    inventory: str | None = None,
    progress: Progress | None = None,
    first: Collection[str] = (),
) -> ScanResult:
    """A whole scan as the reports take it (findings are the rules' business, added later)."""
    started = datetime.now(timezone.utc)
    t0 = time.monotonic()
    hosts = scan(targets, options, progress, first=first)
    return ScanResult(
        started=started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        duration_s=round(time.monotonic() - t0, 3),
        hosts=hosts,
        options=options.to_dict(),
        inventory=inventory,
    )


def judge(samples: Sequence[Snapshot]) -> tuple[Outcome, str | None]:
    """The outcome of a host that was read: ok, or partial naming the sources it lacks."""
    latest = samples[-1]
    c = latest.collection
    ran_ok = {r.name for r in c.commands if r.status == "ok"}
    missing = sorted({r.name for r in c.commands if r.status != "ok"} - ran_ok)
    notes = []
    if missing:
        details = {r.name: r for r in c.commands if r.status != "ok"}
        notes.append("missing: " + ", ".join(f"{m} ({details[m].status})" for m in missing))
    views = {s.host.netns: s for s in samples if s.host.netns != latest.host.netns}  # other namespaces
    for ns, view in views.items():
        lacking = sorted({r.name for r in view.collection.commands if r.status != "ok"} - ran_ok)
        if lacking:
            missing.append(ns)
            notes.append(f"netns {ns} missing: " + ", ".join(lacking))
    record = next((r for r in c.commands if r.name == "netns"), None)
    if record is not None and ("not entered" in record.detail or "skipped" in record.detail):
        notes.append(f"namespaces: {record.detail}")
    fallback = [r for r in c.commands if r.name == "sockets" and r.status == "missing"]
    if fallback and "sockets" in ran_ok:
        notes.append(f"sockets read with {c.socket_source} ({fallback[0].detail or 'ss missing'})")
    if c.process_visibility != "full":
        who = "" if c.uid == 0 else f" (not root: uid {c.uid})"
        notes.append(f"process visibility: {c.process_visibility}{who}")
    return (Outcome.PARTIAL if missing else Outcome.OK), ("; ".join(notes) or None)


def tty_progress(stream: TextIO | None = None) -> Progress | None:
    """A one-line progress display on ``stream`` (stderr) when it is a terminal; None (silent) otherwise."""
    out = stream if stream is not None else sys.stderr
    if not out.isatty():
        return None

    def show(done: int, total: int, failed: int) -> None:
        out.write(f"\rnetdiag: {done}/{total} hosts done, {failed} failed ")
        if done == total:
            out.write("\n")
        out.flush()

    return show


class _Observed:
    """Wraps a transport to see the raw result of each run (timed out? empty?) behind ``collect``."""

    def __init__(self, inner: Transport) -> None:
        self.inner = inner
        self.last: ExecResult | None = None

    def run(self, script: bytes, args: Sequence[str], timeout: float) -> ExecResult:
        self.last = self.inner.run(script, args, timeout)
        return self.last

    def close(self) -> None:
        self.inner.close()


class _HostRun:
    """One target's work, and the lock that makes its first final answer the only one."""

    def __init__(self, target: Target, options: ScanOptions, context: SshContext) -> None:
        self.target = target
        self.options = options
        self.context = context
        self.address = target.address
        self.stage = "waiting for a worker"
        self.started: float | None = None
        self.deadline: float | None = None
        self.samples: list[Snapshot] = []
        self._transport: Transport | None = None
        self._final: HostResult | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()

    # -- main thread ---------------------------------------------------------

    def expire_if_late(self, now: float) -> HostResult | None:
        if self.deadline is None or now < self.deadline:
            return None
        return self._end(Outcome.TIMEOUT, self._late())

    def _late(self) -> str:
        """Why a host ran out of time: the same words whether the main thread's watcher or the
        transport's own timeout saw the deadline pass first (they race at that instant)."""
        return f"no result within the {self.options.host_deadline():g} s deadline (stuck {self.stage})"

    def interrupt(self) -> HostResult:
        what = "before it was scanned" if self.started is None else f"while {self.stage}"
        self._end(Outcome.ERROR, f"interrupted {what}")
        with self._lock:
            return self._final or self._result(Outcome.ERROR, f"interrupted {what}")

    def _end(self, outcome: Outcome, message: str) -> HostResult | None:
        """Decide for the worker (deadline, Ctrl-C) and pull the transport from under it."""
        with self._lock:
            if self._final is not None:
                return None
            self._final = self._result(outcome, message)
            transport = self._transport
        self._stop.set()
        if transport is not None:
            transport.close()
        return self._final

    # -- worker thread ---------------------------------------------------------

    def work(self) -> HostResult:
        with self._lock:
            if self._final is not None:
                return self._final
            self.started = time.monotonic()
            self.deadline = self.started + self.options.host_deadline()
        try:
            outcome, message = self._collect()
        except Closed:
            outcome, message = Outcome.ERROR, "closed"  # only the main thread closes; its answer stands
        except SshError as e:
            outcome, message = _outcome_of(e), str(e)
        except TransportError as e:
            outcome, message = Outcome.ERROR, str(e)
        except Exception as e:  # a bug must cost one host, never the scan
            outcome, message = Outcome.ERROR, f"internal error: {type(e).__name__}: {e}"
        finally:
            if self._transport is not None:
                self._transport.close()
        with self._lock:
            if self._final is None:
                self._final = self._result(outcome, message)
            return self._final

    def _collect(self) -> tuple[Outcome, str | None]:
        t = self.target
        o = self.options
        notes: list[str] = []
        if t.connection == "local" or (t.address in LOCAL_NAMES and t.port is None and t.user is None):
            transport: Transport = LocalTransport()
            self.address = "local"
        else:
            route = self.context.route(t.address, user=t.user, port=t.port, key_file=t.key_file)
            become = o.become if t.become is None else t.become
            transport = SshTransport(route, self.context, become=become)
            self.address = route.target.hostname
        with self._lock:
            if self._final is not None:
                raise Closed("ended before connecting")
            self._transport = transport
        if isinstance(transport, SshTransport):
            self.stage = "connecting"
            transport.connect()
        observed = _Observed(transport)
        info = HostInfo(name=t.name, address=self.address)
        args = (*o.script_args, *(() if o.netns == "auto" else (f"--netns={o.netns}",)))
        if isinstance(transport, SshTransport):
            args += ("--compress",)  # zstd or gzip on the host when it pays; the reader knows it by its magic
        started, deadline = self.started or time.monotonic(), self.deadline or time.monotonic()
        for i in range(o.samples):
            if i:
                self.stage = f"waiting for sample {i + 1}/{o.samples}"
                if self._stop.wait(max(0.0, started + i * o.interval - time.monotonic())):
                    raise Closed("stopped between samples")
            self.stage = f"collecting sample {i + 1}/{o.samples}" if o.samples > 1 else "collecting"
            snapshots = collect(observed, info, args, timeout=max(0.1, deadline - time.monotonic()))
            last = observed.last
            if last is None:  # collect() always runs the transport once
                raise TransportError("the collection did not run")
            if last.timed_out:
                return Outcome.TIMEOUT, self._late()
            if not last.stdout.strip():
                err = last.stderr.decode("utf-8", "replace").strip().replace("\n", " | ")[:300]
                return Outcome.ERROR, f"the collection script printed nothing (exit {last.exit_code}): {err}"
            self.samples.extend(snapshots)  # one per network namespace, the root one last
        if isinstance(transport, SshTransport):
            if transport.become_refused:
                notes.append(f"--become: sudo -n failed ({transport.become_refused}); scanned without sudo")
            notes += [f"new host key recorded: {k}" for k in transport.new_host_keys]
        outcome, message = judge(self.samples)
        return outcome, "; ".join([*([message] if message else []), *notes]) or None

    def _result(self, outcome: Outcome, message: str | None) -> HostResult:
        seconds = 0.0 if self.started is None else time.monotonic() - self.started
        return HostResult(
            name=self.target.name,
            address=self.address,
            outcome=outcome,
            message=message,
            samples=tuple(self.samples),
            seconds=round(seconds, 3),
        )


def _outcome_of(error: SshError) -> Outcome:
    for kind, outcome in _OUTCOME_OF_ERROR:
        if isinstance(error, kind):
            return outcome
    return Outcome.ERROR


def _next_wake(runs: Sequence[_HostRun]) -> float:
    """How long the main thread may sleep before some deadline needs checking (at most 0.2 s)."""
    now = time.monotonic()
    soonest = min(
        (r.deadline for r in runs if r.deadline is not None and r._final is None), default=now + 0.2
    )
    return min(0.2, max(0.01, soonest - now))
