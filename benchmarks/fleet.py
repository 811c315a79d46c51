"""Target 1: a full ``netdiag scan`` of 40 namespace hosts with real sshd, ``-f 20``, vs the baselines.

The fleet is ``tests/nsfleet.py``'s harness (network namespaces in
198.18.0.0/15, one OpenSSH sshd each, a throwaway key and known_hosts). In
each round, alternating: ``netdiag scan`` (collection, rules, terminal summary
and ``--html``) as a fresh process; a bare paramiko thread pool collecting
``ss -tanpo; ss -ltn; cat /proc/net/netstat`` (collection only); and
``ansible -m raw`` with the same commands and the same fork count (OpenSSH
connection sharing off, so every contender starts cold each round). Then the
same scan with the fleet's ``hung`` host added (its sessions never end) must
finish within its per-host deadline plus 10%.
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks import baselines
from benchmarks.measure import Ratio, Run, alternate, log, plain, ratio, run_child, summary

FORKS = 20
HUNG_DEADLINE = 10.0
# --netns host: the test hosts share this machine's PID namespace, so "auto" would make
# every one of them also read every other test host's namespace (work no real host does).
RAW = "ss -tanpo; ss -ltn; cat /proc/net/netstat"


def _netdiag_argv(
    inventory: Path, key: Path, known: Path, config: Path, html: Path, deadline: float
) -> list[str]:
    """The whole job as users run it: collection, rules, terminal summary, HTML report, history."""
    return [
        sys.executable,
        "-c",
        "from netdiag.cli import run; run()",  # what the console script runs
        "scan",
        "--netns",
        "host",
        "--history",
        str(html.with_name("bench-history.sqlite")),
        str(inventory),
        "-f",
        str(FORKS),
        "-u",
        "root",
        "--key",
        str(key),
        "--known-hosts",
        str(known),
        "-F",
        str(config),
        "--timeout",
        f"{deadline:g}",
        "--html",
        str(html),
    ]


def bench(hosts: int, rounds: int, with_ansible: bool = True) -> tuple[list[Ratio], list[str]]:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.nsfleet import Fleet

    venv = baselines.ensure() if with_ansible else None
    log(f"[fleet] starting {hosts} namespace hosts with sshd")
    fleet = Fleet.start(plain=hosts)
    try:
        root = fleet.root
        addresses = [h.address for h in fleet.plain]
        inventory = root / "bench-hosts"
        inventory.write_text("".join(a + "\n" for a in addresses))
        hung_inventory = root / "bench-hosts-hung"
        hung_inventory.write_text("".join(a + "\n" for a in [*addresses, fleet["hung"].address]))
        config = root / "bench-ssh-config"
        config.touch()
        html = root / "bench-report.html"
        contenders = {
            "netdiag scan": lambda: _check_exit(
                run_child(
                    _netdiag_argv(inventory, fleet.client_key, fleet.known_hosts, config, html, 60.0),
                    check=False,
                )
            ),
            "paramiko pool": lambda: run_child(
                [
                    sys.executable,
                    "-m",
                    "benchmarks.paramiko_pool",
                    str(fleet.client_key),
                    str(fleet.known_hosts),
                    str(FORKS),
                    *addresses,
                ]
            ),
        }
        if venv is not None:
            ans_inv = root / "bench-ansible-hosts"
            ans_inv.write_text("[fleet]\n" + "".join(f"{a}\n" for a in addresses))
            env = _ansible_env(root, fleet.known_hosts)
            argv = [
                str(venv / "bin" / "ansible"),
                "all",
                "-i",
                str(ans_inv),
                "-m",
                "raw",
                "-a",
                RAW,
                "-f",
                str(FORKS),
                "-u",
                "root",
                "--private-key",
                str(fleet.client_key),
            ]
            contenders["ansible -m raw"] = lambda: run_child(argv, env=env)
        series = alternate(contenders, rounds, "fleet")
        nd, pool = series["netdiag scan"], series["paramiko pool"]
        results = [ratio("fleet", "netdiag scan / paramiko pool (wall)", nd, pool, "wall", at_most=1.15)]
        if venv is not None:
            results.append(
                ratio(
                    "fleet",
                    "ansible -m raw / netdiag scan (wall)",
                    series["ansible -m raw"],
                    nd,
                    "wall",
                    at_least=2,
                )
            )
        results.append(ratio("fleet", "netdiag scan / paramiko pool (cpu, controller)", nd, pool, "cpu"))
        results.append(plain("fleet", "netdiag scan peak RSS MiB", nd.values("maxrss_mib")))
        hung_address = fleet["hung"].address
        hung_first = root / "bench-hosts-hung-first"
        hung_first.write_text("".join(a + "\n" for a in [hung_address, *addresses]))
        for label, inv in (("last in inventory", hung_inventory), ("first in inventory", hung_first)):
            hung = []
            for r in range(max(1, rounds // 2)):
                argv = _netdiag_argv(inv, fleet.client_key, fleet.known_hosts, config, html, HUNG_DEADLINE)
                run = _check_exit(run_child(argv, check=False))
                said = [x for x in run.stdout.decode(errors="replace").splitlines() if hung_address in x]
                log(
                    f"[fleet] hung host {label}, round {r + 1}: wall {run.wall:.2f}s (deadline "
                    f"{HUNG_DEADLINE:g}s); its line: {said[:1]}"
                )
                hung.append(run.wall / HUNG_DEADLINE)
            results.append(
                plain(
                    "fleet",
                    f"hung host {label}: scan wall / deadline {HUNG_DEADLINE:g}s",
                    hung,
                    at_most=1.1,
                    note="whole process: start-up, the other hosts, rules, report",
                )
            )
        details = [
            f"    hosts {len(addresses)}, forks {FORKS}, netdiag as the scan CLI with --html",
            *summary(series, "wall"),
            *summary(series, "cpu"),
        ]
        return results, details
    finally:
        fleet.stop()


def _check_exit(run: Run) -> Run:
    """netdiag's exit status says what it found (0-3); anything else is a crash, not a measurement."""
    if run.extra.get("rc") not in (0, 1, 2, 3):
        raise RuntimeError(f"netdiag scan exited {run.extra.get('rc')}: {run.stdout[-2000:]!r}")
    return run


def _ansible_env(root: Path, known_hosts: Path) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_HOST_KEY_CHECKING": "True",
            "ANSIBLE_SSH_ARGS": (
                f"-o ControlMaster=no -o ControlPath=none -o UserKnownHostsFile={known_hosts} "
                "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes -F /dev/null"
            ),
            "ANSIBLE_LOCAL_TEMP": str(root / "ansible-local"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_DEPRECATION_WARNINGS": "False",
            "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
            "ANSIBLE_CONFIG": str(root / "no-ansible.cfg"),
        }
    )
    return env
