"""Pure mappers from HubSpot objects to normalized records.

Every HubSpot property value is a string (or null): numbers ``"1000"``, booleans ``"true"``,
datetimes ISO-8601 (``"2024-01-17T19:55:04.281Z"``) or epoch milliseconds. A value that cannot be
parsed makes the record invalid (``InvalidRecordError``), never a silently wrong number.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Literal

from crmpulse.mapping import PropertyReader, normalized
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
from crmpulse_hubspot.client import RawObject
from crmpulse_hubspot.schema import DIRECTION_PROPERTIES, SURVEY_SCALES

Mapper = Callable[[RawObject, str], Record]

_LIFECYCLE = {
    "subscriber": LifecycleStage.SUBSCRIBER,
    "lead": LifecycleStage.LEAD,
    "marketingqualifiedlead": LifecycleStage.LEAD,
    "salesqualifiedlead": LifecycleStage.LEAD,
    "opportunity": LifecycleStage.OPPORTUNITY,
    "customer": LifecycleStage.CUSTOMER,
    "evangelist": LifecycleStage.CUSTOMER,
    "other": LifecycleStage.OTHER,
}


class _Fields(PropertyReader):
    """Readers over one object's properties, plus its timestamps and associations."""

    def __init__(self, obj: RawObject) -> None:
        super().__init__(obj.properties)
        self.obj = obj

    def time(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            if value.isdigit():
                return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a datetime") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def first(self, association: str) -> str | None:
        ids = self.obj.associations.get(association) or []
        return ids[0] if ids else None

    def common(self, source: str) -> dict[str, object]:
        return {
            "source": source,
            "id": self.obj.id,
            "created_at": self.obj.created_at,
            "updated_at": self.obj.updated_at,
            "deleted_at": self.obj.archived_at if self.obj.archived else None,
        }


def company(obj: RawObject, source: str) -> Account:
    """A HubSpot company as an ``Account``."""
    f = _Fields(obj)
    return Account(
        **f.common(source),
        name=f.text("name"),
        domain=f.text("domain"),
        industry=f.text("industry"),
        segment=f.text("customer_segment"),
        became_customer_at=f.time("hs_lifecyclestage_customer_date"),
        churned_at=f.time("churn_date"),
    )


def contact(obj: RawObject, source: str) -> Contact:
    """A HubSpot contact; a ``churn_date`` makes it churned whatever its lifecycle stage."""
    f = _Fields(obj)
    churned_at = f.time("churn_date")
    stage = _LIFECYCLE.get((f.text("lifecyclestage") or "").lower())
    return Contact(
        **f.common(source),
        email=f.text("email"),
        first_name=f.text("firstname"),
        last_name=f.text("lastname"),
        lifecycle_stage=LifecycleStage.CHURNED if churned_at else stage,
        account_id=f.first("companies") or f.text("associatedcompanyid"),
        became_lead_at=f.time("hs_lifecyclestage_lead_date"),
        became_customer_at=f.time("hs_lifecyclestage_customer_date"),
        churned_at=churned_at,
    )


def deal(obj: RawObject, source: str) -> Deal:
    """A HubSpot deal."""
    f = _Fields(obj)
    return Deal(
        **f.common(source),
        name=f.text("dealname"),
        amount=f.number("amount"),
        currency=f.text("deal_currency_code"),
        stage=f.text("dealstage"),
        is_closed=f.flag("hs_is_closed"),
        is_won=f.flag("hs_is_closed_won"),
        closed_at=f.time("closedate") if f.flag("hs_is_closed") else None,
        account_id=f.first("companies"),
        contact_ids=tuple(obj.associations.get("contacts") or ()),
    )


def ticket(obj: RawObject, source: str) -> Ticket:
    """A HubSpot ticket; first response is ``first_agent_reply_date``."""
    f = _Fields(obj)
    return Ticket(
        **f.common(source),
        subject=f.text("subject"),
        priority=f.text("hs_ticket_priority"),
        channel=f.text("source_type"),
        account_id=f.first("companies"),
        contact_id=f.first("contacts"),
        first_response_at=f.time("first_agent_reply_date"),
        closed_at=f.time("closed_date"),
    )


def feedback_submission(obj: RawObject, source: str) -> SurveyResponse:
    """A HubSpot feedback submission (NPS, CSAT or CES answer).

    HubSpot stores only the value; the scale comes from the portal's survey configuration.
    """
    f = _Fields(obj)
    kind_text = (f.text("hs_survey_type") or "").upper()
    try:
        kind = SurveyKind(kind_text)
    except ValueError:
        raise ValueError(f"hs_survey_type={kind_text or None!r} is not NPS, CSAT or CES") from None
    value = f.number("hs_value")
    if value is None:
        raise ValueError("hs_value is empty")
    low, high = SURVEY_SCALES[kind.value]
    answered = f.time("hs_submission_timestamp") or obj.created_at
    return SurveyResponse(
        **f.common(source),
        survey_kind=kind,
        score=float(value),
        scale_min=low,
        scale_max=high,
        comment=f.text("hs_content"),
        answered_at=answered,
        contact_id=f.first("contacts") or f.text("hs_contact_id"),
        ticket_id=f.first("tickets"),
    )


ENGAGEMENT_KINDS: dict[str, ActivityKind] = {
    "calls": ActivityKind.CALL,
    "emails": ActivityKind.EMAIL,
    "meetings": ActivityKind.MEETING,
    "notes": ActivityKind.NOTE,
    "tasks": ActivityKind.TASK,
}
"""Engagement object type -> activity kind."""

DIRECTIONS: dict[str, Literal["inbound", "outbound"]] = {
    "INBOUND": "inbound",  # hs_call_direction
    "OUTBOUND": "outbound",
    "INCOMING_EMAIL": "inbound",  # hs_email_direction
    "EMAIL": "outbound",
}
"""Direction property values -> direction. ``FORWARDED_EMAIL`` (an e-mail a rep forwarded into
the CRM) says nothing about who wrote it, so it maps to no direction, as unknown values do."""


def engagement(obj: RawObject, source: str, object_type: str) -> Activity:
    """A HubSpot call, e-mail, meeting, note or task as an ``Activity``.

    It occurred at ``hs_timestamp`` (required by HubSpot on create; the creation time if absent);
    the direction of calls and e-mails comes from ``hs_call_direction`` / ``hs_email_direction``.
    """
    f = _Fields(obj)
    direction_property = DIRECTION_PROPERTIES.get(object_type)
    direction = None
    if direction_property is not None:
        direction = DIRECTIONS.get((f.text(direction_property) or "").upper())
    return Activity(
        **f.common(source),
        activity_kind=ENGAGEMENT_KINDS[object_type],
        occurred_at=f.time("hs_timestamp") or obj.created_at,
        direction=direction,
        account_id=f.first("companies"),
        contact_id=f.first("contacts"),
    )


def engagement_mapper(object_type: str) -> Mapper:
    """The mapper of one engagement object type (``calls``)."""
    if object_type not in ENGAGEMENT_KINDS:
        raise KeyError(f"{object_type!r} is not an engagement object")
    return partial(engagement, object_type=object_type)


def map_object(mapper: Mapper, obj: RawObject, source: str, stream: str) -> Record:
    """Run a mapper, turning any parse or validation failure into ``InvalidRecordError``."""
    return normalized(lambda: mapper(obj, source), stream=stream, record_id=obj.id)


LINK_PROPERTIES: dict[str, tuple[str, ...]] = {
    "contacts": ("associatedcompanyid",),
    "feedback_submissions": ("hs_contact_id",),
}
"""Properties the mappers fall back on when an association is absent."""

Links = dict[str, str | tuple[str, ...] | None]


def links(object_type: str, obj: RawObject) -> Links:
    """The association fields the mapper of ``object_type`` would set on ``obj``'s record."""
    f = _Fields(obj)
    if object_type == "contacts":
        return {"account_id": f.first("companies") or f.text("associatedcompanyid")}
    if object_type == "deals":
        return {
            "account_id": f.first("companies"),
            "contact_ids": tuple(obj.associations.get("contacts") or ()),
        }
    if object_type == "feedback_submissions":
        return {
            "contact_id": f.first("contacts") or f.text("hs_contact_id"),
            "ticket_id": f.first("tickets"),
        }
    if object_type == "tickets" or object_type in ENGAGEMENT_KINDS:
        return {"account_id": f.first("companies"), "contact_id": f.first("contacts")}
    return {}
