"""Reporting periods of every grain: half-open boundaries in the reporting zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmpulse.kpis.periods import Period, last_complete

SAO_PAULO = "America/Sao_Paulo"


def test_parse_and_label() -> None:
    month = Period.parse("2026-10", SAO_PAULO)
    assert (month.grain, month.first_day, month.tz) == ("month", date(2026, 10, 1), SAO_PAULO)
    assert str(month) == month.label == "2026-10"


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "", "2026-1"])
def test_parse_rejects_malformed(text: str) -> None:
    with pytest.raises(ValueError, match=r"period|month"):
        Period.parse(text)


def test_unknown_zone_is_rejected() -> None:
    with pytest.raises(ValueError, match="time zone"):
        Period.month(2026, 10, "Mars/Olympus")


def test_sao_paulo_month_bounds_are_utc_minus_3() -> None:
    october = Period.parse("2026-10", SAO_PAULO)
    assert october.start == datetime(2026, 10, 1, 3, tzinfo=UTC)
    assert october.end == datetime(2026, 11, 1, 3, tzinfo=UTC)
    assert october.start.tzinfo is UTC


def test_answer_at_0259z_on_the_1st_belongs_to_the_previous_month_in_sao_paulo() -> None:
    moment = datetime(2026, 10, 1, 2, 59, tzinfo=UTC)
    assert Period.containing(moment, SAO_PAULO) == Period.month(2026, 9, SAO_PAULO)
    assert not Period.month(2026, 10, SAO_PAULO).contains(moment)
    assert Period.month(2026, 9, SAO_PAULO).contains(moment)
    # ... and in UTC it is already October
    assert Period.containing(moment) == Period.month(2026, 10)


def test_intervals_are_half_open() -> None:
    october = Period.parse("2026-10", SAO_PAULO)
    assert october.contains(october.start)
    assert not october.contains(october.end)
    assert october.next().contains(october.end)
    assert october.contains(october.end - timedelta(microseconds=1))


def test_previous_and_next_cross_years() -> None:
    assert Period.month(2026, 1).previous() == Period.month(2025, 12)
    assert Period.month(2025, 12).next() == Period.month(2026, 1)
    assert Period.month(2026, 1, SAO_PAULO).previous().tz == SAO_PAULO


def test_partial_and_last_complete() -> None:
    now = datetime(2026, 10, 15, 12, tzinfo=UTC)
    october = Period.parse("2026-10", SAO_PAULO)
    assert october.is_partial(now)
    assert not october.is_complete(now)
    assert not october.previous().is_partial(now)
    assert october.previous().is_complete(now)
    assert last_complete(now, SAO_PAULO) == Period.month(2026, 9, SAO_PAULO)
    # 2026-11-01T02:00Z is still October 31st in Sao Paulo: September stays the last complete one
    assert last_complete(datetime(2026, 11, 1, 2, tzinfo=UTC), SAO_PAULO) == Period.month(
        2026, 9, SAO_PAULO
    )


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        Period.containing(datetime(2026, 10, 1))


def test_zoneinfo_objects_are_accepted() -> None:
    assert Period.parse("2026-10", ZoneInfo(SAO_PAULO)) == Period.month(2026, 10, SAO_PAULO)


@given(
    st.datetimes(
        min_value=datetime(2000, 1, 1),
        max_value=datetime(2090, 1, 1),
        timezones=st.just(UTC),
    ),
    st.sampled_from(["UTC", SAO_PAULO, "Europe/Lisbon", "America/New_York", "Asia/Kolkata"]),
)
def test_every_moment_is_in_exactly_its_month(moment: datetime, tz: str) -> None:
    month = Period.containing(moment, tz)
    assert month.start <= moment < month.end
    assert not month.previous().contains(moment)
    assert not month.next().contains(moment)
    assert month.previous().end == month.start


@pytest.mark.parametrize(
    ("label", "grain", "first", "days"),
    [
        ("2026-10-05", "day", date(2026, 10, 5), 1),
        ("2026-W41", "week", date(2026, 10, 5), 7),
        ("2026-10", "month", date(2026, 10, 1), 31),
        ("2026-Q4", "quarter", date(2026, 10, 1), 92),
        ("2026", "year", date(2026, 1, 1), 365),
    ],
)
def test_every_grain_parses_and_round_trips(label: str, grain: str, first: date, days: int) -> None:
    period = Period.parse(label, SAO_PAULO)
    assert (period.grain, period.first_day, period.days) == (grain, first, days)
    assert period.label == label
    assert period.start == datetime(first.year, first.month, first.day, 3, tzinfo=UTC)
    assert period.next().previous() == period
    assert period.end == period.next().start


@pytest.mark.parametrize(
    ("label", "last_year"),
    [
        ("2024-02-29", "2023-02-28"),
        ("2026-W41", "2025-W41"),
        ("2020-W53", "2019-W52"),
        ("2021-W01", "2020-W01"),
        ("2026-Q1", "2025-Q1"),
        ("2026-10", "2025-10"),
        ("2026", "2025"),
    ],
)
def test_same_period_last_year(label: str, last_year: str) -> None:
    assert Period.parse(label).same_last_year().label == last_year


def test_a_week_without_53rd_in_the_year_before_falls_back_to_52() -> None:
    assert Period.parse("2026-W53").same_last_year().label == "2025-W52"


@given(
    st.sampled_from(["day", "week", "month", "quarter", "year"]),
    st.datetimes(min_value=datetime(2001, 1, 1), max_value=datetime(2099, 12, 1)),
    st.sampled_from(["UTC", SAO_PAULO, "America/New_York", "Asia/Kolkata"]),
)
def test_containing_period_contains_the_moment(grain: str, moment: datetime, tz: str) -> None:
    aware = moment.replace(tzinfo=UTC)
    period = Period.containing(aware, tz, grain)  # type: ignore[arg-type]
    assert period.start <= aware < period.end
    assert Period.parse(period.label, tz) == period


def test_partial_flag_for_the_running_period() -> None:
    now = datetime(2026, 10, 15, 12, tzinfo=UTC)
    assert Period.parse("2026-10").is_partial(now)
    assert Period.parse("2026-Q4").is_partial(now)
    assert not Period.parse("2026-09").is_partial(now)
    assert last_complete(now, grain="quarter").label == "2026-Q3"
    assert last_complete(now, grain="week").label == "2026-W41"
