"""Pausing the cyclic garbage collector around bulk numeric work."""

from __future__ import annotations

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
