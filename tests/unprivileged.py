"""collect.sh run as an unprivileged user, for the tests of what a collection without root sees."""

from __future__ import annotations

import subprocess

from netdiag.collectors import script_bytes

NOBODY = 65534


def run_script_as_nobody(timeout: float) -> subprocess.CompletedProcess[bytes]:
    """The script on stdin of ``sh``, as nobody (no extra groups, from /); needs root to switch."""
    return subprocess.run(
        ["sh", "-s", "--"],
        input=script_bytes(),
        capture_output=True,
        user=NOBODY,
        group=NOBODY,
        extra_groups=[],
        cwd="/",
        timeout=timeout,
    )
