"""The hidden story of each account: who it is, how healthy it is, who works there, what goes wrong.

Everything here is a plain *plan* (times as POSIX seconds, no pydantic) drawn from random streams
keyed by ``(seed, account index, part)``. Because each part has its own stream, any record type can
be regenerated for one account without drawing the others, and an account's plan does not depend on
how many accounts the world has: the tiny world is the first 20 accounts of the small one.

The latent ``health`` (0..1) drives the rest: unhealthy accounts open more tickets, are served more
slowly (``service`` multiplies response and resolution times), answer surveys worse and churn more.
"""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass
from typing import Final

from crmpulse.synth.scale import ScaleSpec
from crmpulse.synth.text import (
    BRAND_ROOTS,
    BUSINESS_WORDS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    LEGAL_SUFFIX,
    SUBJECTS,
    TLD,
    Lang,
    TicketTopic,
    name_slug,
    slug,
)

MINUTE: Final = 60.0
HOUR: Final = 3_600.0
DAY: Final = 86_400.0
MONTH: Final = 30.44 * DAY

SEGMENTS: Final = ("SMB", "Mid-Market", "Enterprise")
SEGMENT_WEIGHTS: Final = (0.6, 0.3, 0.1)
_CONTACTS_FACTOR: Final = {"SMB": 0.6, "Mid-Market": 1.3, "Enterprise": 2.7}
_TICKETS_FACTOR: Final = {"SMB": 0.6, "Mid-Market": 1.2, "Enterprise": 3.0}
# Enterprise accounts get a dedicated queue: faster answers, and they churn far less.
_SERVICE_FACTOR: Final = {"SMB": 1.15, "Mid-Market": 0.9, "Enterprise": 0.6}
_CHURN_FACTOR: Final = {"SMB": 1.3, "Mid-Market": 0.8, "Enterprise": 0.4}

_BUSINESS: Final[tuple[tuple[Lang, str], ...]] = tuple(
    (lang, word) for lang in ("en", "pt") for word in BUSINESS_WORDS[lang]
)
_NAME_SPACE: Final = len(BRAND_ROOTS) * len(_BUSINESS)
_NAME_STEP: Final = (
    7_919  # a prime not dividing _NAME_SPACE: index -> name is a bijection per cycle
)

_TOPICS: Final[tuple[TicketTopic, ...]] = ("bug", "howto", "billing", "access", "feature")
_TOPIC_WEIGHTS: Final = (30, 25, 15, 15, 15)
PRIORITIES: Final = ("LOW", "MEDIUM", "HIGH", "URGENT")
_PRIORITY_WEIGHTS: Final = {"bug": (15, 35, 35, 15)}
_DEFAULT_PRIORITY_WEIGHTS: Final = (40, 42, 14, 4)
_PRIORITY_SPEED: Final = {"LOW": 1.5, "MEDIUM": 1.0, "HIGH": 0.6, "URGENT": 0.3}
CHANNELS: Final = ("EMAIL", "CHAT", "PHONE", "FORM")
_CHANNEL_WEIGHTS: Final = (45, 25, 15, 15)
_CHANNEL_SPEED: Final = {"EMAIL": 1.3, "CHAT": 0.4, "PHONE": 0.15, "FORM": 1.6}
_RESOLUTION_HOURS: Final = {
    "bug": 60.0,
    "howto": 8.0,
    "billing": 20.0,
    "access": 3.0,
    "onboarding": 30.0,
    "feature": 120.0,
}


def stream(seed: int, index: int, part: str) -> random.Random:
    """The random stream of one part of one account (stable across runs and Python versions)."""
    digest = hashlib.blake2b(f"{seed}:{index}:{part}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw (Knuth for small means, a rounded normal beyond)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


@dataclass(frozen=True, slots=True)
class Clock:
    """The world's time frame in POSIX seconds.

    Events happen before ``horizon`` (a minute before ``end``) so that the ``updated`` stamp that
    follows an event still lands strictly before ``as_of``.
    """

    start: float
    end: float

    @property
    def horizon(self) -> float:
        """The latest time an event may happen."""
        return self.end - MINUTE

    def touch(self, rng: random.Random, last: float, within: float = HOUR) -> float:
        """An ``updated`` stamp shortly after ``last``, still before ``as_of``."""
        return min(last + rng.uniform(MINUTE, within), self.end - 1.0)


@dataclass(frozen=True, slots=True)
class AccountPlan:
    """One account's identity, latent state and lifecycle dates."""

    index: int
    lang: Lang
    name: str
    domain: str
    segment: str
    industry: str
    health: float
    service: float
    created: float
    customer: float | None
    churned: float | None
    updated: float

    def active_until(self, clock: Clock) -> float:
        """When the relationship stops producing events (churn, or the horizon)."""
        return self.churned if self.churned is not None else clock.horizon


@dataclass(frozen=True, slots=True)
class ContactPlan:
    """One person at an account, with lifecycle dates and a personal mood offset."""

    number: int
    first_name: str
    last_name: str
    email: str
    created: float
    customer: float | None
    churned: float | None
    opportunity: bool
    mood: float
    updated: float

    def is_customer_at(self, t: float) -> bool:
        """Whether the contact is a (not yet churned) customer at ``t``."""
        return (
            self.customer is not None
            and self.customer <= t
            and (self.churned is None or t < self.churned)
        )


@dataclass(frozen=True, slots=True)
class TicketPlan:
    """One ticket's timeline."""

    number: int
    contact: ContactPlan
    created: float
    first_response: float | None
    closed: float | None
    priority: str
    channel: str
    topic: TicketTopic
    subject: str
    updated: float


def _name(seed: int, index: int) -> tuple[Lang, str, str]:
    """Language, name stem and domain stem, unique per index for a given seed."""
    offset = int.from_bytes(hashlib.blake2b(f"{seed}:names".encode(), digest_size=4).digest())
    cycle, position = divmod(index, _NAME_SPACE)
    key = (position * _NAME_STEP + offset) % _NAME_SPACE
    root = BRAND_ROOTS[key // len(_BUSINESS)]
    lang, word = _BUSINESS[key % len(_BUSINESS)]
    number = f" {cycle + 1}" if cycle else ""
    return lang, f"{root} {word}{number}", slug(f"{root}{word}{number}")


def plan_account(seed: int, index: int, clock: Clock) -> AccountPlan:
    """Draw account ``index``: segment, health, service level, creation, conversion and churn."""
    rng = stream(seed, index, "account")
    lang, stem, domain_stem = _name(seed, index)
    segment = rng.choices(SEGMENTS, SEGMENT_WEIGHTS)[0]
    health = rng.betavariate(4.0, 2.0)
    service = math.exp(rng.gauss(0.0, 0.3) + 1.2 * (0.62 - health)) * _SERVICE_FACTOR[segment]
    # Half the book exists from the start; the rest is acquired over the window.
    if rng.random() < 0.5:
        created = clock.start + rng.uniform(0.0, 45 * DAY)
    else:
        created = rng.uniform(clock.start, clock.horizon - 7 * DAY)
    customer: float | None = None
    churned: float | None = None
    if rng.random() < 0.82:
        customer = created + max(2 * DAY, rng.lognormvariate(math.log(21 * DAY), 0.6))
        if customer >= clock.horizon:
            customer = None
    if customer is not None:
        hazard = 0.011 * ((1.0 - health) / 0.35) ** 2 * service**0.8 * _CHURN_FACTOR[segment]
        # Nobody leaves inside the first two months of a contract.
        when = customer + 60 * DAY + rng.expovariate(hazard) * MONTH
        churned = when if when < clock.horizon else None
    last = max(t for t in (created, customer, churned) if t is not None)
    return AccountPlan(
        index=index,
        lang=lang,
        name=f"{stem} {rng.choice(LEGAL_SUFFIX[lang])}",
        domain=f"{domain_stem}.{rng.choice(TLD[lang])}",
        segment=segment,
        industry=rng.choice(INDUSTRIES),
        health=health,
        service=service,
        created=created,
        customer=customer,
        churned=churned,
        updated=clock.touch(rng, last, 5 * DAY),
    )


def plan_contacts(
    seed: int, account: AccountPlan, *, spec: ScaleSpec, clock: Clock, limit: int
) -> list[ContactPlan]:
    """Draw the people of an account; contact 0 is the champion who signed."""
    rng = stream(seed, account.index, "contacts")
    mean = spec.contacts_per_account * _CONTACTS_FACTOR[account.segment]
    count = min(limit, 1 + poisson(rng, mean - 1.0))
    until = account.active_until(clock)
    firsts, lasts = FIRST_NAMES[account.lang], LAST_NAMES[account.lang]
    emails: set[str] = set()
    contacts: list[ContactPlan] = []
    for number in range(count):
        if number == 0:
            created = account.created
        else:
            created = account.created + rng.random() ** 1.5 * (until - account.created)
        first, last = rng.choice(firsts), rng.choice(lasts)
        local = f"{name_slug(first)}.{name_slug(last)}"
        if local in emails:
            local = f"{local}{number}"
        emails.add(local)
        customer: float | None = None
        if account.customer is not None and (number == 0 or rng.random() < 0.85):
            if number == 0:
                customer = account.customer
            elif created <= account.customer:
                customer = account.customer + rng.uniform(0.0, 5 * DAY)
            else:
                customer = created + rng.lognormvariate(math.log(3 * DAY), 0.7)
            if customer >= until:
                customer = None
        churned: float | None = None
        if customer is not None:
            if account.churned is not None:
                churned = min(account.churned + rng.uniform(0.0, 2 * DAY), clock.horizon)
            else:
                # People change jobs: a slow trickle of individual churn in healthy accounts.
                when = customer + rng.expovariate(0.006) * MONTH
                churned = when if when < clock.horizon else None
        last_event = max(t for t in (created, customer, churned) if t is not None)
        contacts.append(
            ContactPlan(
                number=number,
                first_name=first,
                last_name=last,
                email=f"{local}@{account.domain}",
                created=created,
                customer=customer,
                churned=churned,
                opportunity=customer is None and rng.random() < 0.35,
                mood=rng.gauss(0.0, 0.08),
                updated=clock.touch(rng, last_event, 3 * DAY),
            )
        )
    return contacts


def plan_tickets(
    seed: int,
    account: AccountPlan,
    contacts: list[ContactPlan],
    *,
    spec: ScaleSpec,
    clock: Clock,
    limit: int,
) -> list[TicketPlan]:
    """Draw the support tickets of a customer account, in creation order."""
    if account.customer is None:
        return []
    rng = stream(seed, account.index, "tickets")
    rate = (
        spec.tickets_per_account_month
        * _TICKETS_FACTOR[account.segment]
        * (0.7 + 0.9 * (1.0 - account.health))
    )
    if rate <= 0:
        return []
    until = account.active_until(clock)
    tickets: list[TicketPlan] = []
    t = account.customer
    while len(tickets) < limit:
        t += rng.expovariate(rate) * MONTH
        if t >= until:
            break
        callers = [c for c in contacts if c.is_customer_at(t)]
        if not callers:
            continue
        contact = rng.choice(callers)
        topic: TicketTopic = (
            "onboarding"
            if t - account.customer < 60 * DAY and rng.random() < 0.5
            else rng.choices(_TOPICS, _TOPIC_WEIGHTS)[0]
        )
        priority = rng.choices(PRIORITIES, _PRIORITY_WEIGHTS.get(topic, _DEFAULT_PRIORITY_WEIGHTS))[
            0
        ]
        channel = rng.choices(CHANNELS, _CHANNEL_WEIGHTS)[0]
        median = 3.0 * HOUR * account.service * _PRIORITY_SPEED[priority] * _CHANNEL_SPEED[channel]
        first_response: float | None = t + rng.lognormvariate(math.log(median), 1.1)
        recent = clock.horizon - t < 10 * DAY
        if (first_response is not None and first_response >= clock.horizon) or (
            recent and rng.random() < 0.05
        ):
            first_response = None
        closed: float | None = None
        if first_response is not None:
            median = _RESOLUTION_HOURS[topic] * HOUR * math.sqrt(account.service)
            closed = first_response + rng.lognormvariate(math.log(median), 1.0)
            if closed >= clock.horizon:
                closed = None
        last_event = max(x for x in (t, first_response, closed) if x is not None)
        tickets.append(
            TicketPlan(
                number=len(tickets),
                contact=contact,
                created=t,
                first_response=first_response,
                closed=closed,
                priority=priority,
                channel=channel,
                topic=topic,
                subject=rng.choice(SUBJECTS[topic][account.lang]),
                updated=clock.touch(rng, last_event),
            )
        )
    return tickets
