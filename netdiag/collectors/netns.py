"""Network namespaces of a host: the ``netns`` map and the labels a person recognises.

The script's awk reduces ``ls -l /proc/[0-9]*/ns/net`` and the nsfs mounts of
``/proc/self/mountinfo`` to::

    N INODE PROCS LOWPID HIGHPID   a namespace processes are in
    M INODE MOUNTPOINT             a namespace mount (``ip netns add`` puts them in /run/netns)
    H INODE                        the script's own namespace: "host"
    E TEXT                         a message of no known kind
    V READABLE DENIED GONE         ns links read, refused, vanished

A namespace is labelled, in this order: its ``ip netns`` name (unless it is a
CNI's ``cni-<uuid>`` and a container is known), the pod or container its
processes' cgroup path names (``pod:NAME`` from the pod's hostname, else
``pod:<uid>``; ``docker:NAME`` from docker's own config, else
``docker:<id12>``; ``containerd:``/``crio:``/``podman:``/``lxc:``), else
``netns:<inode>``. The root namespace is ``host``. Labels are unique per host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

from netdiag.collectors.fdmap import record_ints
from netdiag.parsers import Parsed

SOURCE = "netns"
HOST = "host"
NAMED_DIRS = ("/run/netns/", "/var/run/netns/")

_HEX = r"[0-9a-f]{12,64}"
# (runtime, pattern whose group 1 is the id or name), tried in order on each cgroup path.
_RUNTIMES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("docker", re.compile(rf"docker-({_HEX})\.scope")),
    ("docker", re.compile(rf"/docker/({_HEX})(?:/|$)")),
    ("containerd", re.compile(rf"cri-containerd-({_HEX})\.scope")),
    ("crio", re.compile(rf"crio-({_HEX})\.scope")),
    ("podman", re.compile(rf"libpod-({_HEX})\.scope")),
    ("podman", re.compile(rf"/libpod_parent/libpod-({_HEX})")),
    ("containerd", re.compile(rf"/kubepods/(?:[a-z]+/)?pod[0-9a-f-]+/({_HEX})(?:/|$)")),
    ("lxc", re.compile(r"/lxc\.payload\.([^/]+)")),
    ("lxc", re.compile(r"/lxc/([^/]+)")),
)
_POD = re.compile(r"pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")
_EVIDENCE = re.compile(r"/proc/(\d+)/(cgroup|root/etc/hostname):(.*)")
_DOCKER = re.compile(r"/var/lib/docker/containers/([0-9a-f]+)/config\.v2\.json:\"Name\":\"/([^\"]*)\"")


@dataclass(frozen=True, slots=True)
class Container:
    """What a cgroup path says: the runtime, the container id (or lxc name) and the pod's uid."""

    runtime: str
    id: str
    pod_uid: str | None = None


@dataclass(slots=True)
class Namespace:
    inode: int
    procs: int = 0
    low_pid: int | None = None
    high_pid: int | None = None
    mounts: list[str] = field(default_factory=list)

    @property
    def pids(self) -> tuple[int, ...]:
        """The two processes the script read labels from: the highest first (a pod's app, not its pause)."""
        return tuple(dict.fromkeys(p for p in (self.high_pid, self.low_pid) if p is not None))

    @property
    def names(self) -> list[str]:
        """``ip netns`` names of this namespace."""
        return [m.rsplit("/", 1)[1] for m in self.mounts if m.startswith(NAMED_DIRS) and m.count("/") == 3]


@dataclass(slots=True)
class NsMap:
    """The parsed ``netns`` section; ``counted`` is False when its summary line never came."""

    namespaces: dict[int, Namespace] = field(default_factory=dict)
    host: int | None = None
    readable: int = 0
    denied: int = 0
    gone: int = 0
    counted: bool = False
    messages: list[str] = field(default_factory=list)

    def get(self, inode: int) -> Namespace:
        return self.namespaces.setdefault(inode, Namespace(inode))


@dataclass(slots=True)
class Evidence:
    """What the script read about the namespaces' processes: cgroup paths, hostnames, docker names."""

    cgroups: dict[int, list[str]] = field(default_factory=dict)  # pid -> cgroup paths
    hostnames: dict[int, str] = field(default_factory=dict)
    docker_names: dict[str, str] = field(default_factory=dict)  # full container id -> name


def parse_nsmap(text: str) -> tuple[NsMap, Parsed[None]]:
    """The map and a ``Parsed`` holding only warnings and the count of lines dealt with."""
    nsmap = NsMap()
    out: Parsed[None] = Parsed()
    for line_no, line in enumerate(text.splitlines(), start=1):
        f = line.split()
        if not f:
            continue
        kind, nums = f[0], record_ints(f[1:])
        if kind == "E":
            nsmap.messages.append(line[2:])
        elif kind == "N" and nums is not None and len(nums) == 4:
            ns = nsmap.get(nums[0])
            ns.procs, ns.low_pid, ns.high_pid = nums[1:]
        elif kind == "M" and len(f) >= 3 and f[1].isdigit():
            nsmap.get(int(f[1])).mounts.append(line.split(" ", 2)[2])
        elif kind == "H" and nums is not None and len(nums) == 1:
            nsmap.host = nums[0]
        elif kind == "V" and nums is not None and len(nums) == 3:
            nsmap.readable, nsmap.denied, nsmap.gone = nums
            nsmap.counted = True
        else:
            out.warn(SOURCE, line_no, line, "not a netns map line (N/M/H/E/V)")
            continue
        out.accounted += 1
    return nsmap, out


def parse_evidence(texts: Iterable[str]) -> Evidence:
    """``grep -H`` lines of ``/proc/PID/cgroup``, ``/proc/PID/root/etc/hostname`` and docker configs."""
    ev = Evidence()
    for text in texts:
        for line in text.splitlines():
            if m := _EVIDENCE.fullmatch(line):
                pid = int(m[1])
                if m[2] == "cgroup":
                    ev.cgroups.setdefault(pid, []).append(m[3].split(":", 2)[-1])
                elif m[3].strip():
                    ev.hostnames.setdefault(pid, m[3].strip())
            elif m := _DOCKER.fullmatch(line):
                ev.docker_names[m[1]] = m[2]
    return ev


def container_of(path: str) -> Container | None:
    """The container a cgroup path belongs to, if it names one (pod uid even without a container id)."""
    pod = _POD.search(path)
    pod_uid = pod[1].replace("_", "-") if pod else None
    for runtime, pattern in _RUNTIMES:
        if m := pattern.search(path):
            return Container(runtime, m[1], pod_uid)
    return Container("kubernetes", "", pod_uid) if pod_uid else None


def label(ns: Namespace, ev: Evidence) -> tuple[str, str]:
    """(label, description): what a person calls this namespace, and what it was recognised by."""
    container = next(
        (c for pid in ns.pids for path in ev.cgroups.get(pid, ()) if (c := container_of(path))), None
    )
    hostname = next((ev.hostnames[p] for p in ns.pids if p in ev.hostnames), None)
    names = ns.names
    facts = [f"inode {ns.inode}"]
    if ns.procs:
        pids = f"pid {ns.low_pid}" if ns.low_pid == ns.high_pid else f"pids {ns.low_pid}..{ns.high_pid}"
        facts.append(f"{ns.procs} process{'es' if ns.procs > 1 else ''} ({pids})")
    if ns.mounts:
        facts.append("mounted at " + ", ".join(ns.mounts))
    if container is not None:
        facts.append(f"{container.runtime} container {container.id or '?'}")
        if container.pod_uid:
            facts.append(f"pod uid {container.pod_uid}")
        if hostname:
            facts.append(f"hostname {hostname}")
    description = "; ".join(facts)
    if names and not (container is not None and names[0].startswith("cni-")):
        return names[0], description
    if container is not None:
        if container.pod_uid:
            return f"pod:{hostname or container.pod_uid}", description
        if container.runtime == "docker" and container.id in ev.docker_names:
            return f"docker:{ev.docker_names[container.id]}", description
        return f"{container.runtime}:{container.id[:12]}", description
    if names:
        return names[0], description
    return f"netns:{ns.inode}", description


def unique_labels(labels: Iterable[tuple[int, str]]) -> dict[int, str]:
    """inode -> label, a repeated label (or "host" for a non-root namespace) suffixed ``#inode``."""
    pairs = list(labels)
    seen: dict[str, int] = {}
    for _, text in pairs:
        seen[text] = seen.get(text, 0) + 1
    return {ino: f"{text}#{ino}" if seen[text] > 1 or text == HOST else text for ino, text in pairs}
