"""What every KPI family works with: the frame, the slots, the window, and its output columns."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import structlog

from crmpulse.kpis.calendar import BusinessCalendar, CalendarConfig
from crmpulse.kpis.frame import Bools, Floats, Frame
from crmpulse.kpis.groups import Slots
from crmpulse.kpis.values import LEVELS, Level

log = structlog.get_logger("crmpulse.kpis")

DAY = 86_400.0
HOUR = 3_600.0

ENGAGEMENT_WEIGHTS: Mapping[str, float] = {
    "email": 1.0,
    "call": 3.0,
    "meeting": 5.0,
    "note": 0.5,
    "task": 0.5,
}
"""Default points per activity kind for the engagement score (inbound counts 1.5 times)."""


def _default_calendar() -> BusinessCalendar:
    return BusinessCalendar.from_config(CalendarConfig())


@dataclass(frozen=True)
class EngineConfig:
    """The engine's knobs (the ``kpi`` settings section carries them)."""

    csat_satisfied_min: float = 4.0
    recontact_days: float = 7.0
    conversion_days: float = 90.0
    revenue_window_days: float = 365.0
    gross_margin: float = 1.0
    engagement_weights: Mapping[str, float] = field(default_factory=lambda: ENGAGEMENT_WEIGHTS)
    inbound_factor: float = 1.5
    engagement_target: float = 20.0
    prediction_horizon_months: int = 12
    discount_rate_monthly: float = 0.01
    calendar: BusinessCalendar | None = field(default_factory=_default_calendar)


@dataclass(frozen=True)
class Context:
    """One window to compute: ``[start, end)`` as epoch seconds, at ``as_of``."""

    frame: Frame
    slots: Slots
    start: float
    end: float
    label: str
    as_of: float
    config: EngineConfig
    cache: dict[Any, Any] = field(default_factory=dict, compare=False)
    wanted: frozenset[str] | None = None
    """The KPIs asked for (``None``: all); a family may skip work no wanted KPI needs."""
    levels: tuple[Level, ...] = LEVELS
    """The levels whose values are asked for; the families that pair every record with every
    level leave the others out (their rows are then empty, not wrong: read only these)."""

    def wants(self, *kpis: str) -> bool:
        """Whether any of ``kpis`` is asked for."""
        return self.wanted is None or any(k in self.wanted for k in kpis)

    def at(self, levels: Sequence[Level] = LEVELS) -> tuple[Level, ...]:
        """Those of ``levels`` that are asked for."""
        return tuple(level for level in levels if level in self.levels)

    @property
    def days(self) -> float:
        """The window's length in days."""
        return (self.end - self.start) / DAY

    @property
    def running(self) -> bool:
        """Whether the window is not over at ``as_of``."""
        return self.end > self.as_of

    def within(self, moments: Floats) -> Bools:
        """Which of ``moments`` lie in the window (NaN never does)."""
        return (moments >= self.start) & (moments < self.end)


@dataclass
class Column:
    """One KPI over every slot: value (NaN = undefined), n, which slots get a row, and extras."""

    kpi: str
    value: Floats
    n: Floats
    present: Bools
    margin_of_error: Floats | None = None
    partial: bool = False

    @classmethod
    def of(
        cls,
        kpi: str,
        value: Floats,
        n: Floats,
        *,
        present: Bools | None = None,
        margin_of_error: Floats | None = None,
        partial: bool = False,
    ) -> Column:
        """A column whose rows are the portfolio and every slot with ``n > 0`` (by default)."""
        shown = (n > 0) if present is None else present.copy()
        shown[0] = True
        # families reuse one n for several KPIs; the engine's compaction gives every column
        # arrays of its own
        return cls(kpi, value, n, shown, margin_of_error, partial)


MODEL_KEYS = frozenset({"bgnbd", "gamma_gamma", "sbg", "monthly_churn"})
"""Cache keys of population-level models: fitted on a whole frame, reused for a single account."""

T = TypeVar("T")


def model(ctx: Context, name: str, fit: Callable[[], T], *, level: str = "warning") -> T | None:
    """A population-level model for the window's end, fitted once and kept in ``ctx.cache``.

    ``None`` when it cannot be fitted (too little data): the values that need it are undefined.
    """
    key = (name, ctx.end)
    if key in ctx.cache:
        return ctx.cache[key]  # type: ignore[no-any-return]
    try:
        value: T | None = fit()
    except (ValueError, ArithmeticError) as exc:
        getattr(log, level)("kpis.model_unfit", model=name, window=ctx.label, reason=str(exc))
        value = None
    ctx.cache[key] = value
    return value
