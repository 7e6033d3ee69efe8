"""A small deterministic world of normalized records, for tests and when ``crmpulse.synth`` is
not available. Ids are numeric and disjoint per record kind."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from crmpulse.model import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    LifecycleStage,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
)

AS_OF = datetime(2025, 1, 1, tzinfo=UTC)


def demo_records(
    seed: int = 1,
    companies: int = 5,
    contacts_per_company: int = 4,
    as_of: datetime = AS_OF,
    source: str = "hubspot:demo",
) -> Iterator[Record]:
    """Companies with contacts, deals, tickets, activities and NPS/CSAT/CES answers."""
    rng = random.Random(seed)
    start = as_of - timedelta(days=365)

    def when(lo: datetime = start) -> datetime:
        span = int((as_of - lo).total_seconds())
        return lo + timedelta(seconds=rng.randrange(max(span, 1)), milliseconds=rng.randrange(1000))

    base = {"source": source}
    for c in range(companies):
        account_id = str(1000 + c)
        created = when()
        churned = rng.random() < 0.2
        customer_at = created + timedelta(days=10)
        yield Account(
            **base,
            id=account_id,
            created_at=created,
            updated_at=when(created),
            name=f"Company {c}",
            domain=f"company{c}.example",
            segment="smb",
            industry="SOFTWARE",
            became_customer_at=customer_at,
            churned_at=customer_at + timedelta(days=30) if churned else None,
        )
        contact_ids = []
        for p in range(contacts_per_company):
            contact_id = str(10_000 + c * 100 + p)
            contact_ids.append(contact_id)
            created = when()
            yield Contact(
                **base,
                id=contact_id,
                created_at=created,
                updated_at=when(created),
                email=f"person{p}@company{c}.example",
                first_name=f"First{p}",
                last_name=f"Last{c}",
                lifecycle_stage=LifecycleStage.CUSTOMER,
                account_id=account_id,
                became_lead_at=created,
                became_customer_at=customer_at,
            )
        created = when()
        won = rng.random() < 0.5
        yield Deal(
            **base,
            id=str(20_000 + c),
            created_at=created,
            updated_at=when(created),
            name=f"Deal {c}",
            amount=Decimal(rng.randrange(1000, 50_000)),
            currency="USD",
            stage="closedwon" if won else "appointmentscheduled",
            is_closed=won,
            is_won=won,
            closed_at=when(created) if won else None,
            account_id=account_id,
            contact_ids=tuple(contact_ids[:2]),
        )
        ticket_id = str(30_000 + c)
        created = when()
        yield Ticket(
            **base,
            id=ticket_id,
            created_at=created,
            updated_at=when(created),
            subject=f"Help {c}",
            priority="HIGH",
            channel="EMAIL",
            account_id=account_id,
            contact_id=contact_ids[0],
            first_response_at=created + timedelta(hours=2),
            closed_at=created + timedelta(days=1),
        )
        created = when()
        yield Activity(
            **base,
            id=str(40_000 + c),
            created_at=created,
            updated_at=created,
            activity_kind=ActivityKind.CALL,
            occurred_at=created,
            direction="inbound",
            account_id=account_id,
            contact_id=contact_ids[0],
        )
        for k, (kind, lo, hi) in enumerate(
            ((SurveyKind.NPS, 0, 10), (SurveyKind.CSAT, 1, 5), (SurveyKind.CES, 1, 7))
        ):
            answered = when()
            yield SurveyResponse(
                **base,
                id=str(50_000 + c * 10 + k),
                created_at=answered,
                updated_at=answered,
                survey_kind=kind,
                score=rng.randint(lo, hi),
                scale_min=lo,
                scale_max=hi,
                comment="fine",
                answered_at=answered,
                contact_id=contact_ids[k % len(contact_ids)],
                account_id=account_id,
                ticket_id=ticket_id if kind is SurveyKind.CSAT else None,
            )
