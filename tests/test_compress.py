"""``--gzip``: the script compresses its whole output when the host has gzip and it pays, and says so.

It pays from 500 TCP sockets (or other namespaces to read; the small-host cases are
in ``test_collect_script.py``), so the compressed runs here hold a crowd of sockets.

The reader knows a compressed stream by gzip's magic bytes (``expand``), reads a
stream cut short as far as it goes, and an SSH scan always asks for compression.
The sizes on a host with many sockets are measured and printed (``-s``).
"""

from __future__ import annotations

import gzip
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import ClassVar

import pytest

from netdiag.collectors import GZIP_MAGIC, collect, expand, script_bytes
from netdiag.collectors.sections import split_sections
from netdiag.inventory import Target
from netdiag.model import HostInfo
from netdiag.results import Outcome
from netdiag.scan import ScanOptions, scan
from netdiag.transport.base import ExecResult
from netdiag.transport.local import LocalTransport
from tests import sockets

TOOLS = ("sh", "awk", "cat", "date", "grep", "head", "id", "ls", "xargs", "ss")


def run(*args: str, path: str | None = None) -> bytes:
    env = None if path is None else {"PATH": path}
    r = subprocess.run(
        ["sh", "-s", "--", *args], input=script_bytes(), capture_output=True, env=env, timeout=120
    )
    assert r.returncode == 0 and r.stderr == b"", r.stderr
    return r.stdout


def script_facts(text: bytes) -> dict[str, str]:
    sections, _ = split_sections(text.decode("utf-8", "replace"))
    body = next(s.text for s in sections if s.name == "script")
    return dict(line.split("=", 1) for line in body.splitlines())


@pytest.fixture(scope="module")
def crowd() -> Iterator[None]:
    """Some 720 established loopback sockets: past the script's 500, where gzip pays."""
    held = [sockets.start("pairs", "127.0.0.1", 0, "--count", "120") for _ in range(3)]
    try:
        yield
    finally:
        for c in held:
            c.stop()


@pytest.mark.usefixtures("crowd")
def test_gzip_output_expands_to_the_same_sections() -> None:
    packed = run("--netns=host", "--gzip")
    assert packed[:2] == GZIP_MAGIC
    text, damage = expand(packed)
    assert damage is None and text.endswith(b"\n==netdiag== done\n")
    assert script_facts(text)["compress"] == "gzip"
    plain = run("--netns=host")
    assert script_facts(plain)["compress"] == "none"
    names = [[s.name for s in split_sections(t.decode("utf-8", "replace"))[0]] for t in (text, plain)]
    assert names[0] == names[1]


def test_without_gzip_on_path_the_output_is_plain_and_says_why(tmp_path: Path) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in TOOLS:
        (tools / tool).symlink_to(shutil.which(tool) or f"/missing/{tool}")
    out = run("--netns=host", "--gzip", path=str(tools))
    assert out[:2] != GZIP_MAGIC and out.endswith(b"==netdiag== done\n")
    assert script_facts(out)["compress"] == "none (gzip not found)"


def test_expand_reads_a_cut_stream_as_far_as_it_goes() -> None:
    text = b"".join(
        b"==netdiag== begin s%d\nline %d\n\n==netdiag== end s%d status=ok rc=0 t=0.00 cmd=x\n" % (i, i, i)
        for i in range(2000)
    )
    packed = gzip.compress(text, 1)
    cut, damage = expand(packed[: len(packed) // 2])
    assert damage == "compressed output ends early"
    assert 0 < len(cut) < len(text) and text.startswith(cut)
    assert expand(text) == (text, None)  # not compressed: as it is
    broken = packed[:10] + bytes(b ^ 0xFF for b in packed[10:40]) + packed[40:]
    _, damage = expand(broken)
    assert damage is not None and "corrupt" in damage


@pytest.mark.usefixtures("crowd")
def test_a_compressed_run_records_the_bytes_that_travelled() -> None:
    (snap,) = collect(LocalTransport(), HostInfo("localhost", "local"), ["--netns=host", "--gzip"])
    (plain,) = collect(LocalTransport(), HostInfo("localhost", "local"), ["--netns=host"])
    assert not [c for c in snap.collection.commands if c.command.startswith("sh -s")]  # a clean run
    assert 0 < snap.collection.bytes_received < plain.collection.bytes_received
    assert snap.host.hostname == plain.host.hostname and snap.sysctls.keys() == plain.sysctls.keys()


class _FakeSsh:
    """Stands in for SshTransport: runs the script here and remembers the argument words."""

    seen: ClassVar[list[list[str]]] = []

    def __init__(self, *_: object, **__: object) -> None:
        self.become_refused = None
        self.new_host_keys: list[str] = []

    def connect(self) -> None:
        return None

    def run(self, script: bytes, args: Sequence[str], timeout: float) -> ExecResult:
        _FakeSsh.seen.append(list(args))
        return LocalTransport().run(
            script, [a for a in args if not a.startswith("--netns")] + ["--netns=host"], timeout
        )

    def close(self) -> None:
        return None


def test_an_ssh_scan_always_asks_for_gzip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netdiag.scan.SshTransport", _FakeSsh)
    _FakeSsh.seen.clear()
    (r,) = scan([Target(name="web-1", host="198.18.0.1")], ScanOptions(netns="all"))
    assert r.outcome in (Outcome.OK, Outcome.PARTIAL), r.message
    assert _FakeSsh.seen == [["--netns=all", "--gzip"]]
    assert r.latest is not None and r.latest.sockets is not None
    _FakeSsh.seen.clear()
    _FakeSsh.seen.clear()
    scan([Target(name="web-2", host="198.18.0.2")], ScanOptions())
    assert _FakeSsh.seen == [["--gzip"]]  # auto: the script decides, by its privileges
    _FakeSsh.seen.clear()
    (local,) = scan([Target(name="localhost", connection="local")], ScanOptions(netns="host"))
    assert local.outcome.scanned and _FakeSsh.seen == []  # local runs need no compression


def test_many_sockets_compress_well() -> None:
    """A host with about 3000 sockets: raw against compressed bytes (printed with -s)."""
    crowd = [sockets.start("pairs", "127.0.0.1", 0, "--count", "120") for _ in range(12)]  # backlog 128
    try:
        raw = run("--netns=host")
        packed = run("--netns=host", "--gzip")
    finally:
        for c in crowd:
            c.stop()
    print(f"\nraw {len(raw)} bytes, gzip -1 {len(packed)} bytes, gzip -6 {len(gzip.compress(raw, 6))} bytes")
    assert raw.count(b"\nESTAB ") >= 2880
    assert len(packed) * 4 < len(raw)
