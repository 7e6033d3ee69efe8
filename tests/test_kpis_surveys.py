"""NPS, CSAT and CES formulas: the published worked examples, boundaries and invariants."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmpulse.kpis.surveys import (
    DETRACTOR,
    INVALID,
    PASSIVE,
    PROMOTER,
    ces,
    ces_from_histogram,
    csat,
    csat_from_histogram,
    nps,
    nps_bucket,
    nps_from_counts,
)

nps_scores = st.lists(st.integers(min_value=0, max_value=10), max_size=60)
csat_scores = st.lists(st.integers(min_value=1, max_value=5), max_size=60)


# ------------------------------------------------------------------ worked examples (kpis.md §2)


def test_v1_nps_from_counts_10_5_5_is_25() -> None:
    result = nps_from_counts(promoters=10, passives=5, detractors=5)
    assert result.value == pytest.approx(25)
    assert round(result.value or 0) == 25
    assert result.n == 20


def test_v2_nps_from_raw_answers_is_minus_10() -> None:
    result = nps([3, 4, 5, 6, 8, 8, 8, 9, 10, 10])
    assert (result.detractors, result.passives, result.promoters) == (4, 3, 3)
    assert result.value == pytest.approx(-10)


def test_v3_nps_from_counts_70_20_10_is_60() -> None:
    assert nps_from_counts(70, 20, 10).value == pytest.approx(60)


def test_v5_nps_variance_5_9_se_7_45_moe_14_6() -> None:
    # p_P = 1/2, p_Pa = 1/3, p_D = 1/6 (exact with 3/2/1 answers): NPS 33.3, var 5/9 per answer
    small = nps_from_counts(promoters=3, passives=2, detractors=1)
    assert small.value == pytest.approx(100 / 3)
    assert round(small.value, 1) == 33.3  # type: ignore[arg-type]
    variance = small.n * (small.standard_error / 100) ** 2  # type: ignore[operator]
    assert variance == pytest.approx(5 / 9)
    # the same proportions at n = 600 (the SE shrinks with sqrt(n))
    large = nps_from_counts(promoters=300, passives=200, detractors=100)
    assert large.standard_error == pytest.approx(100 * math.sqrt((5 / 9) / 600))
    # n = 100 (published): SE = 100 sqrt(var / 100) = 7.45, MOE95 = 1.96 SE = 14.6
    se_100 = small.standard_error * math.sqrt(small.n / 100)  # type: ignore[operator]
    assert round(se_100, 2) == 7.45
    assert round(1.96 * se_100, 1) == 14.6
    assert small.margin_of_error == pytest.approx(1.96 * small.standard_error)  # type: ignore[operator]


def test_v6_nps_of_no_answers_is_undefined_not_zero() -> None:
    result = nps([])
    assert result.value is None
    assert result.n == 0
    assert result.margin_of_error is None


def test_v7_csat_percent_satisfied_69() -> None:
    answers = [5] * 42 + [4] * 32 + [3] * 10 + [2] * 9 + [1] * 14
    result = csat(answers)
    assert (result.satisfied, result.n) == (74, 107)
    assert result.value == pytest.approx(100 * 74 / 107)
    assert round(result.value, 2) == 69.16  # type: ignore[arg-type]
    assert round(result.value) == 69  # type: ignore[arg-type]


def test_v8_csat_percent_60_and_mean_3_5() -> None:
    answers = [5] * 10 + [4] * 20 + [3] * 10 + [2] * 5 + [1] * 5
    result = csat(answers)
    assert result.value == pytest.approx(60)
    assert result.mean == pytest.approx(3.5)


# ------------------------------------------------------------------------------------ boundaries


@pytest.mark.parametrize(
    ("score", "bucket"),
    [(0, DETRACTOR), (6, DETRACTOR), (7, PASSIVE), (8, PASSIVE), (9, PROMOTER), (10, PROMOTER)],
)
def test_nps_boundaries_are_inclusive(score: int, bucket: int) -> None:
    assert nps_bucket(score) == bucket


@pytest.mark.parametrize("score", [-1, 11, 8.5, math.nan])
def test_nps_invalid_answers_are_counted_apart(score: float) -> None:
    assert nps_bucket(score) == INVALID
    result = nps([9, score])
    assert (result.n, result.invalid, result.value) == (1, 1, 100)


def test_nps_only_on_a_0_to_10_scale() -> None:
    assert nps_bucket(9, 1, 10) == INVALID


def test_csat_3_on_1_to_5_is_not_satisfied_and_4_is() -> None:
    assert csat([3]).value == 0
    assert csat([4]).value == 100


def test_csat_threshold_is_configurable() -> None:
    assert csat([4, 5], satisfied_min=5).value == pytest.approx(50)


def test_csat_other_scale_is_mapped_onto_1_to_5() -> None:
    # 1..10 -> 1..5: 8 maps to 4.11 (satisfied), 7 to 3.67 (not)
    result = csat_from_histogram({(8.0, 1, 10, True): 1, (7.0, 1, 10, True): 1})
    assert result.value == pytest.approx(50)
    assert result.mean == pytest.approx((1 + 7 * 4 / 9 + 1 + 6 * 4 / 9) / 2)
    # a threshold landing exactly on an answer of the other scale is kept: 1.5 on 0..2 -> 4.0
    assert csat_from_histogram({(1.5, 0, 2, True): 1}).value == 100


def test_csat_out_of_scale_is_invalid() -> None:
    result = csat([6, 5, 0])
    assert (result.n, result.invalid, result.value) == (1, 2, 100)


def test_csat_margin_of_error_is_normal_approximation() -> None:
    result = csat([5] * 30 + [1] * 70)
    assert result.margin_of_error == pytest.approx(1.96 * 100 * math.sqrt(0.3 * 0.7 / 100))


def test_ces_higher_is_better_on_1_to_7() -> None:
    result = ces([7, 4], 1, 7, True)
    assert result.mean == pytest.approx(5.5)
    assert result.value == pytest.approx(75)


def test_ces_lower_is_better_on_1_to_5_is_flipped() -> None:
    result = ces([1, 5, 2], 1, 5, False)
    assert result.mean == pytest.approx(8 / 3)
    assert result.value == pytest.approx((100 + 0 + 75) / 3)


def test_ces_mixed_scales_have_a_normalized_value_but_no_raw_mean() -> None:
    result = ces_from_histogram({(7.0, 1, 7, True): 1, (1.0, 1, 5, False): 1})
    assert result.value == pytest.approx(100)
    assert result.mean is None
    assert result.scale_min is None


def test_empty_survey_kpis_are_undefined() -> None:
    assert csat([]).value is None
    assert csat([]).mean is None
    assert ces([], 1, 7, True).value is None
    assert ces([], 1, 7, True).mean is None


# ------------------------------------------------------------------------------------ invariants


@given(nps_scores)
def test_nps_is_within_minus_100_and_100(scores: list[int]) -> None:
    result = nps(scores)
    if not scores:
        assert result.value is None
        return
    assert result.value is not None
    assert -100 <= result.value <= 100
    assert result.promoters + result.passives + result.detractors == result.n == len(scores)
    assert result.value == pytest.approx(
        100 * sum(1 if s >= 9 else -1 if s <= 6 else 0 for s in scores) / len(scores)
    )


@given(nps_scores, st.randoms())
def test_nps_does_not_depend_on_order(scores: list[int], rnd: object) -> None:
    shuffled = list(scores)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert nps(shuffled) == nps(scores)


@given(csat_scores, st.sampled_from([1, 2, 3, 4, 4.5, 5]))
def test_csat_is_a_percentage_and_mean_within_scale(scores: list[int], threshold: float) -> None:
    result = csat(scores, threshold)
    if not scores:
        assert result.value is None
        return
    assert result.value is not None
    assert result.mean is not None
    assert 0 <= result.value <= 100
    assert 1 <= result.mean <= 5


@given(csat_scores, st.randoms())
def test_csat_does_not_depend_on_order(scores: list[int], rnd: object) -> None:
    shuffled = list(scores)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert csat(shuffled) == csat(scores)


@given(
    st.sampled_from([(1, 5), (1, 7), (0, 10)]).flatmap(
        lambda scale: st.tuples(
            st.just(scale),
            st.lists(
                st.floats(min_value=scale[0], max_value=scale[1], allow_nan=False), max_size=40
            ),
        )
    ),
    st.booleans(),
    st.randoms(),
)
def test_ces_normalized_is_within_0_and_100_and_order_free(
    case: tuple[tuple[int, int], list[float]], higher_is_better: bool, rnd: object
) -> None:
    (low, high), scores = case
    result = ces(scores, low, high, higher_is_better)
    shuffled = list(scores)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    assert ces(shuffled, low, high, higher_is_better) == result
    if not scores:
        assert result.value is None
        return
    assert result.value is not None
    assert 0 <= result.value <= 100
