"""The engine's output: a :class:`KpiTable` of :class:`StoredColumn` s, one per KPI.

A family computes each KPI over every slot (:class:`~crmpulse.kpis.measures.base.Column`). What is
kept is smaller: a column is dense over the portfolio, segment and account slots, and *sparse* over
the contacts: only the contacts with a row in the window are stored. A million contacts would
otherwise cost every contact-level KPI 13 bytes per contact per period, most of them empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from crmpulse.kpis import health as health_model
from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.frame import Bools, Floats, Ints
from crmpulse.kpis.groups import Slots
from crmpulse.kpis.measures.base import Column
from crmpulse.kpis.values import LEVELS, KpiValue, Level

_ORDER = {definition.name: index for index, definition in enumerate(CATALOGUE)}
_VERSION = {definition.name: definition.formula_version for definition in CATALOGUE}
DEFINED = {definition.name: definition.levels for definition in CATALOGUE}
"""The levels each KPI of the catalogue exists at."""

Counts = npt.NDArray[np.int32]


class Cell(NamedTuple):
    """One slot of a column."""

    value: float
    n: int
    present: bool
    margin_of_error: float | None


@dataclass
class StoredColumn:
    """One KPI of a window: dense up to ``dense_end``, then only the slots that have a row.

    ``tail_slot`` is sorted; the tail never holds a slot without a row.
    """

    kpi: str
    partial: bool
    value: Floats
    n: Counts
    present: Bools
    margin_of_error: Floats | None
    tail_slot: Ints
    tail_value: Floats
    tail_n: Counts
    tail_margin: Floats | None

    @property
    def dense_end(self) -> int:
        """The first slot not stored densely."""
        return len(self.value)

    @classmethod
    def compact(cls, column: Column, slots: Slots, levels: Sequence[Level]) -> StoredColumn:
        """Keep the slots of the levels the KPI exists at; contacts only where they have a row."""
        moe = column.margin_of_error
        if len(column.value) < slots.end_of(levels):
            raise ValueError(f"{column.kpi}: a column must reach the last slot of its levels")
        if "contact" in levels:
            dense = slots.contact_offset
            tail = dense + np.flatnonzero(column.present[dense:])
        else:
            dense = slots.end_of(levels)
            tail = np.empty(0, np.int64)
        return cls(
            kpi=column.kpi,
            partial=column.partial,
            value=column.value[:dense].copy(),
            n=column.n[:dense].astype(np.int32),
            present=column.present[:dense].copy(),
            margin_of_error=None if moe is None else moe[:dense].copy(),
            tail_slot=tail,
            tail_value=column.value[tail],
            tail_n=column.n[tail].astype(np.int32),
            tail_margin=None if moe is None else moe[tail],
        )

    def _tail_index(self, slot: int) -> int:
        """Where ``slot`` is (or would go) in the tail."""
        return int(np.searchsorted(self.tail_slot, slot))

    def _in_tail(self, slot: int) -> int | None:
        index = self._tail_index(slot)
        if index < len(self.tail_slot) and self.tail_slot[index] == slot:
            return index
        return None

    def get(self, slot: int) -> Cell | None:
        """The slot's cell, or ``None`` when the column stores nothing there."""
        if slot < self.dense_end:
            moe = None if self.margin_of_error is None else float(self.margin_of_error[slot])
            return Cell(float(self.value[slot]), int(self.n[slot]), bool(self.present[slot]), moe)
        index = self._in_tail(slot)
        if index is None:
            return None
        moe = None if self.tail_margin is None else float(self.tail_margin[index])
        return Cell(float(self.tail_value[index]), int(self.tail_n[index]), True, moe)

    def put(self, slot: int, cell: Cell | None) -> None:
        """Set one slot (``None`` or a cell without a row clears a tail slot)."""
        if slot < self.dense_end:
            if cell is None:
                self.present[slot] = False
                self.n[slot] = 0
                self.value[slot] = np.nan
                return
            self.value[slot], self.n[slot], self.present[slot] = cell.value, cell.n, cell.present
            if self.margin_of_error is not None:
                moe = cell.margin_of_error
                self.margin_of_error[slot] = np.nan if moe is None else moe
            return
        index = self._in_tail(slot)
        if cell is None or not cell.present:
            if index is not None:
                self._drop(index)
            return
        if index is None:
            self._insert(self._tail_index(slot), slot)
            index = self._tail_index(slot)
        self.tail_value[index] = cell.value
        self.tail_n[index] = cell.n
        if self.tail_margin is not None:
            moe = cell.margin_of_error
            self.tail_margin[index] = np.nan if moe is None else moe

    def find(self, slots: Ints) -> tuple[Ints, Bools]:
        """Where tail ``slots`` are (or would go) in the tail, and which of them are there."""
        index = self.tail_slot.searchsorted(slots)
        found = np.zeros(len(slots), np.bool_)
        inside = index < len(self.tail_slot)
        found[inside] = self.tail_slot[index[inside]] == slots[inside]
        return index, found

    def copy_tail(self, targets: Ints, source: StoredColumn, origins: Ints) -> None:
        """Set the distinct tail slots ``targets`` to ``source``'s cells at ``origins``.

        What :meth:`put` does one slot at a time, for a company's contacts at once: rows are
        overwritten in place, and the tail arrays are rebuilt once when rows appear or vanish.
        """
        at, here = self.find(targets)
        at_source, there = source.find(origins)
        taken = at_source[there]
        margin = np.full(len(taken), np.nan)
        if source.tail_margin is not None:
            margin = source.tail_margin[taken]
        if np.array_equal(here, there):
            self.tail_value[at[here]] = source.tail_value[taken]
            self.tail_n[at[here]] = source.tail_n[taken]
            if self.tail_margin is not None:
                self.tail_margin[at[here]] = margin
            return
        keep = np.ones(len(self.tail_slot), np.bool_)
        keep[at[here]] = False
        slot = np.concatenate([self.tail_slot[keep], targets[there]])
        order = np.argsort(slot, kind="stable")
        self.tail_slot = slot[order]
        self.tail_value = np.concatenate([self.tail_value[keep], source.tail_value[taken]])[order]
        self.tail_n = np.concatenate([self.tail_n[keep], source.tail_n[taken]])[order]
        if self.tail_margin is not None:
            self.tail_margin = np.concatenate([self.tail_margin[keep], margin])[order]

    def tail_rows(self, slots: Ints) -> list[tuple[int, Cell]]:
        """The cells of the tail ``slots`` that have a row, in the order given."""
        at, found = self.find(slots)
        margin = self.tail_margin
        return [
            (
                int(slots[i]),
                Cell(
                    float(self.tail_value[at[i]]),
                    int(self.tail_n[at[i]]),
                    True,
                    None if margin is None else float(margin[at[i]]),
                ),
            )
            for i in np.flatnonzero(found).tolist()
        ]

    def _insert(self, index: int, slot: int) -> None:
        self.tail_slot = np.insert(self.tail_slot, index, slot)
        self.tail_value = np.insert(self.tail_value, index, np.nan)
        self.tail_n = np.insert(self.tail_n, index, 0)
        if self.tail_margin is not None:
            self.tail_margin = np.insert(self.tail_margin, index, np.nan)

    def _drop(self, index: int) -> None:
        self.tail_slot = np.delete(self.tail_slot, index)
        self.tail_value = np.delete(self.tail_value, index)
        self.tail_n = np.delete(self.tail_n, index)
        if self.tail_margin is not None:
            self.tail_margin = np.delete(self.tail_margin, index)

    @property
    def nbytes(self) -> int:
        """Memory held by the column's arrays."""
        arrays: list[np.ndarray[Any, Any]] = [self.value, self.n, self.present]
        arrays += [self.tail_slot, self.tail_value, self.tail_n]
        arrays += [a for a in (self.margin_of_error, self.tail_margin) if a is not None]
        return sum(a.nbytes for a in arrays)


@dataclass
class KpiTable:
    """Every KPI of one window for every slot, with the health result and feedback themes."""

    slots: Slots
    label: str
    partial: bool
    columns: dict[str, StoredColumn]
    health: health_model.HealthResult | None = None
    themes: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)

    def account_values(self, kpi: str) -> Floats:
        """Account-level values of ``kpi`` in account-code order (NaN where there is none)."""
        first, last = self.slots.level_range("account")
        column = self.columns.get(kpi)
        if column is None or column.dense_end < last:
            return np.full(last - first, np.nan)
        return np.where(column.present[first:last], column.value[first:last], np.nan)

    def value(self, kpi: str, level: Level, entity_id: str | None = None) -> KpiValue | None:
        """One row, or ``None`` when the entity has no value of ``kpi`` in the window."""
        slot = self.slot_of(level, entity_id)
        column = self.columns.get(kpi)
        if slot is None or column is None or level not in DEFINED[kpi]:
            return None
        cell = column.get(slot)
        if cell is None or not cell.present:
            return None
        return self._row(column, slot, cell, explain=True)

    def slot_of(self, level: Level, entity_id: str | None) -> int | None:
        """The slot of an entity, or ``None`` when the frame does not know it."""
        frame = self.slots.frame
        if level == "portfolio":
            return 0
        if level == "segment":
            if entity_id not in frame.segments:
                return None
            return self.slots.segment_offset + frame.segments.index(entity_id)
        if level == "account":
            code = frame.account_code(entity_id or "")
            return None if code < 0 else self.slots.account_offset + code
        code = frame.contact_code(entity_id or "")
        return None if code < 0 else self.slots.contact_offset + code

    def rows_at(self, kpi: str, slots: Ints) -> list[KpiValue]:
        """The rows of ``kpi`` at the contact ``slots`` that have one, in the order given."""
        column = self.columns.get(kpi)
        if column is None or "contact" not in DEFINED[kpi] or not len(slots):
            return []
        return [
            self._row(column, slot, cell, explain=True) for slot, cell in column.tail_rows(slots)
        ]

    def row_at(self, kpi: str, slot: int) -> KpiValue | None:
        """The row of ``kpi`` at ``slot``, if it has one."""
        column = self.columns.get(kpi)
        cell = None if column is None else column.get(slot)
        if column is None or cell is None or not cell.present:
            return None
        if self.slots.key(slot)[0] not in DEFINED[kpi]:
            return None
        return self._row(column, slot, cell, explain=True)

    def rows(
        self,
        *,
        kpis: Iterable[str] | None = None,
        levels: Sequence[Level] = LEVELS,
        explain: bool = False,
    ) -> Iterator[KpiValue]:
        """Rows ordered by KPI (catalogue order), level and entity id."""
        names = sorted(self.columns if kpis is None else kpis, key=_ORDER.__getitem__)
        for name in names:
            column = self.columns.get(name)
            if column is None:
                continue
            for level in LEVELS:
                if level not in levels or level not in DEFINED[name]:
                    continue
                yield from self._level_rows(column, level, explain=explain)

    def _level_rows(
        self, column: StoredColumn, level: Level, *, explain: bool
    ) -> Iterator[KpiValue]:
        first, last = self.slots.level_range(level)
        if first < column.dense_end:
            for slot in np.flatnonzero(column.present[first:last]).tolist():
                cell = column.get(slot + first)
                if cell is not None:
                    yield self._row(column, slot + first, cell, explain=explain)
            return
        lo, hi = np.searchsorted(column.tail_slot, [first, last]).tolist()
        moe = column.tail_margin
        for index in range(lo, hi):
            cell = Cell(
                float(column.tail_value[index]),
                int(column.tail_n[index]),
                True,
                None if moe is None else float(moe[index]),
            )
            yield self._row(column, int(column.tail_slot[index]), cell, explain=explain)

    @property
    def nbytes(self) -> int:
        """Memory held by the table's columns."""
        return sum(column.nbytes for column in self.columns.values())

    def _row(self, column: StoredColumn, slot: int, cell: Cell, *, explain: bool) -> KpiValue:
        level, entity_id = self.slots.key(slot)
        margin = cell.margin_of_error
        text = explanation = None
        if level == "account" and self.health is not None and column.kpi.startswith("health_"):
            index = slot - self.slots.account_offset
            text = self.health.band[index] if column.kpi == "health_band" else None
            if explain and column.kpi == "health_score":
                explanation = health_model.explain(self.health, index).text
        return KpiValue(
            kpi=column.kpi,
            level=level,
            entity_id=entity_id,
            period=self.label,
            value=None if np.isnan(cell.value) else cell.value,
            n=cell.n,
            formula_version=_VERSION[column.kpi],
            margin_of_error=None if margin is None or np.isnan(margin) else margin,
            partial=self.partial or column.partial,
            text=text,
            explanation=explanation,
        )
