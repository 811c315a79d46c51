"""A full scan as ``netdiag scan ... --html`` does it, for when the CLI lacks the report options.

``python -m benchmarks.fleet_worker INVENTORY KEY KNOWN_HOSTS SSH_CONFIG FORKS DEADLINE HTML``:
scan, run every rule, print the terminal summary, write the HTML report.
"""

from __future__ import annotations

import sys
from pathlib import Path

from netdiag.engine import run_rules
from netdiag.inventory import load_inventory
from netdiag.render.html import render_html
from netdiag.render.terminal import render_text
from netdiag.scan import ScanOptions, scan_result
from netdiag.transport.ssh import SshOptions


def main() -> None:
    inventory, key, known, config, forks, deadline, html = sys.argv[1:]
    options = ScanOptions(
        forks=int(forks),
        deadline=float(deadline),
        netns="host",
        ssh=SshOptions(user="root", key_file=key, known_hosts=known, config_file=config),
    )
    result = scan_result(load_inventory([inventory]).select(None), options, inventory=inventory)
    result.findings = run_rules(result.hosts)
    sys.stdout.write(render_text(result))
    Path(html).write_text(render_html(result), encoding="utf-8")


if __name__ == "__main__":
    main()
