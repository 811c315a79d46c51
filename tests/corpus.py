"""The shared corpus of real outputs, read where it lies (never copied into the repo).

Tests skip only when ``../shared/corpus`` is absent, which it never is in CI.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def corpus_text(rel: str) -> str:
    """The text of one corpus file; skips the test if the corpus is not there at all."""
    if not CORPUS.is_dir():
        pytest.skip(f"corpus not found at {CORPUS}")
    return (CORPUS / rel).read_text(encoding="utf-8")
