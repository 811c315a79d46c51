"""Realistic ScanResults for the report tests: every rule's finding, every failed outcome, hostile names.

Built in code (not loaded from fixtures) so each test can see what went in and
check that it came out, escaped, in every format.
"""

from __future__ import annotations

from netdiag.model import (
    Collection,
    CommandRun,
    Endpoint,
    HostInfo,
    Owner,
    Process,
    Snapshot,
    Socket,
    TcpState,
)
from netdiag.results import Finding, HostResult, Outcome, Related, ScanResult, Severity

#: The rule ids of issue 4 (part of the interface).
RULE_IDS: tuple[str, ...] = (
    "close_wait_leak",
    "close_wait_unread",
    "ephemeral_port_collision",
    "fin_wait2_pileup",
    "listen_queue_full",
    "listen_overflows",
    "fd_exhaustion",
    "time_wait_exhaustion",
    "orphan_sockets",
    "cross_host_leak",
    "collection_incomplete",
)
FAILED_OUTCOMES: tuple[Outcome, ...] = tuple(o for o in Outcome if not o.scanned)

HOSTILE_IMG = "<img src=x onerror=alert(1)>"
HOSTILE_SCRIPT = "<script>alert(1)</script>"
# Would leave a mark in the DOM if it ever ran: proves "executing nothing", not just "no alert".
HOSTILE_MARK = "<img src=y onerror=\"document.body.setAttribute('data-pwned','1')\">"
HOSTILE_HOST = "evil\"host'&<b>bold</b>"
HOSTILE_MESSAGE = '<script>document.title="pwned"</script> connection refused'
ANSI_NAME = "worker\x1b[31mRED\x1b[0m\nnext"


def sock(
    state: TcpState,
    local: str,
    peer: str,
    *,
    recv_q: int = 0,
    send_q: int = 0,
    owner: tuple[int, str] | None = None,
    inode: int | None = None,
) -> Socket:
    """A socket from "addr:port" strings (port "*" for a wildcard)."""

    def ep(text: str) -> Endpoint:
        addr, _, port = text.rpartition(":")
        return Endpoint(addr.strip("[]"), None if port == "*" else int(port))

    owners = (Owner(owner[0], owner[1], 3),) if owner else ()
    return Socket(state, recv_q, send_q, ep(local), ep(peer), inode=inode, owners=owners)


def snapshot(
    name: str,
    sockets: list[Socket],
    *,
    netns: str = "host",
    source: str = "ss",
    processes: tuple[Process, ...] = (),
    missing: tuple[str, ...] = (),
) -> Snapshot:
    commands = tuple(CommandRun(n, "ss -tanoe" if n == "sockets" else n, "ok") for n in ("sockets", "limits"))
    commands += tuple(CommandRun(n, n, "denied", detail="permission denied") for n in missing)
    return Snapshot(
        host=HostInfo(
            name=name,
            address=f"{name}.example",
            hostname=name.split(".")[0],
            kernel="6.1.0-18-amd64",
            collected_at="2024-05-02T08:15:03Z",
            netns=netns,
        ),
        sockets=tuple(sockets),
        processes=processes,
        sysctls={"net.ipv4.ip_local_port_range": "32768\t60999", "net.core.somaxconn": "4096"},
        collection=Collection(
            socket_source=source,
            process_visibility="own" if missing else "full",
            commands=commands,
        ),
    )


def _many(state: TcpState, n: int, local: str, peer_addr: str, owner: tuple[int, str] | None) -> list[Socket]:
    return [sock(state, local, f"{peer_addr}:{32768 + i * 7}", owner=owner) for i in range(n)]


def busy_web(name: str = "web-1.prod", *, process: str = "nginx", pid: int = 812) -> Snapshot:
    """Seed 001: a loopback listener leaking CLOSE_WAIT, its accept queue over the backlog."""
    s = [
        sock(TcpState.LISTEN, "127.0.0.1:5000", "0.0.0.0:*", recv_q=129, send_q=128, owner=(pid, process)),
        sock(TcpState.LISTEN, "0.0.0.0:22", "0.0.0.0:*", recv_q=0, send_q=128, owner=(601, "sshd")),
        sock(TcpState.LISTEN, "[::]:8080", "[::]:*", recv_q=90, send_q=100, owner=(pid, process)),
    ]
    s += _many(TcpState.CLOSE_WAIT, 200, "127.0.0.1:5000", "127.0.0.1", (pid, process))
    s += _many(TcpState.ESTABLISHED, 12, "10.0.0.5:8080", "10.0.0.7", (pid, process))
    s += _many(TcpState.TIME_WAIT, 30, "10.0.0.5:41000", "10.0.0.9", None)
    s += [sock(TcpState.SYN_SENT, "127.0.0.1:40123", "127.0.0.1:5000", owner=(990, "curl"))]
    procs = (Process(pid, process, f"{process}: worker process", fd_count=1001, nofile_soft=1024),)
    return snapshot(name, s, processes=procs)


def quiet(name: str, *, netns: str = "host") -> Snapshot:
    s = [sock(TcpState.LISTEN, "0.0.0.0:22", "0.0.0.0:*", send_q=128, owner=(601, "sshd"))]
    s += _many(TcpState.ESTABLISHED, 3, "10.0.0.8:22", "10.0.0.1", (601, "sshd"))
    s += _many(TcpState.FIN_WAIT2, 40, "10.0.0.8:51000", "10.0.1.3", None)
    return snapshot(name, s, netns=netns)


def evidence(n: int, *, state: str = "CLOSE-WAIT", local: str = "127.0.0.1:5000") -> tuple[str, ...]:
    return tuple(
        f'{state} 1 0 {local} 127.0.0.1:{32768 + i} users:(("nginx",pid=812,fd={10 + i})) ino:{4000 + i}'
        for i in range(n)
    )


def finding(rule: str, severity: Severity, host: str, **kw: object) -> Finding:
    """A finding with the prose a rule would give (kw overrides any field)."""
    base: dict[str, object] = {
        "message": f"{rule.replace('_', ' ')} on {host}",
        "explanation": f"What {rule} means: the symptom, in two or three sentences. Sockets pile up.",
        "remedy": f"Do the {rule} fix: restart the process, then find the missing close().\nSecond line.",
    }
    base.update(kw)
    return Finding(rule=rule, severity=severity, host=host, **base)  # type: ignore[arg-type]


def every_rule_findings(web: str, hostile: str, db: str) -> list[Finding]:
    """One finding per rule id, spread over the hosts, with hostile names in some."""
    return [
        finding(
            "close_wait_leak",
            Severity.CRITICAL,
            web,
            process="nginx",
            pid=812,
            local="127.0.0.1:5000",
            value=200,
            threshold=50,
            evidence=evidence(20),
            evidence_total=200,
            series=(40, 90, 150, 200),
            message="200 CLOSE_WAIT sockets owned by nginx[812] on 127.0.0.1:5000 (Recv-Q 0: never closed)",
        ),
        finding(
            "close_wait_unread",
            Severity.WARNING,
            hostile,
            process=HOSTILE_IMG,
            pid=4242,
            local="10.0.0.6:143",
            value=7,
            threshold=1,
            evidence=(f"CLOSE-WAIT 2 0 {HOSTILE_SCRIPT}",),
            evidence_total=7,
            message=f"7 CLOSE_WAIT sockets with unread data held by {HOSTILE_IMG}",
        ),
        finding(
            "ephemeral_port_collision",
            Severity.CRITICAL,
            web,
            process="nginx",
            pid=812,
            local="127.0.0.1:5000",
            peer="127.0.0.1:40123",
            value=187,
            threshold=1,
            evidence=evidence(5),
            evidence_total=187,
            confidence="medium",
        ),
        finding(
            "fin_wait2_pileup",
            Severity.WARNING,
            db,
            peer="10.0.1.3:443",
            value=40,
            threshold=32,
            evidence=evidence(3, state="FIN-WAIT-2"),
            evidence_total=40,
        ),
        finding(
            "listen_queue_full",
            Severity.CRITICAL,
            web,
            process="nginx",
            pid=812,
            local="127.0.0.1:5000",
            value=129,
            threshold=128,
            message="accept queue 129/128 on 127.0.0.1:5000: full",
        ),
        finding("listen_overflows", Severity.INFO, web, value=12, threshold=0, series=(0, 4, 12)),
        finding(
            "fd_exhaustion",
            Severity.WARNING,
            web,
            process="nginx",
            pid=812,
            value=1001,
            threshold=819.2,
        ),
        finding("time_wait_exhaustion", Severity.INFO, db, peer="10.0.1.3:443", value=20000, threshold=22591),
        finding("orphan_sockets", Severity.INFO, db, value=3100, threshold=4096),
        finding(
            "cross_host_leak",
            Severity.CRITICAL,
            hostile,
            process=HOSTILE_SCRIPT,
            pid=77,
            local="10.0.0.6:8080",
            peer="10.0.0.8:51000",
            value=40,
            threshold=10,
            related=(Related(db, HOSTILE_MARK, 991),),
            message=f"{hostile}'s {HOSTILE_SCRIPT} is not closing connections from {db}'s envoy",
        ),
        finding(
            "collection_incomplete",
            Severity.INFO,
            "legacy-1",
            message="no process visibility: owners unknown",
        ),
    ]


def rich_scan() -> ScanResult:
    """Findings of every rule, a partial host, a host in two namespaces, a failed host per outcome."""
    web, db = "web-1.prod", "db-1.prod"
    hosts = [
        HostResult(web, "10.0.0.5", Outcome.OK, samples=(busy_web(web),), seconds=0.8),
        HostResult(
            HOSTILE_HOST,
            "10.0.0.6",
            Outcome.OK,
            samples=(busy_web(HOSTILE_HOST, process=HOSTILE_IMG, pid=4242),),
        ),
        HostResult(db, "10.0.0.8", Outcome.OK, samples=(quiet(db), quiet(db, netns="blue")), seconds=0.4),
        HostResult(
            "legacy-1",
            "10.0.0.9",
            Outcome.PARTIAL,
            "missing: processes (permission denied)",
            samples=(
                snapshot(
                    "legacy-1",
                    [sock(TcpState.LISTEN, "0.0.0.0:25", "0.0.0.0:*", recv_q=3)],
                    source="proc",
                    missing=("processes",),
                ),
            ),
        ),
        HostResult("clean-1", "10.0.0.10", Outcome.OK, samples=(quiet("clean-1"),)),
    ]
    messages = {
        Outcome.UNREACHABLE: "connect to 10.0.9.1 port 22: No route to host",
        Outcome.AUTH_FAILED: "Authentication failed for netdiag@10.0.9.2 (publickey)",
        Outcome.HOSTKEY_UNKNOWN: "host key for 10.0.9.3 is not in known_hosts",
        Outcome.HOSTKEY_CHANGED: "REMOTE HOST IDENTIFICATION HAS CHANGED for 10.0.9.4",
        Outcome.TIMEOUT: "no answer within 30 s",
        Outcome.ERROR: HOSTILE_MESSAGE,
    }
    for i, outcome in enumerate(FAILED_OUTCOMES, start=1):
        hosts.append(HostResult(f"down-{outcome.value}", f"10.0.9.{i}", outcome, messages[outcome]))
    hosts.append(HostResult(ANSI_NAME, "10.0.9.99", Outcome.TIMEOUT, "hung\x1b[2J"))
    return ScanResult(
        started="2024-05-02T08:15:00Z",
        duration_s=31.4,
        hosts=hosts,
        findings=every_rule_findings(web, HOSTILE_HOST, db),
        options={"samples": 1, "limit": None, "config": "/etc/netdiag/netdiag.cfg", "disable": ("x",)},
        inventory="inventory/prod.yml",
    )


def scan_of(hosts: list[HostResult], findings: list[Finding]) -> ScanResult:
    return ScanResult(started="2024-05-02T08:15:00Z", duration_s=1.0, hosts=hosts, findings=findings)


def fleet(n_hosts: int, n_findings: int) -> ScanResult:
    """A big fleet for scale checks: ``n_findings`` spread round-robin over ``n_hosts``."""
    hosts = [
        HostResult(
            f"node-{i:04d}", f"10.1.{i // 250}.{i % 250}", Outcome.OK, samples=(busy_web(f"node-{i:04d}"),)
        )
        for i in range(n_hosts)
    ]
    sev = (Severity.CRITICAL, Severity.WARNING, Severity.INFO)
    findings = [
        finding(
            RULE_IDS[i % len(RULE_IDS)],
            sev[i % 3],
            hosts[i % n_hosts].name,
            process="nginx",
            pid=800 + i,
            local=f"127.0.0.1:{5000 + i % 100}",
            value=200 + i,
            threshold=50,
            evidence=evidence(20),
            evidence_total=200 + i,
        )
        for i in range(n_findings)
    ]
    return scan_of(hosts, findings)
