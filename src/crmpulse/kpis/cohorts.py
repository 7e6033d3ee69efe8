"""Cohort retention tables: customers by acquisition month, share still active k months later.

Cohort = the accounts whose ``became_customer_at`` falls in a calendar month of the reporting
zone. Cell k = 100 * cohort members active at the end of month k after acquisition (k = 0 is the
acquisition month itself) / cohort size. A cell whose month has not ended at ``as_of`` is
right-censored and left empty (``None``) rather than averaged with complete cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from crmpulse.kpis.frame import Frame
from crmpulse.kpis.periods import Period


@dataclass(frozen=True)
class CohortRow:
    """One acquisition month: its size and retention per month since acquisition."""

    cohort: str
    size: int
    retention: tuple[float | None, ...]


def cohort_table(
    frame: Frame, *, tz: str, as_of: datetime, months: int = 12, first: Period | None = None
) -> list[CohortRow]:
    """Retention by acquisition month for up to ``months`` months after acquisition."""
    since = frame.account_customer_since
    known = ~np.isnan(since)
    if not known.any():
        return []
    start = first or Period.containing(
        datetime.fromtimestamp(float(since[known].min()), as_of.tzinfo), tz
    )
    rows: list[CohortRow] = []
    cohort = start
    horizon = as_of.timestamp()
    while cohort.start <= as_of:
        members = known & (since >= cohort.start.timestamp()) & (since < cohort.end.timestamp())
        size = int(members.sum())
        cells: list[float | None] = []
        month = cohort
        for _ in range(months):
            end = month.end.timestamp()
            if end > horizon:
                break
            alive = members & ~(frame.account_churned < end)
            cells.append(100 * int(alive.sum()) / size if size else None)
            month = month.next()
        if size:
            rows.append(CohortRow(cohort.label, size, tuple(cells)))
        cohort = cohort.next()
    return rows
