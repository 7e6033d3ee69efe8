"""Slots and group statistics: where each record counts, and per-group sums and quantiles.

Every group that can get a value has an integer *slot*, numbered in output order: the portfolio
(slot 0), the segments, the accounts, the contacts. A record counts in the portfolio, in its
account's segment, in its account and in its contact (see :mod:`~crmpulse.kpis.frame` for who a
record's account and contact are). :meth:`Slots.pairs` expands records into ``(record, slot)``
pairs, and the statistics below reduce values over pairs.

Sums and quantiles sort the values of each group first, so a result does not depend on the order
the records arrive in (floating-point addition is not associative; summing in sorted order makes it
deterministic for the same multiset of values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crmpulse.kpis.frame import Bools, Floats, Frame, Integers, Ints
from crmpulse.kpis.values import LEVELS, Level


@dataclass(frozen=True)
class Pairs:
    """``(record, slot)`` pairs: record ``record[i]`` counts in slot ``slot[i]``."""

    record: Ints
    slot: Integers


class Slots:
    """The slot layout of one frame."""

    def __init__(self, frame: Frame) -> None:
        self.frame = frame
        self.segment_offset = 1
        self.account_offset = 1 + len(frame.segments)
        self.contact_offset = self.account_offset + frame.n_accounts
        self.size = self.contact_offset + frame.n_contacts
        self._bounds: dict[Level, tuple[int, int]] = {
            "portfolio": (0, 1),
            "segment": (self.segment_offset, self.account_offset),
            "account": (self.account_offset, self.contact_offset),
            "contact": (self.contact_offset, self.size),
        }

    def key(self, slot: int) -> tuple[Level, str | None]:
        """``(level, entity_id)`` of a slot."""
        if slot == 0:
            return "portfolio", None
        if slot < self.account_offset:
            return "segment", self.frame.segments[slot - self.segment_offset]
        if slot < self.contact_offset:
            return "account", self.frame.account_ids[slot - self.account_offset]
        return "contact", self.frame.contact_ids[slot - self.contact_offset]

    def level_range(self, level: Level) -> tuple[int, int]:
        """The slots of one level, as ``[first, last + 1)``."""
        return self._bounds[level]

    def end_of(self, levels: Sequence[Level]) -> int:
        """The first slot after every slot of ``levels``: how long their columns must be.

        A KPI that has no contact-level value needs arrays over the first few hundred thousand
        slots, not over every contact as well.
        """
        return max(self.level_range(level)[1] for level in levels)

    def pairs(
        self,
        account: Integers,
        contact: Integers | None,
        *,
        levels: Sequence[Level] = LEVELS,
        mask: Bools | None = None,
        local: bool = False,
    ) -> Pairs:
        """The slots of the records selected by ``mask`` (all when ``None``) at ``levels``.

        With ``local``, records are numbered among the selected ones (``0`` is the first record
        ``mask`` selects), so per-record values need only be computed for those.
        """
        index = np.arange(len(account)) if mask is None else np.flatnonzero(mask)
        number = np.arange(len(index)) if local else index
        records: list[Ints] = []
        slots: list[Integers] = []
        accounts = account[index]
        if "portfolio" in levels:
            records.append(number)
            slots.append(np.zeros(len(index), np.int64))
        has_account = accounts >= 0
        if "segment" in levels and len(self.frame.segments):
            segment = np.full(len(index), -1, np.int64)
            segment[has_account] = self.frame.account_segment[accounts[has_account]]
            keep = segment >= 0
            records.append(number[keep])
            slots.append(self.segment_offset + segment[keep])
        if "account" in levels:
            records.append(number[has_account])
            slots.append(self.account_offset + accounts[has_account])
        if "contact" in levels and contact is not None:
            contacts = contact[index]
            keep = contacts >= 0
            records.append(number[keep])
            slots.append(self.contact_offset + contacts[keep])
        if not records:
            return Pairs(np.empty(0, np.int64), np.empty(0, np.int64))
        return Pairs(np.concatenate(records), np.concatenate(slots))

    def account_pairs(self, mask: Bools, *, levels: Sequence[Level]) -> Pairs:
        """Slots of the accounts selected by ``mask`` (for account-level facts)."""
        codes = np.arange(self.frame.n_accounts)
        return self.pairs(codes, None, levels=levels, mask=mask)


def counts(pairs: Pairs, size: int, weights: npt.NDArray[np.float64] | None = None) -> Floats:
    """Per-slot count of pairs (or sum of per-record ``weights``, summed in sorted order)."""
    if weights is None:
        counted: Floats = np.bincount(pairs.slot, minlength=size).astype(np.float64)
        return counted
    return sums(pairs, weights, size)


def sums(pairs: Pairs, values: Floats, size: int) -> Floats:
    """Per-slot sum of per-record ``values``, deterministic whatever the record order."""
    out = np.zeros(size, np.float64)
    if len(pairs.slot) == 0:
        return out
    slot, value = _sorted(pairs, values)
    starts = _run_starts(slot)
    out[slot[starts]] = np.add.reduceat(value, starts)
    return out


def slot_means(pairs: Pairs, values: Floats, size: int) -> tuple[Floats, Floats]:
    """Per-slot mean of per-record ``values`` and the count it is over (NaN mean where 0)."""
    n = counts(pairs, size)
    return ratio(sums(pairs, values, size), n, 1.0), n


def _sorted(pairs: Pairs, values: Floats) -> tuple[Integers, Floats]:
    """The pairs' slots and values, ordered by slot and, within a slot, by value."""
    count = len(values)
    if count > 2 * len(pairs.record):
        # a few pairs over many records: sort the pairs' own values, then stably by slot
        value = values[pairs.record]
        by_value = np.argsort(value)
        order = by_value[np.argsort(pairs.slot[by_value], kind="stable")]
        return pairs.slot[order], value[order]
    # Each record counts in up to four slots: rank the records by value once, then sort one
    # integer per pair, slot * count + rank (an integer sort is several times faster than
    # sorting the pairs' values and then their slots)
    by_value = np.argsort(values)
    rank = np.empty(count, np.int64)
    rank[by_value] = np.arange(count)
    key = pairs.slot.astype(np.int64) * count + rank[pairs.record]
    del rank
    key.sort()
    slot = key // max(count, 1)
    key -= slot * count
    return slot, values[by_value[key]]


@dataclass(frozen=True)
class Summary:
    """Per-slot count, mean, median and 90th percentile of a duration or amount."""

    n: Floats
    mean: Floats
    median: Floats
    p90: Floats


def summarize(pairs: Pairs, values: Floats, size: int) -> Summary:
    """Count, mean, median and p90 per slot; NaN where a slot has no values.

    Quantiles interpolate linearly between order statistics (position ``q * (n - 1)``, numpy's
    default), so the median of an even count is the mean of the two middle values.
    """
    n = np.zeros(size, np.float64)
    mean = np.full(size, np.nan)
    median = np.full(size, np.nan)
    p90 = np.full(size, np.nan)
    if len(pairs.slot) == 0:
        return Summary(n, mean, median, p90)
    slot, value = _sorted(pairs, values)
    starts = _run_starts(slot)
    group = slot[starts]
    count = np.diff(starts, append=len(slot))
    n[group] = count
    mean[group] = np.add.reduceat(value, starts) / count
    median[group] = _quantile(value, starts, count, 0.5)
    p90[group] = _quantile(value, starts, count, 0.9)
    return Summary(n, mean, median, p90)


def _run_starts(slot: Integers) -> Ints:
    """Where each run of equal slots begins in a sorted, non-empty slot array."""
    change = np.empty(len(slot), np.bool_)
    change[0] = True
    np.not_equal(slot[1:], slot[:-1], out=change[1:])
    starts: Ints = np.flatnonzero(change)
    return starts


def _quantile(value: Floats, starts: Ints, count: Ints, q: float) -> Floats:
    position = q * (count - 1)
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, count - 1)
    fraction = position - low
    below = value[starts + low]
    above = value[starts + high]
    result: Floats = below + (above - below) * fraction
    return result


def distinct_counts(pairs: Pairs, keys: Integers, size: int) -> Floats:
    """Per-slot number of distinct ``keys`` among the slot's records."""
    if len(pairs.slot) == 0:
        return np.zeros(size, np.float64)
    combined = distinct(pair_key(pairs.slot, keys[pairs.record]))
    counted: Floats = np.bincount(combined // _KEY_SPAN, minlength=size).astype(np.float64)
    return counted


def distinct(keys: Ints) -> Ints:
    """The distinct values of ``keys``, ascending (what ``np.unique`` returns).

    Sorting and keeping the first of each run: numpy's sort of 64-bit integers is vectorized,
    while ``np.unique`` hashes, which for a million codes packed as ``pair_key`` was two orders
    of magnitude slower here.
    """
    ordered = np.sort(keys)
    if len(ordered) == 0:
        return ordered
    keep = np.empty(len(ordered), np.bool_)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def order_by(groups: Integers, values: Floats) -> Ints:
    """The order that sorts by ``groups``, then by ``values``, ties kept in index order.

    The same permutation as ``np.lexsort((values, groups))``: records are ranked by value once,
    then one integer per record, group * count + rank, is sorted (much faster than a lexsort).
    """
    count = len(values)
    by_value = np.argsort(values, kind="stable")
    rank = np.empty(count, np.int64)
    rank[by_value] = np.arange(count)
    key = groups.astype(np.int64) * count + rank
    del rank
    key.sort()
    key -= (key // max(count, 1)) * count
    order: Ints = by_value[key]
    return order


_KEY_SPAN = 1 << 31


def pair_key(high: Integers, low: Integers) -> Ints:
    """One sortable int64 per ``(high, low)`` pair of non-negative codes below 2**31.

    Sorting one integer column is many times faster than sorting rows of two.
    """
    return high.astype(np.int64) * _KEY_SPAN + low.astype(np.int64)


def ratio(numerator: Floats, denominator: Floats, scale: float = 100.0) -> Floats:
    """``scale * numerator / denominator``; NaN where the denominator is 0 (undefined)."""
    out = np.full(len(numerator), np.nan)
    ok = denominator > 0
    out[ok] = scale * numerator[ok] / denominator[ok]
    return out
