"""Customer-relationship KPIs: definitions, pure formulas, periods and the engine.

- :mod:`~crmpulse.kpis.surveys` — NPS, CSAT, CES from answers;
- :mod:`~crmpulse.kpis.service_time` — first response and resolution time;
- :mod:`~crmpulse.kpis.periods` — calendar months in a reporting time zone;
- :mod:`~crmpulse.kpis.catalogue` — one definition per KPI, and the generated reference doc;
- :mod:`~crmpulse.kpis.engine` — records in, :class:`KpiValue` rows out, at every level.
"""

from crmpulse.kpis.catalogue import CATALOGUE, KpiDefinition, get, render_markdown
from crmpulse.kpis.engine import compute
from crmpulse.kpis.periods import Period, last_complete
from crmpulse.kpis.service_time import DurationResult, durations, hours_between
from crmpulse.kpis.surveys import (
    CesResult,
    CsatResult,
    NpsResult,
    ces,
    ces_from_histogram,
    csat,
    csat_from_histogram,
    nps,
    nps_from_counts,
    nps_from_histogram,
)
from crmpulse.kpis.values import KpiValue, Level

__all__ = [
    "CATALOGUE",
    "CesResult",
    "CsatResult",
    "DurationResult",
    "KpiDefinition",
    "KpiValue",
    "Level",
    "NpsResult",
    "Period",
    "ces",
    "ces_from_histogram",
    "compute",
    "csat",
    "csat_from_histogram",
    "durations",
    "get",
    "hours_between",
    "last_complete",
    "nps",
    "nps_from_counts",
    "nps_from_histogram",
    "render_markdown",
]
