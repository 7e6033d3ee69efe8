"""The cyclic garbage collector and the C heap around bulk numeric work and a long-lived frame."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager

WORTH_TRIMMING = 100_000
"""Records (and contacts) from which reading or computing a frame leaves enough freed memory to be
worth :func:`trim_heap`; below, walking a large process's heap costs more than it returns."""


@contextmanager
def gc_paused() -> Iterator[None]:
    """Disable the cyclic GC for the block (reference counting still frees everything).

    Reading or computing over millions of records allocates millions of small acyclic objects
    next to a caller's heap; collection passes over that heap would cost more than the work.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def trim_heap() -> None:
    """Hand the C heap's free pages back to the operating system (glibc only; else a no-op).

    Reading a large store frees millions of row objects at once; glibc keeps their pages
    mapped unless asked, so a process would stay hundreds of megabytes larger than its data.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return
    trim = getattr(libc, "malloc_trim", None)
    if trim is not None:
        trim(0)


def settle_heap() -> None:
    """Collect once, then keep every surviving object out of later cyclic-GC passes.

    A long-running process that holds a computed frame (the live worker) has a large, settled
    heap: modules, analyzers, code books. A full collection walks all of it, about 0.1 s here,
    whenever enough new objects have survived; landing in a one-account recompute, that pause
    was most of its latency. Frozen objects are still freed by reference counting; the earlier
    freeze is undone first, so garbage from before it is collected now rather than never.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()
