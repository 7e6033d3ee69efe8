"""A scenario clock that moves a synthetic world forward in time.

A :class:`World` ends at ``as_of``. A :class:`Scenario` continues it: each :meth:`Scenario.advance`
moves its clock and returns the normalized records that appeared or changed in the elapsed interval
(new tickets, replies to and closing of open tickets, survey answers with comments, new and closing
deals, activities, and the occasional churned account with its contacts). Events hit existing
accounts and contacts of the world, sampled by index through the same plan functions the world uses,
so a call costs in proportion to the number of events, not to the size of the world.

Records the scenario creates get ids of their own: numeric like the world's, one digit longer, so
they never collide with a world id. Everything is drawn from one random stream keyed by the world's
seed and the scenario's ``seed``: the same world, seed and sequence of ``advance`` calls give the
same records.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Final, Literal

from crmpulse.model import (
    Account,
    Activity,
    Contact,
    Deal,
    LifecycleStage,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
)
from crmpulse.synth.story import (
    _CHANNEL_SPEED,
    _CHANNEL_WEIGHTS,
    _CHURN_FACTOR,
    _DEFAULT_PRIORITY_WEIGHTS,
    _PRIORITY_SPEED,
    _PRIORITY_WEIGHTS,
    _RESOLUTION_HOURS,
    _TICKETS_FACTOR,
    _TOPIC_WEIGHTS,
    _TOPICS,
    CHANNELS,
    DAY,
    HOUR,
    MONTH,
    PRIORITIES,
    AccountPlan,
    Clock,
    ContactPlan,
    TicketPlan,
    plan_account,
    plan_contacts,
    plan_tickets,
    poisson,
    stream,
)
from crmpulse.synth.surveys import _NEGATIVE_UPTO, _POSITIVE_FROM, SCALE
from crmpulse.synth.text import BUT, FRAGMENTS, SUBJECTS, THEMES, TOPIC_THEME, Theme, TicketTopic
from crmpulse.synth.world import (
    _ACTIVITY_KINDS,
    _ACTIVITY_WEIGHTS,
    _AMOUNT_MEDIAN,
    _CHILDREN,
    _OUTBOUND_SHARE,
    _PREFIX,
    OPEN_STAGES,
    World,
    _id,
)

_FRESH_BASE: Final = 10
"""Scenario ids are ``(10 + type prefix) * 10**12 + n``: 14 digits, world ids have 13."""
_PLAN_CACHE: Final = 4_096
_MAX_TICKET_FACTOR: Final = 3.0 * 1.6
_MAX_DEAL_FACTOR: Final = 1.5
_MAX_ACTIVITY_FACTOR: Final = 1.3
_MAX_CHURN_HAZARD: Final = 0.06
"""Monthly churn hazard the draws are thinned from (the world's hazard, capped here)."""

_ORDER: Final = {"account": 0, "contact": 1, "deal": 2, "ticket": 3, "activity": 4, "survey": 5}
EventKind = Literal["ticket", "nps", "deal", "activity", "churn"]


@dataclass(slots=True)
class _OpenTicket:
    """A ticket the scenario will answer and close."""

    record: Ticket
    account: AccountPlan
    contact: ContactPlan
    topic: TicketTopic


@dataclass(order=True, slots=True)
class _Due:
    """A follow-up scheduled for a known time: a reply, a close, a survey answer."""

    at: int
    seq: int
    action: str = field(compare=False)
    key: str = field(compare=False)


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _lognormal_seconds(rng: random.Random, median: float, sigma: float) -> float:
    return rng.lognormvariate(math.log(median), sigma)


class Scenario:
    """A clock over a :class:`World` that produces the records of the world's future.

    ``now`` starts at ``start`` (default: the world's ``as_of``). :meth:`advance` moves it and
    returns what happened. ``pace`` multiplies every event rate (1.0: the world's own rates, so a
    24 h step on the ``small`` world yields a handful of records and a 720 h step a month's worth).
    """

    def __init__(
        self,
        world: World,
        *,
        seed: int | None = None,
        start: datetime | None = None,
        pace: float = 1.0,
    ) -> None:
        if start is not None and start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        if pace < 0:
            raise ValueError("pace must not be negative")
        self.world = world
        self.seed = world.seed if seed is None else seed
        self.pace = pace
        self.now: datetime = (start or world.as_of).astimezone(UTC)
        """The scenario clock: every record returned so far happened at or before it."""
        self._rng = stream(world.seed, 0, f"scenario:{self.seed}")
        self._clock = Clock(world.start.timestamp(), world.as_of.timestamp())
        self._plans: dict[int, tuple[AccountPlan, list[ContactPlan]]] = {}
        self._counters: dict[str, int] = {}
        self._tickets: dict[str, _OpenTicket] = {}
        self._deals: dict[str, tuple[Deal, bool]] = {}
        self._due: list[_Due] = []
        self._seq = 0
        self._churned: dict[int, int] = {}
        self._discovered = False

    # ------------------------------------------------------------------ public
    def advance(self, hours: float) -> list[Record]:
        """Move the clock ``hours`` forward; the records new or changed in (old now, new now].

        Each record appears once, in its latest state, ordered by ``updated_at``. Timestamps are
        whole seconds inside the interval.
        """
        if not math.isfinite(hours) or hours < 0:
            raise ValueError(f"hours must be a finite non-negative number, got {hours}")
        old = self.now
        self.now = old + timedelta(hours=hours)
        if not self._discovered:
            self._discover_open_tickets(old.timestamp())
        low, high = math.floor(old.timestamp()) + 1, math.floor(self.now.timestamp())
        out: dict[tuple[str, str], Record] = {}
        if high < low:
            return []
        events = self._draw_events(low, high, hours)
        handlers: dict[EventKind, Callable[[int, dict[tuple[str, str], Record]], None]] = {
            "ticket": self._new_ticket,
            "nps": self._nps_answer,
            "deal": self._new_deal,
            "activity": self._new_activity,
            "churn": self._churn,
        }
        position = 0
        while position < len(events) or (self._due and self._due[0].at <= high):
            if (
                self._due
                and self._due[0].at <= high
                and (position >= len(events) or self._due[0].at <= events[position][0])
            ):
                self._follow_up(heapq.heappop(self._due), out)
            else:
                at, kind = events[position]
                position += 1
                handlers[kind](at, out)
        return sorted(out.values(), key=lambda r: (r.updated_at, _ORDER[str(r.kind)], r.id))  # type: ignore[attr-defined]

    # ------------------------------------------------------------- event draws
    def _draw_events(self, low: int, high: int, hours: float) -> list[tuple[int, EventKind]]:
        spec, accounts = self.world.scale, self.world.scale.accounts
        months = hours * HOUR / MONTH * self.pace
        means: list[tuple[EventKind, float]] = [
            ("ticket", accounts * spec.tickets_per_account_month * _MAX_TICKET_FACTOR),
            (
                "nps",
                accounts * spec.contacts_per_account * spec.nps_per_contact_month,
            ),
            ("deal", accounts * spec.deals_per_account_year / 12 * _MAX_DEAL_FACTOR),
            (
                "activity",
                accounts
                * spec.contacts_per_account
                * spec.activities_per_contact_month
                * _MAX_ACTIVITY_FACTOR,
            ),
            ("churn", accounts * _MAX_CHURN_HAZARD),
        ]
        events: list[tuple[int, EventKind]] = []
        for kind, per_month in means:
            for _ in range(poisson(self._rng, per_month * months)):
                events.append((self._rng.randint(low, high), kind))
        events.sort(key=lambda event: (event[0], event[1]))
        return events

    def _account(self, index: int) -> tuple[AccountPlan, list[ContactPlan]]:
        cached = self._plans.get(index)
        if cached is None:
            plan = plan_account(self.world.seed, index, self._clock)
            people = plan_contacts(
                self.world.seed, plan, spec=self.world.scale, clock=self._clock, limit=_CHILDREN
            )
            if len(self._plans) >= _PLAN_CACHE:
                self._plans.pop(next(iter(self._plans)))
            cached = self._plans[index] = (plan, people)
        return cached

    def _is_customer(self, plan: AccountPlan, t: int) -> bool:
        churned = self._churned.get(plan.index)
        return (
            plan.customer is not None
            and plan.customer <= t
            and (plan.churned is None or t < plan.churned)
            and (churned is None or t < churned)
        )

    def _sample_customer(self, t: int) -> tuple[AccountPlan, list[ContactPlan]] | None:
        plan, people = self._account(self._rng.randrange(self.world.scale.accounts))
        if not self._is_customer(plan, t):
            return None
        callers = [c for c in people if c.is_customer_at(t)]
        return (plan, callers) if callers else None

    def _fresh(self, entity: str) -> str:
        number = self._counters.get(entity, 0) + 1
        self._counters[entity] = number
        return str((_FRESH_BASE + _PREFIX[entity]) * 10**12 + number)

    def _schedule(self, at: float, action: str, key: str) -> None:
        self._seq += 1
        heapq.heappush(self._due, _Due(math.ceil(at), self._seq, action, key))

    @property
    def _source(self) -> str:
        return self.world.source

    # ----------------------------------------------------------------- tickets
    def _discover_open_tickets(self, after: float) -> None:
        """Register the world's unsolved tickets, so that the scenario answers and closes them."""
        self._discovered = True
        for index in range(self.world.scale.accounts):
            plan = plan_account(self.world.seed, index, self._clock)
            if plan.customer is None:
                continue
            people = plan_contacts(
                self.world.seed, plan, spec=self.world.scale, clock=self._clock, limit=_CHILDREN
            )
            for ticket in plan_tickets(
                self.world.seed, plan, people, spec=self.world.scale, clock=self._clock,
                limit=_CHILDREN,
            ):  # fmt: skip
                if ticket.closed is None:
                    self._open_world_ticket(plan, ticket, after)

    def _open_world_ticket(self, plan: AccountPlan, ticket: TicketPlan, after: float) -> None:
        record = Ticket(
            source=self._source,
            id=_id("tickets", plan.index, ticket.number),
            created_at=_at(int(ticket.created)),
            updated_at=_at(int(ticket.updated)),
            subject=ticket.subject,
            priority=ticket.priority,
            channel=ticket.channel,
            account_id=_id("accounts", plan.index),
            contact_id=_id("contacts", plan.index, ticket.contact.number),
            first_response_at=(
                None if ticket.first_response is None else _at(int(ticket.first_response))
            ),
        )
        self._tickets[record.id] = _OpenTicket(record, plan, ticket.contact, ticket.topic)
        if ticket.first_response is None:
            reply = max(ticket.created, after) + self._response_delay(
                plan, ticket.priority, ticket.channel
            )
            self._schedule(reply, "reply", record.id)
        else:
            self._schedule(
                max(ticket.first_response, after) + self._resolution_delay(plan, ticket.topic),
                "close",
                record.id,
            )

    def _response_delay(self, plan: AccountPlan, priority: str, channel: str) -> float:
        median = 3.0 * HOUR * plan.service * _PRIORITY_SPEED[priority] * _CHANNEL_SPEED[channel]
        return _lognormal_seconds(self._rng, median, 1.1)

    def _resolution_delay(self, plan: AccountPlan, topic: TicketTopic) -> float:
        median = _RESOLUTION_HOURS[topic] * HOUR * math.sqrt(plan.service)
        return _lognormal_seconds(self._rng, median, 1.0)

    def _new_ticket(self, t: int, out: dict[tuple[str, str], Record]) -> None:
        sampled = self._sample_customer(t)
        if sampled is None:
            return
        plan, callers = sampled
        factor = _TICKETS_FACTOR[plan.segment] * (0.7 + 0.9 * (1.0 - plan.health))
        if self._rng.random() * _MAX_TICKET_FACTOR >= factor:
            return
        rng = self._rng
        contact = rng.choice(callers)
        topic: TicketTopic = rng.choices(_TOPICS, _TOPIC_WEIGHTS)[0]
        weights = _PRIORITY_WEIGHTS.get(topic, _DEFAULT_PRIORITY_WEIGHTS)
        priority = rng.choices(PRIORITIES, weights)[0]
        channel = rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]
        record = Ticket(
            source=self._source,
            id=self._fresh("tickets"),
            created_at=_at(t),
            updated_at=_at(t),
            subject=rng.choice(SUBJECTS[topic][plan.lang]),
            priority=priority,
            channel=channel,
            account_id=_id("accounts", plan.index),
            contact_id=_id("contacts", plan.index, contact.number),
        )
        self._tickets[record.id] = _OpenTicket(record, plan, contact, topic)
        out[("ticket", record.id)] = record
        self._schedule(t + self._response_delay(plan, priority, channel), "reply", record.id)

    def _follow_up(self, due: _Due, out: dict[tuple[str, str], Record]) -> None:
        if due.action == "deal":
            self._close_deal(due, out)
            return
        if due.action in ("csat", "ces"):
            self._ticket_survey(due, out)
            return
        open_ticket = self._tickets[due.key]
        at = _at(due.at)
        if due.action == "reply":
            record = open_ticket.record.model_copy(
                update={"first_response_at": at, "updated_at": at}
            )
            self._schedule(
                due.at + self._resolution_delay(open_ticket.account, open_ticket.topic),
                "close",
                due.key,
            )
        else:
            record = open_ticket.record.model_copy(update={"closed_at": at, "updated_at": at})
            draw = self._rng.random()
            spec = self.world.scale
            if draw < spec.csat_response_rate + spec.ces_response_rate:
                kind = "csat" if draw < spec.csat_response_rate else "ces"
                answer = due.at + _lognormal_seconds(self._rng, 4 * HOUR, 1.0)
                self._schedule(answer, kind, due.key)
            else:
                del self._tickets[due.key]
        open_ticket.record = record
        out[("ticket", record.id)] = record

    def _ticket_survey(self, due: _Due, out: dict[tuple[str, str], Record]) -> None:
        """A CSAT or CES answer some hours after a ticket was closed (kept until then)."""
        ticket = self._tickets.pop(due.key)
        if not self._is_customer(ticket.account, due.at):
            return
        record = ticket.record
        assert record.first_response_at is not None
        assert record.closed_at is not None
        wait = (record.first_response_at - record.created_at).total_seconds() / HOUR
        fix = (record.closed_at - record.created_at).total_seconds() / HOUR
        experience = 0.5 * max(0.0, 1.0 - math.log1p(wait) / math.log1p(72.0)) + 0.5 * max(
            0.0, 1.0 - math.log1p(fix) / math.log1p(21 * 24.0)
        )
        feeling = 0.5 * self._feeling(ticket.account, ticket.contact) + 0.5 * experience
        noise = self._rng.gauss(0.0, 0.8)
        if due.action == "csat":
            kind, score = SurveyKind.CSAT, max(1, min(5, round(1.4 + 4.2 * feeling + noise)))
        else:
            kind, score = SurveyKind.CES, max(1, min(7, round(1.6 + 6.0 * feeling + noise)))
        answer = self._answer(due.at, kind, score, ticket.account, ticket.contact, ticket)
        out[("survey", answer.id)] = answer

    # ----------------------------------------------------------------- surveys
    def _feeling(self, plan: AccountPlan, contact: ContactPlan) -> float:
        return plan.health + contact.mood - 0.08 * math.log(plan.service)

    def _comment(
        self, plan: AccountPlan, kind: SurveyKind, score: int, topic: TicketTopic | None
    ) -> str | None:
        rng = self._rng
        if rng.random() >= self.world.scale.comment_rate:
            return None
        pool = FRAGMENTS[plan.lang]
        theme: Theme = (
            TOPIC_THEME[topic] if topic is not None and rng.random() < 0.7 else rng.choice(THEMES)
        )
        if score >= _POSITIVE_FROM[kind]:
            return rng.choice(pool[theme]["positive"])
        if score <= _NEGATIVE_UPTO[kind]:
            return rng.choice(pool[theme]["negative"])
        good = rng.choice(pool[rng.choice([t for t in THEMES if t != theme])]["positive"])
        bad = rng.choice(pool[theme]["negative"])
        return f"{good} {BUT[plan.lang]} {bad[0].lower()}{bad[1:]}"

    def _answer(
        self,
        t: int,
        kind: SurveyKind,
        score: int,
        plan: AccountPlan,
        contact: ContactPlan,
        ticket: _OpenTicket | None,
    ) -> SurveyResponse:
        low, high = SCALE[kind]
        return SurveyResponse(
            source=self._source,
            id=self._fresh("surveys"),
            created_at=_at(t),
            updated_at=_at(t),
            survey_kind=kind,
            score=score,
            scale_min=low,
            scale_max=high,
            comment=self._comment(plan, kind, score, None if ticket is None else ticket.topic),
            answered_at=_at(t),
            contact_id=_id("contacts", plan.index, contact.number),
            account_id=_id("accounts", plan.index),
            ticket_id=None if ticket is None else ticket.record.id,
        )

    def _nps_answer(self, t: int, out: dict[tuple[str, str], Record]) -> None:
        sampled = self._sample_customer(t)
        if sampled is None:
            return
        plan, callers = sampled
        contact = self._rng.choice(callers)
        feeling = self._feeling(plan, contact)
        score = max(0, min(10, round(2.0 + 9.5 * feeling + self._rng.gauss(0.0, 1.3))))
        record = self._answer(t, SurveyKind.NPS, score, plan, contact, None)
        out[("survey", record.id)] = record

    # ------------------------------------------------------------ deals, churn
    def _new_deal(self, t: int, out: dict[tuple[str, str], Record]) -> None:
        sampled = self._sample_customer(t)
        if sampled is None:
            return
        plan, callers = sampled
        rng = self._rng
        if rng.random() * _MAX_DEAL_FACTOR >= 0.5 + plan.health:
            return
        base = _AMOUNT_MEDIAN[plan.segment] * rng.lognormvariate(0.0, 0.5)
        if rng.random() < 0.6:
            label, amount = "Expansion", base * rng.uniform(0.15, 0.6)
        else:
            label, amount = f"Renewal {_at(t).year}", base * rng.lognormvariate(0.05, 0.1)
        people = rng.sample(callers, min(len(callers), 1 + (rng.random() < 0.4)))
        deal = Deal(
            source=self._source,
            id=self._fresh("deals"),
            created_at=_at(t),
            updated_at=_at(t),
            name=f"{plan.name} - {label}",
            amount=Decimal(round(amount)),
            currency="USD",
            stage=rng.choice(OPEN_STAGES),
            account_id=_id("accounts", plan.index),
            contact_ids=tuple(_id("contacts", plan.index, c.number) for c in people),
        )
        won = rng.random() < 0.35 + 0.5 * plan.health
        self._deals[deal.id] = (deal, won)
        out[("deal", deal.id)] = deal
        self._schedule(t + _lognormal_seconds(rng, 3 * DAY, 1.2), "deal", deal.id)

    def _close_deal(self, due: _Due, out: dict[tuple[str, str], Record]) -> None:
        deal, won = self._deals.pop(due.key)
        at = _at(due.at)
        closed = deal.model_copy(
            update={
                "stage": "closedwon" if won else "closedlost",
                "is_closed": True,
                "is_won": won,
                "closed_at": at,
                "updated_at": at,
            }
        )
        out[("deal", closed.id)] = closed

    def _new_activity(self, t: int, out: dict[tuple[str, str], Record]) -> None:
        rng = self._rng
        plan, people = self._account(rng.randrange(self.world.scale.accounts))
        if (
            plan.created > t
            or (plan.churned is not None and plan.churned <= t)
            or plan.index in self._churned
            or rng.random() * _MAX_ACTIVITY_FACTOR >= 0.4 + 0.9 * plan.health
        ):
            return
        present = [c for c in people if c.created <= t and (c.churned is None or t < c.churned)]
        if not present:
            return
        contact = rng.choice(present)
        kind = rng.choices(_ACTIVITY_KINDS, _ACTIVITY_WEIGHTS)[0]
        direction: Literal["inbound", "outbound"] | None = None
        if kind in _OUTBOUND_SHARE:
            direction = "outbound" if rng.random() < _OUTBOUND_SHARE[kind] else "inbound"
        record = Activity(
            source=self._source,
            id=self._fresh("activities"),
            created_at=_at(t),
            updated_at=_at(t),
            activity_kind=kind,
            occurred_at=_at(t),
            direction=direction,
            account_id=_id("accounts", plan.index),
            contact_id=_id("contacts", plan.index, contact.number),
        )
        out[("activity", record.id)] = record

    def _churn(self, t: int, out: dict[tuple[str, str], Record]) -> None:
        sampled = self._sample_customer(t)
        if sampled is None:
            return
        plan, callers = sampled
        # The world's churn hazard (see story.plan_account), thinned from the capped maximum.
        hazard = (
            0.011
            * ((1.0 - plan.health) / 0.35) ** 2
            * plan.service**0.8
            * _CHURN_FACTOR[plan.segment]
        )
        if self._rng.random() * _MAX_CHURN_HAZARD >= hazard:
            return
        self._churned[plan.index] = t
        at = _at(t)
        account = Account(
            source=self._source,
            id=_id("accounts", plan.index),
            created_at=_at(int(plan.created)),
            updated_at=at,
            name=plan.name,
            domain=plan.domain,
            segment=plan.segment,
            industry=plan.industry,
            became_customer_at=None if plan.customer is None else _at(int(plan.customer)),
            churned_at=at,
        )
        out[("account", account.id)] = account
        for person in callers:
            contact = Contact(
                source=self._source,
                id=_id("contacts", plan.index, person.number),
                created_at=_at(int(person.created)),
                updated_at=at,
                email=person.email,
                first_name=person.first_name,
                last_name=person.last_name,
                lifecycle_stage=LifecycleStage.CHURNED,
                account_id=account.id,
                became_lead_at=_at(int(person.created)),
                became_customer_at=None if person.customer is None else _at(int(person.customer)),
                churned_at=at,
            )
            out[("contact", contact.id)] = contact
