"""Mapping recorded-shape HubSpot payloads into the normalized model."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from crmpulse.errors import InvalidRecordError
from crmpulse.model import (
    Account,
    Contact,
    Deal,
    LifecycleStage,
    SurveyKind,
    SurveyResponse,
    Ticket,
)
from crmpulse_hubspot import mapper
from crmpulse_hubspot.client import RawObject
from crmpulse_hubspot.connector import STREAMS

FIXTURES = json.loads((Path(__file__).parents[1] / "fixtures/hubspot/objects.json").read_text())
SOURCE = "hubspot:42"
BY_STREAM = {s.name: s for s in STREAMS}


def _map(stream: str, doc: dict[str, Any]) -> Any:
    fn = BY_STREAM[stream].mapper
    assert fn is not None
    return mapper.map_object(fn, RawObject.from_json(doc), SOURCE, stream)


def test_company_maps_segment_lifecycle_and_churn() -> None:
    kept, churned = (_map("companies", d) for d in FIXTURES["companies"])
    assert isinstance(kept, Account)
    assert (kept.source, kept.id, kept.name, kept.segment) == (
        SOURCE,
        "101",
        "Padaria Estrela",
        "SMB",
    )
    assert kept.became_customer_at == datetime(2025, 3, 4, 12, tzinfo=UTC)
    assert kept.churned_at is None
    assert kept.updated_at == datetime(2026, 10, 2, 8, 0, 0, 123000, tzinfo=UTC)
    # Empty strings are HubSpot's "no value"; epoch milliseconds are a valid datetime form.
    assert churned.segment is None
    assert churned.churned_at == datetime.fromtimestamp(1760000000, tz=UTC)


def test_contact_takes_company_from_associations_and_churn_overrides_stage() -> None:
    ana, bo = (_map("contacts", d) for d in FIXTURES["contacts"])
    assert isinstance(ana, Contact)
    assert ana.account_id == "101"
    assert ana.lifecycle_stage is LifecycleStage.CUSTOMER
    assert ana.became_lead_at == datetime(2025, 1, 12, 10, tzinfo=UTC)
    assert bo.account_id is None
    assert bo.lifecycle_stage is LifecycleStage.CHURNED


def test_deal_amount_is_exact_and_closed_flags_parse() -> None:
    (deal,) = (_map("deals", d) for d in FIXTURES["deals"])
    assert isinstance(deal, Deal)
    assert deal.amount == Decimal("12500.50")
    assert (deal.is_closed, deal.is_won, deal.account_id, deal.contact_ids) == (
        True,
        True,
        "101",
        ("501",),
    )


def test_ticket_times() -> None:
    (ticket,) = (_map("tickets", d) for d in FIXTURES["tickets"])
    assert isinstance(ticket, Ticket)
    assert ticket.first_response_at == datetime(2026, 9, 10, 12, 30, tzinfo=UTC)
    assert ticket.closed_at == datetime(2026, 9, 11, 10, tzinfo=UTC)
    assert (ticket.account_id, ticket.contact_id, ticket.priority) == ("101", "501", "HIGH")


def test_feedback_submission_scales_come_from_the_survey_type() -> None:
    nps, csat = (_map("feedback_submissions", d) for d in FIXTURES["feedback_submissions"])
    assert isinstance(nps, SurveyResponse)
    assert (nps.survey_kind, nps.score, nps.scale_min, nps.scale_max) == (SurveyKind.NPS, 6, 0, 10)
    assert (nps.contact_id, nps.ticket_id) == ("501", "7001")
    assert nps.comment == "Suporte demorou demais para responder."
    assert (csat.survey_kind, csat.scale_max, csat.contact_id) == (SurveyKind.CSAT, 5, "501")


@pytest.mark.parametrize("case", FIXTURES["invalid"], ids=lambda c: c["object"]["id"])
def test_invalid_payloads_are_rejected_with_where_and_what(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidRecordError) as info:
        _map(case["stream"], case["object"])
    message = str(info.value)
    assert case["object"]["id"] in message
    assert case["stream"] in message
    assert case["error"] in message
