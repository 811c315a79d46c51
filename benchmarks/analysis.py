"""Target 3: parsing and all rules over 1,000,000 sockets vs one ``awk`` pass and vs ``jc --ss``.

Every contender is its own child process reading the same cached file, so each
is charged its start-up, its read and its whole work, and its peak RSS is its
own. Ratios are taken per round on CPU seconds (user+sys: what a busy machine
does not inflate) and on wall seconds.

jc's ss parser needs the Netid column (it reads ``ss -a`` listings), so it is
given the same rows with ``tcp`` in front; on a big input it is timed on the
first ``JC_LINES`` rows and scaled linearly (jc's parse is one loop per row).
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import baselines, gen
from benchmarks.measure import Ratio, Run, Series, alternate, log, plain, ratio, run_child, summary

# One pass counting sockets per state and local port: the least any analysis must do.
AWK_PROGRAM = 'NR > 1 { n = split($4, a, ":"); c[$1 " " a[n]]++ } END { for (k in c) print k, c[k] }'
JC_LINES = 100_000
MEMORY_TARGET_MIB = 400.0


def _netid_copy(path: Path, lines: int | None) -> Path:
    """The listing with a Netid column (``tcp``), as jc's ss parser requires; first ``lines`` rows."""
    out = path.with_name(f"{path.stem}.netid{lines or 'all'}{path.suffix}")
    if not out.exists():
        with path.open() as src, out.open("w") as dst:
            for i, line in enumerate(src):
                if lines is not None and i > lines:
                    break
                dst.write(("Netid " if i == 0 else "tcp   ") + line)
    return out


def _worker(mode: str, path: Path) -> Run:
    import json

    run = run_child([sys.executable, "-m", "benchmarks.analysis_worker", mode, str(path)])
    phases = json.loads(run.stdout)
    return Run(run.wall, run.cpu, phases["maxrss_mib"], b"", phases)


def bench(sockets: int, rounds: int, with_jc: bool = True) -> tuple[list[Ratio], list[str]]:
    log(f"[analysis] generating/reading the cached {sockets:,}-socket listing")
    # generated in a child: this process must stay small (see measure.run_child on maxrss)
    run_child([sys.executable, "-c", f"from benchmarks.gen import cached_inputs; cached_inputs({sockets})"])
    ss_path, col_path = gen.cached_inputs(sockets)
    awk = "awk"
    contenders = {
        "netdiag parse_ss+rules": lambda: _worker("ss", ss_path),
        "netdiag assemble+rules (whole collection)": lambda: _worker("collection", col_path),
        f"awk ({_which_awk()})": lambda: run_child([awk, AWK_PROGRAM, str(ss_path)], keep_stdout=False),
    }
    jc_scale = 1.0
    if with_jc:
        venv = baselines.ensure()
        jc_lines = min(JC_LINES, sockets)
        jc_scale = sockets / jc_lines
        jc_input = _netid_copy(ss_path, jc_lines if jc_lines < sockets else None)
        jc = str(venv / "bin" / "jc")
        contenders[f"jc --ss ({jc_lines:,} rows)"] = lambda: run_child(
            [jc, "--ss"], stdin=jc_input, keep_stdout=False
        )
    series = alternate(contenders, rounds, "analysis")
    nd, col, awk_s = (series[n] for n in list(contenders)[:3])
    out = [
        ratio("analysis", "netdiag/awk  (cpu)", nd, awk_s, "cpu", at_most=4),
        ratio("analysis", "netdiag/awk  (wall)", nd, awk_s, "wall", at_most=4),
        ratio("analysis", "assemble+rules/awk (cpu, informative)", col, awk_s, "cpu"),
    ]
    if with_jc:
        jc_s = series[list(contenders)[3]]
        note = f"jc timed on {min(JC_LINES, sockets):,} rows, scaled x{jc_scale:g}" if jc_scale != 1 else ""
        out.append(
            ratio(
                "analysis",
                "jc/netdiag (cpu; >= means netdiag faster)",
                _scaled(jc_s, jc_scale),
                nd,
                "cpu",
                at_least=5,
                note=note,
            )
        )
        out.append(
            ratio("analysis", "jc/netdiag (wall)", _scaled(jc_s, jc_scale), nd, "wall", at_least=5, note=note)
        )
    out.append(
        plain(
            "analysis",
            "netdiag peak RSS MiB (parse_ss+rules)",
            nd.values("maxrss_mib"),
            at_most=MEMORY_TARGET_MIB,
        )
    )
    out.append(
        plain(
            "analysis",
            "netdiag peak RSS MiB (assemble+rules)",
            col.values("maxrss_mib"),
            at_most=MEMORY_TARGET_MIB,
        )
    )
    details = summary(series, "cpu") + summary(series, "wall")
    for s in (nd, col):
        for phase in ("read_s", "parse_s", "rules_s"):
            v = sorted(s.values(phase))
            details.append(f"    {s.name:<40} {phase:<8} median {v[len(v) // 2]:8.3f}")
        details.append(
            f"    {s.name:<40} sockets {s.runs[0].extra['sockets']:.0f} owned {s.runs[0].extra['owned']:.0f} "
            f"findings {s.runs[0].extra['findings']:.0f} rule_errors {s.runs[0].extra['rule_errors']:.0f} "
            f"warnings {s.runs[0].extra['warnings']:.0f}"
        )
    return out, details


def _scaled(series: Series, factor: float) -> Series:
    return Series(series.name, [Run(r.wall * factor, r.cpu * factor, r.maxrss_mib) for r in series.runs])


def _which_awk() -> str:
    import os
    import shutil

    found = shutil.which("awk")
    return os.path.realpath(found) if found else "awk"
