"""KPI values: the current value per (kpi, level, entity, period) and the history of changes.

A value is "changed" when any of ``value``, ``n``, ``formula_version`` or ``margin_of_error``
differs from the stored current value (or there is none). Only changed values are written, and
each change is appended to ``kpi_history``, so re-running a computation over unchanged data leaves
both tables untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import ColumnElement, Connection, Row, insert, select, tuple_

from crmpulse.kpis.values import KpiValue, Level
from crmpulse.store.records import chunked, upsert_statement
from crmpulse.store.schema import kpi_alerts, kpi_history, kpi_values

if TYPE_CHECKING:
    from crmpulse.kpis.compare import Alert

_CHUNK = 1000
_Key = tuple[str, str, str, str]
_Measure = tuple[float | None, int, int, float | None]


@dataclass(frozen=True)
class KpiChange:
    """One entry of a KPI's history: the value it took, when, and in which run."""

    value: KpiValue
    computed_at: datetime
    run_id: str


def entity_key(entity_id: str | None) -> str:
    """The stored key of an entity id (``''`` stands for the portfolio's ``None``)."""
    return "" if entity_id is None else entity_id


def _key(value: KpiValue) -> _Key:
    return (value.kpi, value.level, entity_key(value.entity_id), value.period)


def _measure(value: KpiValue) -> _Measure:
    return (value.value, value.n, value.formula_version, value.margin_of_error)


def _row(value: KpiValue, run_id: str, now: datetime) -> dict[str, Any]:
    kpi, level, key, period = _key(value)
    return {
        "kpi": kpi,
        "level": level,
        "entity_key": key,
        "period": period,
        "value": value.value,
        "n": value.n,
        "formula_version": value.formula_version,
        "margin_of_error": value.margin_of_error,
        "computed_at": now,
        "run_id": run_id,
    }


def save(conn: Connection, values: Iterable[KpiValue], run_id: str, now: datetime) -> int:
    """Write changed current values and their history rows; returns how many changed."""
    t = kpi_values.c
    keys: list[ColumnElement[Any]] = [t.kpi, t.level, t.entity_key, t.period]
    measures: list[ColumnElement[Any]] = [t.value, t.n, t.formula_version, t.margin_of_error]
    upsert = upsert_statement(conn, kpi_values)
    changed = 0
    for chunk in chunked(values, _CHUNK):
        latest = {_key(v): v for v in chunk}  # a key repeated in one batch: the last one wins
        query = select(*keys, *measures).where(tuple_(*keys).in_(list(latest)))
        stored: dict[tuple[Any, ...], tuple[Any, ...]] = {
            tuple(r[:4]): tuple(r[4:]) for r in conn.execute(query)
        }
        rows = [_row(v, run_id, now) for k, v in latest.items() if stored.get(k) != _measure(v)]
        if rows:
            conn.execute(upsert, rows)
            conn.execute(insert(kpi_history), rows)
            changed += len(rows)
    return changed


def _value(row: Row[Any]) -> KpiValue:
    return KpiValue(
        kpi=row.kpi,
        level=cast(Level, row.level),
        entity_id=row.entity_key if row.level != "portfolio" else None,
        period=row.period,
        value=row.value,
        n=row.n,
        formula_version=row.formula_version,
        margin_of_error=row.margin_of_error,
    )


def current(
    conn: Connection, *, period: str | None, kpi: str | None, level: str | None
) -> list[KpiValue]:
    """Current values, optionally filtered, ordered by kpi, level, entity and period."""
    query = select(kpi_values).order_by(*kpi_values.primary_key.columns)
    if period is not None:
        query = query.where(kpi_values.c.period == period)
    if kpi is not None:
        query = query.where(kpi_values.c.kpi == kpi)
    if level is not None:
        query = query.where(kpi_values.c.level == level)
    return [_value(row) for row in conn.execute(query)]


def history(
    conn: Connection, kpi: str, level: str, entity_id: str | None, period: str
) -> list[KpiChange]:
    """Every value one KPI took, oldest first."""
    query = (
        select(kpi_history)
        .where(
            kpi_history.c.kpi == kpi,
            kpi_history.c.level == level,
            kpi_history.c.entity_key == entity_key(entity_id),
            kpi_history.c.period == period,
        )
        .order_by(kpi_history.c.id)
    )
    return [
        KpiChange(value=_value(row), computed_at=row.computed_at, run_id=row.run_id)
        for row in conn.execute(query)
    ]


def save_alerts(
    conn: Connection, alerts: Iterable[Alert], run_id: str, now: datetime
) -> list[Alert]:
    """Record alerts; returns those not recorded before (or recorded with another message).

    An alert is one per (kind, KPI, level, entity, period): raising the same one again on the
    next run changes nothing, so each crossing is reported once.
    """
    t = kpi_alerts.c
    fresh: list[Alert] = []
    upsert = upsert_statement(conn, kpi_alerts)
    for alert in alerts:
        key = (alert.kind, alert.kpi, alert.level, entity_key(alert.entity_id), alert.period)
        stored = conn.execute(
            select(t.message).where(tuple_(t.kind, t.kpi, t.level, t.entity_key, t.period) == key)
        ).scalar_one_or_none()
        if stored == alert.message:
            continue
        conn.execute(
            upsert,
            {
                "kind": alert.kind,
                "kpi": alert.kpi,
                "level": alert.level,
                "entity_key": key[3],
                "period": alert.period,
                "value": alert.value,
                "previous": alert.previous,
                "message": alert.message,
                "raised_at": now,
                "run_id": run_id,
            },
        )
        fresh.append(alert)
    return fresh


def recorded_alerts(conn: Connection, *, period: str | None = None) -> list[dict[str, Any]]:
    """Recorded alerts, newest first."""
    query = select(kpi_alerts).order_by(kpi_alerts.c.raised_at.desc(), kpi_alerts.c.kpi)
    if period is not None:
        query = query.where(kpi_alerts.c.period == period)
    return [dict(row._mapping) for row in conn.execute(query)]
