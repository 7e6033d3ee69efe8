"""BG/NBD: repeat buying and silent drop-out for non-contractual customers.

Fader, Hardie & Lee (2005), "Counting Your Customers the Easy Way: An Alternative to the
Pareto/NBD Model", Marketing Science 24(2), 275-284. While alive a customer buys at Poisson rate
lambda ~ Gamma(r, alpha); after each purchase they drop out with probability p ~ Beta(a, b).

Per customer the data are x (repeat transactions), t_x (time of the last repeat purchase, counted
from the first purchase) and T (time from the first purchase to the end of observation). All three,
and the horizon ``t`` of the forecasts, are in one time unit of the caller's choosing; ``alpha``
comes out in that unit (the rate scale), ``r``, ``a`` and ``b`` are unit-free.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import betaln, digamma, expit, gammaln, hyp2f1

from crmpulse.kpis.prediction_inputs import (
    ArrayLike,
    FloatArray,
    as_float_array,
    as_weights,
    check_rfm,
    compress_rows,
    weighted_sum,
)

# Log-parameters are kept in this box: wide enough for any plausible data set in days, weeks or
# months, narrow enough that exp() of them cannot overflow inside the likelihood.
_LOG_BOUND = 25.0


@dataclass(frozen=True)
class BgNbdParams:
    """Fitted BG/NBD parameters.

    ``r`` and ``alpha`` are the shape and rate of the Gamma heterogeneity in purchase rates (mean
    rate r/alpha purchases per time unit); ``a`` and ``b`` are the Beta heterogeneity in the
    drop-out probability after a purchase (mean a/(a+b)).
    """

    r: float
    alpha: float
    a: float
    b: float

    def __post_init__(self) -> None:
        for name, value in zip(("r", "alpha", "a", "b"), astuple(self), strict=True):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(f"BG/NBD parameter {name} must be finite and > 0, got {value}")


def _rfm(frequency: ArrayLike, recency: ArrayLike, T: ArrayLike) -> tuple[FloatArray, ...]:
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    age = as_float_array(T, "T")
    check_rfm(x, t_x, age)
    return x, t_x, age


def _branches(
    params: BgNbdParams, x: FloatArray, t_x: FloatArray, age: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Return the two log-branches of the per-customer likelihood, before the common factor.

    still alive at T: -(r+x) ln(alpha+T); dropped out right after the last purchase:
    ln[a/(b+x-1)] - (r+x) ln(alpha+t_x), which is -inf when x = 0 (it needs a repeat purchase).
    """
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    alive = -(r + x) * np.log(alpha + age)
    has_repeat = x > 0
    # b + x - 1 can be <= 0 only when x = 0, where the branch is masked out anyway.
    safe_denominator = np.where(has_repeat, b + x - 1.0, 1.0)
    dropped = np.log(a) - np.log(safe_denominator) - (r + x) * np.log(alpha + t_x)
    return alive, np.where(has_repeat, dropped, -np.inf)


def _frequency_levels(x: FloatArray, w: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Distinct frequencies and their total weight.

    The Gamma and Beta function terms depend on x alone, and they are the expensive part of the
    likelihood, so they are evaluated once per distinct x (a few hundred values at most).
    """
    levels, inverse = np.unique(x, return_inverse=True)
    totals: FloatArray = np.bincount(inverse.ravel(), weights=w, minlength=len(levels)).astype(
        np.float64
    )
    return levels, totals


def _common_log_term(params: BgNbdParams, levels: FloatArray, level_w: FloatArray) -> float:
    """Weighted sum of ln[Gamma(r+x) alpha^r / Gamma(r)] + ln[B(a, b+x) / B(a, b)]."""
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    per_level = gammaln(r + levels) - gammaln(r) + betaln(a, b + levels) - betaln(a, b)
    return weighted_sum(level_w, per_level) + float(np.sum(level_w)) * r * float(np.log(alpha))


def bgnbd_log_likelihood(
    params: BgNbdParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> float:
    """Sum over customers of the BG/NBD log-likelihood, weighted by ``weights`` (row counts).

    L = Gamma(r+x) alpha^r / Gamma(r) * [B(a, b+x)/B(a, b) (alpha+T)^-(r+x)
    + [x > 0] B(a+1, b+x-1)/B(a, b) (alpha+t_x)^-(r+x)],
    evaluated in logs (gammaln, betaln, logaddexp) so large x or T cannot overflow.
    """
    x, t_x, age = _rfm(frequency, recency, T)
    w = as_weights(weights, len(x))
    alive, dropped = _branches(params, x, t_x, age)
    common = _common_log_term(params, *_frequency_levels(x, w))
    return common + weighted_sum(w, np.logaddexp(alive, dropped))


@dataclass(frozen=True)
class _FitData:
    x: FloatArray
    t_x: FloatArray
    age: FloatArray
    w: FloatArray
    levels: FloatArray
    level_w: FloatArray


def _negative_mean_ll_and_gradient(
    log_params: FloatArray, data: _FitData
) -> tuple[float, FloatArray]:
    """Mean negative log-likelihood and its gradient with respect to the log-parameters.

    Scaling by the total weight keeps the optimizer's tolerances independent of the number of
    customers; the analytic gradient spares the extra evaluations a numerical one would need.
    """
    r, alpha, a, b = np.exp(log_params)
    params = BgNbdParams(r, alpha, a, b)
    x, t_x, age, w = data.x, data.t_x, data.age, data.w
    levels, level_w = data.levels, data.level_w
    total = np.sum(w)

    alive, dropped = _branches(params, x, t_x, age)
    p_alive_branch = expit(alive - dropped)
    p_dropped_branch = 1.0 - p_alive_branch
    value = _common_log_term(params, levels, level_w) + weighted_sum(
        w, np.logaddexp(alive, dropped)
    )

    # Parts that depend on x alone, summed per distinct x.
    digamma_ab = digamma(a + b)
    digamma_abx = digamma(a + b + levels)
    common_r = weighted_sum(level_w, digamma(r + levels) - digamma(r)) + total * np.log(alpha)
    common_a = weighted_sum(level_w, digamma_ab - digamma_abx)
    common_b = weighted_sum(level_w, digamma(b + levels) - digamma(b) + digamma_ab - digamma_abx)

    log_age, log_recency = np.log(alpha + age), np.log(alpha + t_x)
    d_r = common_r - weighted_sum(w, p_alive_branch * log_age + p_dropped_branch * log_recency)
    d_alpha = total * r / alpha - weighted_sum(
        w, (r + x) * (p_alive_branch / (alpha + age) + p_dropped_branch / (alpha + t_x))
    )
    d_a = common_a + weighted_sum(w, p_dropped_branch) / a
    safe_denominator = np.where(x > 0, b + x - 1.0, 1.0)
    d_b = common_b - weighted_sum(w, p_dropped_branch / safe_denominator)
    gradient = np.array([r * d_r, alpha * d_alpha, a * d_a, b * d_b])
    return float(-value / total), -gradient / total


def bgnbd_fit(
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    *,
    weights: ArrayLike | None = None,
) -> BgNbdParams:
    """Maximum-likelihood BG/NBD parameters for a customer base.

    Maximizes :func:`bgnbd_log_likelihood` over log(r, alpha, a, b) with L-BFGS-B and the analytic
    gradient. Identical (x, t_x, T) rows are merged first, so day- or week-rounded data of any size
    costs about as much as its number of distinct histories. ``weights`` counts identical customers
    when the caller has already compressed them. The start is fixed (r = a = b = 1 and alpha set so
    that the mean purchase rate r/alpha matches sum(x)/sum(T)), so the same data give the same fit.

    Raises ``ValueError`` for empty input and when nobody made a repeat purchase (the likelihood
    then keeps rising as the purchase rate goes to 0 and has no maximum).
    """
    x, t_x, age = _rfm(frequency, recency, T)
    if len(x) == 0:
        raise ValueError("bgnbd_fit needs at least one customer; got empty arrays")
    w = as_weights(weights, len(x))
    x, t_x, age, w = compress_rows([x, t_x, age], w)
    repeat_purchases = weighted_sum(w, x)
    if repeat_purchases == 0:
        raise ValueError(
            "bgnbd_fit needs at least one customer with a repeat purchase (frequency > 0); "
            "with none, the BG/NBD parameters are not identified"
        )
    alpha_start = weighted_sum(w, age) / repeat_purchases
    start = np.log(np.array([1.0, alpha_start, 1.0, 1.0]))
    start = np.clip(start, -_LOG_BOUND, _LOG_BOUND)
    result = minimize(
        _negative_mean_ll_and_gradient,
        start,
        args=(_FitData(x, t_x, age, w, *_frequency_levels(x, w)),),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 4,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
    )
    r, alpha, a, b = np.exp(result.x)
    return BgNbdParams(float(r), float(alpha), float(a), float(b))


def bgnbd_p_alive(
    params: BgNbdParams, frequency: ArrayLike, recency: ArrayLike, T: ArrayLike
) -> FloatArray:
    """P(customer still alive at T | x, t_x, T); churn risk is 1 - P(alive).

    P(alive) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x)) (Fader, Hardie & Lee,
    "Computing P(alive) Using the BG/NBD Model", brucehardie.com/notes/021). It is 1 when x = 0
    because in BG/NBD a customer can only drop out right after a repeat purchase.
    """
    x, t_x, age = _rfm(frequency, recency, T)
    alive, dropped = _branches(params, x, t_x, age)
    result: FloatArray = expit(alive - dropped)
    return result


def _hyp2f1_smooth(first: float, second: float, third: FloatArray, z: FloatArray) -> FloatArray:
    """Gauss 2F1(first, second; third; z) for 0 <= z < 1, robust to one scipy failure mode.

    scipy returns NaN near z = 1 when third - first - second is a large exact integer (here
    x + r - a + 1, which happens with hand-picked whole-number parameters). 2F1 is smooth in its
    parameters, so those entries are evaluated with ``second`` moved by a relative 1e-10, which
    changes the value by about as much (checked against 50-digit references in the tests).
    """
    third, z = np.broadcast_arrays(third, z)
    values: FloatArray = np.asarray(hyp2f1(first, second, third, z), dtype=np.float64)
    failed = ~np.isfinite(values)
    if np.any(failed):
        nudged = second + 1e-10 * max(1.0, abs(second))
        values = values.copy()
        values[failed] = hyp2f1(first, nudged, third[failed], z[failed])
    return values


def bgnbd_expected_purchases(
    params: BgNbdParams,
    t: ArrayLike,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
) -> FloatArray:
    """Expected number of transactions in (T, T+t] given (x, t_x, T) (paper, eq. 10).

    E[Y(t) | x, t_x, T] = (a+b+x-1)/(a-1) * [1 - ((alpha+T)/(alpha+T+t))^(r+x)
    2F1(r+x, b+x; a+b+x-1; t/(alpha+T+t))] * P(alive). Two Pfaff transformations turn the bracket
    into 1 - ((alpha+T+t)/(alpha+T))^(1-a) 2F1(a-1, a+b-1-r; a+b+x-1; t/(alpha+T+t)): the same
    number, but the numerator parameters no longer grow with x, so neither the power factor nor
    the series under- or overflows for customers with hundreds of purchases or long horizons.
    ``t`` is a scalar or an array that broadcasts against the customers, in the same time unit as
    ``recency`` and ``T``.
    """
    x, t_x, age = _rfm(frequency, recency, T)
    horizon = np.asarray(t, dtype=np.float64)
    if np.any(horizon < 0) or not np.all(np.isfinite(horizon)):
        raise ValueError("t (forecast horizon) must be finite and >= 0")
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    # At a == 1 both factors of (a+b+x-1)/(a-1) * [1 - 2F1(...)] vanish; the product is continuous
    # in a, so step just off the removable singularity.
    if abs(a - 1.0) < 1e-7:
        a = 1.0 + 1e-7
    c = a + b + x - 1.0
    elapsed = alpha + age
    share = horizon / (elapsed + horizon)
    growth = ((elapsed + horizon) / elapsed) ** (1.0 - a)
    bracket = 1.0 - growth * _hyp2f1_smooth(a - 1.0, a + b - 1.0 - r, c, share)
    conditional: FloatArray = c / (a - 1.0) * bracket * bgnbd_p_alive(params, x, t_x, age)
    return conditional
