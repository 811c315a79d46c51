"""Holding off Python's cyclic garbage collector while a million records are made or read."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector; re-enabled on exit only if it was enabled on entry.

    Parsing, assembling and judging a million-socket snapshot allocate in bursts, and
    each burst can start a collection that walks every object the snapshot holds (a
    third of a big parse's time, ~0.1 s a pass during rules). Those objects hold no
    reference cycles, so the passes find nothing; reference counting still frees
    everything, and a cycle made meanwhile waits for the next collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
