"""Reporting periods — day, ISO week, month, quarter, year — cut in a configured IANA time zone.

A period is the half-open interval ``[start, end)`` between two local midnights of the reporting
zone. Timestamps in the store are UTC, so :attr:`Period.start` and :attr:`Period.end` are UTC
datetimes that compare with them directly. ``end`` of one period is computed exactly like
``start`` of the next, so consecutive periods tile the time line with no gap and no overlap, even
across DST changes.

Labels: ``2026-10-05`` (day), ``2026-W41`` (ISO week, Monday first), ``2026-10`` (month),
``2026-Q4`` (quarter), ``2026`` (year). :meth:`Period.parse` recognises the grain from the label.

Example: in ``America/Sao_Paulo`` (UTC-3 all year since 2019) October 2026 starts at
``2026-10-01T03:00Z``, so an answer at ``2026-10-01T02:59Z`` belongs to September.

A :class:`Window` is any ``[start, end)`` interval with a label; the engine computes over windows,
so trailing windows (the last 90 days for the health score) reuse the period code paths.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal, Protocol, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

Grain = Literal["day", "week", "month", "quarter", "year"]
"""How long a period is."""

GRAINS: tuple[Grain, ...] = get_args(Grain)

TimeZone = str | ZoneInfo
"""An IANA zone, by name (``"America/Sao_Paulo"``) or as a :class:`~zoneinfo.ZoneInfo`."""

_LABELS: tuple[tuple[Grain, re.Pattern[str]], ...] = (
    ("day", re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")),
    ("week", re.compile(r"^(\d{4})-W(\d{2})$")),
    ("month", re.compile(r"^(\d{4})-(\d{2})$")),
    ("quarter", re.compile(r"^(\d{4})-Q([1-4])$")),
    ("year", re.compile(r"^(\d{4})$")),
)


class Window(Protocol):
    """A half-open ``[start, end)`` UTC interval with a label: what the engine computes over."""

    @property
    def start(self) -> datetime: ...  # pragma: no cover - protocol

    @property
    def end(self) -> datetime: ...  # pragma: no cover - protocol

    @property
    def label(self) -> str: ...  # pragma: no cover - protocol


def _zone_key(tz: TimeZone) -> str:
    if isinstance(tz, ZoneInfo):
        if tz.key is None:
            raise ValueError("a ZoneInfo built from a file has no IANA key; pass the zone name")
        return tz.key
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    return tz


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"timestamp {moment.isoformat()} must be timezone-aware")


def _first_day(grain: Grain, day: date) -> date:
    """The first day of the period of ``grain`` that contains ``day``."""
    if grain == "day":
        return day
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    return date(day.year, 1, 1)


def _shift_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _after(grain: Grain, first: date) -> date:
    """The first day of the period after the one starting on ``first``."""
    if grain == "day":
        return first + timedelta(days=1)
    if grain == "week":
        return first + timedelta(days=7)
    return _shift_months(first, {"month": 1, "quarter": 3, "year": 12}[grain])


@dataclass(frozen=True, order=True)
class Period:
    """One reporting period: its grain, its first local day and its zone."""

    grain: Grain
    first_day: date
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if self.grain not in GRAINS:
            raise ValueError(f"grain must be one of {', '.join(GRAINS)}, got {self.grain!r}")
        if _first_day(self.grain, self.first_day) != self.first_day:
            raise ValueError(f"{self.first_day} does not start a {self.grain}")
        if not 1 <= self.first_day.year <= 9998:
            raise ValueError(f"year must be 1..9998, got {self.first_day.year}")
        object.__setattr__(self, "tz", _zone_key(self.tz))

    @classmethod
    def month(cls, year: int, month: int, tz: TimeZone = "UTC") -> Period:
        """The calendar month ``year-month`` in zone ``tz``."""
        if not 1 <= month <= 12:
            raise ValueError(f"month must be 1..12, got {month}")
        return cls("month", date(year, month, 1), _zone_key(tz))

    @classmethod
    def parse(cls, text: str, tz: TimeZone = "UTC") -> Period:
        """Parse a label (``2026-10-05``, ``2026-W41``, ``2026-10``, ``2026-Q4``, ``2026``)."""
        label = text.strip()
        for grain, pattern in _LABELS:
            match = pattern.match(label)
            if match is None:
                continue
            parts = [int(part) for part in match.groups()]
            try:
                first = _label_day(grain, parts)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a valid {grain}: {exc}") from None
            return cls(grain, first, _zone_key(tz))
        raise ValueError(
            f"expected a period as YYYY-MM-DD, YYYY-Www, YYYY-MM, YYYY-Qn or YYYY, got {text!r}"
        )

    @classmethod
    def containing(cls, moment: datetime, tz: TimeZone = "UTC", grain: Grain = "month") -> Period:
        """The period of ``grain`` in zone ``tz`` that the aware timestamp ``moment`` falls in."""
        _require_aware(moment)
        key = _zone_key(tz)
        local = moment.astimezone(ZoneInfo(key)).date()
        return cls(grain, _first_day(grain, local), key)

    @property
    def zone(self) -> ZoneInfo:
        """The reporting zone."""
        return ZoneInfo(self.tz)

    @property
    def label(self) -> str:
        """The period label used in KPI values and snapshots."""
        first = self.first_day
        if self.grain == "day":
            return first.isoformat()
        if self.grain == "week":
            iso = first.isocalendar()
            return f"{iso.year:04d}-W{iso.week:02d}"
        if self.grain == "month":
            return f"{first.year:04d}-{first.month:02d}"
        if self.grain == "quarter":
            return f"{first.year:04d}-Q{(first.month - 1) // 3 + 1}"
        return f"{first.year:04d}"

    def __str__(self) -> str:
        return self.label

    def next(self) -> Period:
        """The period after this one (same grain and zone)."""
        return Period(self.grain, _after(self.grain, self.first_day), self.tz)

    def previous(self) -> Period:
        """The period before this one (same grain and zone)."""
        before = self.first_day - timedelta(days=1)
        return Period(self.grain, _first_day(self.grain, before), self.tz)

    def same_last_year(self) -> Period:
        """The same period one year earlier (29 Feb -> 28 Feb; ISO week 53 -> week 52)."""
        first = self.first_day
        if self.grain == "week":
            iso = first.isocalendar()
            week = iso.week
            while True:
                try:
                    return Period("week", date.fromisocalendar(iso.year - 1, week, 1), self.tz)
                except ValueError:
                    week -= 1
        try:
            earlier = first.replace(year=first.year - 1)
        except ValueError:  # 29 February
            earlier = first.replace(year=first.year - 1, day=28)
        return Period(self.grain, earlier, self.tz)

    @property
    def start(self) -> datetime:
        """Inclusive start: local midnight of the first day, as a UTC datetime."""
        first = self.first_day
        return datetime(first.year, first.month, first.day, tzinfo=self.zone).astimezone(UTC)

    @property
    def start_date(self) -> date:
        """The first local day of the period."""
        return self.first_day

    @property
    def end(self) -> datetime:
        """Exclusive end: the next period's :attr:`start`, as a UTC datetime."""
        return self.next().start

    @property
    def days(self) -> int:
        """How many local days the period has."""
        return (_after(self.grain, self.first_day) - self.first_day).days

    def contains(self, moment: datetime) -> bool:
        """Whether the aware timestamp ``moment`` lies in ``[start, end)``."""
        _require_aware(moment)
        return self.start <= moment < self.end

    def is_partial(self, now: datetime) -> bool:
        """Whether the period is running at ``now`` (started, not yet over).

        Values of a partial period are flagged as such and never compared 1:1 with complete ones.
        """
        _require_aware(now)
        return self.start <= now < self.end

    def is_complete(self, now: datetime) -> bool:
        """Whether the period is over at ``now``."""
        _require_aware(now)
        return now >= self.end


def _label_day(grain: Grain, parts: list[int]) -> date:
    if grain == "day":
        return date(parts[0], parts[1], parts[2])
    if grain == "week":
        return date.fromisocalendar(parts[0], parts[1], 1)
    if grain == "month":
        return date(parts[0], parts[1], 1)
    if grain == "quarter":
        return date(parts[0], 3 * (parts[1] - 1) + 1, 1)
    return date(parts[0], 1, 1)


@dataclass(frozen=True)
class Trailing:
    """The ``days`` days before ``end`` (a :class:`Window`), e.g. the health score's window."""

    end: datetime
    days: int

    @property
    def start(self) -> datetime:
        """Inclusive start, ``days`` days before :attr:`end`."""
        return self.end - timedelta(days=self.days)

    @property
    def label(self) -> str:
        """``last-90d@2026-10-31T03:00:00+00:00``."""
        return f"last-{self.days}d@{self.end.isoformat()}"


def last_complete(now: datetime, tz: TimeZone = "UTC", grain: Grain = "month") -> Period:
    """The most recent period of ``grain`` in zone ``tz`` that is over at ``now``."""
    return Period.containing(now, tz, grain).previous()
