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

import numpy as np

from crmpulse.kpis.frame import Floats, Ints
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
) -> list[Column]:
    size = ctx.slots.size
    hours = (end - start) / HOUR
    columns = _summary_columns(prefix, summarize(pairs, hours, size))
    calendar = ctx.config.calendar
    if calendar is not None:
        # window-independent: computed once per frame for every ticket
        key = ("business_hours", prefix)
        business = ctx.cache.get(key)
        if business is None:
            business = ctx.cache[key] = calendar.business_seconds_array(start, end) / HOUR
        columns += _summary_columns(f"{prefix}_business", summarize(pairs, business, size))
    return columns


def _summary_columns(prefix: str, summary: Summary) -> list[Column]:
    return [
        Column.of(f"{prefix}_mean_h", summary.mean, summary.n),
        Column.of(f"{prefix}_median_h", summary.median, summary.n),
        Column.of(f"{prefix}_p90_h", summary.p90, summary.n),
    ]


def service_columns(ctx: Context) -> list[Column]:
    """Every service KPI for every slot of the window."""
    t = ctx.frame.tickets
    size = ctx.slots.size
    slots = ctx.slots
    created = ctx.within(t.created)
    volume_pairs = slots.pairs(t.account, t.contact, mask=created)
    volume = np.bincount(volume_pairs.slot, minlength=size).astype(np.float64)
    columns = [Column.of("ticket_volume", volume, volume)]

    answered = created & ~np.isnan(t.first_response)
    columns += _duration_columns(
        ctx, "frt", slots.pairs(t.account, t.contact, mask=answered), t.created, t.first_response
    )
    closed = ctx.within(t.closed)
    columns += _duration_columns(
        ctx, "resolution", slots.pairs(t.account, t.contact, mask=closed), t.created, t.closed
    )

    before, after = _neighbours(ctx)
    window = ctx.config.recontact_days * DAY
    requester = _requesters(ctx)
    identified = requester >= 0
    repeat = (t.created - before) <= window  # NaN compares False
    base = created & identified
    base_pairs = slots.pairs(t.account, t.contact, mask=base)
    repeats: Floats = np.bincount(
        base_pairs.slot, weights=repeat[base_pairs.record].astype(np.float64), minlength=size
    ).astype(np.float64)
    base_n = np.bincount(base_pairs.slot, minlength=size).astype(np.float64)
    columns.append(Column.of("recontact_rate", ratio(repeats, base_n), base_n))

    customer_pairs = slots.pairs(t.account, None, mask=base, levels=_LEVELS_CUSTOMER)
    contacted = distinct_counts(customer_pairs, requester, size)
    per_requester = _requester_ticket_counts(customer_pairs, requester)
    more_than_once = distinct_counts(
        Pairs(customer_pairs.record[per_requester >= 2], customer_pairs.slot[per_requester >= 2]),
        requester,
        size,
    )
    present = contacted > 0
    present[slots.contact_offset :] = False
    columns.append(
        Column.of(
            "recontact_customers",
            ratio(more_than_once, contacted),
            contacted,
            present=present,
        )
    )

    elapsed = (t.closed + window) <= ctx.as_of
    eligible = closed & identified & elapsed
    fcr_pairs = slots.pairs(t.account, t.contact, mask=eligible)
    followed = after <= t.closed + window
    resolved: Floats = np.bincount(
        fcr_pairs.slot, weights=(~followed[fcr_pairs.record]).astype(np.float64), minlength=size
    ).astype(np.float64)
    fcr_n = np.bincount(fcr_pairs.slot, minlength=size).astype(np.float64)
    censored = bool(np.any(closed & identified & ~elapsed))
    columns.append(Column.of("fcr", ratio(resolved, fcr_n), fcr_n, partial=censored))
    return columns


def _requester_ticket_counts(pairs: Pairs, requester: Ints) -> Ints:
    """For every pair, how many pairs share its (slot, requester)."""
    if len(pairs.slot) == 0:
        return np.empty(0, np.int64)
    keys = pair_key(pairs.slot, requester[pairs.record])
    _, inverse, count = np.unique(keys, return_inverse=True, return_counts=True)
    return count[inverse.ravel()]
