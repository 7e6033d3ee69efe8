"""Survey KPIs over a window: NPS (+ margin of error), recommendation rate, CSAT, CSAT mean, CES.

Each distinct answer ``(kind, score, scale, direction)`` is classified once by the pure functions
of :mod:`crmpulse.kpis.surveys` (:func:`nps_bucket`, :func:`csat_point`, :func:`ces_point`), so the
vectorized values follow exactly the documented rules; counts and sums are then reduced per slot.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from crmpulse.kpis.frame import Floats
from crmpulse.kpis.groups import ratio, sums
from crmpulse.kpis.measures.base import Column, Context
from crmpulse.kpis.surveys import (
    DETRACTOR,
    INVALID,
    PASSIVE,
    PROMOTER,
    Z95,
    ces_point,
    csat_point,
    nps_bucket,
)

NPS, CSAT, CES = 0, 1, 2


def _classify(ctx: Context, rows: np.ndarray) -> tuple[Floats, Floats, Floats, Floats]:
    """Per answer in ``rows``: NPS bucket, CSAT value (NaN invalid), satisfied flag, CES value."""
    s = ctx.frame.surveys
    if len(rows) == 0:
        empty = np.empty(0)
        return empty, empty, empty, empty
    columns = (s.kind, s.score, s.scale_min, s.scale_max, s.higher_is_better)
    answers = zip(*(column[rows].astype(np.float64).tolist() for column in columns), strict=True)
    # distinct answers by a dict: np.unique over rows sorts them as opaque bytes, far slower
    seen: dict[tuple[float, ...], int] = {}
    inverse = np.fromiter(
        (seen.setdefault(answer, len(seen)) for answer in answers), np.int64, count=len(rows)
    )
    classes = list(seen)
    bucket = np.full(len(classes), np.nan)
    csat_value = np.full(len(classes), np.nan)
    satisfied = np.zeros(len(classes))
    ces_value = np.full(len(classes), np.nan)
    for i, (kind, score, low, high, better) in enumerate(classes):
        lo, hi, hib = int(low), int(high), bool(better)
        if kind == NPS:
            bucket[i] = nps_bucket(score, lo, hi)
        elif kind == CSAT:
            point = csat_point(score, lo, hi, hib, ctx.config.csat_satisfied_min)
            if point is not None:
                csat_value[i], satisfied[i] = point[0], float(point[1])
        else:
            value = ces_point(score, lo, hi, hib)
            if value is not None:
                ces_value[i] = value
    return bucket[inverse], csat_value[inverse], satisfied[inverse], ces_value[inverse]


def survey_columns(ctx: Context) -> Iterator[Column]:
    """NPS, recommendation rate, CSAT, CSAT mean and CES for every slot of the window."""
    s = ctx.frame.surveys
    size = ctx.slots.size
    in_window = ctx.within(s.answered)
    rows = np.flatnonzero(in_window)
    # answers are numbered among those of the window: per-answer values cost the window only
    pairs = ctx.slots.pairs(s.account, s.contact, mask=in_window, local=True, levels=ctx.at())
    del in_window
    bucket, csat_value, satisfied, ces_value = _classify(ctx, rows)
    kind = s.kind[rows]

    def per_slot(selected: np.ndarray, weights: Floats | None = None) -> Floats:
        if weights is None:
            counted: Floats = np.bincount(
                pairs.slot, weights=selected[pairs.record].astype(np.float64), minlength=size
            ).astype(np.float64)
            return counted
        return sums(pairs, np.where(selected, weights, 0.0), size)

    is_nps = kind == NPS
    promoters = per_slot(is_nps & (bucket == PROMOTER))
    detractors = per_slot(is_nps & (bucket == DETRACTOR))
    n = promoters + detractors + per_slot(is_nps & (bucket == PASSIVE))  # whole counts: exact
    touched = (n + per_slot(is_nps & (bucket == INVALID))) > 0
    nps = ratio(promoters - detractors, n)
    share_p = ratio(promoters, n, 1.0)
    share_d = ratio(detractors, n, 1.0)
    del detractors
    variance = np.maximum(share_p + share_d - (share_p - share_d) ** 2, 0.0)
    del share_p, share_d
    with np.errstate(invalid="ignore", divide="ignore"):
        margin = Z95 * (100 * np.sqrt(variance / n))
    del variance
    yield Column.of("nps", nps, n, present=touched, margin_of_error=margin)
    del nps, margin
    yield Column.of("recommendation_rate", ratio(promoters, n), n, present=touched)
    del promoters, n, touched

    is_csat = kind == CSAT
    valid_csat = is_csat & ~np.isnan(csat_value)
    csat_n = per_slot(valid_csat)
    csat_ok = per_slot(valid_csat & (satisfied > 0))
    csat_sum = per_slot(valid_csat, csat_value)
    csat_touched = (csat_n + per_slot(is_csat & np.isnan(csat_value))) > 0
    share = ratio(csat_ok, csat_n, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        csat_margin = Z95 * 100 * np.sqrt(share * (1 - share) / csat_n)
    yield Column.of(
        "csat", ratio(csat_ok, csat_n), csat_n, present=csat_touched, margin_of_error=csat_margin
    )
    yield Column.of("csat_mean", ratio(csat_sum, csat_n, 1.0), csat_n, present=csat_touched)
    del csat_n, csat_ok, csat_sum, csat_touched, share, csat_margin

    is_ces = kind == CES
    valid_ces = is_ces & ~np.isnan(ces_value)
    ces_n = per_slot(valid_ces)
    ces_sum = per_slot(valid_ces, ces_value)
    ces_touched = (ces_n + per_slot(is_ces & np.isnan(ces_value))) > 0
    yield Column.of("ces", ratio(ces_sum, ces_n, 1.0), ces_n, present=ces_touched)
