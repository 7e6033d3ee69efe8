"""The HubSpot objects and properties crmpulse reads, with their HubSpot types.

Shared by the connector (which properties to ask for, how to parse them) and the emulator (which
properties a portal defines). Names are HubSpot's own, except the portal-defined custom properties
``customer_segment`` (companies) and ``churn_date`` (companies and contacts), which a portal adds to
record what HubSpot has no standard property for; the connector settings can rename them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

PropertyType = Literal["string", "number", "datetime", "date", "enumeration", "bool"]


@dataclass(frozen=True)
class ObjectSchema:
    """One HubSpot object type as crmpulse uses it."""

    name: str
    """Object type name in API paths (``contacts``)."""
    type_id: str
    """HubSpot object type id (``0-1``)."""
    singular: str
    """Singular used in association type names and search pseudo-properties (``contact``)."""
    modified_property: str
    """The last-modified property incremental search filters on."""
    properties: dict[str, PropertyType]
    """Properties crmpulse reads, with their HubSpot types."""
    defaults: tuple[str, ...]
    """Properties HubSpot returns when none are requested."""


_COMMON_TS: dict[str, PropertyType] = {
    "hs_object_id": "number",
    "createdate": "datetime",
    "hs_lastmodifieddate": "datetime",
}

COMPANIES = ObjectSchema(
    name="companies",
    type_id="0-2",
    singular="company",
    modified_property="hs_lastmodifieddate",
    properties={
        **_COMMON_TS,
        "name": "string",
        "domain": "string",
        "industry": "enumeration",
        "customer_segment": "enumeration",
        "lifecyclestage": "enumeration",
        "hs_lifecyclestage_customer_date": "datetime",
        "churn_date": "datetime",
    },
    defaults=("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
)

CONTACTS = ObjectSchema(
    name="contacts",
    type_id="0-1",
    singular="contact",
    # Contacts are the exception: their last-modified property has no hs_ prefix.
    modified_property="lastmodifieddate",
    properties={
        "hs_object_id": "number",
        "createdate": "datetime",
        "lastmodifieddate": "datetime",
        "email": "string",
        "firstname": "string",
        "lastname": "string",
        "lifecyclestage": "enumeration",
        "associatedcompanyid": "number",
        "hs_lifecyclestage_lead_date": "datetime",
        "hs_lifecyclestage_customer_date": "datetime",
        "churn_date": "datetime",
    },
    defaults=("firstname", "lastname", "email", "createdate", "lastmodifieddate", "hs_object_id"),
)

DEALS = ObjectSchema(
    name="deals",
    type_id="0-3",
    singular="deal",
    modified_property="hs_lastmodifieddate",
    properties={
        **_COMMON_TS,
        "dealname": "string",
        "amount": "number",
        "deal_currency_code": "enumeration",
        "dealstage": "enumeration",
        "pipeline": "enumeration",
        "closedate": "datetime",
        "hs_is_closed": "bool",
        "hs_is_closed_won": "bool",
    },
    defaults=(
        "dealname",
        "amount",
        "closedate",
        "pipeline",
        "dealstage",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ),
)

TICKETS = ObjectSchema(
    name="tickets",
    type_id="0-5",
    singular="ticket",
    modified_property="hs_lastmodifieddate",
    properties={
        **_COMMON_TS,
        "subject": "string",
        "content": "string",
        "hs_pipeline": "enumeration",
        "hs_pipeline_stage": "enumeration",
        "hs_ticket_priority": "enumeration",
        "source_type": "enumeration",
        "first_agent_reply_date": "datetime",
        "time_to_first_agent_reply": "number",
        "closed_date": "datetime",
        "time_to_close": "number",
    },
    defaults=(
        "content",
        "hs_pipeline",
        "hs_pipeline_stage",
        "hs_ticket_category",
        "hs_ticket_priority",
        "subject",
        "createdate",
        "hs_lastmodifieddate",
        "hs_object_id",
    ),
)

FEEDBACK_SUBMISSIONS = ObjectSchema(
    name="feedback_submissions",
    type_id="0-19",
    singular="feedback_submission",
    modified_property="hs_lastmodifieddate",
    properties={
        "hs_object_id": "number",
        "hs_createdate": "datetime",
        "hs_lastmodifieddate": "datetime",
        "hs_survey_type": "enumeration",
        "hs_survey_id": "string",
        "hs_survey_name": "string",
        "hs_survey_channel": "enumeration",
        "hs_value": "number",
        "hs_response_group": "enumeration",
        "hs_content": "string",
        "hs_submission_name": "string",
        "hs_submission_timestamp": "datetime",
        "hs_contact_id": "number",
    },
    defaults=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
)

ENGAGEMENT_PROPERTIES: dict[str, PropertyType] = {
    "hs_object_id": "number",
    "hs_createdate": "datetime",
    "hs_lastmodifieddate": "datetime",
    "hs_timestamp": "datetime",
}
"""Properties every engagement object has; ``hs_timestamp`` is when the activity happened."""

DIRECTION_PROPERTIES: dict[str, str] = {
    "calls": "hs_call_direction",
    "emails": "hs_email_direction",
}
"""Engagement object -> the property saying who started it (the other engagements have none)."""


def _engagement(name: str, type_id: str, singular: str) -> ObjectSchema:
    direction = DIRECTION_PROPERTIES.get(name)
    extra: dict[str, PropertyType] = {direction: "enumeration"} if direction else {}
    return ObjectSchema(
        name=name,
        type_id=type_id,
        singular=singular,
        modified_property="hs_lastmodifieddate",
        properties={**ENGAGEMENT_PROPERTIES, **extra},
        defaults=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
    )


ENGAGEMENTS: dict[str, ObjectSchema] = {
    s.name: s
    for s in (
        _engagement("calls", "0-48", "call"),
        _engagement("emails", "0-49", "email"),
        _engagement("meetings", "0-47", "meeting"),
        _engagement("notes", "0-46", "note"),
        _engagement("tasks", "0-27", "task"),
    )
}
"""Engagement objects (activities), as crmpulse reads them."""

OBJECTS: dict[str, ObjectSchema] = {
    s.name: s for s in (COMPANIES, CONTACTS, DEALS, TICKETS, FEEDBACK_SUBMISSIONS)
}
"""The non-engagement objects crmpulse reads."""

READABLE: dict[str, ObjectSchema] = {**OBJECTS, **ENGAGEMENTS}
"""Every object crmpulse reads, by name."""

SURVEY_SCALES: dict[str, tuple[int, int]] = {"NPS": (0, 10), "CSAT": (1, 5), "CES": (1, 7)}
"""Answer scales of the portal's surveys (HubSpot stores only the value in ``hs_value``)."""

TICKET_PIPELINE = "0"
TICKET_STAGES: dict[str, str] = {"1": "OPEN", "2": "OPEN", "3": "OPEN", "4": "CLOSED"}
"""Default ticket pipeline stage id -> ``ticketState`` metadata."""

ASSOCIATION_TYPE_IDS: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 279,
    ("companies", "contacts"): 280,
    ("deals", "contacts"): 3,
    ("contacts", "deals"): 4,
    ("deals", "companies"): 341,
    ("companies", "deals"): 342,
    ("contacts", "tickets"): 15,
    ("tickets", "contacts"): 16,
    ("tickets", "companies"): 339,
    ("companies", "tickets"): 340,
    ("contacts", "feedback_submissions"): 97,
    ("feedback_submissions", "contacts"): 98,
    ("tickets", "feedback_submissions"): 99,
    ("feedback_submissions", "tickets"): 100,
}
"""HubSpot-defined (unlabeled) association type ids, from -> to."""
