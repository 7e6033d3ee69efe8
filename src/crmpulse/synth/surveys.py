"""Survey answers: relationship NPS from customer contacts, CSAT and CES after closed tickets.

Scores follow the account's health and the contact's mood, sag in the months before an account
churns, and (for ticket surveys) follow how fast the ticket was answered and solved. Comments are
chosen to agree with the score and to name what drove it.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Final

from crmpulse.model import SurveyKind
from crmpulse.synth.scale import ScaleSpec
from crmpulse.synth.story import (
    DAY,
    HOUR,
    MINUTE,
    MONTH,
    AccountPlan,
    Clock,
    ContactPlan,
    TicketPlan,
    stream,
)
from crmpulse.synth.text import BUT, FRAGMENTS, THEMES, TOPIC_THEME, Lang, Polarity, Theme

SCALE: Final[dict[SurveyKind, tuple[int, int]]] = {
    SurveyKind.NPS: (0, 10),
    SurveyKind.CSAT: (1, 5),
    SurveyKind.CES: (1, 7),
}
"""Score range per survey kind (CES 2.0: 7 means "the company made it easy")."""

# Score at or above: praise; at or below: complaint; in between: a mixed comment.
_POSITIVE_FROM: Final = {SurveyKind.NPS: 9, SurveyKind.CSAT: 4, SurveyKind.CES: 6}
_NEGATIVE_UPTO: Final = {SurveyKind.NPS: 6, SurveyKind.CSAT: 2, SurveyKind.CES: 3}


@dataclass(frozen=True, slots=True)
class SurveyPlan:
    """One answer, before it becomes a record."""

    kind: SurveyKind
    score: int
    answered: float
    contact: ContactPlan
    ticket: TicketPlan | None
    comment: str | None
    updated: float


def _clamp(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _mood(account: AccountPlan, contact: ContactPlan, t: float) -> float:
    """How the contact feels about the vendor at ``t`` (about 0..1)."""
    base = account.health + contact.mood - 0.08 * math.log(account.service)
    if account.churned is not None:
        months_left = (account.churned - t) / (4 * MONTH)
        if 0.0 <= months_left < 1.0:
            base -= 0.3 * (1.0 - months_left)
    return base


def _ticket_experience(ticket: TicketPlan) -> float:
    """1 for an instant answer and fix, 0 for three days to answer and three weeks to fix."""
    assert ticket.first_response is not None
    assert ticket.closed is not None
    wait = (ticket.first_response - ticket.created) / HOUR
    fix = (ticket.closed - ticket.created) / HOUR
    quick_answer = max(0.0, 1.0 - math.log1p(wait) / math.log1p(72.0))
    quick_fix = max(0.0, 1.0 - math.log1p(fix) / math.log1p(21 * 24.0))
    return 0.5 * quick_answer + 0.5 * quick_fix


def _polarity(kind: SurveyKind, score: int) -> Polarity:
    if score >= _POSITIVE_FROM[kind]:
        return "positive"
    if score <= _NEGATIVE_UPTO[kind]:
        return "negative"
    return "mixed"


def _theme(
    rng: random.Random, account: AccountPlan, ticket: TicketPlan | None, negative: bool
) -> Theme:
    if ticket is not None:
        slow = ticket.first_response is not None and (
            ticket.first_response - ticket.created > 24 * HOUR
        )
        if negative and slow:
            return "support"
        if rng.random() < 0.7:
            return TOPIC_THEME[ticket.topic]
    if negative:
        slow_service = 3.0 if account.service > 1.3 else 1.0
        weights = (slow_service, 2.0, 1.0, 2.0, 1.0, 1.0)
    else:
        weights = (2.0, 1.0, 1.0, 1.0, 2.0, 2.0)
    return rng.choices(THEMES, weights)[0]


def _comment(
    rng: random.Random,
    lang: Lang,
    polarity: Polarity,
    account: AccountPlan,
    ticket: TicketPlan | None,
) -> str:
    pool = FRAGMENTS[lang]
    if polarity == "mixed":
        bad_theme = _theme(rng, account, ticket, negative=True)
        good_theme = rng.choice([t for t in THEMES if t != bad_theme])
        good = rng.choice(pool[good_theme]["positive"])
        bad = rng.choice(pool[bad_theme]["negative"])
        return f"{good} {BUT[lang]} {bad[0].lower()}{bad[1:]}"
    negative = polarity == "negative"
    theme = _theme(rng, account, ticket, negative)
    sentences = [rng.choice(pool[theme][polarity])]
    if rng.random() < 0.3:
        other = rng.choice([t for t in THEMES if t != theme])
        sentences.append(rng.choice(pool[other][polarity]))
    return " ".join(sentences)


def plan_surveys(
    seed: int,
    account: AccountPlan,
    contacts: list[ContactPlan],
    tickets: list[TicketPlan],
    *,
    spec: ScaleSpec,
    clock: Clock,
    limit: int,
) -> list[SurveyPlan]:
    """Draw an account's survey answers, in answering order."""
    rng = stream(seed, account.index, "surveys")
    drafts: list[tuple[float, SurveyKind, ContactPlan, TicketPlan | None, float]] = []
    for contact in contacts:
        if contact.customer is None or spec.nps_per_contact_month <= 0:
            continue
        until = contact.churned if contact.churned is not None else clock.horizon
        t = contact.customer + 14 * DAY
        while True:
            t += rng.expovariate(spec.nps_per_contact_month) * MONTH
            if t >= until:
                break
            drafts.append((t, SurveyKind.NPS, contact, None, _mood(account, contact, t)))
    for ticket in tickets:
        if ticket.closed is None:
            continue
        draw = rng.random()
        if draw < spec.csat_response_rate:
            kind = SurveyKind.CSAT
        elif draw < spec.csat_response_rate + spec.ces_response_rate:
            kind = SurveyKind.CES
        else:
            continue
        t = ticket.closed + rng.lognormvariate(math.log(4 * HOUR), 1.0)
        contact = ticket.contact
        if t >= clock.horizon or (contact.churned is not None and t >= contact.churned):
            continue
        feeling = 0.5 * _mood(account, contact, t) + 0.5 * _ticket_experience(ticket)
        drafts.append((t, kind, contact, ticket, feeling))
    drafts.sort(key=lambda draft: draft[0])

    surveys: list[SurveyPlan] = []
    for t, kind, who, about, feeling in drafts[:limit]:
        low, high = SCALE[kind]
        if kind is SurveyKind.NPS:
            score = _clamp(2.0 + 9.5 * feeling + rng.gauss(0.0, 1.3), low, high)
        elif kind is SurveyKind.CSAT:
            score = _clamp(1.4 + 4.2 * feeling + rng.gauss(0.0, 0.7), low, high)
        else:
            score = _clamp(1.6 + 6.0 * feeling + rng.gauss(0.0, 0.9), low, high)
        comment = None
        if rng.random() < spec.comment_rate:
            comment = _comment(rng, account.lang, _polarity(kind, score), account, about)
        surveys.append(
            SurveyPlan(
                kind=kind,
                score=score,
                answered=t,
                contact=who,
                ticket=about,
                comment=comment,
                updated=clock.touch(rng, t, 10 * MINUTE),
            )
        )
    return surveys
