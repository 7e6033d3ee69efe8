"""Millions of short strings kept in one numpy array instead of one Python object each.

A frame of a large CRM holds a million contact ids and hundreds of thousands of survey comments.
As Python ``str`` objects they cost about 60 bytes each plus a list slot, and, worse, each one
pins the small-object arena it was allocated in, next to the row tuples of the scan that produced
it: the freed rows around it cannot be handed back to the operating system. numpy's
variable-width string dtype keeps short strings inline in 16 bytes and the rest in one buffer
owned by the array.

:class:`Strings` reads like a tuple of ``str | None``; :class:`SortedIds` adds the code of an id
(its position) by binary search, which is what a dict of a million ids would answer.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from itertools import repeat
from typing import Any, overload

import numpy as np
from numpy.dtypes import StringDType

TEXT = StringDType(na_object=None)
"""Strings with ``None`` for a missing value."""
_CHUNK = 65_536


class Strings(Sequence[str | None]):
    """An immutable sequence of strings (``None`` where missing) backed by one numpy array."""

    __slots__ = ("_values",)

    def __init__(self, values: Iterable[str | None] | np.ndarray[Any, Any] = ()) -> None:
        if isinstance(values, np.ndarray):
            array = values if values.dtype == TEXT else values.astype(TEXT)
        else:
            array = np.array(list(values), dtype=TEXT)
        self._values = array.reshape(-1)

    @property
    def array(self) -> np.ndarray[Any, Any]:
        """The backing array (read it, do not change it)."""
        return self._values

    def __len__(self) -> int:
        return len(self._values)

    @overload
    def __getitem__(self, index: int) -> str | None: ...

    @overload
    def __getitem__(self, index: slice) -> Strings: ...

    def __getitem__(self, index: int | slice) -> str | Strings | None:
        if isinstance(index, slice):
            return Strings(self._values[index])
        item: str | None = self._values[index]
        return item

    def take(self, positions: np.ndarray[Any, Any]) -> list[str | None]:
        """The strings at ``positions`` as a list."""
        values: list[str | None] = self._values[positions].tolist()
        return values

    def __iter__(self) -> Iterator[str | None]:
        # in slices, so iterating never builds every Python string at once
        for start in range(0, len(self._values), _CHUNK):
            yield from self._values[start : start + _CHUNK].tolist()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Strings):
            return len(self) == len(other) and list(self) == list(other)
        if isinstance(other, Sequence) and not isinstance(other, str):
            return len(self) == len(other) and list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        shown = ", ".join(repr(s) for s in self._values[:3].tolist())
        more = ", ..." if len(self) > 3 else ""
        return f"{type(self).__name__}([{shown}{more}], n={len(self)})"


class SortedIds(Strings):
    """Ids in ascending order; :meth:`code` finds an id's position by binary search.

    When an id occurs more than once, its code is its last position, as a dict built by
    enumerating the ids would give.
    """

    __slots__ = ()

    def code(self, id_: str | None) -> int:
        """The last position of ``id_``, ``-1`` when it is absent."""
        if not id_:
            return -1
        # bisect, not np.searchsorted: numpy copies a whole variable-width string array per
        # search (milliseconds for a million ids), bisect reads twenty of its elements
        position = bisect.bisect_right(self._values, id_) - 1
        if position >= 0 and self._values[position] == id_:
            return position
        return -1

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        """The first position of ``value`` (binary search); ``ValueError`` when absent."""
        if isinstance(value, str) and value:
            position = bisect.bisect_left(self._values, value)
            end = len(self) if stop is None else min(stop, len(self))
            position = max(position, start)
            if position < end and self._values[position] == value:
                return position
        raise ValueError(f"{value!r} is not in the ids")

    def __contains__(self, value: object) -> bool:
        return isinstance(value, str) and self.code(value) >= 0

    def book(self) -> dict[str, int]:
        """``{id: code}`` for fast bulk lookups of Python strings (build it, use it, drop it)."""
        ids: list[str] = self._values.tolist()
        return dict(zip(ids, range(len(ids)), strict=True))


def sorted_ids(
    values: Sequence[str] | np.ndarray[Any, Any],
) -> tuple[SortedIds, np.ndarray[Any, Any]]:
    """``values`` sorted (stably) as :class:`SortedIds`, and the order that sorts them."""
    array = values if isinstance(values, np.ndarray) else np.array(values, dtype=TEXT)
    order = np.argsort(array, kind="stable")
    return SortedIds(array[order]), order


class Coder:
    """The codes of many ids at once: their positions in :class:`SortedIds` (``-1`` if absent).

    For ASCII ids (CRM ids are) it binary-searches the chunk, sorted, in the ids as one bytes
    array; otherwise it looks each id up in a dict. At a million ids a dict lookup costs a cache
    miss or two per id, and a chunk of sorted searches walks the ids in order instead.
    """

    def __init__(self, ids: SortedIds) -> None:
        self._ids = ids
        self._bytes = _as_bytes(ids.array.tolist())
        self._book: dict[str, int] | None = None

    def codes(self, values: Sequence[str | None]) -> np.ndarray[Any, np.dtype[np.int32]]:
        """The code of each of ``values`` (``None``, ``""`` and unknown ids give ``-1``)."""
        if self._bytes is not None and len(self._bytes):
            query = _as_bytes([value or "" for value in values])
            if query is not None:
                return self._search(self._bytes, query)
            # a non-ASCII id, which no ASCII id can equal: the dict answers this chunk
        if self._book is None:
            self._book = self._ids.book()
        lookup: Any = self._book.get  # values may be None, which is never a key
        return np.fromiter(map(lookup, values, repeat(-1)), np.int32, count=len(values))

    @staticmethod
    def _search(
        ids: np.ndarray[Any, Any], query: np.ndarray[Any, Any]
    ) -> np.ndarray[Any, np.dtype[np.int32]]:
        width = ids.dtype.itemsize
        unknown = query == b""
        if query.dtype.itemsize > width:
            unknown |= np.strings.str_len(query) > width  # longer than every id
        query = query.astype(ids.dtype)  # pads, or cuts the ids marked unknown above
        order = np.argsort(query)
        ordered = query[order]
        # the last equal id, as a dict built by enumerating the ids would answer
        position = np.searchsorted(ids, ordered, side="right") - 1
        found = (position >= 0) & (ids[np.maximum(position, 0)] == ordered)
        codes = np.empty(len(query), np.int32)
        codes[order] = np.where(found, position, -1)
        codes[unknown] = -1
        return codes


def _as_bytes(values: list[str]) -> np.ndarray[Any, Any] | None:
    """``values`` as one bytes array, or ``None`` when bytes would not compare as they do.

    Only ASCII strings without NUL qualify: numpy's bytes drop trailing NULs when comparing.
    """
    if "\0" in "".join(values):
        return None
    try:
        return np.array(values, dtype="S")
    except UnicodeEncodeError:
        return None
