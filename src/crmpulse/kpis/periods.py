"""Calendar-month reporting periods, cut in a configured IANA time zone.

A period is the half-open interval ``[start, end)``: local midnight on the 1st of the month up to,
but excluding, local midnight on the 1st of the next month, in the reporting zone. Timestamps in the
store are UTC, so :attr:`Month.start` and :attr:`Month.end` are UTC datetimes that can be compared
with them directly. Because ``end`` of one month is computed exactly like ``start`` of the next,
consecutive months tile the time line with no gap and no overlap, even across DST changes.

Example: in ``America/Sao_Paulo`` (UTC-3 all year since 2019) October 2026 starts at
``2026-10-01T03:00Z``, so an answer at ``2026-10-01T02:59Z`` belongs to September.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_MONTH_RE = re.compile(r"^(\d{4})-(\d{2})$")

TimeZone = str | ZoneInfo
"""An IANA zone, by name (``"America/Sao_Paulo"``) or as a :class:`~zoneinfo.ZoneInfo`."""


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


@dataclass(frozen=True, order=True)
class Month:
    """One calendar month in a reporting zone; ``str(month)`` is ``"YYYY-MM"``."""

    year: int
    month: int
    tz: str = "UTC"

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12:
            raise ValueError(f"month must be 1..12, got {self.month}")
        if not 1 <= self.year <= 9998:
            raise ValueError(f"year must be 1..9998, got {self.year}")
        object.__setattr__(self, "tz", _zone_key(self.tz))

    @classmethod
    def parse(cls, text: str, tz: TimeZone = "UTC") -> Month:
        """Parse ``"YYYY-MM"`` (e.g. ``"2026-10"``) as a month in zone ``tz``."""
        match = _MONTH_RE.match(text.strip())
        if match is None:
            raise ValueError(f"expected a month as YYYY-MM, got {text!r}")
        return cls(int(match.group(1)), int(match.group(2)), _zone_key(tz))

    @classmethod
    def containing(cls, moment: datetime, tz: TimeZone = "UTC") -> Month:
        """The month of zone ``tz`` that the aware timestamp ``moment`` falls in."""
        _require_aware(moment)
        key = _zone_key(tz)
        local = moment.astimezone(ZoneInfo(key))
        return cls(local.year, local.month, key)

    @property
    def zone(self) -> ZoneInfo:
        """The reporting zone."""
        return ZoneInfo(self.tz)

    @property
    def label(self) -> str:
        """The period label used in KPI values and snapshots, ``"YYYY-MM"``."""
        return f"{self.year:04d}-{self.month:02d}"

    def __str__(self) -> str:
        return self.label

    def previous(self) -> Month:
        """The month before this one, in the same zone."""
        if self.month == 1:
            return Month(self.year - 1, 12, self.tz)
        return Month(self.year, self.month - 1, self.tz)

    def next(self) -> Month:
        """The month after this one, in the same zone."""
        if self.month == 12:
            return Month(self.year + 1, 1, self.tz)
        return Month(self.year, self.month + 1, self.tz)

    @property
    def start(self) -> datetime:
        """Inclusive start: local midnight on the 1st, as a UTC datetime."""
        return datetime(self.year, self.month, 1, tzinfo=self.zone).astimezone(UTC)

    @property
    def start_date(self) -> date:
        """The calendar date of the 1st of the month (in the reporting zone)."""
        return date(self.year, self.month, 1)

    @property
    def end(self) -> datetime:
        """Exclusive end: the next month's :attr:`start`, as a UTC datetime."""
        return self.next().start

    def contains(self, moment: datetime) -> bool:
        """Whether the aware timestamp ``moment`` lies in ``[start, end)``."""
        _require_aware(moment)
        return self.start <= moment < self.end

    def is_partial(self, now: datetime) -> bool:
        """Whether the month is running at ``now`` (started, not yet over).

        Values of a partial month must be flagged as such and never compared 1:1 with complete
        months.
        """
        _require_aware(now)
        return self.start <= now < self.end

    def is_complete(self, now: datetime) -> bool:
        """Whether the month is over at ``now``."""
        _require_aware(now)
        return now >= self.end


def last_complete(now: datetime, tz: TimeZone = "UTC") -> Month:
    """The most recent month of zone ``tz`` that is over at ``now`` (the default period)."""
    return Month.containing(now, tz).previous()
