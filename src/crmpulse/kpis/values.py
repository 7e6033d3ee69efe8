"""The value type every KPI computation produces."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Level = Literal["portfolio", "segment", "account", "contact"]

LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account", "contact")
"""Every aggregation level, coarsest first."""


@dataclass(frozen=True)
class KpiValue:
    """One KPI for one entity at one level in one period.

    ``value`` is ``None`` when the KPI is undefined (an empty denominator), never 0. ``n`` is the
    size of the denominator the value was computed from. ``entity_id`` is ``None`` at portfolio
    level, the segment name at segment level, the CRM id at account and contact level.
    """

    kpi: str
    level: Level
    entity_id: str | None
    period: str
    value: float | None
    n: int
    formula_version: int = 1
    margin_of_error: float | None = None
    partial: bool = False
    text: str | None = None
    explanation: str | None = None
