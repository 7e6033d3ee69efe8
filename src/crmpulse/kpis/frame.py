"""The columnar view of a CRM the engine computes on.

A :class:`Frame` holds every live record as numpy columns: timestamps as float UTC epoch seconds
(NaN where missing), amounts as floats, and references to accounts and contacts as integer codes
(``-1`` where missing or unknown). Accounts and contacts are numbered in id order, which is also the
order their KPI values come out in.

Two builders give the same frame: :meth:`Frame.from_records` (normalized pydantic records, any
iterable) and :func:`crmpulse.kpis.loading.load_frame` (straight from the store's typed columns,
without building a record object per row, which is what makes a million-contact CRM fit in memory).

Membership rules live here, once:

- A record's *account* is its own ``account_id`` when that names a live account; with no
  ``account_id`` it is its contact's account. An ``account_id`` naming an unknown or deleted
  account places the record in no account (it still counts in the portfolio).
- A record's *contact* is its ``contact_id`` when that names a live contact.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from crmpulse.model import Account, Activity, ActivityKind, Contact, Deal, SurveyResponse, Ticket

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

SURVEY_KINDS = ("NPS", "CSAT", "CES")
"""Survey kind codes: the index in this tuple."""
ACTIVITY_KINDS: tuple[str, ...] = tuple(kind.value for kind in ActivityKind)
"""Activity kind codes: the index in this tuple."""


def epoch(moment: datetime | None) -> float:
    """UTC epoch seconds of an aware timestamp; NaN for ``None``."""
    return np.nan if moment is None else moment.timestamp()


@dataclass
class Tickets:
    """Ticket columns."""

    created: Floats
    first_response: Floats
    closed: Floats
    account: Ints
    contact: Ints


@dataclass
class Surveys:
    """Survey answer columns; ``comments`` is loaded only when feedback text is analysed."""

    kind: Ints
    score: Floats
    scale_min: Floats
    scale_max: Floats
    higher_is_better: Bools
    answered: Floats
    account: Ints
    contact: Ints
    comments: list[str | None] | None = None


@dataclass
class Deals:
    """Deal columns (amount NaN when the CRM has none)."""

    created: Floats
    closed: Floats
    amount: Floats
    is_closed: Bools
    is_won: Bools
    account: Ints


@dataclass
class Activities:
    """Activity columns."""

    kind: Ints
    occurred: Floats
    inbound: Bools
    account: Ints
    contact: Ints


@dataclass
class Frame:
    """Every live record of a CRM as columns (see the module docstring for membership)."""

    account_ids: list[str]
    segments: list[str]
    account_segment: Ints
    account_created: Floats
    account_customer_since: Floats
    account_churned: Floats
    contact_ids: list[str]
    contact_account: Ints
    contact_lead_since: Floats
    contact_customer_since: Floats
    tickets: Tickets
    surveys: Surveys
    deals: Deals
    activities: Activities
    _account_code: dict[str, int] = field(default_factory=dict, repr=False)
    _contact_code: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        # builders pass the code books they already have (a million-contact dict is not free)
        if not self._account_code:
            self._account_code = {a: i for i, a in enumerate(self.account_ids)}
        if not self._contact_code:
            self._contact_code = {c: i for i, c in enumerate(self.contact_ids)}

    @property
    def n_accounts(self) -> int:
        """Live accounts."""
        return len(self.account_ids)

    @property
    def n_contacts(self) -> int:
        """Live contacts."""
        return len(self.contact_ids)

    def account_code(self, account_id: str) -> int:
        """The code of a live account, ``-1`` if there is none."""
        return self._account_code.get(account_id, -1)

    def contact_code(self, contact_id: str) -> int:
        """The code of a live contact, ``-1`` if there is none."""
        return self._contact_code.get(contact_id, -1)

    @classmethod
    def from_records(
        cls,
        *,
        accounts: Iterable[Account],
        contacts: Iterable[Contact],
        tickets: Iterable[Ticket] = (),
        surveys: Iterable[SurveyResponse] = (),
        deals: Iterable[Deal] = (),
        activities: Iterable[Activity] = (),
        comments: bool = False,
    ) -> Frame:
        """Build a frame from normalized records (deleted records are left out)."""
        live_accounts = sorted((a for a in accounts if a.deleted_at is None), key=lambda a: a.id)
        live_contacts = sorted((c for c in contacts if c.deleted_at is None), key=lambda c: c.id)
        builder = CodeBook(
            [a.id for a in live_accounts],
            [a.segment for a in live_accounts],
            [c.id for c in live_contacts],
            [c.account_id for c in live_contacts],
        )
        ticket_rows = [t for t in tickets if t.deleted_at is None]
        survey_rows = [s for s in surveys if s.deleted_at is None]
        deal_rows = [d for d in deals if d.deleted_at is None]
        activity_rows = [a for a in activities if a.deleted_at is None]
        return cls(
            account_ids=builder.account_ids,
            segments=builder.segments,
            account_segment=builder.account_segment,
            account_created=_times(a.created_at for a in live_accounts),
            account_customer_since=_times(a.became_customer_at for a in live_accounts),
            account_churned=_times(a.churned_at for a in live_accounts),
            contact_ids=builder.contact_ids,
            contact_account=builder.contact_account,
            contact_lead_since=_times(c.became_lead_at for c in live_contacts),
            contact_customer_since=_times(c.became_customer_at for c in live_contacts),
            tickets=Tickets(
                created=_times(t.created_at for t in ticket_rows),
                first_response=_times(t.first_response_at for t in ticket_rows),
                closed=_times(t.closed_at for t in ticket_rows),
                **builder.owners(ticket_rows),
            ),
            surveys=Surveys(
                kind=np.array([SURVEY_KINDS.index(s.survey_kind) for s in survey_rows], np.int64),
                score=np.array([s.score for s in survey_rows], np.float64),
                scale_min=np.array([s.scale_min for s in survey_rows], np.float64),
                scale_max=np.array([s.scale_max for s in survey_rows], np.float64),
                higher_is_better=np.array([s.higher_is_better for s in survey_rows], np.bool_),
                answered=_times(s.answered_at for s in survey_rows),
                comments=[s.comment for s in survey_rows] if comments else None,
                **builder.owners(survey_rows),
            ),
            deals=Deals(
                created=_times(d.created_at for d in deal_rows),
                closed=_times(d.closed_at for d in deal_rows),
                amount=np.array(
                    [np.nan if d.amount is None else float(d.amount) for d in deal_rows],
                    np.float64,
                ),
                is_closed=np.array([d.is_closed for d in deal_rows], np.bool_),
                is_won=np.array([d.is_won for d in deal_rows], np.bool_),
                account=builder.accounts_of([d.account_id for d in deal_rows], None),
            ),
            activities=Activities(
                kind=np.array(
                    [ACTIVITY_KINDS.index(a.activity_kind) for a in activity_rows], np.int64
                ),
                occurred=_times(a.occurred_at for a in activity_rows),
                inbound=np.array([a.direction == "inbound" for a in activity_rows], np.bool_),
                **builder.owners(activity_rows),
            ),
        )


class CodeBook:
    """Numbers accounts, segments and contacts, and resolves the owners of other records."""

    def __init__(
        self,
        account_ids: Sequence[str],
        account_segments: Sequence[str | None],
        contact_ids: Sequence[str],
        contact_accounts: Sequence[str | None],
    ) -> None:
        self.account_ids = list(account_ids)
        self.segments = sorted({s for s in account_segments if s})
        segment_code = {s: i for i, s in enumerate(self.segments)}
        self.account_segment = np.array(
            [segment_code.get(s, -1) if s else -1 for s in account_segments], np.int64
        )
        self.contact_ids = list(contact_ids)
        self.account_book = {a: i for i, a in enumerate(self.account_ids)}
        self.contact_book = {c: i for i, c in enumerate(self.contact_ids)}
        self.contact_account = self.codes(contact_accounts, self.account_book)

    @staticmethod
    def codes(ids: Sequence[str | None], book: dict[str, int]) -> Ints:
        """Codes of ``ids`` in ``book`` (``-1`` for ``None`` or unknown ids)."""
        # map() keeps the per-id work in C; None and "" are not keys, so they give -1
        lookup: Any = book.get  # ids may be None, which is never a key
        return np.fromiter(map(lookup, ids, repeat(-1)), np.int64, count=len(ids))

    def accounts_of(self, account_ids: Sequence[str | None], contacts: Ints | None) -> Ints:
        """Account codes: the own account if given, else the contact's account."""
        own = self.codes(account_ids, self.account_book)
        if contacts is None:
            return own
        given = np.fromiter(map(bool, account_ids), np.bool_, count=len(account_ids))
        inherited = np.append(self.contact_account, -1)[contacts]  # code -1 -> the -1 appended
        return np.where(given, own, inherited)

    def owners(self, rows: Sequence[Ticket | SurveyResponse | Activity]) -> dict[str, Ints]:
        """``account`` and ``contact`` code columns of records that name both."""
        contacts = self.codes([r.contact_id for r in rows], self.contact_book)
        return {
            "account": self.accounts_of([r.account_id for r in rows], contacts),
            "contact": contacts,
        }


def _times(values: Iterable[datetime | None]) -> Floats:
    return np.array([epoch(v) for v in values], np.float64)
