"""Retention KPIs over a window, at portfolio and segment level (accounts are the customers).

- A customer is *active* at instant t when ``became_customer_at <= t`` and it has not churned by
  t (``churned_at`` missing or after t).
- Starting cohort S = customers active at the window start (became customer before it).
- ``retention_rate`` = S still active at the end / S; ``churn_rate`` = S lost by the end / S.
- ``early_churn_rate`` = customers won in the window and lost in it / customers won in it.
- ``customers_active`` = customers active at the end of the window (a count).
- Revenue retention uses trailing revenue R(a, t) = won deal amounts of account a closed in
  ``[t - revenue_window_days, t)``. Cohort = S with R(a, start) > 0; a churned account's
  R(a, end) is 0. ``grr`` = sum(min(R_end, R_start)) / sum(R_start); ``nrr`` = sum(R_end) /
  sum(R_start) (expansion included, so it may exceed 100).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crmpulse.kpis.frame import Bools, Floats
from crmpulse.kpis.groups import counts, order_by, ratio, sums
from crmpulse.kpis.measures.base import DAY, Column, Context
from crmpulse.kpis.values import Level

LEVELS: tuple[Level, ...] = ("portfolio", "segment")


def active_at(ctx: Context, moment: float) -> Bools:
    """Accounts that are active customers at ``moment``."""
    f = ctx.frame
    since = f.account_customer_since
    churned = f.account_churned
    return (since <= moment) & ~(churned <= moment)


def account_revenue(ctx: Context, moment: float) -> Floats:
    """Per account: won deal amounts closed in the trailing revenue window before ``moment``."""
    d = ctx.frame.deals
    window = ctx.config.revenue_window_days * DAY
    won = d.is_won & (d.closed >= moment - window) & (d.closed < moment) & (d.account >= 0)
    won &= ~np.isnan(d.amount)
    account, amount = d.account[won], d.amount[won]
    # summed per account in ascending order: the same total whatever order deals arrive in
    order = order_by(account, amount)
    revenue: Floats = np.bincount(
        account[order], weights=amount[order], minlength=ctx.frame.n_accounts
    ).astype(np.float64)
    return revenue


def retention_columns(ctx: Context) -> Iterator[Column]:
    """Retention, churn, early churn, active customers, GRR and NRR, one at a time."""
    f = ctx.frame
    size = ctx.slots.end_of(LEVELS)
    start_active = (f.account_customer_since < ctx.start) & ~(f.account_churned < ctx.start)
    end_active = active_at(ctx, ctx.end)
    still = start_active & ~(f.account_churned < ctx.end)
    won = ctx.within(f.account_customer_since)
    lost_won = won & (f.account_churned < ctx.end)

    def tally(mask: Bools) -> Floats:
        pairs = ctx.slots.account_pairs(mask, levels=LEVELS)
        return counts(pairs, size)

    cohort = tally(start_active)
    kept = tally(still)
    present = _aggregates(ctx, size)
    yield Column.of("customers_active", tally(end_active), tally(end_active), present=present)
    yield Column.of("retention_rate", ratio(kept, cohort), cohort, present=present)
    yield Column.of("churn_rate", ratio(cohort - kept, cohort), cohort, present=present)
    won_n = tally(won)
    yield Column.of("early_churn_rate", ratio(tally(lost_won), won_n), won_n, present=present)

    start_revenue = account_revenue(ctx, ctx.start)
    end_revenue = np.where(f.account_churned < ctx.end, 0.0, account_revenue(ctx, ctx.end))
    base = start_active & (start_revenue > 0)
    pairs = ctx.slots.account_pairs(base, levels=LEVELS)
    base_sum = sums(pairs, start_revenue, size)
    kept_sum = sums(pairs, np.minimum(start_revenue, end_revenue), size)
    end_sum = sums(pairs, end_revenue, size)
    base_n = counts(pairs, size)
    # at most 100 by construction; 100 * x / x can round to 100.00000000000001
    grr = np.minimum(ratio(kept_sum, base_sum), 100.0)
    yield Column.of("grr", grr, base_n, present=present)
    yield Column.of("nrr", ratio(end_sum, base_sum), base_n, present=present)


def _aggregates(ctx: Context, size: int) -> Bools:
    """Rows for the portfolio and every segment, even without customers (then undefined)."""
    shown = np.zeros(size, np.bool_)
    first, last = ctx.slots.level_range("segment")
    shown[first:last] = True
    shown[0] = True
    return shown
