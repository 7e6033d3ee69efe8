"""BG/NBD, Gamma-Gamma, model-based CLV and sBG against the published papers' numbers."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from crmpulse.kpis.prediction import (
    BgNbdParams,
    GammaGammaParams,
    SbgParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
    expected_value,
    gamma_gamma_expected_spend,
    gamma_gamma_fit,
    sbg_churn_probability,
    sbg_fit,
    sbg_fit_individual,
    sbg_p_churn_next,
    sbg_retention,
    sbg_survival,
)

CDNOW_CSV = (
    Path(__file__).resolve().parents[1] / "fixtures" / "kpis" / "cdnow_customers_summary.csv"
)
_CDNOW = np.loadtxt(CDNOW_CSV, delimiter=",", skiprows=1)
X, TX, T_AGE, MONEY = _CDNOW.T

# Fader, Hardie & Lee (2005), Marketing Science 24(2): CDNOW, weeks.
PAPER_BG = BgNbdParams(r=0.243, alpha=4.414, a=0.793, b=2.426)
# Fader & Hardie, "The Gamma-Gamma Model of Monetary Value" (note 025): CDNOW repeat buyers.
PAPER_GG = GammaGammaParams(p=6.25, q=3.74, v=15.44)
# A BG/NBD fit in days on simulated customers with up to three years of history.
DAYS_BG = BgNbdParams(r=0.2414, alpha=30.66, a=0.7745, b=2.34)

# Fader & Hardie (2007), J. Interactive Marketing 21(1), Table 1: active customers, years 0..12.
REGULAR = [1000, 631, 468, 382, 326, 289, 262, 241, 223, 207, 194, 183, 173]
HIGH_END = [1000, 869, 743, 653, 593, 551, 517, 491, 468, 445, 427, 409, 394]


@pytest.fixture(scope="module")
def cdnow_bg() -> BgNbdParams:
    return bgnbd_fit(X, TX, T_AGE)


@pytest.fixture(scope="module")
def cdnow_gg() -> GammaGammaParams:
    return gamma_gamma_fit(X, MONEY)


# --- BG/NBD -----------------------------------------------------------------------------------


def test_cdnow_fixture_shape() -> None:
    assert _CDNOW.shape == (2357, 4)
    assert T_AGE.max() == pytest.approx(38.86)
    assert int(np.sum(X > 0)) == 946


def test_log_likelihood_at_published_params_matches_paper() -> None:
    assert bgnbd_log_likelihood(PAPER_BG, X, TX, T_AGE) == pytest.approx(-9582.4, abs=0.1)


def test_fit_recovers_published_params(cdnow_bg: BgNbdParams) -> None:
    fitted = (cdnow_bg.r, cdnow_bg.alpha, cdnow_bg.a, cdnow_bg.b)
    assert tuple(round(value, 3) for value in fitted) == (0.243, 4.414, 0.793, 2.426)
    assert bgnbd_log_likelihood(cdnow_bg, X, TX, T_AGE) >= bgnbd_log_likelihood(
        PAPER_BG, X, TX, T_AGE
    )


def test_weights_are_counts_of_identical_rows(cdnow_bg: BgNbdParams) -> None:
    rows, counts = np.unique(np.column_stack([X, TX, T_AGE]), axis=0, return_counts=True)
    x, t_x, age = rows.T
    assert len(rows) < len(X)
    weighted_ll = bgnbd_log_likelihood(PAPER_BG, x, t_x, age, weights=counts)
    assert weighted_ll == pytest.approx(bgnbd_log_likelihood(PAPER_BG, X, TX, T_AGE), rel=1e-12)
    refit = bgnbd_fit(x, t_x, age, weights=counts)
    assert refit.r == pytest.approx(cdnow_bg.r, rel=1e-6)
    assert refit.b == pytest.approx(cdnow_bg.b, rel=1e-6)


def test_fit_does_not_depend_on_the_time_unit(cdnow_bg: BgNbdParams) -> None:
    in_days = bgnbd_fit(X, TX * 7, T_AGE * 7)
    assert in_days.alpha == pytest.approx(cdnow_bg.alpha * 7, rel=1e-5)
    assert in_days.r == pytest.approx(cdnow_bg.r, rel=1e-5)
    assert in_days.a == pytest.approx(cdnow_bg.a, rel=1e-5)


def test_p_alive_for_known_customers() -> None:
    p_alive = bgnbd_p_alive(PAPER_BG, [2, 1, 0, 7], [30.43, 1.71, 0.0, 35.0], [38.86] * 4)
    # x = 0: the model's customers can only drop out right after a repeat purchase.
    assert p_alive[2] == 1.0
    assert np.all((p_alive > 0) & (p_alive <= 1))
    # 1 / (1 + a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) for the first customer of CDNOW.
    expected = 1 / (1 + 0.793 / 3.426 * (43.274 / 34.844) ** 2.243)
    assert p_alive[0] == pytest.approx(expected, rel=1e-12)
    # Bought once early and never again: probably gone.
    assert p_alive[1] < 0.3 < p_alive[0]


@given(
    x=st.integers(1, 60),
    recency=st.floats(0.0, 1.0),
    gap=st.floats(0.01, 0.5),
    age=st.floats(1.0, 500.0),
)
def test_p_alive_rises_with_recency_and_falls_with_silence(
    x: int, recency: float, gap: float, age: float
) -> None:
    early, late = recency * (1 - gap) * age, recency * age
    p_early, p_late = bgnbd_p_alive(PAPER_BG, [x, x], [early, late], [age, age])
    assert 0 <= p_early <= p_late <= 1
    p_older = bgnbd_p_alive(PAPER_BG, [x], [late], [age * (1 + gap)])[0]
    assert p_older <= p_late


# Eq. 10 of the paper in its original form, evaluated with 50-digit mpmath.
@pytest.mark.parametrize(
    ("params", "t", "x", "t_x", "age", "expected"),
    [
        (PAPER_BG, 39, 2, 30.43, 38.86, 1.2260281747671444),
        (PAPER_BG, 39, 0, 0.0, 38.86, 0.19509805201126264),
        (PAPER_BG, 100, 5, 20.0, 38.86, 2.24658968637115),
        (PAPER_BG, 500, 50, 38.0, 38.86, 163.58334880415354),
        (PAPER_BG, 10, 300, 38.5, 38.86, 61.816749305193346),
        (PAPER_BG, 1000, 1, 0.5, 1.0, 15.089269908144931),
        (PAPER_BG, 0.5, 3, 2.0, 30.0, 0.0011010267921733438),
        (BgNbdParams(1.7, 30, 2.5, 0.6), 365, 0, 0.0, 400.0, 0.74191970182999061),
        (BgNbdParams(1.7, 30, 2.5, 0.6), 365, 4, 300.0, 400.0, 0.57155738294861199),
        (BgNbdParams(1.7, 30, 2.5, 0.6), 30, 12, 100.0, 700.0, 1.3467240393977735e-10),
        (BgNbdParams(1.7, 30, 2.5, 0.6), 3000, 1, 10.0, 20.0, 0.23928186512847579),
        # Heavy buyers and long horizons, where a naive hyp2f1 evaluation returns NaN.
        (DAYS_BG, 3650, 155, 618.0, 618.0, 366.27147134767848),
        (DAYS_BG, 365, 2000, 1000.0, 1000.0, 627.43854163831375),
        (PAPER_BG, 1e5, 155, 1.0, 1.0, 5003.5605362497313),
        # Whole-number parameters make c - a - b an exact integer.
        (BgNbdParams(3, 2, 5, 10), 365, 155, 1.0, 1.0, 40.999999762534242),
        (BgNbdParams(3, 2, 5, 10), 30, 155, 0.5, 1.0, 4.2758817970565152e-10),
    ],
)
def test_expected_purchases_match_high_precision_reference(
    params: BgNbdParams, t: float, x: int, t_x: float, age: float, expected: float
) -> None:
    value = bgnbd_expected_purchases(params, t, [x], [t_x], [age])[0]
    assert value == pytest.approx(expected, rel=1e-9)


def test_expected_purchases_grow_with_horizon_and_start_at_zero() -> None:
    horizons = np.array([0.0, 1.0, 4.0, 13.0, 39.0, 104.0])[:, None]
    values = bgnbd_expected_purchases(PAPER_BG, horizons, X[:50], TX[:50], T_AGE[:50])
    assert values.shape == (6, 50)
    assert np.all(values[0] == 0)
    assert np.all(np.diff(values, axis=0) > 0)


def test_expected_purchases_are_continuous_at_a_equal_one() -> None:
    def at(a: float) -> float:
        params = BgNbdParams(0.5, 10.0, a, 2.0)
        return float(bgnbd_expected_purchases(params, 52, [3], [20.0], [40.0])[0])

    assert at(1.0) == pytest.approx((at(1 - 1e-4) + at(1 + 1e-4)) / 2, rel=1e-6)


@pytest.mark.parametrize(
    ("frequency", "recency", "age", "message"),
    [
        ([], [], [], "at least one customer"),
        ([0, 0], [0, 0], [5, 9], "repeat purchase"),
        ([1], [6.0], [5.0], "recency"),
        ([1.5], [1.0], [5.0], "whole numbers"),
        ([0], [2.0], [5.0], "frequency 0"),
        ([1, 2], [1.0], [5.0, 5.0], "same length"),
        ([1], [1.0], [0.0], "T"),
        ([1], [float("nan")], [3.0], "NaN"),
    ],
)
def test_fit_rejects_bad_input(
    frequency: list[float], recency: list[float], age: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        bgnbd_fit(frequency, recency, age)


def test_params_must_be_positive() -> None:
    with pytest.raises(ValueError, match="alpha"):
        BgNbdParams(0.2, 0.0, 0.5, 1.0)


def test_fit_200k_customers_is_fast(cdnow_bg: BgNbdParams) -> None:
    copies = 85  # 85 x 2,357 = 200,345 customers
    shift = np.repeat(np.arange(copies) * 1e-7, len(X))  # every row distinct: no compression
    x, t_x = np.tile(X, copies), np.tile(TX, copies)
    age = np.tile(T_AGE, copies) + shift
    started = time.perf_counter()
    fitted = bgnbd_fit(x, t_x, age)
    elapsed = time.perf_counter() - started
    assert elapsed < 5.0
    assert fitted.r == pytest.approx(cdnow_bg.r, rel=1e-4)
    assert fitted.alpha == pytest.approx(cdnow_bg.alpha, rel=1e-4)


# --- Gamma-Gamma ------------------------------------------------------------------------------


def test_gamma_gamma_fit_recovers_published_params(cdnow_gg: GammaGammaParams) -> None:
    assert round(cdnow_gg.p, 2) == 6.25
    assert round(cdnow_gg.q, 2) == 3.74
    # The note prints 15.44; the likelihood maximum is at 15.448 and is at least as good.
    assert cdnow_gg.v == pytest.approx(15.44, abs=0.01)
    buyers = X > 0
    assert cdnow_gg.p * cdnow_gg.v / (cdnow_gg.q - 1) == pytest.approx(
        MONEY[buyers].mean(), rel=0.01
    )


def test_gamma_gamma_ignores_customers_without_repeat_purchases(cdnow_gg: GammaGammaParams) -> None:
    refit = gamma_gamma_fit(np.r_[X, [0, 0]], np.r_[MONEY, [1e6, 0]])
    assert refit.v == pytest.approx(cdnow_gg.v, rel=1e-7)


def test_expected_spend_blends_population_and_own_mean() -> None:
    spend = gamma_gamma_expected_spend(PAPER_GG, [0, 1, 2, 50], [0.0, 11.77, 22.35, 22.35])
    population = 6.25 * 15.44 / 2.74
    assert spend[0] == pytest.approx(population)
    assert spend[2] == pytest.approx(6.25 * (15.44 + 2 * 22.35) / (12.5 + 2.74))
    # The more repeat purchases, the closer to the customer's own mean.
    assert abs(spend[3] - 22.35) < abs(spend[2] - 22.35)


@given(x=st.integers(1, 500), m=st.floats(0.01, 1e5))
def test_expected_spend_lies_between_population_and_own_mean(x: int, m: float) -> None:
    spend = gamma_gamma_expected_spend(PAPER_GG, [x], [m])[0]
    population = 6.25 * 15.44 / 2.74
    assert min(m, population) * (1 - 1e-12) <= spend <= max(m, population) * (1 + 1e-12)


def test_expected_spend_needs_q_above_one() -> None:
    with pytest.raises(ValueError, match=r"q = 0\.9"):
        gamma_gamma_expected_spend(GammaGammaParams(2.0, 0.9, 10.0), [1], [5.0])


@pytest.mark.parametrize(
    ("frequency", "monetary", "message"),
    [
        ([], [], "at least one customer"),
        ([0, 0], [0.0, 0.0], "frequency > 0"),
        ([2, 1], [10.0, 0.0], "must be > 0"),
        ([1], [1.0, 2.0], "same length"),
    ],
)
def test_gamma_gamma_fit_rejects_bad_input(
    frequency: list[float], monetary: list[float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        gamma_gamma_fit(frequency, monetary)


# --- CLV --------------------------------------------------------------------------------------


def test_expected_value_sums_discounted_period_increments() -> None:
    x, t_x, age, money = [2], [30.43], [38.86], [22.35]
    value = expected_value(
        PAPER_BG, PAPER_GG, x, t_x, age, money, horizon=3, period_length=4.0, discount_rate=0.05
    )
    cumulative = [bgnbd_expected_purchases(PAPER_BG, 4.0 * i, x, t_x, age)[0] for i in range(4)]
    spend = gamma_gamma_expected_spend(PAPER_GG, x, money)[0]
    by_hand = sum((cumulative[i] - cumulative[i - 1]) * spend / 1.05**i for i in range(1, 4))
    assert value[0] == pytest.approx(by_hand, rel=1e-12)


def test_undiscounted_value_telescopes(cdnow_bg: BgNbdParams, cdnow_gg: GammaGammaParams) -> None:
    value = expected_value(cdnow_bg, cdnow_gg, X, TX, T_AGE, MONEY, horizon=12, discount_rate=0.0)
    purchases = bgnbd_expected_purchases(cdnow_bg, 12.0, X, TX, T_AGE)
    spend = gamma_gamma_expected_spend(cdnow_gg, X, MONEY)
    np.testing.assert_allclose(value, purchases * spend, rtol=1e-10)
    discounted = expected_value(cdnow_bg, cdnow_gg, X, TX, T_AGE, MONEY, discount_rate=0.01)
    assert np.all(discounted < value)
    assert np.all(discounted > 0)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"horizon": 0}, "horizon"),
        ({"horizon": 2.5}, "horizon"),
        ({"period_length": 0.0}, "period_length"),
        ({"discount_rate": -1.0}, "discount_rate"),
    ],
)
def test_expected_value_rejects_bad_options(options: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        expected_value(PAPER_BG, PAPER_GG, [1], [2.0], [5.0], [10.0], **options)  # type: ignore[arg-type]


# --- sBG --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("alive", "alpha", "beta"),
    [(REGULAR[:8], 0.704, 1.182), (HIGH_END[:8], 0.668, 3.806)],
)
def test_sbg_fit_recovers_paper_estimates(alive: list[int], alpha: float, beta: float) -> None:
    fitted = sbg_fit(alive)
    assert fitted.alpha == pytest.approx(alpha, abs=0.005)
    assert fitted.beta == pytest.approx(beta, abs=0.005)


@pytest.mark.parametrize("alive", [REGULAR, HIGH_END])
def test_sbg_projects_the_holdout_years(alive: list[int]) -> None:
    fitted = sbg_fit(alive[:8])
    projected = 1000 * sbg_survival(fitted, np.arange(8, 13))
    np.testing.assert_allclose(projected, alive[8:], rtol=0.05)
    in_sample = 1000 * sbg_survival(fitted, np.arange(8))
    np.testing.assert_allclose(in_sample, alive[:8], rtol=0.03)


def test_sbg_identities() -> None:
    params = SbgParams(0.704, 1.182)
    t = np.arange(1, 25)
    survival = sbg_survival(params, np.r_[0, t])
    assert survival[0] == 1.0
    np.testing.assert_allclose(survival[1:], np.cumprod(sbg_retention(params, t)), rtol=1e-12)
    np.testing.assert_allclose(sbg_churn_probability(params, t), -np.diff(survival), rtol=1e-10)
    assert np.all(np.diff(sbg_retention(params, t)) > 0)  # heterogeneity: retention rises


def test_sbg_churn_risk_of_a_tenured_customer() -> None:
    params = SbgParams(0.668, 3.806)
    tenure = np.arange(0, 10)
    risk = sbg_p_churn_next(params, tenure)
    np.testing.assert_allclose(risk, 1 - sbg_retention(params, tenure + 1), rtol=1e-12)
    assert risk[0] == pytest.approx(0.668 / (0.668 + 3.806))
    assert np.all(np.diff(risk) < 0)


def test_sbg_fit_individual_agrees_with_the_cohort_table() -> None:
    alive = np.array(HIGH_END[:8])
    lost = -np.diff(alive)
    churned = np.repeat(np.arange(1, 8), lost)
    periods = np.r_[churned, np.full(alive[-1], 7)]
    censored = np.r_[np.zeros(len(churned), dtype=bool), np.ones(alive[-1], dtype=bool)]
    individual = sbg_fit_individual(periods, censored)
    cohort = sbg_fit(HIGH_END[:8])
    assert individual.alpha == pytest.approx(cohort.alpha, rel=1e-6)
    assert individual.beta == pytest.approx(cohort.beta, rel=1e-6)


@pytest.mark.parametrize(
    ("alive", "message"),
    [
        ([], "at least one later"),
        ([1000], "at least one later"),
        ([1000, 900, 950], "must not increase"),
        ([1000, 1000, 1000], "at least one observed churn"),
        ([1000, -1], "whole numbers"),
    ],
)
def test_sbg_fit_rejects_bad_input(alive: list[int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sbg_fit(alive)


def test_sbg_fit_individual_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="at least one customer"):
        sbg_fit_individual([], [])
    with pytest.raises(ValueError, match=">= 1 for churned"):
        sbg_fit_individual([0, 3], [False, True])
