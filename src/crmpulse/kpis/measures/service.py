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
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crmpulse.kpis.frame import Bools, Floats, Ints
from crmpulse.kpis.groups import Pairs, Summary, distinct_counts, pair_key, ratio, summarize
from crmpulse.kpis.measures.base import DAY, HOUR, Column, Context
from crmpulse.kpis.values import Level

_LEVELS_CUSTOMER: tuple[Level, ...] = ("portfolio", "segment", "account")


def _requesters(ctx: Context) -> Ints:
    """The requester key of every ticket: contact code, else account code after the contacts."""
    t = ctx.frame.tickets
    by_account = np.where(t.account >= 0, ctx.frame.n_contacts + t.account, -1)
    return np.where(t.contact >= 0, t.contact, by_account)


def _neighbours(ctx: Context) -> tuple[Floats, Floats]:
    """Per ticket: creation time of the requester's previous and next ticket (NaN if none)."""
    cached = ctx.cache.get("ticket_neighbours")
    if cached is not None:
        return cached  # type: ignore[no-any-return]
    t = ctx.frame.tickets
    if len(t.created) == 0:
        return np.empty(0), np.empty(0)
    requester = _requesters(ctx)
    order = np.lexsort((t.created, requester))
    sorted_requester = requester[order]
    sorted_created = t.created[order]
    same_as_previous = np.r_[False, sorted_requester[1:] == sorted_requester[:-1]]
    same_as_previous &= sorted_requester >= 0
    previous = np.full(len(order), np.nan)
    previous[1:] = sorted_created[:-1]
    previous[~same_as_previous] = np.nan
    same_as_next = np.r_[same_as_previous[1:], False]
    following = np.full(len(order), np.nan)
    following[:-1] = sorted_created[1:]
    following[~same_as_next] = np.nan
    before = np.empty(len(order))
    after = np.empty(len(order))
    before[order] = previous
    after[order] = following
    ctx.cache["ticket_neighbours"] = (before, after)
    return before, after


def _duration_columns(
    ctx: Context, prefix: str, pairs: Pairs, start: Floats, end: Floats
) -> Iterator[Column]:
    size = ctx.slots.size
    if ctx.wants(*_summary_names(prefix)):
        yield from _summary_columns(prefix, summarize(pairs, (end - start) / HOUR, size))
    calendar = ctx.config.calendar
    business_prefix = f"{prefix}_business"
    if calendar is not None and ctx.wants(*_summary_names(business_prefix)):
        # window-independent: computed once per frame for every ticket
        key = ("business_hours", prefix)
        business = ctx.cache.get(key)
        if business is None:
            business = ctx.cache[key] = calendar.business_seconds_array(start, end) / HOUR
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
        volume_pairs = slots.pairs(t.account, t.contact, mask=created)
        volume = np.bincount(volume_pairs.slot, minlength=size).astype(np.float64)
        yield Column.of("ticket_volume", volume, volume)
        del volume, volume_pairs

    if ctx.wants(*_summary_names("frt"), *_summary_names("frt_business")):
        answered = created & ~np.isnan(t.first_response)
        pairs = slots.pairs(t.account, t.contact, mask=answered)
        yield from _duration_columns(ctx, "frt", pairs, t.created, t.first_response)
    closed = ctx.within(t.closed)
    if ctx.wants(*_summary_names("resolution"), *_summary_names("resolution_business")):
        pairs = slots.pairs(t.account, t.contact, mask=closed)
        yield from _duration_columns(ctx, "resolution", pairs, t.created, t.closed)
    if not ctx.wants("recontact_rate", "recontact_customers", "fcr"):
        return

    before, after = _neighbours(ctx)
    window = ctx.config.recontact_days * DAY
    requester = _requesters(ctx)
    identified = requester >= 0
    base = created & identified
    if ctx.wants("recontact_rate"):
        base_pairs = slots.pairs(t.account, t.contact, mask=base)
        record = base_pairs.record
        repeat = (t.created[record] - before[record]) <= window  # NaN compares False
        repeats: Floats = np.bincount(
            base_pairs.slot, weights=repeat.astype(np.float64), minlength=size
        ).astype(np.float64)
        base_n = np.bincount(base_pairs.slot, minlength=size).astype(np.float64)
        yield Column.of("recontact_rate", ratio(repeats, base_n), base_n)
        del repeats, base_n, base_pairs, record, repeat

    if ctx.wants("recontact_customers"):
        yield _recontact_customers(ctx, base, requester)

    elapsed = (t.closed + window) <= ctx.as_of
    eligible = closed & identified & elapsed
    fcr_pairs = slots.pairs(t.account, t.contact, mask=eligible)
    record = fcr_pairs.record
    followed = after[record] <= t.closed[record] + window
    resolved: Floats = np.bincount(
        fcr_pairs.slot, weights=(~followed).astype(np.float64), minlength=size
    ).astype(np.float64)
    fcr_n = np.bincount(fcr_pairs.slot, minlength=size).astype(np.float64)
    censored = bool(np.any(closed & identified & ~elapsed))
    yield Column.of("fcr", ratio(resolved, fcr_n), fcr_n, partial=censored)


def _recontact_customers(ctx: Context, base: Bools, requester: Ints) -> Column:
    t = ctx.frame.tickets
    slots, size = ctx.slots, ctx.slots.size
    customer_pairs = slots.pairs(t.account, None, mask=base, levels=_LEVELS_CUSTOMER)
    contacted = distinct_counts(customer_pairs, requester, size)
    per_requester = _requester_ticket_counts(customer_pairs, requester)
    again = per_requester >= 2
    more_than_once = distinct_counts(
        Pairs(customer_pairs.record[again], customer_pairs.slot[again]), requester, size
    )
    present = contacted > 0
    present[slots.contact_offset :] = False
    return Column.of(
        "recontact_customers", ratio(more_than_once, contacted), contacted, present=present
    )


def _requester_ticket_counts(pairs: Pairs, requester: Ints) -> Ints:
    """For every pair, how many pairs share its (slot, requester)."""
    if len(pairs.slot) == 0:
        return np.empty(0, np.int64)
    keys = pair_key(pairs.slot, requester[pairs.record])
    _, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    return count[inverse.ravel()]
