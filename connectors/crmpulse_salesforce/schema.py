"""What crmpulse reads from a Salesforce org and how it names what it writes there.

Reading: one stream per object with its SOQL field list; the org-specific custom fields (segment,
lifecycle dates, first response) come from settings. Writing: a crmpulse property ``crmpulse_nps``
becomes the custom field ``crmpulse_nps__c``; the KPI snapshot object is
``crmpulse_kpi_snapshot__c``.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmpulse.ports import FieldSpec, FieldType, StreamSpec
from crmpulse.settings import SalesforceSettings
from crmpulse_salesforce.mapper import FieldNames

CURSOR_FIELD = "SystemModstamp"
SYSTEM = ("Id", "IsDeleted", "CreatedDate", "SystemModstamp")

WRITE_OBJECT = {"account": "Account", "contact": "Contact"}
"""Write-back level -> sObject type."""

FIELD_TYPES: dict[FieldType, dict[str, object]] = {
    "number": {"type": "Number", "precision": 18, "scale": 2},
    "string": {"type": "Text", "length": 255},
    "enumeration": {"type": "Text", "length": 255},
    "date": {"type": "Date"},
    "datetime": {"type": "DateTime"},
}
"""crmpulse field types -> Tooling API ``CustomField`` metadata."""

SURVEY_ANSWER_FIELDS = (
    "Id",
    "ResponseId",
    "NumberValue",
    "ResponseValue",
    "Question.QuestionType",
    "Question.DeveloperName",
)
EMAIL_MESSAGE_FIELDS = ("ActivityId", "Incoming")
"""What tells an e-mail Task's direction: its Enhanced Email ``EmailMessage`` (``ActivityId`` is
the Task, ``Incoming`` true for received mail). Task itself has no direction field."""
CUSTOM_SURVEY_FIELDS = (
    "Survey_Type__c",
    "Score__c",
    "Comment__c",
    "Answered_At__c",
    "Contact__c",
    "Case__c",
)


@dataclass(frozen=True)
class SalesforceStream(StreamSpec):
    """A stream with the SOQL field list it selects."""

    fields: tuple[str, ...] = ()


def field_names(settings: SalesforceSettings) -> FieldNames:
    """The org's custom field names from settings."""
    return FieldNames(
        segment=settings.segment_field,
        customer_since=settings.customer_since_field,
        churn_date=settings.churn_date_field,
        lifecycle=settings.lifecycle_field,
        first_response=settings.first_response_field,
    )


def streams(settings: SalesforceSettings) -> tuple[SalesforceStream, ...]:
    """Every stream, parents first; activities (Task, Event) last."""
    n = field_names(settings)

    def stream(name: str, entity: str, sobject: str, *fields: str) -> SalesforceStream:
        unique = tuple(dict.fromkeys((*SYSTEM, *fields)))
        return SalesforceStream(name, entity, sobject, CURSOR_FIELD, unique)

    if settings.survey_source == "custom_object":
        surveys = stream("surveys", "surveys", settings.survey_object, *CUSTOM_SURVEY_FIELDS)
    else:
        surveys = stream(
            "surveys",
            "surveys",
            "SurveyResponse",
            "CompletionDateTime",
            "SubmitterId",
            "Invitation.ContactId",
        )
    return (
        stream(
            "accounts",
            "accounts",
            "Account",
            "Name",
            "Website",
            "Industry",
            n.segment,
            n.customer_since,
            n.churn_date,
        ),
        stream(
            "contacts",
            "contacts",
            "Contact",
            "FirstName",
            "LastName",
            "Email",
            "AccountId",
            n.lifecycle,
            n.became_lead,
            n.became_customer,
            n.churn_date,
        ),
        stream(
            "deals",
            "deals",
            "Opportunity",
            "Name",
            "Amount",
            "CurrencyIsoCode",
            "StageName",
            "CloseDate",
            "IsClosed",
            "IsWon",
            "AccountId",
        ),
        stream(
            "tickets",
            "tickets",
            "Case",
            "Subject",
            "Priority",
            "Origin",
            "IsClosed",
            "ClosedDate",
            "AccountId",
            "ContactId",
            n.first_response,
        ),
        surveys,
        stream(
            "tasks",
            "activities",
            "Task",
            "TaskSubtype",
            "Type",
            "CallType",
            "IsClosed",
            "CompletedDateTime",
            "WhoId",
            "WhatId",
            "AccountId",
        ),
        stream(
            "events",
            "activities",
            "Event",
            "StartDateTime",
            "ActivityDateTime",
            "ActivityDate",
            "WhoId",
            "WhatId",
            "AccountId",
        ),
    )


def api_name(name: str) -> str:
    """The custom field / object API name of a crmpulse name (``crmpulse_nps__c``)."""
    return f"{name}__c"


def field_metadata(field: FieldSpec, *, external_id: bool = False) -> dict[str, object]:
    """Tooling API ``Metadata`` for one crmpulse field."""
    meta: dict[str, object] = {
        "label": field.label[:40],
        "description": field.description[:1000],
        "inlineHelpText": field.description[:510],
        **FIELD_TYPES[field.type],
    }
    if external_id:
        meta.update(externalId=True, unique=True)
    return meta
