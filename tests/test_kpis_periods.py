"""Calendar-month periods: half-open boundaries in the reporting zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmpulse.kpis.periods import Month, last_complete

SAO_PAULO = "America/Sao_Paulo"


def test_parse_and_label() -> None:
    month = Month.parse("2026-10", SAO_PAULO)
    assert (month.year, month.month, month.tz) == (2026, 10, SAO_PAULO)
    assert str(month) == month.label == "2026-10"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "", "2026-1"])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match="month"):
        Month.parse(text)


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Month(2026, 10, "Mars/Olympus")


def test_sao_paulo_month_bounds_are_utc_minus_3() -> None:
    october = Month.parse("2026-10", SAO_PAULO)
    assert october.start == datetime(2026, 10, 1, 3, tzinfo=UTC)
    assert october.end == datetime(2026, 11, 1, 3, tzinfo=UTC)
    assert october.start.tzinfo is UTC


def test_answer_at_0259z_on_the_1st_belongs_to_the_previous_month_in_sao_paulo() -> None:
    moment = datetime(2026, 10, 1, 2, 59, tzinfo=UTC)
    assert Month.containing(moment, SAO_PAULO) == Month(2026, 9, SAO_PAULO)
    assert not Month(2026, 10, SAO_PAULO).contains(moment)
    assert Month(2026, 9, SAO_PAULO).contains(moment)
    # ... and in UTC it is already October
    assert Month.containing(moment) == Month(2026, 10)


def test_intervals_are_half_open() -> None:
    october = Month.parse("2026-10", SAO_PAULO)
    assert october.contains(october.start)
    assert not october.contains(october.end)
    assert october.next().contains(october.end)
    assert october.contains(october.end - timedelta(microseconds=1))


def test_previous_and_next_cross_years() -> None:
    assert Month(2026, 1).previous() == Month(2025, 12)
    assert Month(2025, 12).next() == Month(2026, 1)
    assert Month(2026, 1, SAO_PAULO).previous().tz == SAO_PAULO


def test_partial_and_last_complete() -> None:
    now = datetime(2026, 10, 15, 12, tzinfo=UTC)
    october = Month.parse("2026-10", SAO_PAULO)
    assert october.is_partial(now)
    assert not october.is_complete(now)
    assert not october.previous().is_partial(now)
    assert october.previous().is_complete(now)
    assert last_complete(now, SAO_PAULO) == Month(2026, 9, SAO_PAULO)
    # 2026-11-01T02:00Z is still October 31st in Sao Paulo: September stays the last complete one
    assert last_complete(datetime(2026, 11, 1, 2, tzinfo=UTC), SAO_PAULO) == Month(
        2026, 9, SAO_PAULO
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Month.containing(datetime(2026, 10, 1))


def test_zoneinfo_objects_are_accepted() -> None:
    assert Month.parse("2026-10", ZoneInfo(SAO_PAULO)) == Month(2026, 10, SAO_PAULO)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.just(UTC),
    ),
    st.sampled_from(["UTC", SAO_PAULO, "Europe/Lisbon", "America/New_York", "Asia/Kolkata"]),
)
def test_every_moment_is_in_exactly_its_month(moment: datetime, tz: str) -> None:
    month = Month.containing(moment, tz)
    assert month.start <= moment < month.end
    assert not month.previous().contains(moment)
    assert not month.next().contains(moment)
    assert month.previous().end == month.start
