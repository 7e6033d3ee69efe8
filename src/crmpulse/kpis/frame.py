"""The columnar view of a CRM the engine computes on.

A :class:`Frame` holds every live record as numpy columns: timestamps as float UTC epoch seconds
(NaN where missing), amounts as floats, references to accounts and contacts as 32-bit integer codes
(``-1`` where missing or unknown) and kinds as 8-bit codes. Accounts and contacts are numbered in id
order, which is also the order their KPI values come out in; their ids and the survey comments are
kept as :mod:`~crmpulse.kpis.strings` columns, not one Python object each.

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
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import numpy.typing as npt

from crmpulse.kpis.strings import Coder, SortedIds, Strings
from crmpulse.model import Account, Activity, ActivityKind, Contact, Deal, SurveyResponse, Ticket

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]
Codes = npt.NDArray[np.int32]
"""References to accounts or contacts (a million contacts fit in 32 bits; -1 is none)."""
Kinds = npt.NDArray[np.int8]
"""Small enumerations (survey and activity kinds)."""
Integers = npt.NDArray[np.signedinteger[Any]]
"""Either of the above, or 64-bit slots."""

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
    account: Codes
    contact: Codes


@dataclass
class Surveys:
    """Survey answer columns; ``comments`` is loaded only when feedback text is analysed."""

    kind: Kinds
    score: Floats
    scale_min: Floats
    scale_max: Floats
    higher_is_better: Bools
    answered: Floats
    account: Codes
    contact: Codes
    comments: Strings | None = None


@dataclass
class Deals:
    """Deal columns (amount NaN when the CRM has none)."""

    created: Floats
    closed: Floats
    amount: Floats
    is_closed: Bools
    is_won: Bools
    account: Codes


@dataclass
class Activities:
    """Activity columns."""

    kind: Kinds
    occurred: Floats
    inbound: Bools
    account: Codes
    contact: Codes


@dataclass
class Frame:
    """Every live record of a CRM as columns (see the module docstring for membership)."""

    account_ids: SortedIds
    segments: list[str]
    account_segment: Ints
    account_created: Floats
    account_customer_since: Floats
    account_churned: Floats
    contact_ids: SortedIds
    contact_account: Codes
    contact_lead_since: Floats
    contact_customer_since: Floats
    tickets: Tickets
    surveys: Surveys
    deals: Deals
    activities: Activities

    @property
    def n_records(self) -> int:
        """Tickets, survey answers, deals and activities together."""
        parts = (self.tickets.created, self.surveys.kind, self.deals.amount)
        return sum(len(part) for part in parts) + len(self.activities.kind)

    @property
    def n_accounts(self) -> int:
        """Live accounts."""
        return len(self.account_ids)

    @property
    def n_contacts(self) -> int:
        """Live contacts."""
        return len(self.contact_ids)

    def account_code(self, account_id: str | None) -> int:
        """The code of a live account, ``-1`` if there is none."""
        return self.account_ids.code(account_id)

    def contact_code(self, contact_id: str | None) -> int:
        """The code of a live contact, ``-1`` if there is none."""
        return self.contact_ids.code(contact_id)

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
        segments, account_segment = segment_codes([a.segment for a in live_accounts])
        builder = CodeBook(SortedIds(a.id for a in live_accounts))
        builder.add_contacts(
            SortedIds(c.id for c in live_contacts),
            builder.accounts.codes([c.account_id for c in live_contacts]),
        )
        ticket_rows = [t for t in tickets if t.deleted_at is None]
        survey_rows = [s for s in surveys if s.deleted_at is None]
        deal_rows = [d for d in deals if d.deleted_at is None]
        activity_rows = [a for a in activities if a.deleted_at is None]
        return cls(
            account_ids=builder.account_ids,
            segments=segments,
            account_segment=account_segment,
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
                kind=np.array([SURVEY_KINDS.index(s.survey_kind) for s in survey_rows], np.int8),
                score=np.array([s.score for s in survey_rows], np.float64),
                scale_min=np.array([s.scale_min for s in survey_rows], np.float64),
                scale_max=np.array([s.scale_max for s in survey_rows], np.float64),
                higher_is_better=np.array([s.higher_is_better for s in survey_rows], np.bool_),
                answered=_times(s.answered_at for s in survey_rows),
                comments=Strings(s.comment for s in survey_rows) if comments else None,
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
                    [ACTIVITY_KINDS.index(a.activity_kind) for a in activity_rows], np.int8
                ),
                occurred=_times(a.occurred_at for a in activity_rows),
                inbound=np.array([a.direction == "inbound" for a in activity_rows], np.bool_),
                **builder.owners(activity_rows),
            ),
        )


def segment_codes(account_segments: Sequence[str | None]) -> tuple[list[str], Ints]:
    """The segment names in order, and each account's segment code (``-1`` for none)."""
    segments = sorted({s for s in account_segments if s})
    code = {s: i for i, s in enumerate(segments)}
    return segments, np.array([code.get(s, -1) if s else -1 for s in account_segments], np.int64)


class CodeBook:
    """Resolves the account and contact ids of records to codes while a frame is being built.

    Its lookups (:class:`~crmpulse.kpis.strings.Coder`) go when the build is over; a frame keeps
    only the sorted ids.
    """

    def __init__(self, account_ids: SortedIds) -> None:
        self.account_ids = account_ids
        self.accounts = Coder(account_ids)
        self.contact_ids = SortedIds()
        self.contacts = Coder(self.contact_ids)
        self.contact_account: Codes = np.empty(0, np.int32)

    def add_contacts(self, contact_ids: SortedIds, contact_account: Codes) -> None:
        """The contacts, in id order, with the code of each one's account."""
        self.contact_ids = contact_ids
        self.contacts = Coder(contact_ids)
        self.contact_account = contact_account

    def accounts_of(self, account_ids: Sequence[str | None], contacts: Codes | None) -> Codes:
        """Account codes: the own account if given, else the contact's account."""
        own = self.accounts.codes(account_ids)
        if contacts is None:
            return own
        given = np.fromiter(map(bool, account_ids), np.bool_, count=len(account_ids))
        inherited = np.append(self.contact_account, np.int32(-1))[contacts]  # -1 -> the appended
        return np.where(given, own, inherited)

    def owners(self, rows: Sequence[Ticket | SurveyResponse | Activity]) -> dict[str, Codes]:
        """``account`` and ``contact`` code columns of records that name both."""
        contacts = self.contacts.codes([r.contact_id for r in rows])
        return {
            "account": self.accounts_of([r.account_id for r in rows], contacts),
            "contact": contacts,
        }


def _times(values: Iterable[datetime | None]) -> Floats:
    return np.array([epoch(v) for v in values], np.float64)
