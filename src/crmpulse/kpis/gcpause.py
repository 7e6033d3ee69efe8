"""Pausing the cyclic garbage collector around bulk numeric work."""

from __future__ import annotations

import ctypes
import gc
from collections.abc import Iterator
from contextlib import contextmanager


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
