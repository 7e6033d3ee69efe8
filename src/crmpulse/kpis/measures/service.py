"""Service KPIs over a window: volume, first response and resolution time, FCR, recontact.

- Ticket volume counts tickets created in the window.
- First response time counts answered tickets created in the window; resolution time counts
  tickets closed in the window. Both in calendar hours and, with a business calendar, business
  hours; each as mean, median and p90. Unanswered / open tickets are right-censored (left out).
- The *requester* of a ticket is its contact, else its account; tickets with neither have no
  requester and are left out of FCR and recontact.
- Recontact rate (per ticket): tickets created in the window that follow another ticket of the
  same requester created at most ``recontact_days`` before / tickets created in the window.
- Recontact (per customer): requesters with two or more tickets created in the window /
  requesters with at least one.
- First-contact resolution: tickets closed in the window with no further ticket from the same
  requester created before ``closed + recontact_days`` / tickets closed in the window whose
  ``recontact_days`` after closing are over at ``as_of`` (the rest are censored, not counted).
- A requester's tickets created at the same instant are taken in a fixed order (first response,
  then closing, missing first, then account and contact), so which one follows the other never
  depends on the order the records arrive in.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crmpulse.kpis.frame import Bools, Codes, Floats, Integers, Ints
from crmpulse.kpis.groups import (
    Pairs,
    Summary,
    distinct_counts,
    order_by,
    pair_key,
    ratio,
    summarize,
)
from crmpulse.kpis.measures.base import DAY, HOUR, Column, Context
from crmpulse.kpis.values import Level

_LEVELS_CUSTOMER: tuple[Level, ...] = ("portfolio", "segment", "account")


def _requesters(ctx: Context) -> Codes:
    """The requester key of every ticket: contact code, else account code after the contacts."""
    t = ctx.frame.tickets
    by_account = np.where(t.account >= 0, ctx.frame.n_contacts + t.account, -1)
    return np.where(t.contact >= 0, t.contact, by_account).astype(np.int32, copy=False)


def _neighbours(ctx: Context) -> tuple[Codes, Codes]:
    """Per ticket: the requester's previous and next ticket by creation time (-1 if none).

    Window-independent, so computed once per frame; kept as 32-bit ticket numbers rather than
    two float columns of times.
    """
    cached = ctx.cache.get("ticket_neighbours")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    t = ctx.frame.tickets
    count = len(t.created)
    previous = np.full(count, -1, np.int32)
    following = np.full(count, -1, np.int32)
    if count:
        requester = _requesters(ctx)
        order = _settle_ties(ctx, requester, order_by(requester, t.created)).astype(np.int32)
        ordered = requester[order]
        del requester
        same = ordered[1:] == ordered[:-1]
        same &= ordered[1:] >= 0
        del ordered
        later, earlier = order[1:][same], order[:-1][same]
        previous[later] = earlier
        following[earlier] = later
    ctx.cache["ticket_neighbours"] = (previous, following)
    return previous, following


def _settle_ties(ctx: Context, requester: Codes, order: Ints) -> Ints:
    """``order`` with the tickets a requester created at the same instant in a fixed order.

    Which of two simultaneous tickets is the other's previous or next one must not depend on
    the order records arrive in: they are ordered by first response, closing (missing first),
    account and contact, the order the store's scan index returns them in.
    """
    t = ctx.frame.tickets
    created, owner = t.created[order], requester[order]
    same = owner[1:] == owner[:-1]
    same &= (created[1:] == created[:-1]) | (np.isnan(created[1:]) & np.isnan(created[:-1]))
    if not same.any():
        return order
    tied = np.zeros(len(order), np.bool_)
    tied[1:] |= same
    tied[:-1] |= same
    at = np.flatnonzero(tied)
    run = np.cumsum(~np.r_[False, same][at])  # ties are runs of neighbours
    tickets = order[at]
    missing_first = [
        np.nan_to_num(times[tickets], nan=-np.inf) for times in (t.first_response, t.closed)
    ]
    within = np.lexsort(
        (t.contact[tickets], t.account[tickets], missing_first[1], missing_first[0], run)
    )
    settled = order.copy()
    settled[at] = tickets[within]
    return settled


def _created_at(ctx: Context, tickets: Codes) -> Floats:
    """Creation time of ``tickets`` (NaN where the number is -1: no such ticket)."""
    created: Floats = ctx.frame.tickets.created[tickets]
    created[tickets < 0] = np.nan
    return created


def _business_hours(ctx: Context, start: Floats, end: Floats) -> Floats:
    """Business hours between ``start`` and ``end``, on the one calendar table of the frame."""
    calendar = ctx.config.calendar
    assert calendar is not None
    if "calendar_covered" not in ctx.cache:
        t = ctx.frame.tickets
        calendar.cover(t.created, t.first_response, t.closed)
        ctx.cache["calendar_covered"] = True
    hours: Floats = calendar.business_seconds_array(start, end) / HOUR
    return hours


def _duration_columns(
    ctx: Context, prefix: str, mask: Bools, start: Floats, end: Floats
) -> Iterator[Column]:
    """Mean, median and p90 of ``end - start`` over the tickets ``mask`` selects, per slot."""
    size = ctx.slots.size
    t = ctx.frame.tickets
    rows = np.flatnonzero(mask)
    pairs = ctx.slots.pairs(t.account, t.contact, mask=mask, local=True, levels=ctx.at())
    if ctx.wants(*_summary_names(prefix)):
        hours = (end[rows] - start[rows]) / HOUR
        yield from _summary_columns(prefix, summarize(pairs, hours, size))
        del hours
    business_prefix = f"{prefix}_business"
    if ctx.config.calendar is not None and ctx.wants(*_summary_names(business_prefix)):
        business = _business_hours(ctx, start[rows], end[rows])
        yield from _summary_columns(business_prefix, summarize(pairs, business, size))


def _summary_names(prefix: str) -> tuple[str, ...]:
    return (f"{prefix}_mean_h", f"{prefix}_median_h", f"{prefix}_p90_h")


def _summary_columns(prefix: str, summary: Summary) -> list[Column]:
    return [
        Column.of(f"{prefix}_mean_h", summary.mean, summary.n),
        Column.of(f"{prefix}_median_h", summary.median, summary.n),
        Column.of(f"{prefix}_p90_h", summary.p90, summary.n),
    ]


def service_columns(ctx: Context) -> Iterator[Column]:
    """Every service KPI for every slot of the window, one at a time (each is full size)."""
    t = ctx.frame.tickets
    size = ctx.slots.size
    slots = ctx.slots
    created = ctx.within(t.created)
    if ctx.wants("ticket_volume"):
        volume_pairs = slots.pairs(t.account, t.contact, mask=created, levels=ctx.at())
        volume = np.bincount(volume_pairs.slot, minlength=size).astype(np.float64)
        yield Column.of("ticket_volume", volume, volume)
        del volume, volume_pairs

    if ctx.wants(*_summary_names("frt"), *_summary_names("frt_business")):
        answered = created & ~np.isnan(t.first_response)
        yield from _duration_columns(ctx, "frt", answered, t.created, t.first_response)
        del answered
    closed = ctx.within(t.closed)
    if ctx.wants(*_summary_names("resolution"), *_summary_names("resolution_business")):
        yield from _duration_columns(ctx, "resolution", closed, t.created, t.closed)
    if not ctx.wants("recontact_rate", "recontact_customers", "fcr"):
        return

    previous, following = _neighbours(ctx)
    window = ctx.config.recontact_days * DAY
    requester = _requesters(ctx)
    identified = requester >= 0
    base = created & identified
    del created
    if ctx.wants("recontact_rate"):
        rows = np.flatnonzero(base)
        base_pairs = slots.pairs(t.account, t.contact, mask=base, local=True, levels=ctx.at())
        repeat = (t.created[rows] - _created_at(ctx, previous[rows])) <= window  # NaN: False
        repeats: Floats = np.bincount(
            base_pairs.slot, weights=repeat[base_pairs.record].astype(np.float64), minlength=size
        ).astype(np.float64)
        base_n = np.bincount(base_pairs.slot, minlength=size).astype(np.float64)
        yield Column.of("recontact_rate", ratio(repeats, base_n), base_n)
        del repeats, base_n, base_pairs, rows, repeat

    if ctx.wants("recontact_customers"):
        yield _recontact_customers(ctx, base, requester)
    del base, requester

    # FCR counts the closed tickets whose recontact window is over at as_of; the rest are
    # censored
    candidates = np.flatnonzero(closed & identified)
    del closed, identified
    elapsed = (t.closed[candidates] + window) <= ctx.as_of
    rows = candidates[elapsed]
    eligible = np.zeros(len(t.created), np.bool_)
    eligible[rows] = True
    fcr_pairs = slots.pairs(t.account, t.contact, mask=eligible, local=True, levels=ctx.at())
    del eligible
    followed = _created_at(ctx, following[rows]) <= t.closed[rows] + window
    resolved: Floats = np.bincount(
        fcr_pairs.slot, weights=(~followed[fcr_pairs.record]).astype(np.float64), minlength=size
    ).astype(np.float64)
    fcr_n = np.bincount(fcr_pairs.slot, minlength=size).astype(np.float64)
    censored = not bool(elapsed.all())
    yield Column.of("fcr", ratio(resolved, fcr_n), fcr_n, partial=censored)


def _recontact_customers(ctx: Context, base: Bools, requester: Codes) -> Column:
    t = ctx.frame.tickets
    slots = ctx.slots
    size = slots.end_of(_LEVELS_CUSTOMER)
    customer_pairs = slots.pairs(t.account, None, mask=base, levels=ctx.at(_LEVELS_CUSTOMER))
    contacted = distinct_counts(customer_pairs, requester, size)
    per_requester = _requester_ticket_counts(customer_pairs, requester)
    again = per_requester >= 2
    more_than_once = distinct_counts(
        Pairs(customer_pairs.record[again], customer_pairs.slot[again]), requester, size
    )
    return Column.of("recontact_customers", ratio(more_than_once, contacted), contacted)


def _requester_ticket_counts(pairs: Pairs, requester: Integers) -> Ints:
    """For every pair, how many pairs share its (slot, requester)."""
    if len(pairs.slot) == 0:
        return np.empty(0, np.int64)
    keys = pair_key(pairs.slot, requester[pairs.record])
    _, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    return count[inverse.ravel()]
