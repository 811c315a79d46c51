"""Small programs that replay the incidents of DOMAIN.md on real sockets, one role each.

Each runs standalone (stdlib only), usually inside a test namespace host:
``ip netns exec NS python3 tests/incidents.py PROGRAM HOST PORT [options]``. When its
sockets are in place it prints ONE JSON line (``{"pid": ..., "port": ..., ...}``) and
then holds everything until stdin closes or ``--lifetime`` seconds pass, so a program
a test forgot can never outlive it by much. ``start()`` runs one and waits for that line.

Programs (the server behaviours are the faults; the clients behave correctly):

* ``server``: a listener whose accepted connections get ``--behaviour``:
  ``forget-close`` reads to end-of-file and never closes (CLOSE_WAIT, Recv-Q 0: the
  classic forgotten close(), seed 001); ``never-read`` neither reads nor closes
  (Recv-Q 1: only the FIN unread); ``reply-early`` reads the request headers only,
  answers keep-alive and idles ``--keepalive`` seconds before closing, the body
  unread (nginx behind Envoy, seed 000); ``short-read`` reads ``--read`` bytes and
  stops (the backend that never reads the last byte, seed 002); ``never-accept``
  only listens.
* ``clients``: ``--count`` connections to HOST:PORT (bound to ports spread evenly over
  ``--ports LOW HIGH`` when given), each sending ``--send`` bytes or an HTTP POST with a
  ``--post``-byte body (then reading the answer), then ``--then close`` or
  ``shutdown`` (half-close: the sockets stay owned in FIN_WAIT_2, they never time out).
* ``flood``: fills a never-accepting listener's queue (``--queued`` connections) and
  then keeps sending SYNs (about ``--rate`` per second, at most ``--pending`` left in
  SYN_SENT) for ``--seconds``, so the ListenOverflows counter keeps growing.
* ``fdhog``: a listener in a process whose soft RLIMIT_NOFILE is ``--nofile`` and which
  holds exactly ``--fds`` open descriptors.
* ``churn``: a healthy busy server: ``--count`` short request/response connections to
  itself, closed by the client first (each leaves a TIME_WAIT), plus ``--keep`` idle
  keep-alive pairs.

``--name`` sets the process name (/proc/PID/comm, 15 bytes at most), which findings show.
"""

from __future__ import annotations

import argparse
import errno
import os
import resource
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

if not __package__:  # run as a script (python tests/incidents.py): make the package importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import progs

SCRIPT = Path(__file__).resolve()
RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok"


# -- helpers -------------------------------------------------------------------


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def _listen(host: str, port: int, backlog: int) -> socket.socket:
    s = socket.socket(_family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, port))
    s.listen(backlog)
    return s


def _recv_exactly(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _spread(low: int, high: int, count: int) -> list[int]:
    """``count`` ports from ``low`` to ``high``, evenly spaced, both ends included."""
    if count == 1:
        return [low]
    return [low + round(i * (high - low) / (count - 1)) for i in range(count)]


# -- the server and its behaviours -------------------------------------------------


def _forget_close(conn: socket.socket, a: argparse.Namespace) -> None:
    while conn.recv(4096):
        pass  # end-of-file read, and then... nothing: no close()


def _never_read(conn: socket.socket, a: argparse.Namespace) -> None:
    pass


def _reply_early(conn: socket.socket, a: argparse.Namespace) -> None:
    """Answer as soon as the headers are in, never reading the body; idle until keep-alive ends."""
    while True:
        peek = conn.recv(65536, socket.MSG_PEEK)
        if not peek:
            return
        end = peek.find(b"\r\n\r\n")
        if end >= 0:
            break
        time.sleep(0.01)  # headers incomplete: the peek returns at once, so wait for more
    _recv_exactly(conn, end + 4)
    conn.sendall(RESPONSE)
    time.sleep(a.keepalive)  # waiting for the next request, reading nothing
    conn.close()


def _short_read(conn: socket.socket, a: argparse.Namespace) -> None:
    _recv_exactly(conn, a.read)  # and never another read


BEHAVIOURS: dict[str, Callable[[socket.socket, argparse.Namespace], None]] = {
    "forget-close": _forget_close,
    "never-read": _never_read,
    "reply-early": _reply_early,
    "short-read": _short_read,
}


def server(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port, a.backlog)
    keep.append(srv)
    if a.behaviour != "never-accept":
        handle = BEHAVIOURS[a.behaviour]

        def serve() -> None:
            while True:
                conn, _ = srv.accept()
                keep.append(conn)  # held for the program's life: that is the leak
                threading.Thread(target=handle, args=(conn, a), daemon=True).start()

        threading.Thread(target=serve, daemon=True).start()
    return {"port": srv.getsockname()[1], "backlog": a.backlog, "behaviour": a.behaviour}


# -- clients ----------------------------------------------------------------------------


def clients(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    ports = _spread(a.ports[0], a.ports[1], a.count) if a.ports else [0] * a.count
    conns = []
    for port in ports:
        c = socket.socket(_family(a.host), socket.SOCK_STREAM)
        c.settimeout(10)
        if port:
            c.bind(("127.0.0.1" if a.host.startswith("127.") else "", port))
        c.connect((a.host, a.port))
        conns.append(c)
    for c in conns:
        if a.post:
            head = f"POST /upload HTTP/1.1\r\nHost: backend\r\nContent-Length: {a.post}\r\n\r\n"
            c.sendall(head.encode() + b"b" * a.post)
        elif a.send:
            c.sendall(b"c" * a.send)
    if a.post:
        for c in conns:
            answer = b""
            while not answer.endswith(b"ok"):
                chunk = c.recv(4096)
                if not chunk:
                    raise RuntimeError("the server closed before answering")
                answer += chunk
    bound = [c.getsockname()[1] for c in conns]
    for c in conns:
        if a.then == "shutdown":
            c.shutdown(socket.SHUT_WR)
            keep.append(c)
        else:
            c.close()
    return {"port": a.port, "client_ports": bound}


# -- flood ---------------------------------------------------------------------------------


def flood(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    # Each connect() returns once the SYN-ACK is in; the kernel queues backlog + 1.
    for _ in range(a.queued):
        c = socket.socket(_family(a.host), socket.SOCK_STREAM)
        c.settimeout(5)
        c.connect((a.host, a.port))
        keep.append(c)
    stop_at = time.monotonic() + a.seconds

    def syns() -> None:
        pending: list[socket.socket] = []
        while time.monotonic() < stop_at:
            c = socket.socket(_family(a.host), socket.SOCK_STREAM)
            c.setblocking(False)
            err = c.connect_ex((a.host, a.port))
            if err not in (0, errno.EINPROGRESS):
                c.close()
            else:
                pending.append(c)
            while len(pending) > a.pending:
                pending.pop(0).close()
            time.sleep(1 / a.rate)
        for c in pending:
            c.close()

    threading.Thread(target=syns, daemon=True).start()
    return {"port": a.port, "queued": a.queued}


# -- fdhog -------------------------------------------------------------------------------------


def _open_fds() -> int:
    return sum(1 for _ in Path("/proc/self/fd").iterdir()) - 1  # the listing's own fd is not ours


def fdhog(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (a.nofile, hard))
    srv = _listen(a.host, a.port, 16)
    keep.append(srv)
    fds = []
    while _open_fds() < a.fds:
        fds.append(os.open(os.devnull, os.O_RDONLY))
    keep.append(fds)
    return {"port": srv.getsockname()[1], "fds": _open_fds(), "nofile": a.nofile}


# -- churn -------------------------------------------------------------------------------------


def churn(a: argparse.Namespace, keep: list[Any]) -> dict[str, Any]:
    srv = _listen(a.host, a.port, 128)
    keep.append(srv)
    for _ in range(a.count):
        c = socket.create_connection((a.host, a.port), timeout=5)
        s, _ = srv.accept()
        c.sendall(b"GET / HTTP/1.0\r\n\r\n")
        s.recv(4096)
        s.sendall(b"HTTP/1.0 204 No Content\r\n\r\n")
        c.recv(4096)
        c.close()  # the client closes first: the TIME_WAIT is its
        s.recv(4096)  # end-of-file
        s.close()
    for _ in range(a.keep):
        c = socket.create_connection((a.host, a.port), timeout=5)
        keep += [c, srv.accept()[0]]
    return {"port": srv.getsockname()[1], "connections": a.count, "kept": a.keep}


PROGRAMS: dict[str, progs.Program] = {
    "server": server,
    "clients": clients,
    "flood": flood,
    "fdhog": fdhog,
    "churn": churn,
}


def main(argv: list[str] | None = None) -> int:
    p = progs.parser(
        __doc__,
        PROGRAMS,
        host_help="address to listen on or connect to (loopback or a test namespace)",
        port_help="0 = any free port (listeners)",
    )
    p.add_argument("--behaviour", choices=[*sorted(BEHAVIOURS), "never-accept"], default="never-read")
    p.add_argument("--backlog", type=int, default=128)
    p.add_argument("--keepalive", type=float, default=75.0, help="reply-early: idle seconds before close")
    p.add_argument("--read", type=int, default=0, help="short-read: bytes read before it stops")
    p.add_argument("--count", type=int, default=3)
    p.add_argument("--ports", type=int, nargs=2, metavar=("LOW", "HIGH"))
    p.add_argument("--send", type=int, default=0)
    p.add_argument("--post", type=int, default=0, help="send an HTTP POST with a body of this size")
    p.add_argument("--then", choices=("close", "shutdown"), default="close")
    p.add_argument("--queued", type=int, default=1)
    p.add_argument("--rate", type=float, default=200.0)
    p.add_argument("--pending", type=int, default=32)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--nofile", type=int, default=100)
    p.add_argument("--fds", type=int, default=90)
    p.add_argument("--keep", type=int, default=4)
    p.add_argument("--lifetime", type=float, default=120.0, help="exit after this many seconds at most")
    p.add_argument("--name", default="")
    a = p.parse_args(argv)
    progs.serve(a, PROGRAMS, lifetime=a.lifetime, name=a.name)
    os._exit(0)  # daemon threads may sit in accept() or sleep(): leave without waiting for them


# -- for tests ---------------------------------------------------------------------------------

Running = progs.Running


def start(
    program: str, host: str, port: int, *args: str, prefix: Sequence[str] = (), timeout: float = 20.0
) -> Running:
    """Run a program and wait for its readiness line; raise if it dies first.

    ``prefix`` goes before the interpreter: ``("ip", "netns", "exec", NS)`` or the fleet's
    ``Fleet.prefix(host)``, which also enters the host's PID namespace so the pid printed is
    the one the host's snapshots show.
    """
    return progs.start(SCRIPT, program, host, port, *args, prefix=prefix, timeout=timeout)


if __name__ == "__main__":
    sys.exit(main())
