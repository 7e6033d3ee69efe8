"""Service-time KPIs: first response time and resolution time, in calendar hours.

First response time (FRT) = first agent response - ticket creation; resolution time = close -
creation. Durations are heavy-tailed, so both the median and the mean are reported. Tickets without
a response (or not closed) are right-censored: they are left out of the median and the mean rather
than counted as 0 or as "now - created". Business-hours clocks are a later slice.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

SECONDS_PER_HOUR = 3600.0


@dataclass(frozen=True)
class DurationResult:
    """Median and mean of a set of durations in hours; ``None`` when there are none."""

    median: float | None
    mean: float | None
    n: int
    invalid: int = 0


def hours_between(start: datetime, end: datetime) -> float:
    """Elapsed calendar hours from ``start`` to ``end`` (aware datetimes)."""
    return (end - start).total_seconds() / SECONDS_PER_HOUR


def durations(hours: Iterable[float]) -> DurationResult:
    """Median and mean of durations in hours.

    Formulas: mean = sum(h) / n; median = the middle value of the sorted durations (the mean of
    the two middle ones when n is even). Negative or non-finite durations are invalid: left out
    of ``n`` and counted in ``invalid``.
    """
    valid: list[float] = []
    invalid = 0
    for value in hours:
        if math.isfinite(value) and value >= 0:
            valid.append(float(value))
        else:
            invalid += 1
    return _summarize(valid, invalid)


def _summarize(valid: list[float], invalid: int = 0) -> DurationResult:
    n = len(valid)
    if n == 0:
        return DurationResult(None, None, 0, invalid)
    valid.sort()
    middle = n // 2
    median = valid[middle] if n % 2 else (valid[middle - 1] + valid[middle]) / 2
    return DurationResult(median=median, mean=math.fsum(valid) / n, n=n, invalid=invalid)
