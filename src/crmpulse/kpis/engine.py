"""The KPI engine: normalized records in, :class:`~crmpulse.kpis.values.KpiValue` rows out.

:func:`compute` reads each input once. Every group that can get a value (the portfolio, the
segments of live accounts, live accounts, live contacts) is known from the accounts and contacts
before the first answer is read, so each gets an integer slot, numbered in output order. A survey
or ticket is resolved once per ``(contact_id, account_id)`` to the slots it counts in, and its
contribution is added to flat per-slot counters: no per-record objects, no per-record dict of
groups. Medians need the values, so durations are kept as lists per slot.

The arithmetic lives in :mod:`~crmpulse.kpis.surveys` and :mod:`~crmpulse.kpis.service_time`;
each distinct answer is classified once through them (:func:`~crmpulse.kpis.surveys.nps_bucket`,
:func:`~crmpulse.kpis.surveys.csat_point`, :func:`~crmpulse.kpis.surveys.ces_point`). Score sums
are kept as exact integers (values scaled by 2**80, which is exact for binary floats of the size
scores have), so a mean does not depend on the order the records arrive in.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.periods import Month
from crmpulse.kpis.service_time import SECONDS_PER_HOUR, durations
from crmpulse.kpis.surveys import (
    DETRACTOR,
    INVALID,
    PASSIVE,
    PROMOTER,
    ces_point,
    csat_from_sums,
    csat_point,
    nps_bucket,
    nps_from_counts,
)
from crmpulse.kpis.values import KpiValue, Level
from crmpulse.model import Account, Contact, SurveyResponse, Ticket

GroupKey = tuple[Level, str | None]
"""``(level, entity_id)``; entity_id is ``None`` at portfolio level."""

Answer = tuple[float, int, int, bool]
"""``(score, scale_min, scale_max, higher_is_better)`` of one survey answer."""

_VERSION = {definition.name: definition.formula_version for definition in CATALOGUE}
_EXACT = 2**80
"""Scores are summed as integers in units of 2**-80 (exact for any float score >= 2**-27)."""


class _Slots:
    """Integer slots for every group that can get a value, numbered in output order."""

    def __init__(self, accounts: Iterable[Account], contacts: Iterable[Contact]) -> None:
        self.segment_of = {a.id: a.segment for a in accounts if a.deleted_at is None}
        self.account_of = {c.id: c.account_id for c in contacts if c.deleted_at is None}
        segments = sorted({segment for segment in self.segment_of.values() if segment})
        self.keys: list[GroupKey] = [("portfolio", None)]
        self.keys.extend(("segment", segment) for segment in segments)
        self.keys.extend(("account", account_id) for account_id in sorted(self.segment_of))
        self.keys.extend(("contact", contact_id) for contact_id in sorted(self.account_of))
        self._slot = {key: slot for slot, key in enumerate(self.keys)}
        self._by_contact: dict[str | None, tuple[int, ...]] = {}
        self._by_pair: dict[tuple[str | None, str], tuple[int, ...]] = {}

    def __len__(self) -> int:
        return len(self.keys)

    def of(self, contact_id: str | None, account_id: str | None) -> tuple[int, ...]:
        """The slots a record with these ids counts in (the portfolio always)."""
        if account_id is None:
            slots = self._by_contact.get(contact_id)
            if slots is None:
                slots = self._by_contact[contact_id] = self._resolve(contact_id, None)
            return slots
        pair = (contact_id, account_id)
        slots = self._by_pair.get(pair)
        if slots is None:
            slots = self._by_pair[pair] = self._resolve(contact_id, account_id)
        return slots

    def _resolve(self, contact_id: str | None, account_id: str | None) -> tuple[int, ...]:
        if not account_id and contact_id is not None:
            account_id = self.account_of.get(contact_id)
        slots = [0]
        if account_id and account_id in self.segment_of:
            segment = self.segment_of[account_id]
            if segment:
                slots.append(self._slot["segment", segment])
            slots.append(self._slot["account", account_id])
        if contact_id is not None and contact_id in self.account_of:
            slots.append(self._slot["contact", contact_id])
        return tuple(slots)


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
    with _gc_paused():
        slots = _Slots(accounts, contacts)
        start, end = period.start, period.end
        answers = _SurveyCounters(len(slots), csat_satisfied_min)
        answers.add_all(surveys, slots, start, end)
        times = _ServiceTimes(len(slots))
        times.add_all(tickets, slots, start, end)
        out = _Rows(period.label, slots.keys)
        answers.emit(out)
        times.emit(out)
        return out.rows


@contextmanager
def _gc_paused() -> Iterator[None]:
    # The engine builds millions of small acyclic objects next to a caller's heap of millions of
    # records; cyclic-GC passes over that heap would cost more than the computation itself.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class _SurveyCounters:
    """Per-slot counters for the survey KPIs of one period."""

    def __init__(self, size: int, satisfied_min: float) -> None:
        self.satisfied_min = satisfied_min
        # NPS: one counter array per bucket (promoters, passives, detractors, invalid)
        self.nps = [[0] * size for _ in range(4)]
        # CSAT: valid answers, satisfied, invalid, exact sum of 1..5 values
        self.csat_n, self.csat_ok, self.csat_bad, self.csat_sum = ([0] * size for _ in range(4))
        # CES: valid answers, invalid, exact sum of 0..100 normalized values
        self.ces_n, self.ces_bad, self.ces_sum = ([0] * size for _ in range(3))
        self._nps_bucket: dict[Answer, int] = {}
        self._csat_point: dict[Answer, tuple[int, bool] | None] = {}
        self._ces_point: dict[Answer, int | None] = {}

    def add_all(
        self, surveys: Iterable[SurveyResponse], slots: _Slots, start: datetime, end: datetime
    ) -> None:
        """Count every live answer of ``[start, end)`` in its slots (the one pass over surveys)."""
        of = slots.of
        nps_arrays = self.nps
        nps_bucket_of, csat_point_of, ces_point_of = (
            self._nps_bucket,
            self._csat_point,
            self._ces_point,
        )
        csat_n, csat_ok, csat_bad, csat_sum = (
            self.csat_n,
            self.csat_ok,
            self.csat_bad,
            self.csat_sum,
        )
        ces_n, ces_bad, ces_sum = self.ces_n, self.ces_bad, self.ces_sum
        for survey in surveys:
            if survey.deleted_at is not None:
                continue
            answered_at = survey.answered_at
            if answered_at < start or answered_at >= end:
                continue
            kind = survey.survey_kind
            answer = (survey.score, survey.scale_min, survey.scale_max, survey.higher_is_better)
            if kind == "NPS":
                bucket = nps_bucket_of.get(answer)
                if bucket is None:
                    bucket = nps_bucket_of[answer] = nps_bucket(answer[0], answer[1], answer[2])
                counts = nps_arrays[bucket]
                for slot in of(survey.contact_id, survey.account_id):
                    counts[slot] += 1
            elif kind == "CSAT":
                if answer in csat_point_of:
                    csat = csat_point_of[answer]
                else:
                    csat = csat_point_of[answer] = self._csat(answer)
                if csat is None:
                    for slot in of(survey.contact_id, survey.account_id):
                        csat_bad[slot] += 1
                    continue
                value, satisfied = csat
                for slot in of(survey.contact_id, survey.account_id):
                    csat_n[slot] += 1
                    csat_sum[slot] += value
                    if satisfied:
                        csat_ok[slot] += 1
            elif kind == "CES":
                if answer in ces_point_of:
                    ces = ces_point_of[answer]
                else:
                    ces = ces_point_of[answer] = self._ces(answer)
                if ces is None:
                    for slot in of(survey.contact_id, survey.account_id):
                        ces_bad[slot] += 1
                    continue
                for slot in of(survey.contact_id, survey.account_id):
                    ces_n[slot] += 1
                    ces_sum[slot] += ces

    def _csat(self, answer: Answer) -> tuple[int, bool] | None:
        point = csat_point(*answer, self.satisfied_min)
        return None if point is None else (int(point[0] * _EXACT), point[1])

    @staticmethod
    def _ces(answer: Answer) -> int | None:
        point = ces_point(*answer)
        return None if point is None else int(point * _EXACT)

    def emit(self, out: _Rows) -> None:
        """Rows for every slot that saw an answer of the family (and always the portfolio)."""
        promoters, passives, detractors, invalid = (
            self.nps[PROMOTER],
            self.nps[PASSIVE],
            self.nps[DETRACTOR],
            self.nps[INVALID],
        )
        for slot in range(len(promoters)):
            p, pa, d, bad = promoters[slot], passives[slot], detractors[slot], invalid[slot]
            if slot == 0 or p or pa or d or bad:
                nps = nps_from_counts(p, pa, d, invalid=bad)
                out.add("nps", slot, nps.value, nps.n, nps.margin_of_error)

        results = [
            (
                slot,
                csat_from_sums(
                    n,
                    self.csat_ok[slot],
                    self.csat_sum[slot] / _EXACT,
                    self.satisfied_min,
                    invalid=self.csat_bad[slot],
                ),
            )
            for slot, n in enumerate(self.csat_n)
            if slot == 0 or n or self.csat_bad[slot]
        ]
        for slot, csat in results:
            out.add("csat", slot, csat.value, csat.n, csat.margin_of_error)
        for slot, csat in results:
            out.add("csat_mean", slot, csat.mean, csat.n)

        for slot, n in enumerate(self.ces_n):
            if slot == 0 or n or self.ces_bad[slot]:
                # CES = mean of the normalized answers; the exact integer sum is divided once
                value = self.ces_sum[slot] / (n * _EXACT) if n else None
                out.add("ces", slot, value, n)


class _ServiceTimes:
    """Per-slot durations (hours) for first response and resolution in one period."""

    def __init__(self, size: int) -> None:
        self.first_response: list[list[float] | None] = [None] * size
        self.resolution: list[list[float] | None] = [None] * size

    def add_all(
        self, tickets: Iterable[Ticket], slots: _Slots, start: datetime, end: datetime
    ) -> None:
        """Hours to first response (by created_at) and to close (by closed_at), per slot."""
        of = slots.of
        for ticket in tickets:
            if ticket.deleted_at is not None:
                continue
            created_at = ticket.created_at
            responded_at = ticket.first_response_at
            if responded_at is not None and start <= created_at < end:
                hours = (responded_at - created_at).total_seconds() / SECONDS_PER_HOUR
                _append(self.first_response, of(ticket.contact_id, ticket.account_id), hours)
            closed_at = ticket.closed_at
            if closed_at is not None and start <= closed_at < end:
                hours = (closed_at - created_at).total_seconds() / SECONDS_PER_HOUR
                _append(self.resolution, of(ticket.contact_id, ticket.account_id), hours)

    def emit(self, out: _Rows) -> None:
        """Median and mean rows for every slot with a duration (and always the portfolio)."""
        for prefix, pooled in (("frt", self.first_response), ("resolution", self.resolution)):
            summaries = [
                (slot, durations(hours or ()))
                for slot, hours in enumerate(pooled)
                if slot == 0 or hours
            ]
            for slot, summary in summaries:
                out.add(f"{prefix}_median_h", slot, summary.median, summary.n)
            for slot, summary in summaries:
                out.add(f"{prefix}_mean_h", slot, summary.mean, summary.n)


def _append(pooled: list[list[float] | None], slots: tuple[int, ...], hours: float) -> None:
    for slot in slots:
        values = pooled[slot]
        if values is None:
            pooled[slot] = [hours]
        else:
            values.append(hours)


class _Rows:
    """Collects the output rows of one period, in the order they are added."""

    def __init__(self, period: str, keys: list[GroupKey]) -> None:
        self.period = period
        self.keys = keys
        self.rows: list[KpiValue] = []

    def add(
        self,
        kpi: str,
        slot: int,
        value: float | None,
        n: int,
        margin_of_error: float | None = None,
    ) -> None:
        """Append the value of ``kpi`` for the group in ``slot``."""
        level, entity_id = self.keys[slot]
        self.rows.append(
            KpiValue(
                kpi=kpi,
                level=level,
                entity_id=entity_id,
                period=self.period,
                value=value,
                n=n,
                formula_version=_VERSION[kpi],
                margin_of_error=margin_of_error,
            )
        )
