"""The KPI engine: a :class:`~crmpulse.kpis.frame.Frame` and a window in, a :class:`KpiTable` out.

:func:`compute_window` runs every KPI family of the catalogue over one window (a period, or a
trailing window) at every level at once: the families are vectorized over the frame's columns
(:mod:`crmpulse.kpis.measures`), so the cost grows with the records of the window, not with the
number of entities. The health score is computed from each account's KPIs over the trailing
``health_window_days`` before the window's end, scored by the configured health model.

:func:`compute` keeps the record-level entry point: normalized records in, rows out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from crmpulse.kpis import health as health_model
from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.frame import Frame
from crmpulse.kpis.gcpause import WORTH_TRIMMING, gc_paused, trim_heap
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
from crmpulse.kpis.table import DEFINED, KpiTable, StoredColumn
from crmpulse.kpis.values import LEVELS, KpiValue, Level
from crmpulse.model import Account, Activity, Contact, Deal, SurveyResponse, Ticket

Family = Callable[[Context], Iterable[Column]]
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
    kpis: set[str] | None = None,
    levels: Sequence[Level] = LEVELS,
) -> KpiTable:
    """Every KPI of the catalogue over ``window`` at every level, as of ``as_of``.

    ``analyzer`` (a :class:`crmpulse.kpis.feedback.FeedbackAnalyzer`) adds the feedback KPIs;
    ``health`` adds the health score. ``cache`` may be shared between calls on the same frame
    (models fitted for one window end are reused by another window with the same end).
    ``families`` limits the computation to some catalogue families (all by default), ``kpis``
    lets families skip the work only other KPIs need (the table may still hold more), and
    ``levels`` the work only other levels need (their rows may then be missing).
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
        wanted=None if kpis is None else frozenset(kpis),
        levels=tuple(levels),
    )
    # a small frame (one account) leaves nothing worth handing back to the operating system,
    # and walking a large process's heap to find that out would cost more than its KPIs
    big = frame.n_records + frame.n_contacts >= WORTH_TRIMMING
    with gc_paused():
        columns: dict[str, StoredColumn] = {}
        for name, family in FAMILIES.items():
            if families is not None and name not in families:
                continue
            for column in family(ctx):
                columns[column.kpi] = StoredColumn.compact(column, slots, DEFINED[column.kpi])
            if big:
                trim_heap()
        if analyzer is not None and (families is None or "feedback" in families):
            for column in feedback_columns(ctx, analyzer):
                columns[column.kpi] = StoredColumn.compact(column, slots, DEFINED[column.kpi])
        table = KpiTable(slots, window.label, ctx.running, columns)
        if analyzer is not None:
            table.themes = themes_of(ctx)
        if health is not None:
            _add_health(table, ctx, health, analyzer)
        return table


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
            kpis=kpis,
            # the score reads account values only: pairing records with the portfolio, the
            # segments and the contacts as well would more than double the work
            levels=("account",),
        )
    values = {kpi: basis.account_values(kpi) for kpi in kpis}
    segments = [frame.segments[s] if s >= 0 else None for s in frame.account_segment]
    result = health_model.score_accounts(setup.config, segments, values)
    table.health = result
    levels: tuple[Level, ...] = ("portfolio", "segment", "account")
    size = ctx.slots.end_of(levels)
    first, last = ctx.slots.level_range("account")
    scored = ~np.isnan(result.score)
    pairs = ctx.slots.account_pairs(scored, levels=levels)
    # an account's mean over itself is its own score: one pass gives every level
    value, n = slot_means(pairs, np.nan_to_num(result.score), size)
    slots = ctx.slots
    table.columns["health_score"] = StoredColumn.compact(
        Column.of("health_score", value, n), slots, DEFINED["health_score"]
    )
    band = np.full(size, np.nan)
    band[first:last] = np.where(scored, result.band_rank, np.nan)
    table.columns["health_band"] = StoredColumn.compact(
        Column.of("health_band", band, n), slots, DEFINED["health_band"]
    )


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
