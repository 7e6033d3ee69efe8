"""The KPI engine: normalized records in, :class:`~crmpulse.kpis.values.KpiValue` rows out.

:func:`compute` reads each input once and keeps only small aggregates: for survey KPIs a histogram
of answers per *grain* ``(contact_id, account_id)`` and answer, for service-time KPIs the durations
per grain (medians need the values). After the pass, every distinct answer is classified once
(:func:`~crmpulse.kpis.surveys.nps_bucket`, :func:`~crmpulse.kpis.surveys.csat_point`,
:func:`~crmpulse.kpis.surveys.ces_point`) and its count is added to small per-group counters at the
four levels; counts add up exactly, and float sums are kept as parts summed with
:func:`math.fsum`, so every level sees the same numbers the records give, whatever their order.
The arithmetic itself lives in :mod:`~crmpulse.kpis.surveys` and
:mod:`~crmpulse.kpis.service_time`.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from crmpulse.kpis.catalogue import ALL_LEVELS, CATALOGUE
from crmpulse.kpis.periods import Month
from crmpulse.kpis.service_time import SECONDS_PER_HOUR, durations
from crmpulse.kpis.surveys import (
    ces_point,
    csat_from_sums,
    csat_point,
    nps_bucket,
    nps_from_counts,
)
from crmpulse.kpis.values import KpiValue, Level
from crmpulse.model import Account, Contact, SurveyResponse, Ticket

Grain = tuple[str | None, str | None]
"""``(contact_id, account_id)`` exactly as a survey or ticket carries them."""

AnswerKey = tuple[str | None, str | None, float, int, int, bool]
"""A grain plus one answer: ``(contact_id, account_id, score, scale_min, scale_max, higher)``."""

GroupKey = tuple[Level, str | None]
"""``(level, entity_id)``; entity_id is ``None`` at portfolio level."""

_PORTFOLIO: GroupKey = ("portfolio", None)
_LEVEL_RANK = {level: rank for rank, level in enumerate(ALL_LEVELS)}
_VERSION = {definition.name: definition.formula_version for definition in CATALOGUE}


@dataclass(frozen=True)
class _Directory:
    """Who belongs where: live accounts with their segment, live contacts with their account."""

    segment_of: dict[str, str | None]
    account_of: dict[str, str | None]

    cache: dict[Grain, tuple[GroupKey, ...]] = field(default_factory=dict)

    def groups(self, grain: Grain) -> tuple[GroupKey, ...]:
        """The level groups a record of this grain counts in (portfolio always first)."""
        keys = self.cache.get(grain)
        if keys is None:
            keys = self.cache[grain] = self._resolve(grain)
        return keys

    def _resolve(self, grain: Grain) -> tuple[GroupKey, ...]:
        contact_id, account_id = grain
        if not account_id and contact_id is not None:
            account_id = self.account_of.get(contact_id)
        keys: list[GroupKey] = [_PORTFOLIO]
        if account_id and account_id in self.segment_of:
            segment = self.segment_of[account_id]
            if segment:
                keys.append(("segment", segment))
            keys.append(("account", account_id))
        if contact_id is not None and contact_id in self.account_of:
            keys.append(("contact", contact_id))
        return tuple(keys)


def compute(
    *,
    accounts: Iterable[Account],
    contacts: Iterable[Contact],
    tickets: Iterable[Ticket],
    surveys: Iterable[SurveyResponse],
    period: Month,
    csat_satisfied_min: float = 4,
) -> list[KpiValue]:
    """Every KPI of the catalogue for one calendar month, at every level.

    Membership:

    - A record's *account* is its own ``account_id``, else its contact's ``account_id``. Its
      *segment* is that account's ``segment`` (no segment value when it is ``None``). Its
      *contact* is its ``contact_id``.
    - Surveys count in the month of ``answered_at``. Tickets count for first response time in the
      month of ``created_at`` once ``first_response_at`` is set (unanswered tickets are
      right-censored and left out), and for resolution time in the month of ``closed_at``.
    - Deleted records (``deleted_at`` set) are ignored: a deleted survey or ticket counts nowhere,
      a deleted account or contact gets no value and does not place records in an account or
      segment.

    Output:

    - The portfolio value of every KPI, always (``value=None``, ``n=0`` when the month has no
      data for it), so a run always says "nothing to measure" explicitly.
    - Segment, account and contact values only for entities that exist in ``accounts`` /
      ``contacts`` (and are not deleted) *and* have at least one record of the KPI's family
      (surveys of that kind, or tickets) in the month. An entity without data gets no row at all
      rather than a row of ``None``\\ s: that keeps the output proportional to the activity of the
      month instead of to the size of the CRM, and "no row" already means undefined. A record
      that names an unknown account or contact still counts in the portfolio.
    - Rows are sorted by KPI (catalogue order), level (portfolio, segment, account, contact) and
      entity id, so two runs over the same data give equal lists.

    ``csat_satisfied_min`` is the lowest satisfied CSAT answer, read on a 1..5 scale.
    """
    if not 1 <= csat_satisfied_min <= 5:
        raise ValueError(f"csat_satisfied_min must be within 1..5, got {csat_satisfied_min}")
    directory = _Directory(
        segment_of={a.id: a.segment for a in accounts if a.deleted_at is None},
        account_of={c.id: c.account_id for c in contacts if c.deleted_at is None},
    )
    start, end = period.start, period.end
    nps_tally, csat_tally, ces_tally = _tally_surveys(surveys, start, end)
    first_response, resolution = _collect_durations(tickets, start, end)
    out = _Rows(period.label)

    for key, (promoters, passives, detractors, invalid) in _ordered(
        _roll_up_nps(nps_tally, directory)
    ):
        nps = nps_from_counts(promoters, passives, detractors, invalid=invalid)
        out.add("nps", key, nps.value, nps.n, nps.margin_of_error)

    threshold = csat_satisfied_min
    csat_results = [
        (key, csat_from_sums(acc.n, acc.satisfied, acc.parts, threshold, invalid=acc.invalid))
        for key, acc in _ordered(_roll_up_csat(csat_tally, directory, threshold))
    ]
    for key, csat in csat_results:
        out.add("csat", key, csat.value, csat.n, csat.margin_of_error)
    for key, csat in csat_results:
        out.add("csat_mean", key, csat.mean, csat.n)

    for key, acc in _ordered(_roll_up_ces(ces_tally, directory)):
        out.add("ces", key, math.fsum(acc.parts) / acc.n if acc.n else None, acc.n)

    for prefix, collected in (("frt", first_response), ("resolution", resolution)):
        summaries = [
            (key, durations(hours)) for key, hours in _ordered(_pool(collected, directory))
        ]
        for key, summary in summaries:
            out.add(f"{prefix}_median_h", key, summary.median, summary.n)
        for key, summary in summaries:
            out.add(f"{prefix}_mean_h", key, summary.mean, summary.n)
    return out.rows


_Tally = Counter[AnswerKey]


def _tally_surveys(
    surveys: Iterable[SurveyResponse], start: datetime, end: datetime
) -> tuple[_Tally, _Tally, _Tally]:
    """Count answers of the period per kind, grain and answer (the one pass over surveys)."""
    nps: _Tally = Counter()
    csat: _Tally = Counter()
    ces: _Tally = Counter()
    # The hot loop: attribute reads, two comparisons and one dict update per answer.
    for survey in surveys:
        if survey.deleted_at is not None:
            continue
        answered_at = survey.answered_at
        if answered_at < start or answered_at >= end:
            continue
        kind = survey.survey_kind
        if kind == "NPS":
            target = nps
        elif kind == "CSAT":
            target = csat
        elif kind == "CES":
            target = ces
        else:
            continue
        target[
            (
                survey.contact_id,
                survey.account_id,
                survey.score,
                survey.scale_min,
                survey.scale_max,
                survey.higher_is_better,
            )
        ] += 1
    return nps, csat, ces


def _collect_durations(
    tickets: Iterable[Ticket], start: datetime, end: datetime
) -> tuple[dict[Grain, list[float]], dict[Grain, list[float]]]:
    """Hours to first response (by created_at) and to close (by closed_at) per grain."""
    first_response: defaultdict[Grain, list[float]] = defaultdict(list)
    resolution: defaultdict[Grain, list[float]] = defaultdict(list)
    for ticket in tickets:
        if ticket.deleted_at is not None:
            continue
        created_at = ticket.created_at
        responded_at = ticket.first_response_at
        if responded_at is not None and start <= created_at < end:
            first_response[(ticket.contact_id, ticket.account_id)].append(
                (responded_at - created_at).total_seconds() / SECONDS_PER_HOUR
            )
        closed_at = ticket.closed_at
        if closed_at is not None and start <= closed_at < end:
            resolution[(ticket.contact_id, ticket.account_id)].append(
                (closed_at - created_at).total_seconds() / SECONDS_PER_HOUR
            )
    return first_response, resolution


def _roll_up_nps(tally: _Tally, directory: _Directory) -> dict[GroupKey, list[int]]:
    """``[promoters, passives, detractors, invalid]`` per group."""
    groups: dict[GroupKey, list[int]] = {_PORTFOLIO: [0, 0, 0, 0]}
    cache, resolve = directory.cache, directory.groups
    for (contact_id, account_id, score, low, high, _), count in tally.items():
        bucket = nps_bucket(score, low, high)
        grain = (contact_id, account_id)
        for key in cache.get(grain) or resolve(grain):
            counts = groups.get(key)
            if counts is None:
                counts = groups[key] = [0, 0, 0, 0]
            counts[bucket] += count
    return groups


@dataclass(slots=True)
class _Sums:
    """Valid answers, satisfied answers, invalid answers and score parts (weighted by count)."""

    n: int = 0
    satisfied: int = 0
    invalid: int = 0
    parts: list[float] = field(default_factory=list)


def _roll_up_csat(
    tally: _Tally, directory: _Directory, satisfied_min: float
) -> dict[GroupKey, _Sums]:
    """CSAT sums per group; ``parts`` are reporting-scale scores times their counts."""
    groups: dict[GroupKey, _Sums] = {_PORTFOLIO: _Sums()}
    cache, resolve = directory.cache, directory.groups
    for (contact_id, account_id, score, low, high, higher), count in tally.items():
        point = csat_point(score, low, high, higher, satisfied_min)
        grain = (contact_id, account_id)
        for key in cache.get(grain) or resolve(grain):
            sums = groups.get(key)
            if sums is None:
                sums = groups[key] = _Sums()
            if point is None:
                sums.invalid += count
                continue
            sums.n += count
            if point[1]:
                sums.satisfied += count
            sums.parts.append(point[0] * count)
    return groups


def _roll_up_ces(tally: _Tally, directory: _Directory) -> dict[GroupKey, _Sums]:
    """CES sums per group; ``parts`` are normalized scores times their counts."""
    groups: dict[GroupKey, _Sums] = {_PORTFOLIO: _Sums()}
    cache, resolve = directory.cache, directory.groups
    for (contact_id, account_id, score, low, high, higher), count in tally.items():
        point = ces_point(score, low, high, higher)
        grain = (contact_id, account_id)
        for key in cache.get(grain) or resolve(grain):
            sums = groups.get(key)
            if sums is None:
                sums = groups[key] = _Sums()
            if point is None:
                sums.invalid += count
                continue
            sums.n += count
            sums.parts.append(point * count)
    return groups


def _pool(
    collected: dict[Grain, list[float]], directory: _Directory
) -> dict[GroupKey, list[float]]:
    """Durations per group."""
    groups: dict[GroupKey, list[float]] = {_PORTFOLIO: []}
    cache, resolve = directory.cache, directory.groups
    for grain, hours in collected.items():
        for key in cache.get(grain) or resolve(grain):
            pooled = groups.get(key)
            if pooled is None:
                groups[key] = list(hours)
            else:
                pooled.extend(hours)
    return groups


_T = TypeVar("_T")


def _ordered(groups: dict[GroupKey, _T]) -> list[tuple[GroupKey, _T]]:
    """Groups sorted by level (portfolio, segment, account, contact), then entity id."""
    return sorted(groups.items(), key=lambda item: (_LEVEL_RANK[item[0][0]], item[0][1] or ""))


class _Rows:
    """Collects the output rows of one period, in the order they are added."""

    def __init__(self, period: str) -> None:
        self.period = period
        self.rows: list[KpiValue] = []

    def add(
        self,
        kpi: str,
        key: GroupKey,
        value: float | None,
        n: int,
        margin_of_error: float | None = None,
    ) -> None:
        """Append the value of ``kpi`` for group ``key``."""
        self.rows.append(
            KpiValue(
                kpi=kpi,
                level=key[0],
                entity_id=key[1],
                period=self.period,
                value=value,
                n=n,
                formula_version=_VERSION[kpi],
                margin_of_error=margin_of_error,
            )
        )
