"""Business-hours calendars for service-time KPIs (first response, resolution) in business hours.

A calendar is an IANA time zone, weekly opening intervals in local wall-clock time, and holidays
(national or subdivision holidays from the ``holidays`` package plus dates the user lists). The
semantics follow Zendesk's business-hours schedules:

- elapsed business time between two instants = the length of ``[start, end)`` intersected with
  the business intervals, so a ticket that arrives outside hours starts its clock at the next
  interval, and ``end <= start`` gives 0;
- a holiday is a whole local date: that date opens no interval (an interval of the day before
  that runs to 24:00 still ends at midnight);
- ``add_business_time(start, s)`` is the first instant at which ``s`` business seconds have
  elapsed since ``start``: Friday 17:00 + 8 h on a 09:00-17:00 week is Monday 17:00.

Daylight-saving time (Zendesk does not document the edge cases; this is our rule). An interval
``a-b`` on local date ``d`` opens at the *first instant the local clock reads* ``d a`` or later
and closes at the first instant it reads ``d b`` or later (``24:00`` = the next local midnight).
Boundaries are exact to the second, with no approximation. Consequences: durations are real
elapsed seconds, so a ``24h`` day lasts 23 h or 25 h on the days the clocks change; a boundary
inside a skipped hour moves to the instant of the change (``01:00-04:00`` on a spring-forward
night at 02:00 is 2 h); a boundary inside a repeated hour takes its first occurrence, and a
repeated hour inside an open interval counts twice, as it is lived twice. Offsets come from the
IANA tz database through :mod:`zoneinfo` (the system's copy, or the ``tzdata`` package).

Vectorized evaluation. The calendar lays out its business intervals as sorted UTC epoch
seconds, with the cumulative business seconds before each one, for whole local years; the table
grows to cover whatever instants it is asked about. With ``B(t)`` = business seconds from the
table's origin to ``t`` (one ``searchsorted`` and a clip), the answer for a pair is
``B(end) - B(start)``, so each ticket costs two binary searches over a few hundred intervals
per covered year, and no Python loop runs per ticket.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays
import numpy as np
import numpy.typing as npt
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Day keys of :attr:`CalendarConfig.hours`, in :meth:`date.weekday` order."""

DAY_SECONDS = 86_400
MAX_SPAN_YEARS = 200
"""Widest range of local years a calendar lays out; wider inputs are almost surely not seconds."""

_INTERVAL_RE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")
_FORMAT_HINT = 'write "HH:MM-HH:MM", several separated by commas ("08:00-12:00,13:00-17:00"), "24h"'

Interval = tuple[int, int]
"""Opening interval as ``(start, end)`` seconds after local midnight, ``start < end <= 86400``."""

FloatArray = npt.NDArray[np.float64]


def _clock_seconds(hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if m > 59 or h > 24 or (h == 24 and m):
        return None
    return h * 3600 + m * 60


def parse_day_hours(day: str, text: str) -> tuple[Interval, ...]:
    """Parse one day's opening hours: ``"09:00-18:00"``, ``"08:00-12:00,13:00-17:00"``, ``"24h"``.

    ``"closed"`` or an empty text means no interval. Raises ``ValueError`` naming the day and the
    offending text when an interval is malformed, empty, runs past midnight or overlaps another.
    """
    where = f'hours["{day}"] = "{text}"'
    spec = text.strip().lower()
    if spec in {"", "closed"}:
        return ()
    if spec == "24h":
        return ((0, DAY_SECONDS),)
    intervals: list[Interval] = []
    for part in spec.split(","):
        match = _INTERVAL_RE.match(part.strip())
        start = _clock_seconds(*match.group(1, 2)) if match else None
        end = _clock_seconds(*match.group(3, 4)) if match else None
        if start is None or end is None:
            raise ValueError(f'{where}: cannot read "{part.strip()}"; {_FORMAT_HINT}')
        if start >= end:
            raise ValueError(
                f'{where}: interval "{part.strip()}" does not end after it starts; an '
                'overnight shift is two intervals, e.g. "22:00-24:00" on one day and '
                '"00:00-06:00" on the next'
            )
        intervals.append((start, end))
    intervals.sort()
    for (_, prev_end), (start, _) in itertools.pairwise(intervals):
        if start < prev_end:
            raise ValueError(f"{where}: intervals overlap; merge them into one interval")
    return tuple(intervals)


def _default_hours() -> dict[str, str]:
    return dict.fromkeys(WEEKDAYS[:5], "09:00-18:00")


class CalendarConfig(BaseModel):
    """A business-hours calendar as configured (settings section ``kpi.calendar``).

    ``hours`` maps day keys ``mon``..``sun`` to local opening hours; a missing day is closed.
    ``holidays_country``/``holidays_subdivision`` select public holidays from the ``holidays``
    package (e.g. ``"BR"``/``"SP"``); ``extra_holidays`` adds local dates of the company's own.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = Field(default="UTC", description="IANA zone the hours are read in")
    hours: dict[str, str] = Field(
        default_factory=_default_hours,
        description='weekly hours per day key, e.g. {"mon": "09:00-18:00"}; absent days closed',
    )
    holidays_country: str | None = Field(default=None, description="ISO 3166 code, e.g. BR")
    holidays_subdivision: str | None = Field(default=None, description="e.g. SP (needs country)")
    extra_holidays: list[date] = Field(default_factory=list, description="more closed dates")

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f'timezone "{value}" is not an IANA time zone; use a name such as '
                '"America/Sao_Paulo", "Europe/Lisbon" or "UTC"'
            ) from None
        return value

    @field_validator("hours")
    @classmethod
    def _valid_hours(cls, value: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(value) - set(WEEKDAYS))
        if unknown:
            raise ValueError(
                f"hours: unknown day key(s) {', '.join(repr(k) for k in unknown)}; "
                f"use {', '.join(WEEKDAYS)} (a missing day is closed)"
            )
        if not any(parse_day_hours(day, text) for day, text in value.items()):
            raise ValueError(
                'hours: no day has business hours; give at least one, e.g. {"mon": "09:00-18:00"}'
            )
        return value

    @model_validator(mode="after")
    def _known_holidays(self) -> CalendarConfig:
        country, subdivision = self.holidays_country, self.holidays_subdivision
        if country is None:
            if subdivision is not None:
                raise ValueError(
                    f'holidays_subdivision "{subdivision}" needs holidays_country; set both, '
                    'e.g. holidays_country="BR", holidays_subdivision="SP"'
                )
            return self
        supported = holidays.list_supported_countries()
        if country not in supported:
            raise ValueError(
                f'holidays_country "{country}" is not supported by the holidays package; use an '
                'ISO 3166-1 alpha-2 code in capitals, e.g. "BR", "US", "PT"'
            )
        if subdivision is not None and subdivision not in supported[country]:
            raise ValueError(
                f'holidays_subdivision "{subdivision}" is not a subdivision of {country}; '
                f"use one of {', '.join(supported[country])}"
            )
        return self

    def weekly_intervals(self) -> tuple[tuple[Interval, ...], ...]:
        """Opening intervals for Monday..Sunday (index = :meth:`date.weekday`)."""
        return tuple(parse_day_hours(day, self.hours.get(day, "")) for day in WEEKDAYS)


@dataclass(frozen=True)
class _Table:
    """Business intervals of local years ``first..last`` as UTC epoch seconds."""

    first: int
    last: int
    starts: FloatArray
    lengths: FloatArray
    before: FloatArray  # business seconds before each interval
    ends_cum: FloatArray  # business seconds up to each interval's end

    def covers(self, first: int, last: int) -> bool:
        return self.first <= first and last <= self.last

    @property
    def total(self) -> float:
        return float(self.ends_cum[-1]) if len(self.ends_cum) else 0.0

    def cumulative(self, moments: FloatArray) -> FloatArray:
        """``B(t)``: business seconds from the table's origin to each instant (NaN stays NaN)."""
        if not len(self.starts):
            return moments * 0.0
        index = np.searchsorted(self.starts, moments, side="right")
        index -= 1
        np.maximum(index, 0, out=index)
        result: FloatArray = moments - np.take(self.starts, index)
        np.maximum(result, 0.0, out=result)
        np.minimum(result, np.take(self.lengths, index), out=result)
        result += np.take(self.before, index)
        return result


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} must be timezone-aware")


class BusinessCalendar:
    """Business time between instants under one :class:`CalendarConfig`.

    Build it once with :meth:`from_config` and reuse it: it keeps the laid-out intervals of the
    years it has been asked about.
    """

    def __init__(self, config: CalendarConfig) -> None:
        self.config = config
        self._zone = ZoneInfo(config.timezone)
        self._weekly = config.weekly_intervals()
        self._table: _Table | None = None

    @classmethod
    def from_config(cls, config: CalendarConfig) -> BusinessCalendar:
        """The calendar a validated configuration describes."""
        return cls(config)

    def business_seconds(self, start: datetime, end: datetime) -> float:
        """Business seconds in ``[start, end)`` for aware datetimes; 0 when ``end <= start``."""
        _require_aware(start)
        _require_aware(end)
        moments = np.array([start.timestamp(), end.timestamp()])
        if moments[1] <= moments[0]:
            return 0.0
        b_start, b_end = self._table_for(moments[0], moments[1]).cumulative(moments)
        return max(float(b_end - b_start), 0.0)

    def add_business_time(self, start: datetime, seconds: float) -> datetime:
        """The first instant at which ``seconds`` of business time have elapsed since ``start``.

        The result is in ``start``'s time zone; ``seconds = 0`` returns ``start`` itself.
        """
        _require_aware(start)
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"seconds must be a finite number >= 0, got {seconds}")
        if seconds == 0:
            return start
        if not any(self._weekly):
            raise ValueError("the calendar has no business hours, so no business time elapses")
        origin = start.timestamp()
        first = self._local_year(origin)
        last = first
        while True:
            table = self._table_for_years(first, last)
            target = float(table.cumulative(np.array([origin]))[0]) + seconds
            if target <= table.total:
                break
            if last - first >= MAX_SPAN_YEARS:
                raise ValueError(
                    f"{seconds} business seconds after {start.isoformat()} fall more than "
                    f"{MAX_SPAN_YEARS} years later; check the unit (seconds) and the holidays"
                )
            # Double the range: each try lays the table out again.
            last = min(max(table.last, last) + (last - first + 1), first + MAX_SPAN_YEARS)
        i = int(np.searchsorted(table.ends_cum, target, side="left"))
        instant = float(table.starts[i]) + (target - float(table.before[i]))
        moved = start.astimezone(UTC) + timedelta(seconds=instant - origin)
        return moved.astimezone(start.tzinfo)

    def cover(self, *moments: npt.ArrayLike) -> None:
        """Lay out every local year ``moments`` span (UTC epoch seconds; NaN, infinities ignored).

        Business time is counted from the first year laid out, so the last digits of a result
        can depend on it. Covering a whole data set first makes calls on any part of it give
        exactly what one call on all of it gives.
        """
        lo, hi = math.inf, -math.inf
        for column in moments:
            values = np.asarray(column, dtype=np.float64).reshape(-1)
            if not values.size:
                continue
            low, high = float(np.fmin.reduce(values)), float(np.fmax.reduce(values))
            if not (math.isfinite(low) and math.isfinite(high)):
                values = values[np.isfinite(values)]
                if not values.size:
                    continue
                low, high = float(values.min()), float(values.max())
            lo, hi = min(lo, low), max(hi, high)
        if lo <= hi:
            self._table_for(lo, hi)

    def business_seconds_array(self, start: npt.ArrayLike, end: npt.ArrayLike) -> FloatArray:
        """Business seconds in ``[start, end)`` per pair of UTC epoch seconds (float64).

        Vectorized: ``B(end) - B(start)``, floored at 0 (``end <= start`` gives 0). A NaN or
        infinite value in either input gives NaN for that pair.
        """
        s, e = np.broadcast_arrays(
            np.asarray(start, dtype=np.float64), np.asarray(end, dtype=np.float64)
        )
        if not s.size:
            return np.zeros(s.shape)
        lo = float(np.fmin(np.fmin.reduce(s, axis=None), np.fmin.reduce(e, axis=None)))
        hi = float(np.fmax(np.fmax.reduce(s, axis=None), np.fmax.reduce(e, axis=None)))
        if not (math.isfinite(lo) and math.isfinite(hi)):
            s = np.where(np.isfinite(s), s, np.nan)
            e = np.where(np.isfinite(e), e, np.nan)
            lo = float(np.fmin(np.fmin.reduce(s, axis=None), np.fmin.reduce(e, axis=None)))
            hi = float(np.fmax(np.fmax.reduce(s, axis=None), np.fmax.reduce(e, axis=None)))
            if math.isnan(lo):
                return np.full(s.shape, np.nan)
        table = self._table_for(lo, hi)
        result: FloatArray = np.maximum(table.cumulative(e) - table.cumulative(s), 0.0)
        return result

    def _local_year(self, moment: float) -> int:
        try:
            year = datetime.fromtimestamp(moment, self._zone).year
        except (OverflowError, ValueError, OSError):
            year = 0
        if not 2 <= year <= 9998:
            raise ValueError(
                f"epoch {moment} is out of range; timestamps must be UTC epoch seconds "
                "(not milliseconds)"
            )
        return year

    def _table_for(self, lo: float, hi: float) -> _Table:
        return self._table_for_years(self._local_year(lo), self._local_year(hi))

    def _table_for_years(self, first: int, last: int) -> _Table:
        table = self._table
        if table is not None and table.covers(first, last):
            return table
        if table is not None:
            union = min(first, table.first), max(last, table.last)
            if union[1] - union[0] <= MAX_SPAN_YEARS:
                first, last = union
        if last - first > MAX_SPAN_YEARS:
            raise ValueError(
                f"timestamps span local years {first}..{last}, more than {MAX_SPAN_YEARS}; "
                "they must be UTC epoch seconds (not milliseconds)"
            )
        table = self._build(first, last)
        self._table = table
        return table

    def _holiday_dates(self, first: int, last: int) -> set[date]:
        closed = {d for d in self.config.extra_holidays if first <= d.year <= last}
        if self.config.holidays_country is not None:
            closed.update(
                holidays.country_holidays(
                    self.config.holidays_country,
                    subdiv=self.config.holidays_subdivision,
                    years=range(first, last + 1),
                ).keys()
            )
        return closed

    def _build(self, first: int, last: int) -> _Table:
        closed = self._holiday_dates(first, last)
        starts: list[float] = []
        lengths: list[float] = []
        day = date(first, 1, 1)
        while day.year <= last:
            if day not in closed:
                midnight = datetime.combine(day, time())
                for a, b in self._weekly[day.weekday()]:
                    opens = self._first_instant(midnight + timedelta(seconds=a))
                    closes = self._first_instant(midnight + timedelta(seconds=b))
                    if closes > opens:
                        starts.append(opens)
                        lengths.append(closes - opens)
            day += timedelta(days=1)
        length_array = np.array(lengths, dtype=np.float64)
        ends_cum = np.cumsum(length_array)
        return _Table(
            first=first,
            last=last,
            starts=np.array(starts, dtype=np.float64),
            lengths=length_array,
            before=ends_cum - length_array,
            ends_cum=ends_cum,
        )

    def _first_instant(self, wall: datetime) -> float:
        """Epoch seconds of the first instant at which the local clock reads ``wall`` or later."""
        guess = wall.replace(tzinfo=self._zone, fold=0).timestamp()
        if self._wall(guess) == wall:
            return guess  # an ordinary or repeated wall time (fold=0 is the first pass)
        # ``wall`` was skipped. Read with the offset after the change it falls before the change,
        # read with the offset before it falls after: the change lies between; find it.
        low, high = int(wall.replace(tzinfo=self._zone, fold=1).timestamp()), int(guess)
        while high - low > 1:
            middle = (low + high) // 2
            if self._wall(middle) >= wall:
                high = middle
            else:
                low = middle
        return float(high)

    def _wall(self, moment: float) -> datetime:
        return datetime.fromtimestamp(moment, self._zone).replace(tzinfo=None)
