"""Survey KPIs: NPS, CSAT and CES, as pure functions over answers.

Every result is computed from counts of answers at full precision; nothing is rounded here (round
once, at display). An empty denominator gives ``value=None`` (undefined), never 0. Answers that are
not valid for the KPI (out of scale, not a whole number for NPS, NaN) are left out of ``n`` and
counted in ``invalid``.

The engine aggregates answers as histograms, ``{(score, scale_min, scale_max, higher_is_better):
count}``: histograms add up exactly across contacts, accounts and segments, and a result computed
from a histogram does not depend on the order the answers arrived in (sums use :func:`math.fsum`,
which is exactly rounded and therefore order-independent). The plain functions (:func:`nps`,
:func:`csat`, :func:`ces`) build such a histogram and share the same arithmetic.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

Z95 = 1.96
"""Two-sided 95 % normal quantile used for margins of error."""

ScaledScore = tuple[float, int, int, bool]
"""One answer's ``(score, scale_min, scale_max, higher_is_better)``."""

Histogram = Mapping[ScaledScore, int]
"""Answer -> how many times it was given."""


def _is_valid(score: float, scale_min: int, scale_max: int) -> bool:
    return scale_min < scale_max and scale_min <= score <= scale_max  # NaN fails both tests


def _histogram(
    scores: Iterable[float], scale_min: int, scale_max: int, higher_is_better: bool = True
) -> Counter[ScaledScore]:
    return Counter((float(score), scale_min, scale_max, higher_is_better) for score in scores)


# --------------------------------------------------------------------------------------------- NPS


@dataclass(frozen=True)
class NpsResult:
    """Net Promoter Score of a set of 0-10 answers.

    ``value`` = 100 * (promoters - detractors) / n, in points on -100..100 (NPS is not a
    percentage). ``standard_error`` = 100 * sqrt((pP + pD - (pP - pD)^2) / n) and
    ``margin_of_error`` = 1.96 * ``standard_error`` (95 %), both in points.
    """

    value: float | None
    n: int
    promoters: int
    passives: int
    detractors: int
    standard_error: float | None
    margin_of_error: float | None
    invalid: int = 0


def nps_from_counts(
    promoters: int, passives: int, detractors: int, *, invalid: int = 0
) -> NpsResult:
    """NPS from the three group counts (promoters 9-10, passives 7-8, detractors 0-6).

    Formula: NPS = 100 * (P - D) / (P + Pa + D); passives count in the denominator only.
    Per-answer variance of the {+1, 0, -1} coding is pP + pD - (pP - pD)^2, so
    SE = 100 * sqrt(var / n) and MOE95 = 1.96 * SE.
    """
    if min(promoters, passives, detractors, invalid) < 0:
        raise ValueError("counts must not be negative")
    n = promoters + passives + detractors
    if n == 0:
        return NpsResult(None, 0, 0, 0, 0, None, None, invalid)
    p_promoters = promoters / n
    p_detractors = detractors / n
    value = 100 * (promoters - detractors) / n
    variance = max(p_promoters + p_detractors - (p_promoters - p_detractors) ** 2, 0.0)
    standard_error = 100 * math.sqrt(variance / n)
    return NpsResult(
        value=value,
        n=n,
        promoters=promoters,
        passives=passives,
        detractors=detractors,
        standard_error=standard_error,
        margin_of_error=Z95 * standard_error,
        invalid=invalid,
    )


PROMOTER, PASSIVE, DETRACTOR, INVALID = 0, 1, 2, 3
"""Indexes of :func:`nps_bucket`."""


def nps_bucket(score: float, scale_min: int = 0, scale_max: int = 10) -> int:
    """Which NPS group an answer is in: :data:`PROMOTER` (9-10), :data:`PASSIVE` (7-8),
    :data:`DETRACTOR` (0-6) or :data:`INVALID` (not a whole number on a 0..10 scale).

    Boundaries are inclusive: 6 is a detractor, 7 a passive, 9 a promoter.
    """
    if scale_min != 0 or scale_max != 10 or not _is_valid(score, 0, 10) or score % 1:
        return INVALID
    if score >= 9:
        return PROMOTER
    if score >= 7:
        return PASSIVE
    return DETRACTOR


def nps_from_histogram(answers: Histogram) -> NpsResult:
    """NPS from a histogram of answers (see :func:`nps_bucket` for the groups)."""
    counts = [0, 0, 0, 0]
    for (score, scale_min, scale_max, _), count in answers.items():
        counts[nps_bucket(score, scale_min, scale_max)] += count
    return nps_from_counts(
        counts[PROMOTER], counts[PASSIVE], counts[DETRACTOR], invalid=counts[INVALID]
    )


def nps(scores: Iterable[float]) -> NpsResult:
    """NPS of raw 0-10 answers, e.g. ``nps([3, 4, 5, 6, 8, 8, 8, 9, 10, 10]).value == -10``."""
    return nps_from_histogram(_histogram(scores, 0, 10))


# -------------------------------------------------------------------------------------------- CSAT


@dataclass(frozen=True)
class CsatResult:
    """Customer satisfaction of a set of answers, on a reporting scale (1..5 by default).

    ``value`` = 100 * satisfied / n, the "% satisfied" (top-2-box on 1-5 with the default
    threshold 4); ``mean`` = the mean answer on the reporting scale. ``margin_of_error`` is the
    95 % normal-approximation margin of ``value``, 1.96 * 100 * sqrt(p (1 - p) / n), in
    percentage points.
    """

    value: float | None
    mean: float | None
    n: int
    satisfied: int
    satisfied_min: float
    scale_min: int
    scale_max: int
    margin_of_error: float | None
    invalid: int = 0


def csat_point(
    score: float,
    low: int,
    high: int,
    higher_is_better: bool,
    satisfied_min: float = 4,
    *,
    scale_min: int = 1,
    scale_max: int = 5,
) -> tuple[float, bool] | None:
    """One CSAT answer on ``low..high`` as ``(value on the reporting scale, satisfied)``.

    ``None`` when the answer is invalid (outside its scale). Answers on another scale than the
    reporting one are mapped linearly onto it (a reversed scale is flipped first); satisfied
    means the reporting-scale value is >= ``satisfied_min``.
    """
    if not _is_valid(score, low, high):
        return None
    if low == scale_min and high == scale_max:
        rescaled = score if higher_is_better else low + high - score
        return rescaled, rescaled >= satisfied_min
    offset = score - low if higher_is_better else high - score
    span = scale_max - scale_min
    # cross-multiplied so an answer exactly on the threshold is not lost to rounding
    satisfied = offset * span >= (satisfied_min - scale_min) * (high - low)
    return scale_min + offset * span / (high - low), satisfied


def csat_from_sums(
    n: int,
    satisfied: int,
    score_sum: float,
    satisfied_min: float = 4,
    *,
    scale_min: int = 1,
    scale_max: int = 5,
    invalid: int = 0,
) -> CsatResult:
    """CSAT from its sufficient statistics.

    Formulas: CSAT = 100 * satisfied / n; mean = score_sum / n, where ``score_sum`` is the sum
    of the n answers on the reporting scale (sum it exactly, e.g. with :func:`math.fsum`, so the
    order of the answers does not matter);
    MOE95 = 1.96 * 100 * sqrt(p (1 - p) / n) with p = satisfied / n.
    """
    if n == 0:
        return CsatResult(None, None, 0, 0, satisfied_min, scale_min, scale_max, None, invalid)
    if not 0 <= satisfied <= n:
        raise ValueError(f"satisfied must be within 0..{n}, got {satisfied}")
    share = satisfied / n
    return CsatResult(
        value=100 * satisfied / n,
        mean=score_sum / n,
        n=n,
        satisfied=satisfied,
        satisfied_min=satisfied_min,
        scale_min=scale_min,
        scale_max=scale_max,
        margin_of_error=Z95 * 100 * math.sqrt(share * (1 - share) / n),
        invalid=invalid,
    )


def csat_from_histogram(
    answers: Histogram, satisfied_min: float = 4, *, scale_min: int = 1, scale_max: int = 5
) -> CsatResult:
    """CSAT from a histogram of answers, reported on ``scale_min..scale_max`` (see
    :func:`csat_point`); ``satisfied_min`` is read on the reporting scale.
    """
    if scale_min >= scale_max:
        raise ValueError(f"reporting scale {scale_min}..{scale_max} is empty")
    n = satisfied = invalid = 0
    weighted: list[float] = []
    for (score, low, high, higher_is_better), count in answers.items():
        point = csat_point(
            score,
            low,
            high,
            higher_is_better,
            satisfied_min,
            scale_min=scale_min,
            scale_max=scale_max,
        )
        if point is None:
            invalid += count
            continue
        n += count
        satisfied += count if point[1] else 0
        weighted.append(point[0] * count)
    return csat_from_sums(
        n,
        satisfied,
        math.fsum(weighted),
        satisfied_min,
        scale_min=scale_min,
        scale_max=scale_max,
        invalid=invalid,
    )


def csat(
    scores: Iterable[float], satisfied_min: float = 4, *, scale_min: int = 1, scale_max: int = 5
) -> CsatResult:
    """CSAT of raw answers on ``scale_min..scale_max`` (1-5 by default).

    Formula: CSAT = 100 * #(score >= satisfied_min) / n; mean = sum(score) / n.
    E.g. 5:10, 4:20, 3:10, 2:5, 1:5 gives 60 % satisfied and a mean of 3.5.
    """
    return csat_from_histogram(
        _histogram(scores, scale_min, scale_max),
        satisfied_min,
        scale_min=scale_min,
        scale_max=scale_max,
    )


# --------------------------------------------------------------------------------------------- CES


@dataclass(frozen=True)
class CesResult:
    """Customer Effort Score of a set of answers.

    ``value`` is the mean *normalized* answer on 0..100 where 100 is the least effort (the best),
    whatever each survey's scale and direction; ``mean`` is the raw mean on the survey's own
    scale, or ``None`` when the answers mix scales or directions (raw means are not comparable
    then). ``scale_min``, ``scale_max`` and ``higher_is_better`` describe that single scale, or
    are ``None`` when mixed or empty.
    """

    value: float | None
    mean: float | None
    n: int
    scale_min: int | None
    scale_max: int | None
    higher_is_better: bool | None
    invalid: int = 0


def ces_point(score: float, low: int, high: int, higher_is_better: bool) -> float | None:
    """One CES answer normalized to 0..100 (100 = least effort); ``None`` when invalid.

    Formula: 100 * (x - low) / (high - low) when a higher answer means less effort (CES 2.0,
    "made it easy", 1-7); 100 * (high - x) / (high - low) when a lower answer does (CES 1.0,
    "effort", 1-5).
    """
    if not _is_valid(score, low, high):
        return None
    offset = score - low if higher_is_better else high - score
    return 100 * offset / (high - low)


def ces_from_histogram(answers: Histogram) -> CesResult:
    """CES from a histogram of answers: the mean of :func:`ces_point` over valid answers."""
    n = invalid = 0
    normalized: list[float] = []
    raw: list[float] = []
    scales: set[tuple[int, int, bool]] = set()
    for (score, low, high, higher_is_better), count in answers.items():
        point = ces_point(score, low, high, higher_is_better)
        if point is None:
            invalid += count
            continue
        n += count
        normalized.append(point * count)
        raw.append(score * count)
        scales.add((low, high, higher_is_better))
    if n == 0:
        return CesResult(None, None, 0, None, None, None, invalid=invalid)
    value = math.fsum(normalized) / n
    if len(scales) == 1:
        ((low, high, higher_is_better),) = scales
        return CesResult(value, math.fsum(raw) / n, n, low, high, higher_is_better, invalid)
    return CesResult(value, None, n, None, None, None, invalid=invalid)


def ces(
    scores: Iterable[float], scale_min: int, scale_max: int, higher_is_better: bool
) -> CesResult:
    """CES of raw answers on one scale: raw mean and the 0..100 normalized mean.

    E.g. on a 1-7 "made it easy" scale (higher is better), answers 7 and 4 give mean 5.5 and
    normalized 75.
    """
    return ces_from_histogram(_histogram(scores, scale_min, scale_max, higher_is_better))
