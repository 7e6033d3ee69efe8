"""Use cases around the KPI engine: set it up from settings, compute a period from the store,
compare it with the previous period, the same period last year and the targets.

The entrypoints (``crmpulse kpis``, ``crmpulse sync``, the report) call these; they hold the
wiring, the engine holds the arithmetic.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import structlog

from crmpulse.errors import ConfigError
from crmpulse.kpis import compare, engine, health
from crmpulse.kpis.calendar import BusinessCalendar
from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.cohorts import CohortRow, cohort_table
from crmpulse.kpis.frame import Frame
from crmpulse.kpis.loading import load_frame
from crmpulse.kpis.measures.base import EngineConfig
from crmpulse.kpis.periods import Period, last_complete
from crmpulse.kpis.table import KpiTable
from crmpulse.kpis.targets import Target, load_targets
from crmpulse.kpis.values import KpiValue, Level
from crmpulse.settings import Settings
from crmpulse.store import Store

log = structlog.get_logger("crmpulse")


@dataclass(frozen=True)
class EngineSetup:
    """Everything the engine needs from the settings, loaded and validated once."""

    config: EngineConfig
    health: engine.HealthSetup
    targets: dict[str, Target]
    analyzer: Any = None


def setup(settings: Settings) -> EngineSetup:
    """Build the engine's configuration; bad health or targets files raise ``ConfigError``."""
    kpi = settings.kpi
    config = EngineConfig(
        csat_satisfied_min=kpi.csat_satisfied_min,
        recontact_days=kpi.recontact_days,
        conversion_days=kpi.conversion_days,
        revenue_window_days=kpi.revenue_window_days,
        gross_margin=kpi.gross_margin,
        engagement_target=kpi.engagement_target,
        calendar=BusinessCalendar.from_config(kpi.calendar),
    )
    known = {d.name for d in CATALOGUE}
    model = health.load_config(kpi.health_file, known_kpis=known)
    return EngineSetup(
        config=config,
        health=engine.HealthSetup(model, kpi.health_window_days),
        targets=load_targets(kpi.targets_file),
        analyzer=_analyzer() if kpi.feedback else None,
    )


@lru_cache(maxsize=1)
def _analyzer() -> Any:
    """The comment analyzer, built once per process (its lexicons take a second to load)."""
    from crmpulse.kpis import feedback

    return feedback.FeedbackAnalyzer() if feedback.available() else None


def default_period(settings: Settings, now: datetime | None = None) -> Period:
    """The configured period: a label, ``current`` (the running period of the grain, partial)
    or ``last`` / unset (the last complete one)."""
    tz = settings.kpi.timezone
    moment = now or datetime.now(UTC)
    chosen = (settings.kpi.period or "last").strip().lower()
    if chosen == "last":
        return last_complete(moment, tz, settings.kpi.grain)
    if chosen == "current":
        return Period.containing(moment, tz, settings.kpi.grain)
    try:
        return Period.parse(chosen.upper(), tz)
    except ValueError as exc:
        raise ConfigError(
            f"kpi.period: {exc}", hint="or `current` (the running period) or `last`"
        ) from None


def frame_of(store: Store, engine_setup: EngineSetup) -> Frame:
    """The store's live records as a frame (with comments when feedback is analysed)."""
    return load_frame(store, comments=engine_setup.analyzer is not None, opener=opener_of(store))


def opener_of(store: Store) -> Callable[[], Store] | None:
    """How a forked child reads part of a SQLite store in parallel, where that is safe.

    Only a single-threaded process forks: a child of ``crmpulse serve`` (server, worker and
    scheduler threads) could inherit a lock another thread held at the fork and hang.
    """
    if store.dialect != "sqlite" or threading.active_count() > 1:
        return None
    return store.reopen


def table_for(
    frame: Frame,
    engine_setup: EngineSetup,
    period: Period,
    *,
    as_of: datetime | None = None,
    cache: dict[Any, Any] | None = None,
) -> KpiTable:
    """Every KPI of ``period`` with the health score."""
    return engine.compute_window(
        frame,
        period,
        as_of=as_of or datetime.now(UTC),
        config=engine_setup.config,
        health=engine_setup.health,
        analyzer=engine_setup.analyzer,
        cache=cache,
    )


def compute_kpis(
    store: Store, settings: Settings, period: Period, *, as_of: datetime | None = None
) -> list[KpiValue]:
    """Every KPI of the catalogue for ``period`` from the records in the store."""
    engine_setup = setup(settings)
    table = table_for(frame_of(store, engine_setup), engine_setup, period, as_of=as_of)
    return list(table.rows())


ALERT_LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account")
"""Where alerts are raised: a contact crossing a target is noise, its company is news."""


@dataclass(frozen=True)
class PeriodKpis:
    """A period's values and the alerts they raise against the previous period."""

    values: list[KpiValue]
    alerts: list[compare.Alert]


def period_kpis(
    store: Store, settings: Settings, period: Period, *, as_of: datetime | None = None
) -> PeriodKpis:
    """Every KPI of ``period`` from the store, with the alerts against the previous period."""
    now = as_of or datetime.now(UTC)
    engine_setup = setup(settings)
    frame = frame_of(store, engine_setup)
    cache: dict[Any, Any] = {}
    current = table_for(frame, engine_setup, period, as_of=now, cache=cache)
    values = list(current.rows())
    previous = table_for(frame, engine_setup, period.previous(), as_of=now, cache=cache)
    return PeriodKpis(values, alerts_between(current, previous, engine_setup.targets))


def alerts_between(
    current: KpiTable, previous: KpiTable, targets: dict[str, Target]
) -> list[compare.Alert]:
    """Target crossings and band changes from ``previous`` to ``current``."""
    names = (set(targets) | {"health_band"}) & set(current.columns)
    rows = compare.compare(
        current,
        current.rows(kpis=names, levels=ALERT_LEVELS),
        previous=previous,
        last_year=None,
        targets=targets,
    )
    return compare.alerts(rows, targets)


@dataclass
class KpiReport:
    """A period's KPIs with trends and targets, the alerts they raise, themes and cohorts."""

    period: Period
    partial: bool
    table: KpiTable
    rows: list[compare.Compared]
    alerts: list[compare.Alert]
    cohorts: list[CohortRow] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``kpis --json`` document."""
        return {
            "period": self.period.label,
            "grain": self.period.grain,
            "start": self.period.start.isoformat(),
            "end": self.period.end.isoformat(),
            "partial": self.partial,
            "health_model": None
            if self.table.health is None
            else {"version": self.table.health.version, "hash": self.table.health.config_hash},
            "values": [row.as_json() for row in self.rows],
            "alerts": [alert.__dict__ for alert in self.alerts],
            "themes": {
                owner or "portfolio": [
                    {"theme": theme, "mentions": count, "sentiment": round(100 * mean, 1)}
                    for theme, count, mean in themes
                ]
                for owner, themes in self.table.themes.items()
            },
            "cohorts": [
                {"cohort": c.cohort, "size": c.size, "retention": list(c.retention)}
                for c in self.cohorts
            ],
        }


def kpi_report(
    store: Store,
    settings: Settings,
    period: Period,
    *,
    levels: tuple[Level, ...] = ("portfolio", "segment", "account", "contact"),
    as_of: datetime | None = None,
) -> KpiReport:
    """``period`` compared with the previous period, the same period last year and the targets."""
    now = as_of or datetime.now(UTC)
    engine_setup = setup(settings)
    frame = frame_of(store, engine_setup)
    cache: dict[Any, Any] = {}
    current = table_for(frame, engine_setup, period, as_of=now, cache=cache)
    previous = table_for(frame, engine_setup, period.previous(), as_of=now, cache=cache)
    last_year = table_for(frame, engine_setup, period.same_last_year(), as_of=now, cache=cache)
    rows = list(
        compare.compare(
            current,
            current.rows(levels=levels, explain=True),
            previous=previous,
            last_year=last_year,
            targets=engine_setup.targets,
        )
    )
    return KpiReport(
        period=period,
        partial=period.is_partial(now),
        table=current,
        rows=rows,
        alerts=alerts_between(current, previous, engine_setup.targets),
        cohorts=cohort_table(frame, tz=period.tz, as_of=now),
    )
