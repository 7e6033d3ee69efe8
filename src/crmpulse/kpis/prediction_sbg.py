"""Shifted-beta-geometric (sBG) retention for contractual cohorts.

Fader & Hardie (2007), "How to Project Customer Retention", Journal of Interactive Marketing 21(1),
76-90. Each customer renews at the end of every period until they churn, with a churn probability
theta that is constant for them and Beta(alpha, beta) across the cohort. Heterogeneity alone makes
the aggregate retention rate rise with tenure: the customers most likely to leave leave first.

Time is counted in whole contract periods (months, years: whatever the cohort table uses). Period
t = 1 is the first renewal decision; S(0) = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln

from crmpulse.kpis.prediction_inputs import (
    ArrayLike,
    FloatArray,
    as_float_array,
    same_length,
    weighted_sum,
)

_LOG_BOUND = 25.0


@dataclass(frozen=True)
class SbgParams:
    """Beta(alpha, beta) heterogeneity in the per-period churn probability.

    The mean churn probability of a new cohort is alpha / (alpha + beta).
    """

    alpha: float
    beta: float

    def __post_init__(self) -> None:
        for name, value in (("alpha", self.alpha), ("beta", self.beta)):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"sBG parameter {name} must be finite and > 0, got {value}")


def _periods(t: ArrayLike, name: str, *, minimum: int) -> FloatArray:
    periods = np.asarray(t, dtype=np.float64)
    if np.any(periods < minimum) or np.any(periods != np.floor(periods)):
        raise ValueError(f"{name} must hold whole numbers of periods >= {minimum}")
    return periods


def sbg_survival(params: SbgParams, t: ArrayLike) -> FloatArray:
    """Share of the cohort still active after t periods: S(t) = B(alpha, beta+t)/B(alpha, beta)."""
    periods = _periods(t, "t", minimum=0)
    survival: FloatArray = np.exp(
        betaln(params.alpha, params.beta + periods) - betaln(params.alpha, params.beta)
    )
    return survival


def sbg_retention(params: SbgParams, t: ArrayLike) -> FloatArray:
    """Retention rate in period t: r_t = S(t)/S(t-1) = (beta+t-1) / (alpha+beta+t-1), t >= 1."""
    periods = _periods(t, "t", minimum=1)
    retention: FloatArray = (params.beta + periods - 1.0) / (
        params.alpha + params.beta + periods - 1.0
    )
    return retention


def sbg_churn_probability(params: SbgParams, t: ArrayLike) -> FloatArray:
    """Probability that a new customer churns in period t, for t >= 1.

    P(T=t) = B(alpha+1, beta+t-1) / B(alpha, beta), which equals S(t-1) - S(t).
    """
    periods = _periods(t, "t", minimum=1)
    probability: FloatArray = np.exp(
        betaln(params.alpha + 1.0, params.beta + periods - 1.0) - betaln(params.alpha, params.beta)
    )
    return probability


def sbg_p_churn_next(params: SbgParams, tenure: ArrayLike) -> FloatArray:
    """Churn probability in the next period for a customer who has renewed ``tenure`` times.

    1 - r_{tenure+1} = alpha / (alpha + beta + tenure): the mean of the customer's posterior
    Beta(alpha, beta + tenure) churn probability.
    """
    periods = _periods(tenure, "tenure", minimum=0)
    risk: FloatArray = params.alpha / (params.alpha + params.beta + periods)
    return risk


def _sbg_log_likelihood(
    log_params: FloatArray,
    churned_at: FloatArray,
    churned_n: FloatArray,
    censored_at: FloatArray,
    censored_n: FloatArray,
) -> float:
    alpha, beta = np.exp(log_params)
    base = betaln(alpha, beta)
    churned = betaln(alpha + 1.0, beta + churned_at - 1.0) - base
    survived = betaln(alpha, beta + censored_at) - base
    return float(weighted_sum(churned_n, churned) + weighted_sum(censored_n, survived))


def _fit(
    churned_at: FloatArray, churned_n: FloatArray, censored_at: FloatArray, censored_n: FloatArray
) -> SbgParams:
    if np.sum(churned_n) == 0:
        raise ValueError(
            "sBG needs at least one observed churn; with none, the churn probability "
            "is estimated as 0 and alpha, beta are not identified"
        )
    total = float(np.sum(churned_n) + np.sum(censored_n))

    def objective(log_params: FloatArray) -> float:
        return -_sbg_log_likelihood(log_params, churned_at, churned_n, censored_at, censored_n) / (
            total
        )

    # Two parameters and a smooth surface: Nelder-Mead needs no gradient and starts from the
    # uniform prior Beta(1, 1).
    result = minimize(
        objective,
        np.zeros(2),
        method="Nelder-Mead",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 2,
        options={"xatol": 1e-10, "fatol": 1e-14, "maxiter": 4000},
    )
    alpha, beta = np.exp(result.x)
    return SbgParams(float(alpha), float(beta))


def sbg_fit(alive: Sequence[int]) -> SbgParams:
    """Maximum-likelihood sBG parameters from one cohort's active counts.

    ``alive[0]`` is the cohort size and ``alive[k]`` the customers still active after k periods.
    The n_t = alive[t-1] - alive[t] churners of period t contribute P(T=t); the alive[K] customers
    still active at the last observation are right-censored and contribute S(K):
    LL = sum_t n_t ln P(T=t) + alive[K] ln S(K).

    Raises ``ValueError`` when there is no period to learn from, when counts are negative or
    increase, or when nobody churned.
    """
    counts = as_float_array(list(alive), "alive")
    if len(counts) < 2:
        raise ValueError(
            "sbg_fit needs the cohort size and at least one later active count, "
            f"got {len(counts)} value(s)"
        )
    if np.any(counts != np.floor(counts)) or np.any(counts < 0):
        raise ValueError("alive must hold whole numbers of customers >= 0")
    if np.any(np.diff(counts) > 0):
        raise ValueError(
            "alive counts must not increase (a cohort only loses customers); "
            "count reactivated customers in a new cohort"
        )
    churned_n = -np.diff(counts)
    churned_at = np.arange(1, len(counts), dtype=np.float64)
    last = np.array([len(counts) - 1], dtype=np.float64)
    return _fit(churned_at, churned_n, last, counts[-1:])


def sbg_fit_individual(churn_period: ArrayLike, censored: ArrayLike) -> SbgParams:
    """Maximum-likelihood sBG parameters from one row per customer, cohorts of any age mixed.

    ``churn_period[i]`` is the period in which customer i churned (>= 1), or, when
    ``censored[i]`` is true, the number of periods they are known to have stayed (>= 0).
    LL = sum over churners of ln P(T=t_i) + sum over censored customers of ln S(t_i).
    """
    periods = as_float_array(churn_period, "churn_period")
    flags = np.asarray(censored, dtype=bool).reshape(-1)
    same_length([periods, flags.astype(np.float64)], ["churn_period", "censored"])
    if len(periods) == 0:
        raise ValueError("sbg_fit_individual needs at least one customer; got empty arrays")
    if np.any(periods != np.floor(periods)) or np.any(periods < np.where(flags, 0, 1)):
        raise ValueError(
            "churn_period must hold whole numbers: >= 1 for churned customers, "
            ">= 0 for censored (still active) ones"
        )
    churned_at, churned_n = np.unique(periods[~flags], return_counts=True)
    censored_at, censored_n = np.unique(periods[flags], return_counts=True)
    return _fit(
        churned_at, churned_n.astype(np.float64), censored_at, censored_n.astype(np.float64)
    )
