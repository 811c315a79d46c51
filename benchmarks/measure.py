"""Measuring: one child process at a time, contenders alternated round by round, ratios per round.

Why children and ``wait4``: the kernel's rusage of a reaped child gives its CPU
(user+sys, its own reaped descendants included) and its RSS high-water mark,
with no sampling and nothing of the benchmark's own process mixed in.
Why ratios per round: on a busy 2-core machine absolute times drift; two
contenders timed back to back in the same round see the same load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True)
class Run:
    """One timed execution: wall seconds, CPU seconds (user+sys), peak RSS in MiB, what it printed."""

    wall: float
    cpu: float = 0.0
    maxrss_mib: float = 0.0
    stdout: bytes = b""
    extra: Mapping[str, float] = field(default_factory=dict)


def run_child(
    argv: Sequence[str],
    *,
    stdin: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    keep_stdout: bool = True,
) -> Run:
    """Run ``argv`` to completion; its rusage comes from ``os.wait4`` (so descendants it reaped count).

    ``maxrss_mib`` is the kernel's ``ru_maxrss``, which a child inherits from this
    process's RSS at exec time: keep the parent small, or have the child report
    its own ``peak_rss_mib()``.
    """
    stdin_file: IO[bytes] | None = stdin.open("rb") if stdin is not None else None
    out = subprocess.PIPE if keep_stdout else subprocess.DEVNULL
    start = time.perf_counter()
    try:
        proc = subprocess.Popen(
            list(argv),
            stdin=stdin_file or subprocess.DEVNULL,
            stdout=out,
            env=None if env is None else dict(env),
        )
        data = b""
        if keep_stdout:
            assert proc.stdout is not None
            data = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    finally:
        if stdin_file is not None:
            stdin_file.close()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{argv[0]} exited {proc.returncode}: {' '.join(argv)[:200]}")
    return Run(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024.0, data, {"rc": proc.returncode})


def peak_rss_mib() -> float:
    """This process's own RSS high-water mark (``VmHWM``), in MiB.

    Not ``ru_maxrss``: after a vfork+exec that one starts at the parent's RSS
    (the kernel keeps the old mm's high-water mark), so a child of a big parent
    would be charged the parent's memory.
    """
    with Path("/proc/self/status").open() as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


@dataclass(slots=True)
class Series:
    """Every run of one contender across rounds."""

    name: str
    runs: list[Run] = field(default_factory=list)

    def values(self, what: str) -> list[float]:
        return [
            getattr(r, what) if what in ("wall", "cpu", "maxrss_mib") else r.extra[what] for r in self.runs
        ]


Contender = Callable[[], Run]


def alternate(contenders: Mapping[str, Contender], rounds: int, label: str) -> dict[str, Series]:
    """Run every contender once per round, rotating who goes first so none always runs on a warm cache."""
    names = list(contenders)
    series = {n: Series(n) for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            run = contenders[name]()
            series[name].runs.append(run)
            log(
                f"[{label}] round {r + 1}/{rounds} {name}: wall {run.wall:.3f}s cpu {run.cpu:.3f}s "
                f"rss {run.maxrss_mib:.0f}MiB"
            )
    return series


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Ratio:
    """A per-round ratio ``num/den`` of one measure, summarised; ``target`` is the claim it checks."""

    benchmark: str
    label: str
    values: tuple[float, ...]
    target: str
    ok: bool | None  # None: no target to judge (informational row)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def line(self) -> str:
        verdict = "" if self.ok is None else ("PASS" if self.ok else "MISS")
        return (
            f"{self.benchmark:<9} {self.label:<46} median {self.median:8.3f}  min {min(self.values):8.3f}  "
            f"max {max(self.values):8.3f}  (n={len(self.values)})  {self.target:<14} {verdict}"
            + (f"  [{self.note}]" if self.note else "")
        )


def ratio(
    benchmark: str,
    label: str,
    num: Series,
    den: Series,
    what: str = "wall",
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    scale_den: float = 1.0,
    note: str = "",
) -> Ratio:
    """Per-round ``num/(den*scale_den)`` of ``what``; judged against ``at_most`` or ``at_least``."""
    values = tuple(a / (b * scale_den) for a, b in zip(num.values(what), den.values(what), strict=True))
    med = statistics.median(values)
    if at_most is not None:
        return Ratio(benchmark, label, values, f"target <= {at_most:g}", med <= at_most, note)
    if at_least is not None:
        return Ratio(benchmark, label, values, f"target >= {at_least:g}", med >= at_least, note)
    return Ratio(benchmark, label, values, "", None, note)


def plain(
    benchmark: str,
    label: str,
    values: Sequence[float],
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    note: str = "",
) -> Ratio:
    """A summarised measure that is not a ratio of two series (peak memory, a size, a deadline)."""
    med = statistics.median(values)
    if at_most is not None:
        return Ratio(benchmark, label, tuple(values), f"target <= {at_most:g}", med <= at_most, note)
    if at_least is not None:
        return Ratio(benchmark, label, tuple(values), f"target >= {at_least:g}", med >= at_least, note)
    return Ratio(benchmark, label, tuple(values), "", None, note)


def summary(series: Mapping[str, Series], what: str = "wall") -> list[str]:
    """Median/min/max of every contender's absolute measure, for the record."""
    lines = []
    for s in series.values():
        v = s.values(what)
        lines.append(
            f"    {s.name:<40} {what:<5} median {statistics.median(v):9.3f}  min {min(v):9.3f}  "
            f"max {max(v):9.3f}"
        )
    return lines
