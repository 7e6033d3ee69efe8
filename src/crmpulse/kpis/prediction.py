"""Probabilistic customer-base models: churn risk and expected future value.

Which model for what:

- **Non-contractual repeat buying** (orders, bookings: customers leave without telling us):
  BG/NBD for the number of transactions (Fader, Hardie & Lee 2005, "Counting Your Customers the
  Easy Way", Marketing Science 24(2)) and Gamma-Gamma for the value per transaction (Fader, Hardie
  & Lee 2005, JMR 42(4); Fader & Hardie, brucehardie.com/notes/025). Churn risk is
  1 - :func:`bgnbd_p_alive`; :func:`bgnbd_expected_purchases` forecasts transactions and
  :func:`expected_value` discounts their expected value over a horizon (a model-based CLV).
- **Contractual cohorts** (subscriptions, renewals: churn is observed): the shifted-beta-geometric
  model (Fader & Hardie 2007, "How to Project Customer Retention", J. Interactive Marketing 21(1))
  projects a cohort's survival curve and gives each customer's churn risk for the next period.

Units. BG/NBD inputs (``recency`` t_x, age ``T``, forecast horizon ``t``) share one time unit that
the caller picks (the papers use weeks; crmpulse uses days or months) and the fitted ``alpha`` is in
that unit, so parameters fitted in days must be used with days. Monetary values and Gamma-Gamma's
``v`` are in the data's currency. In :func:`expected_value` ``period_length`` converts the model
unit into discounting periods and ``discount_rate`` is per such period. sBG counts whole contract
periods.

All functions are pure and vectorized over customers (numpy arrays in, numpy arrays out); fitting
merges identical customer histories first, so hundreds of thousands of customers fit in about a
second. Invalid inputs raise ``ValueError`` naming the argument.
"""

from __future__ import annotations

from crmpulse.kpis.prediction_bgnbd import (
    BgNbdParams,
    bgnbd_expected_purchases,
    bgnbd_fit,
    bgnbd_log_likelihood,
    bgnbd_p_alive,
)
from crmpulse.kpis.prediction_sbg import (
    SbgParams,
    sbg_churn_probability,
    sbg_fit,
    sbg_fit_individual,
    sbg_p_churn_next,
    sbg_retention,
    sbg_survival,
)
from crmpulse.kpis.prediction_spend import (
    GammaGammaParams,
    expected_value,
    gamma_gamma_expected_spend,
    gamma_gamma_fit,
)

__all__ = [
    "BgNbdParams",
    "GammaGammaParams",
    "SbgParams",
    "bgnbd_expected_purchases",
    "bgnbd_fit",
    "bgnbd_log_likelihood",
    "bgnbd_p_alive",
    "expected_value",
    "gamma_gamma_expected_spend",
    "gamma_gamma_fit",
    "sbg_churn_probability",
    "sbg_fit",
    "sbg_fit_individual",
    "sbg_p_churn_next",
    "sbg_retention",
    "sbg_survival",
]
