"""Target 4: the HTML report for 1,000 hosts / 10,000 findings and for twice that, in linear time.

Each size renders in its own child (input built there, only ``render_html``
timed). The check is the per-round ratio of the two render times (linear:
about 2; quadratic would be about 4), the file size, and that the page keeps
evidence bounded per finding and collapsed (inside closed ``<details>``).
"""

from __future__ import annotations

import functools
import json
import sys

from benchmarks.baselines import cache_dir
from benchmarks.measure import Ratio, Run, Series, alternate, plain, ratio, run_child

SIZES = ((1000, 10_000), (2000, 20_000))
LINEAR_SLACK = 2.3  # twice the input, "at most about twice the time"


def _render(hosts: int, findings: int) -> Run:
    out = cache_dir() / f"report-{hosts}-{findings}.html"
    run = run_child([sys.executable, "-m", "benchmarks.report_worker", str(hosts), str(findings), str(out)])
    facts = json.loads(run.stdout)
    return Run(facts["render_s"], facts["render_cpu_s"], facts["maxrss_mib"], b"", facts)


def bench(rounds: int, scale: float = 1.0) -> tuple[list[Ratio], list[str]]:
    sizes = [(int(h * scale), int(f * scale)) for h, f in SIZES]
    names = [f"{h} hosts/{f} findings" for h, f in sizes]
    series = alternate(
        {n: functools.partial(_render, h, f) for n, (h, f) in zip(names, sizes, strict=True)},
        rounds,
        "report",
    )
    small, big = series[names[0]], series[names[1]]
    out = [
        ratio("report", "render cpu, 2x input / 1x input", big, small, "cpu", at_most=LINEAR_SLACK),
        ratio("report", "render wall, 2x input / 1x input", big, small, "wall", at_most=LINEAR_SLACK),
        ratio("report", "file size ratio (big/small)", _facts(big, "bytes"), _facts(small, "bytes"), "wall"),
    ]
    for s, (_, f) in zip((small, big), sizes, strict=True):
        r = s.runs[0].extra
        out.append(plain("report", f"MB for {s.name}", [x.extra["bytes"] / 1e6 for x in s.runs]))
        out.append(
            plain(
                "report",
                f"max evidence lines/finding ({s.name})",
                [r["max_evidence_lines"]],
                at_most=26,
                note="25 shown + 1 'N more' line; generated 40 per finding",
            )
        )
        out.append(
            plain(
                "report",
                f"evidence blocks not collapsed ({s.name})",
                [r["details"] - r["collapsed"]],
                at_most=0,
            )
        )
        out.append(plain("report", f"render cpu s ({s.name})", s.values("cpu")))
        out.append(plain("report", f"peak RSS MiB ({s.name})", s.values("maxrss_mib")))
        del f
    return out, []


def _facts(series: Series, key: str) -> Series:
    return Series(series.name, [Run(r.extra[key]) for r in series.runs])
