"""First response and resolution time summaries."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmpulse.kpis.service_time import durations, hours_between

hours = st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=50)


def test_median_and_mean_odd_and_even() -> None:
    assert durations([1, 10, 2]) == durations([2, 1, 10])
    odd = durations([1, 10, 2])
    assert (odd.median, odd.n) == (2, 3)
    assert odd.mean == pytest.approx(13 / 3)
    even = durations([4, 1, 2, 100])
    assert even.median == 3
    assert even.mean == pytest.approx(26.75)


def test_empty_is_undefined() -> None:
    result = durations([])
    assert (result.median, result.mean, result.n) == (None, None, 0)


def test_negative_and_non_finite_are_invalid() -> None:
    result = durations([-1, math.inf, math.nan, 5])
    assert (result.median, result.n, result.invalid) == (5, 1, 3)


def test_hours_between() -> None:
    start = datetime(2026, 10, 1, 9, tzinfo=UTC)
    assert hours_between(start, datetime(2026, 10, 2, 10, 30, tzinfo=UTC)) == 25.5


@given(hours, st.randoms())
def test_summary_is_order_free_and_bounded(values: list[float], rnd: object) -> None:
    shuffled = list(values)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    result = durations(values)
    assert durations(shuffled) == result
    if values:
        assert result.median is not None
        assert result.mean is not None
        assert min(values) <= result.median <= max(values)
        assert min(values) <= result.mean * (1 + 1e-12)
        assert result.mean <= max(values) * (1 + 1e-12)
    else:
        assert result.median is None
