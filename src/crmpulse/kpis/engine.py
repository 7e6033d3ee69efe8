"""The KPI engine: a :class:`~crmpulse.kpis.frame.Frame` and a window in, a :class:`KpiTable` out.

:func:`compute_window` runs every KPI family of the catalogue over one window (a period, or a
trailing window) at every level at once: the families are vectorized over the frame's columns
(:mod:`crmpulse.kpis.measures`), so the cost grows with the records of the window, not with the
number of entities. The health score is computed from each account's KPIs over the trailing
``health_window_days`` before the window's end, scored by the configured health model.

:func:`compute` keeps the record-level entry point: normalized records in, rows out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crmpulse.kpis import health as health_model
from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.frame import Floats, Frame
from crmpulse.kpis.gcpause import gc_paused
from crmpulse.kpis.groups import Slots, slot_means
from crmpulse.kpis.measures.base import Column, Context, EngineConfig
from crmpulse.kpis.measures.engagement import engagement_columns
from crmpulse.kpis.measures.feedback import feedback_columns, themes_of
from crmpulse.kpis.measures.prediction import prediction_columns
from crmpulse.kpis.measures.retention import retention_columns
from crmpulse.kpis.measures.revenue import revenue_columns
from crmpulse.kpis.measures.service import service_columns
from crmpulse.kpis.measures.surveys import survey_columns
from crmpulse.kpis.periods import Period, Trailing, Window
from crmpulse.kpis.values import LEVELS, KpiValue, Level
from crmpulse.model import Account, Activity, Contact, Deal, SurveyResponse, Ticket

_ORDER = {definition.name: index for index, definition in enumerate(CATALOGUE)}
_VERSION = {definition.name: definition.formula_version for definition in CATALOGUE}
_DEFINED = {definition.name: definition.levels for definition in CATALOGUE}

Family = Callable[[Context], list[Column]]
FAMILIES: dict[str, Family] = {
    "surveys": survey_columns,
    "service": service_columns,
    "retention": retention_columns,
    "revenue": revenue_columns,
    "engagement": engagement_columns,
    "prediction": prediction_columns,
}
"""The families every window computes, by catalogue family (feedback and health are added when
configured)."""
_FAMILY_OF = {definition.name: definition.family for definition in CATALOGUE}


@dataclass(frozen=True)
class HealthSetup:
    """The health model and the trailing window its measures are read over."""

    config: health_model.HealthConfig
    window_days: int = 90


@dataclass
class KpiTable:
    """Every KPI of one window for every slot, with the health result and feedback themes."""

    slots: Slots
    label: str
    partial: bool
    columns: dict[str, Column]
    health: health_model.HealthResult | None = None
    themes: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)

    def account_values(self, kpi: str) -> Floats:
        """Account-level values of ``kpi`` in account-code order (NaN where there is none)."""
        first, last = self.slots.level_range("account")
        column = self.columns.get(kpi)
        if column is None or len(column.value) < last:
            return np.full(last - first, np.nan)
        return np.where(column.present[first:last], column.value[first:last], np.nan)

    def value(self, kpi: str, level: Level, entity_id: str | None = None) -> KpiValue | None:
        """One row, or ``None`` when the entity has no value of ``kpi`` in the window."""
        slot = self._slot(level, entity_id)
        column = self.columns.get(kpi)
        if slot is None or column is None or slot >= len(column.present):
            return None
        if level not in _DEFINED[kpi]:
            return None
        if not column.present[slot]:
            return None
        return self._row(column, slot, explain=True)

    def _slot(self, level: Level, entity_id: str | None) -> int | None:
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
                if level not in levels or level not in _DEFINED[name]:
                    continue
                first, last = self.slots.level_range(level)
                for slot in np.flatnonzero(column.present[first:last]) + first:
                    yield self._row(column, int(slot), explain=explain)

    def _row(self, column: Column, slot: int, *, explain: bool) -> KpiValue:
        level, entity_id = self.slots.key(slot)
        value = float(column.value[slot])
        margin = None if column.margin_of_error is None else float(column.margin_of_error[slot])
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
            value=None if np.isnan(value) else value,
            n=int(column.n[slot]),
            formula_version=_VERSION[column.kpi],
            margin_of_error=None if margin is None or np.isnan(margin) else margin,
            partial=self.partial or column.partial,
            text=text,
            explanation=explanation,
        )


def compute_window(
    frame: Frame,
    window: Window,
    *,
    as_of: datetime,
    config: EngineConfig | None = None,
    health: HealthSetup | None = None,
    analyzer: Any = None,
    cache: dict[Any, Any] | None = None,
    families: set[str] | None = None,
) -> KpiTable:
    """Every KPI of the catalogue over ``window`` at every level, as of ``as_of``.

    ``analyzer`` (a :class:`crmpulse.kpis.feedback.FeedbackAnalyzer`) adds the feedback KPIs;
    ``health`` adds the health score. ``cache`` may be shared between calls on the same frame
    (models fitted for one window end are reused by another window with the same end).
    ``families`` limits the computation to some catalogue families (all by default).
    """
    config = config or EngineConfig()
    slots = Slots(frame)
    shared = {} if cache is None else cache
    ctx = Context(
        frame=frame,
        slots=slots,
        start=window.start.timestamp(),
        end=window.end.timestamp(),
        label=window.label,
        as_of=as_of.timestamp(),
        config=config,
        cache=shared,
    )
    with gc_paused():
        columns: dict[str, Column] = {}
        for name, family in FAMILIES.items():
            if families is not None and name not in families:
                continue
            for column in family(ctx):
                columns[column.kpi] = _compact(column, slots, _DEFINED[column.kpi])
        if analyzer is not None and (families is None or "feedback" in families):
            for column in feedback_columns(ctx, analyzer):
                columns[column.kpi] = _compact(column, slots, _DEFINED[column.kpi])
        table = KpiTable(slots, window.label, ctx.running, columns)
        if analyzer is not None:
            table.themes = themes_of(ctx)
        if health is not None:
            _add_health(table, ctx, health, analyzer)
            for name in ("health_score", "health_band"):
                table.columns[name] = _compact(table.columns[name], slots, _DEFINED[name])
        return table


def _compact(column: Column, slots: Slots, levels: tuple[Level, ...]) -> Column:
    """Keep only the slots of the levels the KPI exists at; counts as 32-bit integers.

    A million contacts make every full-size column a megabyte per array; most KPIs have no
    contact level, so their columns end where the contacts begin.
    """
    end = max(slots.level_range(level)[1] for level in levels)
    return Column(
        kpi=column.kpi,
        value=column.value[:end].copy(),
        n=column.n[:end].astype(np.int32),
        present=column.present[:end].copy(),
        margin_of_error=None
        if column.margin_of_error is None
        else column.margin_of_error[:end].copy(),
        partial=column.partial,
    )


def _add_health(table: KpiTable, ctx: Context, setup: HealthSetup, analyzer: Any) -> None:
    frame = ctx.frame
    end = datetime.fromtimestamp(ctx.end, UTC)
    trailing = Trailing(end=end, days=setup.window_days)
    kpis = {measure.kpi for model in setup.config.models() for measure in model.measures}
    if trailing.start.timestamp() == ctx.start:
        basis = table
    else:
        basis = compute_window(
            frame,
            trailing,
            as_of=datetime.fromtimestamp(ctx.as_of, UTC),
            config=ctx.config,
            analyzer=analyzer,
            cache=ctx.cache,
            families={_FAMILY_OF[kpi] for kpi in kpis},
        )
    values = {kpi: basis.account_values(kpi) for kpi in kpis}
    segments = [frame.segments[s] if s >= 0 else None for s in frame.account_segment]
    result = health_model.score_accounts(setup.config, segments, values)
    table.health = result
    size = ctx.slots.size
    first, last = ctx.slots.level_range("account")
    scored = ~np.isnan(result.score)
    pairs = ctx.slots.account_pairs(scored, levels=("portfolio", "segment", "account"))
    # an account's mean over itself is its own score: one pass gives every level
    value, n = slot_means(pairs, np.nan_to_num(result.score), size)
    table.columns["health_score"] = Column.of("health_score", value, n)
    band = np.full(size, np.nan)
    band[first:last] = np.where(scored, result.band_rank, np.nan)
    table.columns["health_band"] = Column.of("health_band", band, n)


def compute(
    *,
    accounts: Iterable[Account],
    contacts: Iterable[Contact],
    tickets: Iterable[Ticket] = (),
    surveys: Iterable[SurveyResponse] = (),
    deals: Iterable[Deal] = (),
    activities: Iterable[Activity] = (),
    period: Period,
    as_of: datetime | None = None,
    csat_satisfied_min: float = 4,
    config: EngineConfig | None = None,
) -> list[KpiValue]:
    """Every KPI of the catalogue for one period from normalized records, at every level.

    Membership (see :mod:`~crmpulse.kpis.frame`): a record's account is its own, else its
    contact's; deleted records count nowhere. The portfolio gets a row for every KPI (undefined
    when there is nothing to measure); segments, accounts and contacts get rows only where the
    KPI has data. ``as_of`` (default: now) decides which values are still partial.
    """
    if not 1 <= csat_satisfied_min <= 5:
        raise ValueError(f"csat_satisfied_min must be within 1..5, got {csat_satisfied_min}")
    frame = Frame.from_records(
        accounts=accounts,
        contacts=contacts,
        tickets=tickets,
        surveys=surveys,
        deals=deals,
        activities=activities,
    )
    config = config or EngineConfig(csat_satisfied_min=csat_satisfied_min)
    table = compute_window(frame, period, as_of=as_of or datetime.now(UTC), config=config)
    return list(table.rows())
