"""Business-hours calendars: worked examples, holidays, DST, validation, a brute-force oracle."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from crmpulse.kpis.calendar import WEEKDAYS, BusinessCalendar, CalendarConfig

HOUR = 3600.0
NINE_TO_FIVE = dict.fromkeys(WEEKDAYS[:5], "09:00-17:00")
NEW_YORK = ZoneInfo("America/New_York")
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ZONES = ("UTC", "America/Sao_Paulo", "America/New_York", "Europe/Lisbon")


def calendar(**fields: object) -> BusinessCalendar:
    return BusinessCalendar.from_config(CalendarConfig.model_validate(fields))


def at(zone: ZoneInfo | None, year: int, month: int, day: int, hour: int = 0) -> datetime:
    return datetime(year, month, day, hour, tzinfo=zone or UTC)


# --- worked examples -----------------------------------------------------------------------------


def test_friday_close_plus_a_working_day_is_monday_close() -> None:
    # A public blog table answers Monday 09:00; under its own 09-17 schedule that is 0 h later.
    cal = calendar(hours=NINE_TO_FIVE)
    friday_close = at(None, 2026, 3, 13, 17)
    assert cal.add_business_time(friday_close, 8 * HOUR) == at(None, 2026, 3, 16, 17)
    assert cal.business_seconds(friday_close, at(None, 2026, 3, 16, 9)) == 0.0


def test_ticket_created_on_saturday_starts_its_clock_on_monday() -> None:
    cal = calendar(hours=NINE_TO_FIVE)
    assert cal.business_seconds(at(None, 2026, 3, 14, 11), at(None, 2026, 3, 16, 10)) == HOUR
    assert cal.add_business_time(at(None, 2026, 3, 14, 11), HOUR) == at(None, 2026, 3, 16, 10)


def test_several_intervals_a_day() -> None:
    cal = calendar(hours={"mon": "08:00-12:00, 13:00-17:00"})
    monday = at(None, 2026, 3, 16)
    assert cal.business_seconds(monday, monday + timedelta(days=1)) == 8 * HOUR
    assert cal.business_seconds(monday.replace(hour=11), monday.replace(hour=14)) == 2 * HOUR
    # The first instant the hour is complete is the lunch break's start, not its end.
    assert cal.add_business_time(monday.replace(hour=11), HOUR) == monday.replace(hour=12)
    assert cal.add_business_time(monday.replace(hour=11), 2 * HOUR) == monday.replace(hour=14)


def test_result_keeps_the_start_time_zone() -> None:
    cal = calendar(hours=NINE_TO_FIVE, timezone="America/Sao_Paulo")
    start = at(SAO_PAULO, 2026, 3, 13, 16)
    result = cal.add_business_time(start, 2 * HOUR)
    assert result.tzinfo is SAO_PAULO
    assert result == at(SAO_PAULO, 2026, 3, 16, 10)
    assert cal.add_business_time(start, 0) == start


# --- holidays ------------------------------------------------------------------------------------


def test_holidays_package_has_ten_brazilian_national_holidays_in_2025_without_carnival() -> None:
    br = holidays.country_holidays("BR", years=2025)
    assert len(br) == 10
    assert date(2025, 11, 20) in br
    assert date(2025, 3, 3) not in br  # Carnival Monday
    assert date(2025, 3, 4) not in br  # Carnival Tuesday


@pytest.mark.parametrize(
    ("before", "after"),
    [
        (datetime(2025, 11, 19, 17), datetime(2025, 11, 21, 10)),  # Consciência Negra (Thu)
        (datetime(2025, 12, 24, 17), datetime(2025, 12, 26, 10)),  # Christmas (Thu)
    ],
)
def test_a_ticket_spanning_a_brazilian_holiday_skips_it(before: datetime, after: datetime) -> None:
    hours = dict.fromkeys(WEEKDAYS[:5], "09:00-18:00")
    with_br = calendar(timezone="America/Sao_Paulo", hours=hours, holidays_country="BR")
    without = calendar(timezone="America/Sao_Paulo", hours=hours)
    start, end = before.replace(tzinfo=SAO_PAULO), after.replace(tzinfo=SAO_PAULO)
    assert with_br.business_seconds(start, end) == 2 * HOUR
    assert without.business_seconds(start, end) == 11 * HOUR
    assert with_br.add_business_time(start, 2 * HOUR) == end


def test_carnival_counts_as_a_working_day_unless_listed() -> None:
    monday, tuesday = at(SAO_PAULO, 2025, 3, 3), at(SAO_PAULO, 2025, 3, 4)
    national = calendar(timezone="America/Sao_Paulo", holidays_country="BR")
    assert national.business_seconds(monday, tuesday) == 9 * HOUR
    company = calendar(
        timezone="America/Sao_Paulo", holidays_country="BR", extra_holidays=["2025-03-03"]
    )
    assert company.business_seconds(monday, tuesday) == 0.0


def test_subdivision_holidays_apply() -> None:
    day = at(SAO_PAULO, 2025, 7, 9)  # Revolução Constitucionalista, São Paulo state only
    state = calendar(timezone="America/Sao_Paulo", holidays_country="BR", holidays_subdivision="SP")
    rio = calendar(timezone="America/Sao_Paulo", holidays_country="BR", holidays_subdivision="RJ")
    assert state.business_seconds(day, day + timedelta(days=1)) == 0.0
    assert rio.business_seconds(day, day + timedelta(days=1)) == 9 * HOUR


# --- daylight-saving time ------------------------------------------------------------------------


def test_weekend_with_spring_forward_in_new_york() -> None:
    cal = calendar(timezone="America/New_York", hours=NINE_TO_FIVE)
    created, answered = at(NEW_YORK, 2026, 3, 6, 16), at(NEW_YORK, 2026, 3, 9, 10)
    # The night of the 8th lost an hour: 66 h on the wall clock, 65 h elapsed.
    assert answered.timestamp() - created.timestamp() == 65 * HOUR
    assert cal.business_seconds(created, answered) == 2 * HOUR
    assert cal.add_business_time(created, 2 * HOUR) == answered


def test_all_day_schedule_follows_the_real_length_of_dst_days() -> None:
    cal = calendar(timezone="America/New_York", hours=dict.fromkeys(WEEKDAYS, "24h"))
    assert cal.business_seconds(at(NEW_YORK, 2026, 3, 8), at(NEW_YORK, 2026, 3, 9)) == 23 * HOUR
    assert cal.business_seconds(at(NEW_YORK, 2026, 11, 1), at(NEW_YORK, 2026, 11, 2)) == 25 * HOUR
    late_saturday = at(NEW_YORK, 2026, 3, 7, 23)
    assert cal.add_business_time(late_saturday, 3 * HOUR) == at(NEW_YORK, 2026, 3, 8, 3)


def test_interval_across_the_skipped_hour_opens_and_closes_on_the_real_clock() -> None:
    night = calendar(timezone="America/New_York", hours={"sun": "01:00-04:00"})
    sunday = at(NEW_YORK, 2026, 3, 8)
    assert night.business_seconds(sunday, sunday + timedelta(days=1)) == 2 * HOUR
    skipped_start = calendar(timezone="America/New_York", hours={"sun": "02:30-04:00"})
    assert skipped_start.business_seconds(sunday, sunday + timedelta(days=1)) == HOUR
    lisbon = calendar(timezone="Europe/Lisbon", hours={"sun": "00:00-03:00"})
    fall_back = at(ZoneInfo("Europe/Lisbon"), 2026, 10, 25)
    assert lisbon.business_seconds(fall_back, fall_back + timedelta(days=1)) == 4 * HOUR


# --- degenerate inputs ---------------------------------------------------------------------------


def test_empty_and_reversed_spans_are_zero() -> None:
    cal = calendar(hours=NINE_TO_FIVE)
    noon = at(None, 2026, 3, 16, 12)
    assert cal.business_seconds(noon, noon) == 0.0
    assert cal.business_seconds(noon, noon - timedelta(hours=2)) == 0.0
    array = cal.business_seconds_array([noon.timestamp()] * 2, [noon.timestamp(), 0.0])
    assert array.tolist() == [0.0, 0.0]


def test_non_finite_array_values_give_nan_there_only() -> None:
    cal = calendar(hours=NINE_TO_FIVE)
    monday = at(None, 2026, 3, 16).timestamp()
    start = np.array([monday, math.nan, monday, math.inf, math.nan])
    end = np.array([monday + 86_400, monday + 86_400, math.nan, monday, math.nan])
    result = cal.business_seconds_array(start, end)
    assert result[0] == 8 * HOUR
    assert np.isnan(result[1:]).all()
    assert np.isnan(cal.business_seconds_array([math.nan], [math.nan])).all()
    assert cal.business_seconds_array([], []).shape == (0,)
    broadcast = cal.business_seconds_array(np.array([[monday], [monday]]), monday + 86_400)
    assert broadcast.tolist() == [[8 * HOUR], [8 * HOUR]]


def test_bad_arguments_are_refused() -> None:
    cal = calendar()
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.business_seconds(datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC))
    with pytest.raises(ValueError, match=">= 0"):
        cal.add_business_time(at(None, 2026, 1, 1), -1.0)
    with pytest.raises(ValueError, match="milliseconds"):
        cal.business_seconds_array([1.7e12], [1.8e12])


# --- configuration -------------------------------------------------------------------------------


def test_default_configuration_is_weekdays_nine_to_six_in_utc() -> None:
    config = CalendarConfig()
    assert config.timezone == "UTC"
    assert config.hours == dict.fromkeys(WEEKDAYS[:5], "09:00-18:00")
    week = calendar().business_seconds(at(None, 2026, 3, 16), at(None, 2026, 3, 23))
    assert week == 45 * HOUR


@pytest.mark.parametrize(
    ("fields", "fragments"),
    [
        ({"timezone": "America/Sao_Paolo"}, ["America/Sao_Paolo", "IANA"]),
        ({"hours": {"mon": "18:00-09:00"}}, ['hours["mon"]', "18:00-09:00", "overnight"]),
        ({"hours": {"tue": "9-17"}}, ['hours["tue"]', "HH:MM-HH:MM"]),
        ({"hours": {"wed": "09:00-25:00"}}, ['hours["wed"]', "09:00-25:00"]),
        ({"hours": {"thu": "08:00-12:00,11:00-17:00"}}, ['hours["thu"]', "overlap"]),
        ({"hours": {"monday": "09:00-17:00"}}, ["'monday'", "mon, tue"]),
        ({"hours": {"sat": "closed"}}, ["no day has business hours"]),
        ({"holidays_country": "XX"}, ['"XX"', "ISO 3166"]),
        ({"holidays_country": "BR", "holidays_subdivision": "ZZ"}, ['"ZZ"', "SP"]),
        ({"holidays_subdivision": "SP"}, ["holidays_country"]),
        ({"weekends": "closed"}, ["weekends", "Extra inputs"]),
    ],
)
def test_invalid_configuration_says_what_and_where(
    fields: dict[str, object], fragments: Sequence[str]
) -> None:
    with pytest.raises(ValidationError) as caught:
        CalendarConfig.model_validate(fields)
    for fragment in fragments:
        assert fragment in str(caught.value)


def test_configuration_is_frozen() -> None:
    config = CalendarConfig()
    with pytest.raises(ValidationError):
        config.timezone = "Europe/Lisbon"  # type: ignore[misc]


def test_configuration_from_nested_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    class Kpi(BaseModel):
        calendar: CalendarConfig = CalendarConfig()

    class Env(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="CRMPULSE_", env_nested_delimiter="__")
        kpi: Kpi = Kpi()

    monkeypatch.setenv("CRMPULSE_KPI__CALENDAR__TIMEZONE", "America/Sao_Paulo")
    monkeypatch.setenv("CRMPULSE_KPI__CALENDAR__HOURS", '{"sat": "09:00-13:00"}')
    monkeypatch.setenv("CRMPULSE_KPI__CALENDAR__EXTRA_HOLIDAYS", '["2026-03-21"]')
    config = Env().kpi.calendar
    assert config.timezone == "America/Sao_Paulo"
    assert config.weekly_intervals()[5] == ((9 * 3600, 13 * 3600),)
    assert config.extra_holidays == [date(2026, 3, 21)]


# --- brute-force oracle --------------------------------------------------------------------------
# An independent model of the documented semantics: the zone's UTC offset as pieces found by an
# hourly scan; an interval opens at the first instant the local clock reads its start.

Piece = tuple[float, float, float]  # [from, to) in epoch seconds, UTC offset in seconds


def _offset(zone: ZoneInfo, moment: float) -> float:
    offset = datetime.fromtimestamp(moment, zone).utcoffset()
    assert offset is not None
    return offset.total_seconds()


@functools.cache
def _pieces(zone_name: str, year: int) -> tuple[Piece, ...]:
    zone = ZoneInfo(zone_name)
    begin = datetime(year, 1, 1, tzinfo=UTC).timestamp() - 2 * 86_400
    stop = datetime(year + 1, 1, 1, tzinfo=UTC).timestamp() + 2 * 86_400
    pieces: list[Piece] = []
    start, moment, offset = begin, begin, _offset(zone, begin)
    while moment < stop:
        if _offset(zone, moment + HOUR) != offset:
            low, high = int(moment), int(moment + HOUR)
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (low, middle) if _offset(zone, middle) != offset else (middle, high)
            pieces.append((start, float(high), offset))
            start, offset = float(high), _offset(zone, high)
        moment += HOUR
    pieces.append((start, stop, offset))
    return tuple(pieces)


def _opening(zone_name: str, wall: datetime) -> float:
    naive_epoch = wall.replace(tzinfo=UTC).timestamp()
    candidates = [
        max(start, naive_epoch - offset)
        for year in (wall.year - 1, wall.year, wall.year + 1)
        for start, stop, offset in _pieces(zone_name, year)
        if max(start, naive_epoch - offset) < stop
    ]
    return min(candidates)


def reference_seconds(config: CalendarConfig, start: float, end: float) -> float:
    zone = ZoneInfo(config.timezone)
    first = datetime.fromtimestamp(start, zone).date() - timedelta(days=1)
    last = datetime.fromtimestamp(end, zone).date() + timedelta(days=1)
    closed = set(config.extra_holidays)
    if config.holidays_country:
        years = range(first.year, last.year + 1)
        closed |= set(holidays.country_holidays(config.holidays_country, years=years))
    total, day = 0.0, first
    while day <= last:
        if day not in closed:
            for a, b in config.weekly_intervals()[day.weekday()]:
                midnight = datetime.combine(day, time())
                opens = _opening(config.timezone, midnight + timedelta(seconds=a))
                closes = _opening(config.timezone, midnight + timedelta(seconds=b))
                total += max(0.0, min(closes, end) - max(opens, start))
        day += timedelta(days=1)
    return total


def _clock_text(points: list[int]) -> str:
    """Half-hour points ``[a, b, c, d, ...]`` as ``"HH:MM-HH:MM,..."`` intervals ``a-b, c-d``."""
    points = sorted(points)[: len(points) // 2 * 2]
    return ",".join(
        f"{a // 2:02d}:{a % 2 * 30:02d}-{b // 2:02d}:{b % 2 * 30:02d}"
        for a, b in zip(points[::2], points[1::2], strict=True)
    )


@st.composite
def day_hours(draw: st.DrawFn, last_half_hour: int = 48) -> str:
    kind = draw(st.sampled_from(["closed", "24h", "intervals", "intervals"]))
    if kind != "intervals":
        return kind
    half_hours = st.integers(0, last_half_hour)
    return _clock_text(draw(st.lists(half_hours, min_size=2, max_size=6, unique=True)))


@st.composite
def configs(draw: st.DrawFn) -> CalendarConfig:
    zone = draw(st.sampled_from(ZONES))
    hours = draw(st.dictionaries(st.sampled_from(WEEKDAYS), day_hours(), min_size=1))
    if all(text == "closed" for text in hours.values()):
        hours["wed"] = "24h"
    country = draw(st.sampled_from([None, "BR", "US", "PT"]))
    extra = draw(st.lists(st.dates(date(2020, 1, 1), date(2027, 12, 31)), max_size=3))
    return CalendarConfig(
        timezone=zone, hours=hours, holidays_country=country, extra_holidays=extra
    )


def _clock_changes(zone: str) -> list[float]:
    return [piece[0] for year in range(2020, 2027) for piece in _pieces(zone, year)[1:]]


EPOCH_2020 = datetime(2020, 1, 1, tzinfo=UTC).timestamp()
EPOCH_2027 = datetime(2027, 12, 1, tzinfo=UTC).timestamp()


@st.composite
def cases(draw: st.DrawFn) -> tuple[CalendarConfig, float, float]:
    """A calendar and a span in 2020-2027, half the time across one of the zone's clock changes."""
    config = draw(configs())
    changes = _clock_changes(config.timezone)
    near_a_change = draw(st.booleans())
    if changes and near_a_change:
        # These zones change their clocks on Sunday nights, so open on Sunday in the small hours.
        night = draw(day_hours(last_half_hour=8).filter(lambda text: text != "closed"))
        config = CalendarConfig.model_validate(
            {**config.model_dump(), "hours": {**config.hours, "sun": night}}
        )
        change = draw(st.sampled_from(changes))
        start = change - draw(st.floats(0, 86_400))
        return config, start, change + draw(st.floats(-3 * HOUR, 86_400))
    start = draw(st.floats(EPOCH_2020, EPOCH_2027))
    span = draw(st.one_of(st.floats(-86_400, 3 * 86_400), st.floats(0, 40 * 86_400)))
    return config, start, start + span


@settings(max_examples=200, deadline=None)
@given(case=cases())
def test_scalar_vector_and_reference_agree(case: tuple[CalendarConfig, float, float]) -> None:
    config, start, end = case
    cal = BusinessCalendar.from_config(config)
    expected = reference_seconds(config, start, end)
    scalar = cal.business_seconds(
        datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    )
    vector = cal.business_seconds_array(np.array([start, math.nan]), np.array([end, end]))
    assert scalar == pytest.approx(expected, abs=1e-5)
    assert vector[0] == pytest.approx(expected, abs=1e-5)
    assert math.isnan(vector[1])


@settings(max_examples=150, deadline=None)
@given(case=cases(), amount=st.one_of(st.floats(0, 6 * HOUR), st.floats(0, 10 * 86_400)))
def test_adding_business_time_is_the_inverse_of_measuring_it(
    case: tuple[CalendarConfig, float, float], amount: float
) -> None:
    config, start, _ = case
    cal = BusinessCalendar.from_config(config)
    origin = datetime.fromtimestamp(start, ZoneInfo(config.timezone))
    reached = cal.add_business_time(origin, amount)
    assert cal.business_seconds(origin, reached) == pytest.approx(amount, abs=1e-5)
    if amount > 0:  # and no earlier instant will do (step back on the UTC time line)
        just_before = reached.astimezone(UTC) - timedelta(milliseconds=1)
        assert cal.business_seconds(origin, just_before) < amount
