"""The :class:`World`: a lazily generated, deterministic synthetic CRM.

A world is only its parameters. Each iterator walks the accounts one by one, redraws the plans it
needs for that account and yields records, so memory stays flat at any scale and two iterations (or
two processes) produce the same records.

Ids are numeric strings (HubSpot style) that encode the entity type, the account index and the
record's number within the account, so they are unique per type, distinct across types and stable
when the world grows: ``1 000000000001`` is account index 0, ``4 0000001 00003`` its fourth ticket.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from itertools import chain
from typing import Final, Literal

from crmpulse.model import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    LifecycleStage,
    Record,
    SurveyResponse,
    Ticket,
)
from crmpulse.synth.scale import SCALES, ScaleSpec
from crmpulse.synth.story import (
    DAY,
    MONTH,
    AccountPlan,
    Clock,
    ContactPlan,
    TicketPlan,
    plan_account,
    plan_contacts,
    plan_tickets,
    stream,
)
from crmpulse.synth.surveys import SCALE, plan_surveys

_CHILDREN: Final = 100_000
"""Records of one type per account that fit in an id; more are not generated."""

_PREFIX: Final = {
    "accounts": 1,
    "contacts": 2,
    "deals": 3,
    "tickets": 4,
    "activities": 5,
    "surveys": 6,
}

_AMOUNT_MEDIAN: Final = {"SMB": 2_400.0, "Mid-Market": 18_000.0, "Enterprise": 120_000.0}
OPEN_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "decisionmakerboughtin",
    "contractsent",
)
"""Deal stages of HubSpot's default pipeline that are still open."""

_ACTIVITY_KINDS: Final = tuple(ActivityKind)
_ACTIVITY_WEIGHTS: Final = (45, 15, 10, 15, 15)  # email, call, meeting, note, task
_OUTBOUND_SHARE: Final = {ActivityKind.EMAIL: 0.65, ActivityKind.CALL: 0.7}

# Calibration of estimated_counts against generated large worlds (three seeds), so that the
# estimate stays a formula in the scale's knobs instead of a generation pass.
_CONTACTS_PER_MEAN: Final = 1.024
_CUSTOMER_MONTHS_PER_HISTORY_MONTH: Final = 0.50
_CONTACT_MONTHS_PER_HISTORY_MONTH: Final = 0.4817
_CUSTOMER_CONTACT_SHARE: Final = 0.662
_TICKETS_PER_RATE: Final = 1.078
_DEALS_PER_RATE: Final = 1.135
_TICKET_SURVEYS_ANSWERED: Final = 0.97


def _id(entity: str, index: int, number: int = 0) -> str:
    if entity == "accounts":
        return str(10**12 + index + 1)
    return str(_PREFIX[entity] * 10**12 + (index + 1) * _CHILDREN + number)


def _at(ts: float) -> datetime:
    """Whole seconds, like most CRM APIs; truncation keeps every ordering and the as_of bound."""
    return datetime.fromtimestamp(int(ts), UTC)


def _start_of(as_of: datetime, months: int) -> datetime:
    """Midnight on the first day of the month ``months`` calendar months before ``as_of``'s."""
    month_number = as_of.year * 12 + as_of.month - 1 - months
    return datetime(month_number // 12, month_number % 12 + 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class World:
    """A deterministic synthetic CRM: parameters only; the iterators regenerate records lazily."""

    seed: int
    scale: ScaleSpec
    as_of: datetime
    source: str
    start: datetime

    @property
    def _clock(self) -> Clock:
        return Clock(self.start.timestamp(), self.as_of.timestamp())

    def _walk(self) -> Iterator[tuple[AccountPlan, Clock]]:
        clock = self._clock
        for index in range(self.scale.accounts):
            yield plan_account(self.seed, index, clock), clock

    def _contacts_of(self, account: AccountPlan, clock: Clock) -> list[ContactPlan]:
        return plan_contacts(self.seed, account, spec=self.scale, clock=clock, limit=_CHILDREN)

    def accounts(self) -> Iterator[Account]:
        """Every account (HubSpot company / Salesforce Account), in id order."""
        for plan, _clock in self._walk():
            yield Account(
                source=self.source,
                id=_id("accounts", plan.index),
                created_at=_at(plan.created),
                updated_at=_at(plan.updated),
                name=plan.name,
                domain=plan.domain,
                segment=plan.segment,
                industry=plan.industry,
                became_customer_at=None if plan.customer is None else _at(plan.customer),
                churned_at=None if plan.churned is None else _at(plan.churned),
            )

    def contacts(self) -> Iterator[Contact]:
        """Every contact, account by account, with lifecycle dates as of ``as_of``."""
        for plan, clock in self._walk():
            account_id = _id("accounts", plan.index)
            for person in self._contacts_of(plan, clock):
                if person.churned is not None:
                    stage = LifecycleStage.CHURNED
                elif person.customer is not None:
                    stage = LifecycleStage.CUSTOMER
                elif person.opportunity:
                    stage = LifecycleStage.OPPORTUNITY
                else:
                    stage = LifecycleStage.LEAD
                yield Contact(
                    source=self.source,
                    id=_id("contacts", plan.index, person.number),
                    created_at=_at(person.created),
                    updated_at=_at(person.updated),
                    email=person.email,
                    first_name=person.first_name,
                    last_name=person.last_name,
                    lifecycle_stage=stage,
                    account_id=account_id,
                    became_lead_at=_at(person.created),
                    became_customer_at=None if person.customer is None else _at(person.customer),
                    churned_at=None if person.churned is None else _at(person.churned),
                )

    def deals(self) -> Iterator[Deal]:
        """The first deal of every account, then expansions and renewals while it is a customer."""
        for plan, clock in self._walk():
            yield from self._deals_of(plan, clock)

    def _deals_of(self, plan: AccountPlan, clock: Clock) -> Iterator[Deal]:
        rng = stream(self.seed, plan.index, "deals")
        contacts = self._contacts_of(plan, clock)
        base = _AMOUNT_MEDIAN[plan.segment] * rng.lognormvariate(0.0, 0.5)
        drafts: list[tuple[float, float, bool, float, str]] = []
        lead_time = (plan.customer or clock.horizon) - plan.created
        opened = plan.created + 3_600.0 + rng.uniform(0.1, 0.5) * max(lead_time, 2 * DAY)
        if plan.customer is not None:
            drafts.append((min(opened, plan.customer), plan.customer, True, base, "New business"))
        elif opened < clock.horizon:
            closes = opened + rng.lognormvariate(math.log(40 * DAY), 0.5)
            drafts.append((opened, closes, False, base, "New business"))
        if plan.customer is not None and self.scale.deals_per_account_year > 0:
            rate = self.scale.deals_per_account_year / 12 * (0.5 + plan.health)
            t, until = plan.customer + 30 * DAY, plan.active_until(clock)
            while len(drafts) < _CHILDREN:
                t += rng.expovariate(rate) * MONTH
                if t >= until:
                    break
                closes = t + rng.lognormvariate(math.log(30 * DAY), 0.6)
                won = rng.random() < 0.35 + 0.5 * plan.health
                if rng.random() < 0.6:
                    drafts.append((t, closes, won, base * rng.uniform(0.15, 0.6), "Expansion"))
                else:
                    year = _at(t).year
                    amount = base * rng.lognormvariate(0.05, 0.1)
                    drafts.append((t, closes, won, amount, f"Renewal {year}"))
        for number, (opened_at, closes, won, amount, label) in enumerate(drafts):
            closed = closes < clock.horizon
            candidates = [c for c in contacts if c.created <= opened_at] or contacts[:1]
            people = rng.sample(candidates, min(len(candidates), 1 + (rng.random() < 0.4)))
            last = closes if closed else opened_at
            yield Deal(
                source=self.source,
                id=_id("deals", plan.index, number),
                created_at=_at(opened_at),
                updated_at=_at(clock.touch(rng, last, DAY)),
                name=f"{plan.name} - {label}",
                amount=Decimal(round(amount)),
                currency="USD",
                stage=("closedwon" if won else "closedlost") if closed else rng.choice(OPEN_STAGES),
                is_closed=closed,
                is_won=closed and won,
                closed_at=_at(closes) if closed else None,
                account_id=_id("accounts", plan.index),
                contact_ids=tuple(_id("contacts", plan.index, c.number) for c in people),
            )

    def _tickets_of(
        self, plan: AccountPlan, clock: Clock, contacts: list[ContactPlan]
    ) -> list[TicketPlan]:
        return plan_tickets(
            self.seed, plan, contacts, spec=self.scale, clock=clock, limit=_CHILDREN
        )

    def tickets(self) -> Iterator[Ticket]:
        """Support tickets of customer accounts, with response and resolution times."""
        for plan, clock in self._walk():
            account_id = _id("accounts", plan.index)
            for ticket in self._tickets_of(plan, clock, self._contacts_of(plan, clock)):
                yield Ticket(
                    source=self.source,
                    id=_id("tickets", plan.index, ticket.number),
                    created_at=_at(ticket.created),
                    updated_at=_at(ticket.updated),
                    subject=ticket.subject,
                    priority=ticket.priority,
                    channel=ticket.channel,
                    account_id=account_id,
                    contact_id=_id("contacts", plan.index, ticket.contact.number),
                    first_response_at=(
                        None if ticket.first_response is None else _at(ticket.first_response)
                    ),
                    closed_at=None if ticket.closed is None else _at(ticket.closed),
                )

    def activities(self) -> Iterator[Activity]:
        """E-mails, calls, meetings, notes and tasks with each contact while it is active."""
        for plan, clock in self._walk():
            yield from self._activities_of(plan, clock)

    def _activities_of(self, plan: AccountPlan, clock: Clock) -> Iterator[Activity]:
        rate = self.scale.activities_per_contact_month * (0.4 + 0.9 * plan.health)
        if rate <= 0:
            return
        rng = stream(self.seed, plan.index, "activities")
        drafts: list[tuple[float, int]] = []
        for person in self._contacts_of(plan, clock):
            until = person.churned if person.churned is not None else clock.horizon
            t = person.created
            while len(drafts) < _CHILDREN:
                t += rng.expovariate(rate) * MONTH
                if t >= until:
                    break
                drafts.append((t, person.number))
        drafts.sort()
        account_id = _id("accounts", plan.index)
        for number, (t, contact_number) in enumerate(drafts):
            kind = rng.choices(_ACTIVITY_KINDS, _ACTIVITY_WEIGHTS)[0]
            direction: Literal["inbound", "outbound"] | None = None
            if kind in _OUTBOUND_SHARE:
                direction = "outbound" if rng.random() < _OUTBOUND_SHARE[kind] else "inbound"
            yield Activity(
                source=self.source,
                id=_id("activities", plan.index, number),
                created_at=_at(t),
                updated_at=_at(clock.touch(rng, t)),
                activity_kind=kind,
                occurred_at=_at(t),
                direction=direction,
                account_id=account_id,
                contact_id=_id("contacts", plan.index, contact_number),
            )

    def surveys(self) -> Iterator[SurveyResponse]:
        """NPS, CSAT and CES answers from customer contacts, the latter two after closed tickets."""
        for plan, clock in self._walk():
            contacts = self._contacts_of(plan, clock)
            tickets = self._tickets_of(plan, clock, contacts)
            account_id = _id("accounts", plan.index)
            answers = plan_surveys(
                self.seed, plan, contacts, tickets, spec=self.scale, clock=clock, limit=_CHILDREN
            )
            for number, answer in enumerate(answers):
                low, high = SCALE[answer.kind]
                yield SurveyResponse(
                    source=self.source,
                    id=_id("surveys", plan.index, number),
                    created_at=_at(answer.answered),
                    updated_at=_at(answer.updated),
                    survey_kind=answer.kind,
                    score=answer.score,
                    scale_min=low,
                    scale_max=high,
                    higher_is_better=True,
                    comment=answer.comment,
                    answered_at=_at(answer.answered),
                    contact_id=_id("contacts", plan.index, answer.contact.number),
                    account_id=account_id,
                    ticket_id=(
                        None
                        if answer.ticket is None
                        else _id("tickets", plan.index, answer.ticket.number)
                    ),
                )

    def records(self) -> Iterator[Record]:
        """Every record: all accounts first, then contacts, deals, tickets, activities, surveys."""
        streams: tuple[Callable[[], Iterator[Record]], ...] = (
            self.accounts,
            self.contacts,
            self.deals,
            self.tickets,
            self.activities,
            self.surveys,
        )
        return chain.from_iterable(make() for make in streams)

    def estimated_counts(self) -> dict[str, int]:
        """Expected number of records per entity, from the scale alone (no generation)."""
        spec = self.scale
        months = (self.as_of - self.start).total_seconds() / MONTH
        accounts = spec.accounts
        contacts = accounts * spec.contacts_per_account * _CONTACTS_PER_MEAN
        customer_months = accounts * months * _CUSTOMER_MONTHS_PER_HISTORY_MONTH
        contact_months = contacts * months * _CONTACT_MONTHS_PER_HISTORY_MONTH
        tickets = customer_months * spec.tickets_per_account_month * _TICKETS_PER_RATE
        deals = accounts + customer_months * spec.deals_per_account_year / 12 * _DEALS_PER_RATE
        surveys = (
            contact_months * _CUSTOMER_CONTACT_SHARE * spec.nps_per_contact_month
            + tickets
            * (spec.csat_response_rate + spec.ces_response_rate)
            * _TICKET_SURVEYS_ANSWERED
        )
        return {
            "accounts": accounts,
            "contacts": round(contacts),
            "deals": round(deals),
            "tickets": round(tickets),
            "activities": round(contact_months * spec.activities_per_contact_month),
            "surveys": round(surveys),
        }


def generate(
    seed: int = 7,
    scale: str | ScaleSpec = "small",
    as_of: datetime | None = None,
    source: str = "synth",
) -> World:
    """Describe a synthetic world; nothing is generated until one of its iterators is consumed.

    ``scale`` is a name from :data:`SCALES` or a custom :class:`ScaleSpec`. ``as_of`` (default: the
    start of the current UTC day) is the world's "now": every timestamp is before it. The world
    starts ``scale.history_months`` whole calendar months before the month of ``as_of``.
    """
    if isinstance(scale, str):
        try:
            spec = SCALES[scale]
        except KeyError:
            raise ValueError(f"unknown scale {scale!r}; choose one of {sorted(SCALES)}") from None
    else:
        spec = scale
    if as_of is None:
        now = datetime.now(UTC)
        as_of = datetime(now.year, now.month, now.day, tzinfo=UTC)
    elif as_of.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    as_of = as_of.astimezone(UTC)
    return World(
        seed=seed,
        scale=spec,
        as_of=as_of,
        source=source,
        start=_start_of(as_of, spec.history_months),
    )
