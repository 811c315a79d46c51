"""The report benchmark's child: build a synthetic scan of H hosts and F findings, render its HTML.

``python -m benchmarks.report_worker HOSTS FINDINGS OUT.html`` prints one JSON
line: the render time (input building excluded), the file size, and what the
page shows of the evidence (lines per finding, collapsed or not).
"""

from __future__ import annotations

import json
import re
import sys
import time
from pathlib import Path

from benchmarks.measure import peak_rss_mib
from netdiag.model import Collection, Endpoint, HostInfo, Snapshot, Socket, TcpState, Timer
from netdiag.render.html import render_html
from netdiag.results import Finding, HostResult, Outcome, ScanResult, Severity

RULES = ("close_wait_leak", "listen_queue_full", "fin_wait2_pileup", "time_wait_exhaustion", "fd_exhaustion")
EVIDENCE_PER_FINDING = 40  # more than any bound, so the bound shows


def _snapshot(i: int) -> Snapshot:
    host = HostInfo(
        f"web{i:05d}",
        f"198.18.{i // 250}.{i % 250 + 1}",
        hostname=f"web{i:05d}",
        kernel="6.1.0",
        collected_at="2024-01-01T00:00:00Z",
    )
    states = (TcpState.ESTABLISHED, TcpState.CLOSE_WAIT, TcpState.TIME_WAIT, TcpState.LISTEN)
    sockets = tuple(
        Socket(
            states[k % 4],
            k % 7,
            128 if k % 4 == 3 else 0,
            Endpoint("10.0.0.1", 8000 + k % 20),
            Endpoint("10.1.2.3", 40000 + k),
            Timer("keepalive", 60.0, 0),
        )
        for k in range(40)
    )
    return Snapshot(host=host, sockets=sockets, collection=Collection(socket_source="ss"))


def build(hosts: int, findings: int) -> ScanResult:
    results = [
        HostResult(
            f"web{i:05d}",
            f"198.18.{i // 250}.{i % 250 + 1}",
            Outcome.OK,
            samples=(_snapshot(i),),
            seconds=0.5,
        )
        for i in range(hosts)
    ]
    out = []
    per_host = max(1, findings // hosts)
    for n in range(findings):
        h = (n // per_host) % hosts
        evidence = tuple(
            f"CLOSE-WAIT  1 0 10.0.0.1:{8000 + n % 50} 10.9.{n % 250}.{k}:{40000 + k} "
            f'users:(("java",pid={1000 + n},fd={k}))'
            for k in range(EVIDENCE_PER_FINDING)
        )
        out.append(
            Finding(
                rule=RULES[n % len(RULES)],
                severity=Severity(1 + n % 3),
                host=f"web{h:05d}",
                message=f"java (pid {1000 + n}) holds {200 + n % 1000} <CLOSE_WAIT> on :{8000 + n % 50}",
                explanation="The peer closed; the application never called close().",
                remedy="Fix the leak; restart the process to release the sockets.",
                process="java",
                pid=1000 + n,
                local=f"10.0.0.1:{8000 + n % 50}",
                value=float(200 + n % 1000),
                threshold=100.0,
                evidence=evidence,
                evidence_total=200 + n % 1000,
            )
        )
    return ScanResult(started="2024-01-01T00:00:00Z", duration_s=12.0, hosts=results, findings=out)


def main() -> None:
    hosts, findings, out = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    result = build(hosts, findings)
    c0, t0 = time.process_time(), time.perf_counter()
    html = render_html(result)
    c1, t1 = time.process_time(), time.perf_counter()
    out.write_text(html, encoding="utf-8")
    blocks = re.findall(r'<pre class="evidence">(.*?)</pre>', html, re.S)
    lines = [b.count("\n") + 1 for b in blocks]
    whys = re.findall(r"<details class=\"why\"( open)?>", html)
    print(
        json.dumps(
            {
                "render_s": t1 - t0,
                "render_cpu_s": c1 - c0,
                "bytes": float(len(html.encode("utf-8"))),
                "evidence_blocks": float(len(blocks)),
                "max_evidence_lines": float(max(lines, default=0)),
                "collapsed": float(sum(1 for w in whys if not w)),
                "details": float(len(whys)),
                "maxrss_mib": peak_rss_mib(),
            }
        )
    )


if __name__ == "__main__":
    main()
