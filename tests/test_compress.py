"""``--compress``: the script compresses its whole output with zstd (gzip where zstd is missing;
``--gzip``: gzip only) when it pays, and says so.

It pays from 500 TCP sockets (or other namespaces to read; the small-host cases are
in ``test_collect_script.py``), so the compressed runs here hold a crowd of sockets.

The reader knows a compressed stream by its magic bytes (``expand``), reads a
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
import zstandard

from netdiag.collectors import GZIP_MAGIC, ZSTD_MAGIC, collect, expand, script_bytes
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


def _tools(tmp_path: Path, *extra: str) -> str:
    """A PATH of the script's tools and ``extra``: none of zstd and gzip unless named."""
    tools = tmp_path / "bin"
    tools.mkdir()
    for tool in (*TOOLS, *extra):
        (tools / tool).symlink_to(shutil.which(tool) or f"/missing/{tool}")
    return str(tools)


@pytest.mark.usefixtures("crowd")
@pytest.mark.parametrize(
    ("flag", "magic", "tool"), [("--compress", ZSTD_MAGIC, "zstd"), ("--gzip", GZIP_MAGIC, "gzip")]
)
def test_compressed_output_expands_to_the_same_sections(flag: str, magic: bytes, tool: str) -> None:
    assert shutil.which("zstd") and shutil.which("gzip"), "scripts/install-test-deps installs both"
    packed = run("--netns=host", flag)
    assert packed[: len(magic)] == magic
    text, damage = expand(packed)
    assert damage is None and text.endswith(b"\n==netdiag== done\n")
    assert script_facts(text)["compress"] == tool
    plain = run("--netns=host")
    assert script_facts(plain)["compress"] == "none"
    names = [[s.name for s in split_sections(t.decode("utf-8", "replace"))[0]] for t in (text, plain)]
    assert names[0] == names[1]


@pytest.mark.usefixtures("crowd")
def test_compress_falls_back_to_gzip_where_zstd_is_missing(tmp_path: Path) -> None:
    out = run("--netns=host", "--compress", path=_tools(tmp_path, "gzip"))
    assert out[:2] == GZIP_MAGIC
    assert script_facts(expand(out)[0])["compress"] == "gzip"


def test_without_a_compressor_the_output_is_plain_and_says_why(tmp_path: Path) -> None:
    path = _tools(tmp_path)
    for flag, why in (("--compress", "zstd and gzip not found"), ("--gzip", "gzip not found")):
        out = run("--netns=host", flag, path=path)
        assert out[:2] != GZIP_MAGIC and out.endswith(b"==netdiag== done\n")
        assert script_facts(out)["compress"] == f"none ({why})"


def test_expand_reads_a_cut_stream_as_far_as_it_goes() -> None:
    text = b"".join(
        b"==netdiag== begin s%d\nline %d\n\n==netdiag== end s%d status=ok rc=0 t=0.00 cmd=x\n" % (i, i, i)
        for i in range(20000)  # ~1.3 MB: ten zstd blocks (a block expands only whole)
    )
    assert expand(text) == (text, None)  # not compressed: as it is
    for packed in (gzip.compress(text, 1), zstandard.ZstdCompressor(level=1).compress(text)):
        assert expand(packed) == (text, None)
        cut, damage = expand(packed[: len(packed) // 2])
        assert damage == "compressed output ends early"
        assert 0 < len(cut) < len(text) and text.startswith(cut)
        broken = packed[:10] + bytes(b ^ 0xFF for b in packed[10:40]) + packed[40:]
        _, damage = expand(broken)
        assert damage is not None and "corrupt" in damage


@pytest.mark.usefixtures("crowd")
def test_a_compressed_run_records_the_bytes_that_travelled() -> None:
    (snap,) = collect(LocalTransport(), HostInfo("localhost", "local"), ["--netns=host", "--compress"])
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


def test_an_ssh_scan_always_asks_for_compression(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("netdiag.scan.SshTransport", _FakeSsh)
    _FakeSsh.seen.clear()
    (r,) = scan([Target(name="web-1", host="198.18.0.1")], ScanOptions(netns="all"))
    assert r.outcome in (Outcome.OK, Outcome.PARTIAL), r.message
    assert _FakeSsh.seen == [["--netns=all", "--compress"]]
    assert r.latest is not None and r.latest.sockets is not None
    _FakeSsh.seen.clear()
    _FakeSsh.seen.clear()
    scan([Target(name="web-2", host="198.18.0.2")], ScanOptions())
    assert _FakeSsh.seen == [["--compress"]]  # auto: the script decides, by its privileges
    _FakeSsh.seen.clear()
    (local,) = scan([Target(name="localhost", connection="local")], ScanOptions(netns="host"))
    assert local.outcome.scanned and _FakeSsh.seen == []  # local runs need no compression


def test_many_sockets_compress_well() -> None:
    """A host with about 3000 sockets: raw against compressed bytes (printed with -s)."""
    crowd = [sockets.start("pairs", "127.0.0.1", 0, "--count", "120") for _ in range(12)]  # backlog 128
    try:
        raw = run("--netns=host")
        packed = run("--netns=host", "--compress")
    finally:
        for c in crowd:
            c.stop()
    print(f"\nraw {len(raw)} bytes, zstd -1 {len(packed)} bytes, gzip -1 {len(gzip.compress(raw, 1))} bytes")
    assert raw.count(b"\nESTAB ") >= 2880
    assert len(packed) * 4 < len(raw)
