"""Small programs that make real TCP sockets in known states, for tests on live hosts and namespaces.

Each runs standalone (stdlib only) as ``python tests/sockets.py PROGRAM HOST PORT [options]``
or ``python -m tests.sockets ...``. When its sockets are in place it prints ONE JSON line
on stdout (``{"pid": ..., "port": ..., ...}``, port 0 in the arguments means "any free
port" and the real one is printed) and then holds everything until stdin closes or it is
killed. ``start()`` runs one from a test and waits for that line.

Programs:

* ``listener``: a listening socket, nothing else.
* ``pairs``: a listener plus ``--count`` ESTABLISHED pairs; each client sends
  ``--unread`` bytes the server never reads (its Recv-Q).
* ``closewait``: a server that accepts ``--count`` connections and never closes them;
  the clients half-close (``shutdown(SHUT_WR)``, they stay owned in FIN_WAIT2) and
  ``--orphans`` more clients close() outright (FIN_WAIT2 without an owner). The server
  side of each is in CLOSE_WAIT.
* ``fullqueue``: a listener with backlog ``--backlog`` that never accepts, flooded until
  its accept queue is full (backlog + 1 connections queued, Recv-Q > Send-Q) plus
  ``--extra`` clients left in SYN_SENT.
* ``manyfds``: a listener holding ``--count`` extra open fds, with RLIMIT_NOFILE soft
  lowered to ``--nofile`` so the fd count and the limit are both known.
* ``forked``: a listener shared by ``--count`` forked children (one socket, many owners).

``--name`` sets the process name (/proc/PID/comm, 15 bytes at most) of the
program and its children, so tests can use names with spaces and parentheses.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python tests/sockets.py): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import progs

SCRIPT = Path(__file__).resolve()


# -- the programs ------------------------------------------------------------


def _listen(host: str, port: int, backlog: int = 128) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def _connect(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    c = socket.socket(family, socket.SOCK_STREAM)
    c.settimeout(5)
    c.connect((host, port))
    return c


def _ports(socks: list[socket.socket]) -> list[int]:
    return [s.getsockname()[1] for s in socks]


def listener(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port, a.backlog)
    keep.append(srv)
    return {"port": srv.getsockname()[1], "backlog": a.backlog}


def pairs(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port)
    port = srv.getsockname()[1]
    clients = [_connect(a.host, port) for _ in range(a.count)]
    servers = [srv.accept()[0] for _ in clients]
    for c in clients:
        if a.unread:
            c.sendall(b"x" * a.unread)
    keep += [srv, *clients, *servers]
    return {"port": port, "client_ports": _ports(clients), "unread": a.unread}


def closewait(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port)
    port = srv.getsockname()[1]
    held = [_connect(a.host, port) for _ in range(a.count)]
    orphans = [_connect(a.host, port) for _ in range(a.orphans)]
    accepted = [srv.accept()[0] for _ in range(a.count + a.orphans)]
    held_ports, orphan_ports = _ports(held), _ports(orphans)
    for c in held:
        c.shutdown(socket.SHUT_WR)
    for c in orphans:
        c.close()
    keep += [srv, *held, *accepted]
    return {"port": port, "client_ports": held_ports, "orphan_ports": orphan_ports}


def fullqueue(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port, a.backlog)
    port = srv.getsockname()[1]
    # The kernel queues backlog + 1 completed connections; each connect() returns
    # once the SYN-ACK is in, so the queue is full when these have all returned.
    queued = [_connect(a.host, port) for _ in range(a.backlog + 1)]
    pending = []
    for _ in range(a.extra):
        family = socket.AF_INET6 if ":" in a.host else socket.AF_INET
        c = socket.socket(family, socket.SOCK_STREAM)
        c.setblocking(False)
        with contextlib.suppress(BlockingIOError):
            c.connect((a.host, port))
        pending.append(c)
    time.sleep(0.2)  # let the last ACKs land in the listener's queue
    keep += [srv, *queued, *pending]
    return {"port": port, "backlog": a.backlog, "queued": a.backlog + 1, "pending_ports": _ports(pending)}


def manyfds(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, hard))
    srv = _listen(a.host, a.port)
    fds = [os.open(os.devnull, os.O_RDONLY) for _ in range(a.count)]
    keep += [srv, fds]
    return {"port": srv.getsockname()[1], "nofile": [a.nofile, hard]}


def forked(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port)
    children = []
    parent = os.getpid()
    for _ in range(a.count):
        pid = os.fork()
        if pid == 0:  # the child holds the inherited socket until its parent goes
            while os.getppid() == parent:
                time.sleep(0.2)
            os._exit(0)
        children.append(pid)
    keep.append(srv)
    return {"port": srv.getsockname()[1], "children": children}


PROGRAMS: dict[str, progs.Program] = {
    "listener": listener,
    "pairs": pairs,
    "closewait": closewait,
    "fullqueue": fullqueue,
    "manyfds": manyfds,
    "forked": forked,
}


def main(argv: list[str] | None = None) -> int:
    p = progs.parser(
        __doc__,
        PROGRAMS,
        host_help="address to listen on and connect to (loopback or a test namespace)",
        port_help="0 = any free port",
    )
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--orphans", type=int, default=0)
    p.add_argument("--unread", type=int, default=0)
    p.add_argument("--backlog", type=int, default=2)
    p.add_argument("--extra", type=int, default=2)
    p.add_argument("--nofile", type=int, default=1000)
    p.add_argument("--name", default="")
    progs.serve(p.parse_args(argv), PROGRAMS, lifetime=None)
    return 0


# -- for tests ---------------------------------------------------------------

Running = progs.Running


def start(
    program: str, host: str, port: int = 0, *args: str, prefix: Sequence[str] = (), timeout: float = 20.0
) -> Running:
    """Run a program (in this interpreter) and wait for its readiness line; raise if it dies first.

    ``prefix`` goes before the interpreter, e.g. ``("ip", "netns", "exec", "ns1")``.
    """
    return progs.start(SCRIPT, program, host, port, *args, prefix=prefix, timeout=timeout)


if __name__ == "__main__":
    sys.exit(main())
