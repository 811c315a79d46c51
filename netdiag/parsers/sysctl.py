"""Sysctls as printed by ``grep -H '' /proc/sys/...``: ``PATH:VALUE`` per line.

``grep -H`` reads any number of files in one process and names each, which
``sysctl`` cannot do portably (busybox, old procps). Paths become sysctl
names the way ``sysctl`` spells them: ``/`` to ``.``, and a ``.`` inside a
path component (``eth0.100``) to ``/``. Whitespace inside a value (the tab of
``ip_local_port_range``) is normalised to one space.
"""

from __future__ import annotations

from netdiag.parsers import Parsed

SOURCE = "sysctl"

PREFIX = "/proc/sys/"

# The sysctls DOMAIN.md names; the collection script reads exactly these.
SYSCTLS: tuple[str, ...] = (
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.ip_local_port_range",
    "net.core.somaxconn",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_orphans",
    "net.ipv4.tcp_abort_on_overflow",
)


def parse_sysctls(text: str) -> Parsed[tuple[str, str]]:
    """``/proc/sys/a/b:value`` lines to ``("a.b", "value")`` records."""
    out: Parsed[tuple[str, str]] = Parsed()
    for line_no, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        path, sep, value = line.strip().partition(":")
        rel = path[len(PREFIX) :]
        parts = rel.split("/")
        if not sep or not path.startswith(PREFIX) or any(p.split() != [p] for p in parts):
            out.warn(SOURCE, line_no, line, "not a '/proc/sys/PATH:VALUE' line (grep -H output)")
            continue
        name = ".".join(p.replace(".", "/") for p in parts)
        out.records.append((name, " ".join(value.split())))
        out.accounted += 1
    return out
