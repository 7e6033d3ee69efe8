"""Revenue KPIs over a window: revenue won, average ticket, conversion, LTV.

- ``revenue_won`` = amounts of deals won with ``closed_at`` in the window (deals without an
  amount are left out); ``avg_ticket_sale`` = revenue_won / those deals; ``avg_ticket_customer`` =
  revenue_won of deals with an account / distinct accounts among them.
- ``conversion_rate`` (cohort form): contacts whose ``became_lead_at`` is in the window and whose
  ``became_customer_at`` follows within ``conversion_days`` (and before ``as_of``) / those
  contacts. A window whose cohort can still convert at ``as_of`` is partial.
- ``ltv`` = ARPA * gross_margin / monthly churn, in the deals' currency: ARPA = trailing revenue
  (``revenue_window_days``) / months of that window / active customers; monthly churn from the
  share of customers active one revenue window before the end who churned by the end,
  ``1 - (1 - share)^(1/months)``. At account level ARPA is the account's own, churn its segment's
  (the portfolio's without a segment). Churn 0 makes LTV undefined (an infinite lifetime).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crmpulse.kpis.frame import Floats
from crmpulse.kpis.groups import counts, distinct_counts, ratio, sums
from crmpulse.kpis.measures.base import DAY, Column, Context, model
from crmpulse.kpis.measures.retention import account_revenue, active_at
from crmpulse.kpis.values import Level

_MONTH_DAYS = 365.25 / 12
_CUSTOMER_LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account")


def revenue_columns(ctx: Context) -> Iterator[Column]:
    """Revenue won, average tickets, conversion and LTV for every slot of the window."""
    d = ctx.frame.deals
    size = ctx.slots.end_of(_CUSTOMER_LEVELS)
    sold = d.is_won & ctx.within(d.closed) & ~np.isnan(d.amount)
    pairs = ctx.slots.pairs(d.account, None, mask=sold, levels=_CUSTOMER_LEVELS)
    revenue = sums(pairs, d.amount, size)
    sales = counts(pairs, size)
    yield Column.of("revenue_won", np.where(sales > 0, revenue, np.nan), sales)
    yield Column.of("avg_ticket_sale", ratio(revenue, sales, 1.0), sales)
    del pairs, revenue, sales
    attributed = sold & (d.account >= 0)
    aggregates: tuple[Level, ...] = ("portfolio", "segment")
    customer_pairs = ctx.slots.pairs(d.account, None, mask=attributed, levels=aggregates)
    size = ctx.slots.end_of(aggregates)
    customers = distinct_counts(customer_pairs, d.account, size)
    customer_revenue = sums(customer_pairs, d.amount, size)
    yield Column.of("avg_ticket_customer", ratio(customer_revenue, customers, 1.0), customers)
    del customer_pairs, customers, customer_revenue
    yield _conversion(ctx)
    yield _ltv(ctx)


def _conversion(ctx: Context) -> Column:
    f = ctx.frame
    size = ctx.slots.end_of(_CUSTOMER_LEVELS)
    leads = ctx.within(f.contact_lead_since)
    delay = f.contact_customer_since - f.contact_lead_since
    window = ctx.config.conversion_days * DAY
    converted = (delay >= 0) & (delay <= window) & (f.contact_customer_since <= ctx.as_of)
    pairs = ctx.slots.pairs(f.contact_account, None, mask=leads, levels=_CUSTOMER_LEVELS)
    n = counts(pairs, size)
    hits: Floats = np.bincount(
        pairs.slot, weights=converted[pairs.record].astype(np.float64), minlength=size
    ).astype(np.float64)
    maturing = ctx.end + window > ctx.as_of
    return Column.of("conversion_rate", ratio(hits, n), n, partial=maturing)


def _ltv(ctx: Context) -> Column:
    f = ctx.frame
    slots = ctx.slots
    size = slots.end_of(_CUSTOMER_LEVELS)
    window_days = ctx.config.revenue_window_days
    months = window_days / _MONTH_DAYS
    revenue = account_revenue(ctx, ctx.end)
    active = active_at(ctx, ctx.end)
    levels: tuple[Level, ...] = ("portfolio", "segment")
    active_pairs = slots.account_pairs(active, levels=levels)
    active_n = np.bincount(active_pairs.slot, minlength=size).astype(np.float64)
    arpa = ratio(sums(active_pairs, revenue, size), active_n, 1.0) / months

    def monthly_churn() -> Floats:
        earlier = active_at(ctx, ctx.end - window_days * DAY)
        lost = earlier & (f.account_churned < ctx.end)
        pairs = slots.account_pairs(earlier, levels=levels)
        base = counts(pairs, size)
        lost_n: Floats = np.bincount(
            pairs.slot, weights=lost[pairs.record].astype(np.float64), minlength=size
        ).astype(np.float64)
        rate: Floats = 1 - (1 - ratio(lost_n, base, 1.0)) ** (1 / months)
        rate[rate <= 0] = np.nan
        return rate[: slots.account_offset]

    cached = model(ctx, "monthly_churn", monthly_churn)
    monthly = np.full(size, np.nan)
    if cached is not None:
        monthly[: slots.account_offset] = cached
    value = arpa * ctx.config.gross_margin / monthly
    first, last = slots.level_range("account")
    accounts = np.arange(f.n_accounts)
    segment = f.account_segment
    churn_of_account = np.where(
        segment >= 0, monthly[slots.segment_offset + np.maximum(segment, 0)], monthly[0]
    )
    own_arpa = np.where(active, revenue / months, np.nan)
    value[first:last] = own_arpa * ctx.config.gross_margin / churn_of_account
    n = active_n.copy()
    n[first:last] = active.astype(np.float64)
    present = np.zeros(size, np.bool_)
    present[: slots.account_offset] = True
    present[first + accounts[active]] = True
    return Column.of("ltv", value, n, present=present)
