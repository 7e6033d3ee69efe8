"""Gamma-Gamma spend per transaction, and customer value over a horizon (BG/NBD x Gamma-Gamma).

Gamma-Gamma: Fader, Hardie & Lee (2005), "RFM and CLV: Using Iso-Value Curves for Customer Base
Analysis", Journal of Marketing Research 42(4); parametrization of Fader & Hardie, "The Gamma-Gamma
Model of Monetary Value" (brucehardie.com/notes/025). Each transaction value of a customer is
Gamma(p, nu) and nu ~ Gamma(q, v) across customers, so a customer's mean spend is p/nu with
population mean p v / (q - 1). It is fitted on the mean value of each customer's *repeat*
transactions (the first purchase excluded) and assumes spend independent of purchase frequency.

Money is in whatever currency the monetary values are in; ``v`` carries that unit.
"""

from __future__ import annotations

from dataclasses import astuple, dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import digamma, gammaln

from crmpulse.kpis.prediction_bgnbd import (
    BgNbdParams,
    bgnbd_expected_purchases,
)
from crmpulse.kpis.prediction_inputs import (
    ArrayLike,
    FloatArray,
    as_float_array,
    as_weights,
    check_rfm,
    compress_rows,
    same_length,
    weighted_sum,
)

_LOG_BOUND = 25.0


@dataclass(frozen=True)
class GammaGammaParams:
    """Fitted Gamma-Gamma parameters: shape ``p`` of spend per transaction, and shape ``q`` and
    scale ``v`` (a money amount) of the heterogeneity in the Gamma rate across customers."""

    p: float
    q: float
    v: float

    def __post_init__(self) -> None:
        for name, value in zip(("p", "q", "v"), astuple(self), strict=True):
            if not (np.isfinite(value) and value > 0):
                raise ValueError(
                    f"Gamma-Gamma parameter {name} must be finite and > 0, got {value}"
                )


def _spend_inputs(frequency: ArrayLike, monetary: ArrayLike) -> tuple[FloatArray, FloatArray]:
    x = as_float_array(frequency, "frequency")
    m = as_float_array(monetary, "monetary")
    same_length([x, m], ["frequency", "monetary"])
    if np.any(x < 0) or np.any(x != np.floor(x)):
        raise ValueError("frequency must hold whole numbers >= 0 (count of repeat transactions)")
    if np.any((x > 0) & (m <= 0)):
        raise ValueError(
            "monetary (mean value of repeat transactions) must be > 0 for customers with "
            "frequency > 0; drop refunds or zero-value orders before fitting"
        )
    return x, m


def _negative_mean_ll_and_gradient(
    log_params: FloatArray, x: FloatArray, m: FloatArray, w: FloatArray
) -> tuple[float, FloatArray]:
    """Mean negative Gamma-Gamma log-likelihood over repeat buyers, with its log-space gradient.

    ln f(m | x) = ln Gamma(px+q) - ln Gamma(px) - ln Gamma(q) + q ln v + (px-1) ln m + px ln x
    - (px+q) ln(v + x m)   (note 025).
    """
    p, q, v = np.exp(log_params)
    px = p * x
    log_xm_v = np.log(v + x * m)
    log_m = np.log(m)
    log_x = np.log(x)
    per_row = (
        gammaln(px + q)
        - gammaln(px)
        - gammaln(q)
        + q * np.log(v)
        + (px - 1.0) * log_m
        + px * log_x
        - (px + q) * log_xm_v
    )
    digamma_pxq = digamma(px + q)
    d_p = x * (digamma_pxq - digamma(px) + log_m + log_x - log_xm_v)
    d_q = digamma_pxq - digamma(q) + np.log(v) - log_xm_v
    d_v = q / v - (px + q) / (v + x * m)
    total = np.sum(w)
    gradient = np.array(
        [p * weighted_sum(w, d_p), q * weighted_sum(w, d_q), v * weighted_sum(w, d_v)]
    )
    return float(-weighted_sum(w, per_row) / total), -gradient / total


def gamma_gamma_fit(
    frequency: ArrayLike, monetary: ArrayLike, *, weights: ArrayLike | None = None
) -> GammaGammaParams:
    """Maximum-likelihood Gamma-Gamma parameters from repeat buyers' mean spend.

    ``monetary`` is each customer's mean value of repeat transactions; customers with frequency 0
    carry no spend information and are ignored. Maximizes the likelihood of note 025 over
    log(p, q, v) with L-BFGS-B from a fixed start (p = 1, q = 2, v = mean spend, whose implied
    population mean p v/(q-1) equals the observed mean). ``weights`` counts identical customers.

    Raises ``ValueError`` for empty input or when no customer has frequency > 0.
    """
    x, m = _spend_inputs(frequency, monetary)
    if len(x) == 0:
        raise ValueError("gamma_gamma_fit needs at least one customer; got empty arrays")
    w = as_weights(weights, len(x))
    buyers = x > 0
    if not np.any(buyers & (w > 0)):
        raise ValueError(
            "gamma_gamma_fit needs customers with repeat transactions (frequency > 0) to "
            "learn spend from; none were given"
        )
    x, m, w = compress_rows([x[buyers], m[buyers]], w[buyers])
    start = np.log(np.array([1.0, 2.0, float(weighted_sum(w, m) / np.sum(w))]))
    result = minimize(
        _negative_mean_ll_and_gradient,
        np.clip(start, -_LOG_BOUND, _LOG_BOUND),
        args=(x, m, w),
        jac=True,
        method="L-BFGS-B",
        bounds=[(-_LOG_BOUND, _LOG_BOUND)] * 3,
        options={"ftol": 1e-13, "gtol": 1e-9, "maxiter": 2000},
    )
    p, q, v = np.exp(result.x)
    return GammaGammaParams(float(p), float(q), float(v))


def gamma_gamma_expected_spend(
    params: GammaGammaParams, frequency: ArrayLike, monetary: ArrayLike
) -> FloatArray:
    """Expected mean transaction value of each customer, given x repeat purchases of mean m.

    E[M | p, q, v, m, x] = p (v + x m) / (p x + q - 1): a weighted average of the population
    mean p v / (q - 1) and the customer's own mean m, with weight p x / (p x + q - 1) on m. With
    x = 0 it is the population mean. ``monetary`` is ignored where frequency is 0.

    Raises ``ValueError`` when q <= 1: the population mean spend is then infinite.
    """
    if params.q <= 1:
        raise ValueError(
            f"Gamma-Gamma q = {params.q} <= 1: the mean spend p*v/(q-1) is undefined; "
            "the spend data are too heavy-tailed for this model (check for outliers)"
        )
    x, m = _spend_inputs(frequency, monetary)
    m = np.where(x > 0, m, 0.0)
    spend: FloatArray = params.p * (params.v + x * m) / (params.p * x + params.q - 1.0)
    return spend


def expected_value(
    bg: BgNbdParams,
    gg: GammaGammaParams,
    frequency: ArrayLike,
    recency: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    horizon: int = 12,
    period_length: float = 1.0,
    discount_rate: float = 0.01,
) -> FloatArray:
    """Discounted expected value of each customer's future transactions over ``horizon`` periods.

    CLV = sum_{i=1..horizon} (E[Y(i L)] - E[Y((i-1) L)]) * E[M] / (1 + d)^i, with E[Y(t)] from
    :func:`bgnbd_expected_purchases` (purchases in the next t model time units), E[M] from
    :func:`gamma_gamma_expected_spend`, L = ``period_length`` and d = ``discount_rate``.

    Units: ``recency``, ``T`` and the BG/NBD ``alpha`` are in the model's time unit (say days);
    ``period_length`` is one discounting period in that unit (30.4375 for months when the model is
    in days) and ``discount_rate`` is per discounting period (a 12 %/yr rate is about 0.0095 per
    month). The result is in the currency of ``monetary``; no margin is applied.
    """
    if isinstance(horizon, bool) or not isinstance(horizon, int) or horizon < 1:
        raise ValueError(f"horizon must be a whole number of periods >= 1, got {horizon!r}")
    if not (np.isfinite(period_length) and period_length > 0):
        raise ValueError(f"period_length must be > 0 (model time units), got {period_length}")
    if not (np.isfinite(discount_rate) and discount_rate > -1):
        raise ValueError(f"discount_rate must be > -1 (per period), got {discount_rate}")
    x = as_float_array(frequency, "frequency")
    t_x = as_float_array(recency, "recency")
    age = as_float_array(T, "T")
    check_rfm(x, t_x, age)
    spend = gamma_gamma_expected_spend(gg, x, monetary)
    ends = period_length * np.arange(1, horizon + 1, dtype=np.float64)
    # One row per period end, one column per customer: the per-period increments then come from a
    # single diff instead of a Python loop over periods.
    cumulative = bgnbd_expected_purchases(bg, ends[:, None], x, t_x, age)
    increments = np.diff(cumulative, axis=0, prepend=0.0)
    discount = (1.0 + discount_rate) ** -np.arange(1, horizon + 1, dtype=np.float64)
    value: FloatArray = spend * np.sum(discount[:, None] * increments, axis=0)
    return value
