"""Trends and targets: each value next to the previous period, the same period last year and its
target, plus the alerts raised when a value crosses its target or an account changes health band.

Changes follow the catalogue's ``change`` kind: ``points`` and ``pp`` are differences in the KPI's
unit (percentage points for rates), ``percent`` is the relative change (undefined from 0). Values
of a partial period are compared all the same but carry ``partial`` so readers can discount them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from crmpulse.kpis.catalogue import get
from crmpulse.kpis.table import KpiTable
from crmpulse.kpis.targets import Target, attainment, met
from crmpulse.kpis.values import KpiValue


@dataclass(frozen=True)
class Compared:
    """One value with its trend and target."""

    value: KpiValue
    previous: float | None = None
    change: float | None = None
    last_year: float | None = None
    change_yoy: float | None = None
    target: float | None = None
    attainment: float | None = None
    met: bool | None = None

    def as_json(self) -> dict[str, object]:
        """The ``kpis --json`` row."""
        v = self.value
        return {
            "kpi": v.kpi,
            "level": v.level,
            "entity_id": v.entity_id,
            "period": v.period,
            "value": v.value,
            "text": v.text,
            "n": v.n,
            "partial": v.partial,
            "formula_version": v.formula_version,
            "margin_of_error": v.margin_of_error,
            "explanation": v.explanation,
            "previous": self.previous,
            "change": self.change,
            "change_unit": get(v.kpi).change,
            "last_year": self.last_year,
            "change_yoy": self.change_yoy,
            "target": self.target,
            "attainment": self.attainment,
            "met": self.met,
        }


@dataclass(frozen=True)
class Alert:
    """A KPI that crossed its target, or an account whose health band changed."""

    kind: str
    kpi: str
    level: str
    entity_id: str | None
    period: str
    value: float | None
    previous: float | None
    message: str


def change(current: float | None, before: float | None, kind: str) -> float | None:
    """``current - before`` (points, pp) or the relative change in % (percent)."""
    if current is None or before is None:
        return None
    if kind == "percent":
        return None if before == 0 else 100 * (current - before) / abs(before)
    return current - before


def _segment_of(table: KpiTable, value: KpiValue) -> str | None:
    if value.level == "segment":
        return value.entity_id
    if value.level == "account" and value.entity_id is not None:
        frame = table.slots.frame
        code = frame.account_code(value.entity_id)
        segment = int(frame.account_segment[code]) if code >= 0 else -1
        return frame.segments[segment] if segment >= 0 else None
    return None


def compare(
    current: KpiTable,
    values: Iterable[KpiValue],
    *,
    previous: KpiTable | None,
    last_year: KpiTable | None,
    targets: dict[str, Target],
) -> Iterator[Compared]:
    """Each of ``values`` (rows of ``current``) with its trend and target."""
    for value in values:
        definition = get(value.kpi)
        before = _other(previous, value)
        earlier = _other(last_year, value)
        goal = targets.get(value.kpi)
        target = None if goal is None else goal.for_segment(_segment_of(current, value))
        reached = rate = None
        if target is not None and value.value is not None:
            rate = attainment(value.value, target, definition.direction)
            reached = met(value.value, target, definition.direction)
        yield Compared(
            value=value,
            previous=before,
            change=change(value.value, before, definition.change),
            last_year=earlier,
            change_yoy=change(value.value, earlier, definition.change),
            target=target,
            attainment=rate,
            met=reached,
        )


def _other(table: KpiTable | None, value: KpiValue) -> float | None:
    if table is None:
        return None
    other = table.value(value.kpi, value.level, value.entity_id)
    return None if other is None else other.value


def alerts(rows: Iterable[Compared], targets: dict[str, Target]) -> list[Alert]:
    """Target crossings (against the previous period) and health band changes."""
    out: list[Alert] = []
    for row in rows:
        v = row.value
        definition = get(v.kpi)
        if v.kpi == "health_band" and row.previous is not None and v.value is not None:
            if row.previous != v.value:
                way = "improved" if v.value > row.previous else "worsened"
                out.append(
                    Alert(
                        "band",
                        v.kpi,
                        v.level,
                        v.entity_id,
                        v.period,
                        v.value,
                        row.previous,
                        f"health band {way} to {v.text}",
                    )
                )
            continue
        if row.target is None or row.previous is None or v.value is None:
            continue
        was = met(row.previous, row.target, definition.direction)
        if was == row.met:
            continue
        way = "reached" if row.met else "fell short of"
        out.append(
            Alert(
                "target",
                v.kpi,
                v.level,
                v.entity_id,
                v.period,
                v.value,
                row.previous,
                f"{definition.label} {way} its target {row.target:g} "
                f"({row.previous:.1f} -> {v.value:.1f})",
            )
        )
    return out
