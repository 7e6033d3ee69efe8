"""Read one table in a forked child process while this one reads the others.

Loading is Python-bound (one tuple per row), so on two cores the largest table is read by a second
process: roughly half the wall time. The child's columns come back over a pipe as raw bytes, each
received straight into an array allocated for it, so the parent never holds a pickled copy of
them next to the arrays (a pickled result would double the largest table's memory for a moment).
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

Columns = dict[str, np.ndarray[Any, Any]]


def can_fork() -> bool:
    """Whether this platform can fork (the child inherits the task without pickling it)."""
    return "fork" in multiprocessing.get_all_start_methods()


def start(task: Callable[[], Columns]) -> Callable[[], Columns]:
    """Run ``task`` in a forked child now; the returned callable waits for its columns."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_serve, args=(task, sender), daemon=True)
    child.start()
    sender.close()

    def result() -> Columns:
        try:
            return _receive(receiver)
        finally:
            receiver.close()
            child.join()

    return result


def _serve(task: Callable[[], Columns], sender: Connection) -> None:
    try:
        columns = task()
    except BaseException as exc:
        sender.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        return
    sender.send(("ok", [(name, array.dtype.str, len(array)) for name, array in columns.items()]))
    for name in list(columns):
        sender.send_bytes(np.ascontiguousarray(columns.pop(name)).data.cast("B"))
    sender.close()


def _receive(receiver: Connection) -> Columns:
    try:
        status, header = receiver.recv()
    except EOFError:
        raise RuntimeError("the process reading a table in parallel died") from None
    if status != "ok":
        raise RuntimeError(f"reading a table in parallel failed: {header}")
    columns: Columns = {}
    for name, dtype, length in header:
        array = np.empty(length, np.dtype(dtype))
        receiver.recv_bytes_into(array.data.cast("B"))
        columns[name] = array
    return columns
