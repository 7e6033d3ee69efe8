"""Prediction KPIs: churn risk and expected value per customer, projected retention per cohort.

Non-contractual view (BG/NBD + Gamma-Gamma, :mod:`crmpulse.kpis.prediction`): an account's
transactions are its won deals, one per day (deals won on the same day are one purchase of their
summed amount), up to the end of the window; time in weeks. Fitted on every account with a
purchase, then per account: ``churn_risk`` = 100 * (1 - P(alive)) and ``expected_value_12m`` =
expected discounted revenue over the next ``prediction_horizon_months`` months (monthly discount
``discount_rate_monthly``). Accounts that churned by the end are left out (their loss is known).

Contractual view (shifted-beta-geometric): every customer's tenure in months and whether it
churned give the sBG fit; ``projected_retention_12m`` = mean over active customers of
S(t + 12) / S(t), the model's chance that a customer of tenure t is still a customer in a year.

Models are refitted per window end; with too little data (fewer than ``MIN_CUSTOMERS`` buyers, no
repeat buyer) the values are undefined rather than guessed.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import structlog

from crmpulse.kpis import prediction
from crmpulse.kpis.frame import Floats
from crmpulse.kpis.groups import counts, pair_key, slot_means
from crmpulse.kpis.measures.base import DAY, Column, Context, model
from crmpulse.kpis.measures.retention import active_at
from crmpulse.kpis.values import Level

log = structlog.get_logger("crmpulse.kpis")

MIN_CUSTOMERS = 20
_WEEK_DAYS = 7.0
_MONTH_DAYS = 365.25 / 12
_LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account")


def _purchases(ctx: Context) -> tuple[np.ndarray, Floats, Floats, Floats, Floats, Floats]:
    """Accounts with purchases: frequency, recency, age (weeks), repeat spend, first spend."""
    d = ctx.frame.deals
    won = d.is_won & (d.closed < ctx.end) & (d.account >= 0) & ~np.isnan(d.amount)
    account = d.account[won]
    day = np.floor(d.closed[won] / DAY).astype(np.int64)
    day_offset = day.min() if len(day) else 0
    combined, inverse = np.unique(pair_key(account, day - day_offset), return_inverse=True)
    keys = np.stack([combined // (1 << 31), combined % (1 << 31) + day_offset])
    if not won.any():
        empty = np.empty(0)
        return np.empty(0, np.int64), empty, empty, empty, empty, empty
    amount = np.bincount(inverse.ravel(), weights=d.amount[won], minlength=keys.shape[1]).astype(
        np.float64
    )
    buyer, first_index, per_buyer = np.unique(keys[0], return_index=True, return_counts=True)
    last_index = first_index + per_buyer - 1
    end_day = ctx.end / DAY
    first_day = keys[1][first_index].astype(np.float64)
    frequency = (per_buyer - 1).astype(np.float64)
    recency = (keys[1][last_index] - keys[1][first_index]) / _WEEK_DAYS
    age = (end_day - first_day) / _WEEK_DAYS
    repeat_total = np.add.reduceat(amount, first_index) - amount[first_index]
    monetary = np.divide(
        repeat_total, frequency, out=np.zeros(len(repeat_total)), where=frequency > 0
    )
    return buyer, frequency, recency, age, monetary, amount[first_index].astype(np.float64)


def _fit(ctx: Context) -> tuple[np.ndarray, Floats, Floats] | None:
    key = ("prediction", ctx.end)
    if key in ctx.cache:
        return ctx.cache[key]  # type: ignore[no-any-return]
    buyer, frequency, recency, age, monetary, first_spend = _purchases(ctx)

    def fit_bgnbd() -> prediction.BgNbdParams:
        if len(buyer) < MIN_CUSTOMERS or (frequency > 0).sum() < 2:
            raise ValueError(f"{len(buyer)} buyers, {(frequency > 0).sum()} repeat buyers")
        rows, weights = _compress(frequency, recency, age)
        return prediction.bgnbd_fit(rows[0], rows[1], rows[2], weights=weights)

    bg = model(ctx, "bgnbd", fit_bgnbd)
    result: tuple[np.ndarray, Floats, Floats] | None = None
    if bg is not None and len(buyer):
        alive = prediction.bgnbd_p_alive(bg, frequency, recency, age)
        purchases = _discounted_purchases(ctx, bg, frequency, recency, age)
        spend = _spend(ctx, frequency, monetary, first_spend)
        result = (buyer, 100 * (1 - alive), purchases * spend)
    ctx.cache[key] = result
    return result


def _discounted_purchases(
    ctx: Context, bg: prediction.BgNbdParams, frequency: Floats, recency: Floats, age: Floats
) -> Floats:
    """Sum over the next months of expected purchases in month i / (1 + discount)^i."""
    month = _MONTH_DAYS / _WEEK_DAYS
    months = ctx.config.prediction_horizon_months
    # every horizon at once (one row each): the same numbers as one call per month, in one pass
    horizons = np.array([i * month for i in range(1, months + 1)])[:, None]
    expected = prediction.bgnbd_expected_purchases(bg, horizons, frequency, recency, age)
    total = np.zeros(len(frequency))
    before = np.zeros(len(frequency))
    for i, by_now in enumerate(expected.reshape(months, len(frequency)), start=1):
        total += (by_now - before) / (1 + ctx.config.discount_rate_monthly) ** i
        before = by_now
    return total


def _spend(ctx: Context, frequency: Floats, monetary: Floats, first_spend: Floats) -> Floats:
    """Expected spend per purchase: Gamma-Gamma's conditional mean, else the observed mean.

    Gamma-Gamma needs the spread of spend across customers to have a finite mean (q > 1); a
    portfolio mixing very different deal sizes can fail that, and then each account's own mean
    purchase (first one included) is the honest estimate.
    """
    repeaters = frequency > 0
    observed = np.where(
        repeaters, (monetary * frequency + first_spend) / (frequency + 1), first_spend
    )

    def fit_gamma_gamma() -> prediction.GammaGammaParams:
        params = prediction.gamma_gamma_fit(frequency[repeaters], monetary[repeaters])
        if params.q <= 1:
            raise ValueError(f"Gamma-Gamma q = {params.q:.3f} <= 1: mean spend undefined")
        return params

    gg = model(ctx, "gamma_gamma", fit_gamma_gamma, level="info")
    if gg is None:
        return observed
    spend: Floats = prediction.gamma_gamma_expected_spend(gg, frequency, monetary)
    return spend


def _compress(frequency: Floats, recency: Floats, age: Floats) -> tuple[Floats, Floats]:
    rows = np.stack([frequency, np.round(recency * 7) / 7, np.round(age * 7) / 7])
    unique, counts = np.unique(rows, axis=1, return_counts=True)
    return unique, counts.astype(np.float64)


def prediction_columns(ctx: Context) -> Iterator[Column]:
    """``churn_risk``, ``expected_value_12m`` and ``projected_retention_12m``."""
    f = ctx.frame
    size = ctx.slots.end_of(_LEVELS)
    fitted = _fit(ctx)
    not_churned = ~(f.account_churned < ctx.end)
    risk = np.full(f.n_accounts, np.nan)
    value = np.full(f.n_accounts, np.nan)
    if fitted is not None:
        buyer, buyer_risk, buyer_value = fitted
        risk[buyer] = buyer_risk
        value[buyer] = buyer_value
    modelled = ~np.isnan(risk) & not_churned
    pairs = ctx.slots.account_pairs(modelled, levels=_LEVELS)
    for name, per_account in (("churn_risk", risk), ("expected_value_12m", value)):
        mean, n = slot_means(pairs, np.nan_to_num(per_account), size)
        yield Column.of(name, mean, n)
    yield _projected_retention(ctx)


def _projected_retention(ctx: Context) -> Column:
    f = ctx.frame
    levels: tuple[Level, ...] = ("portfolio", "segment")
    size = ctx.slots.end_of(levels)
    since = f.account_customer_since
    customer = since < ctx.end
    ended = np.where(f.account_churned < ctx.end, f.account_churned, ctx.end)
    tenure = np.floor((ended - since) / (_MONTH_DAYS * DAY))
    churned = customer & (f.account_churned < ctx.end)
    active = active_at(ctx, ctx.end)
    pairs = ctx.slots.account_pairs(active, levels=levels)
    n = counts(pairs, size)
    value = np.full(size, np.nan)

    def fit_sbg() -> prediction.SbgParams:
        if customer.sum() < MIN_CUSTOMERS or not churned.any():
            raise ValueError(f"{customer.sum()} customers, {churned.sum()} churned")
        periods = np.maximum(tenure[customer], 0).astype(np.int64)
        # sBG counts churn in the period it happens: a customer lost during its first month
        # churned in period 1.
        return prediction.sbg_fit_individual(periods + churned[customer], ~churned[customer])

    params = model(ctx, "sbg", fit_sbg)
    if params is not None:
        t = np.maximum(np.nan_to_num(tenure), 0)
        ahead = prediction.sbg_survival(params, t + 12) / prediction.sbg_survival(params, t)
        value, n = slot_means(pairs, 100 * np.nan_to_num(ahead), size)
    return Column.of("projected_retention_12m", value, n)
