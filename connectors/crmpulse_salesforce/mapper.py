"""Pure mappers from flat Salesforce rows to normalized records.

Rows come from :func:`crmpulse_salesforce.client.flatten` (REST) or Bulk API 2.0 CSV: dotted
keys for parent fields, every value a string or ``None`` (``"true"``, ``"8.0"``,
``"2024-01-15T10:30:00.000+0000"`` or ``...000Z``, dates ``"2024-01-15"``). A value that cannot
be parsed makes the record invalid (``InvalidRecordError``), never a silently wrong number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
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

Row = Mapping[str, str | None]

SURVEY_SCALES: dict[SurveyKind, tuple[int, int]] = {
    SurveyKind.NPS: (0, 10),
    SurveyKind.CSAT: (1, 5),
    SurveyKind.CES: (1, 7),
}
"""Answer scales of the org's NPS, CSAT and CES questions (Feedback Management's defaults:
NPS 0-10, CSAT 1-5; CES is a 1-7 Rating question)."""

CLOSE_TIME = time(12, 0, tzinfo=UTC)
"""``Opportunity.CloseDate`` is a date; placed at noon UTC it keeps its calendar day in every
business time zone within 12 hours of UTC."""


@dataclass(frozen=True)
class FieldNames:
    """Where this org keeps what standard objects lack (the settings' ``*_field`` values)."""

    segment: str = "Customer_Segment__c"
    customer_since: str = "Customer_Since__c"
    churn_date: str = "Churn_Date__c"
    lifecycle: str = "Lifecycle_Stage__c"
    first_response: str = "First_Response__c"
    became_lead: str = "Became_Lead_At__c"
    became_customer: str = "Became_Customer_At__c"


class Fields(PropertyReader):
    """Readers over one flat row, plus Salesforce's datetimes, dates and system fields."""

    def time(self, name: str) -> datetime | None:
        value = self.text(name)
        if value is None:
            return None
        try:
            if len(value) == 10:
                return datetime.combine(date.fromisoformat(value), CLOSE_TIME)
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{name}={value!r} is not a datetime") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    def required_time(self, name: str) -> datetime:
        value = self.time(name)
        if value is None:
            raise ValueError(f"{name} is empty")
        return value

    def common(self, source: str) -> dict[str, object]:
        updated = self.required_time("SystemModstamp")
        record_id = self.text("Id")
        if record_id is None:
            raise ValueError("Id is empty")
        return {
            "source": source,
            "id": record_id,
            "created_at": self.required_time("CreatedDate"),
            "updated_at": updated,
            "deleted_at": updated if self.flag("IsDeleted") else None,
        }


def account(row: Row, source: str, names: FieldNames) -> Account:
    """An Account."""
    f = Fields(row)
    return Account(
        **f.common(source),
        name=f.text("Name"),
        domain=_domain(f.text("Website")),
        industry=f.text("Industry"),
        segment=f.text(names.segment),
        became_customer_at=f.time(names.customer_since),
        churned_at=f.time(names.churn_date),
    )


def _domain(website: str | None) -> str | None:
    if website is None:
        return None
    host = website.split("://", 1)[-1].split("/", 1)[0]
    return host.removeprefix("www.") or None


def contact(row: Row, source: str, names: FieldNames) -> Contact:
    """A Contact; a churn date makes it churned whatever its lifecycle stage."""
    f = Fields(row)
    churned_at = f.time(names.churn_date)
    stage_text = (f.text(names.lifecycle) or "").lower()
    stage = next((s for s in LifecycleStage if s.value == stage_text), None)
    return Contact(
        **f.common(source),
        email=f.text("Email"),
        first_name=f.text("FirstName"),
        last_name=f.text("LastName"),
        lifecycle_stage=LifecycleStage.CHURNED if churned_at else stage,
        account_id=f.text("AccountId"),
        became_lead_at=f.time(names.became_lead),
        became_customer_at=f.time(names.became_customer),
        churned_at=churned_at,
    )


def opportunity(row: Row, source: str, contact_ids: tuple[str, ...] = ()) -> Deal:
    """An Opportunity; its contacts come from OpportunityContactRole (primary first)."""
    f = Fields(row)
    closed = f.flag("IsClosed")
    return Deal(
        **f.common(source),
        name=f.text("Name"),
        amount=f.number("Amount"),
        currency=f.text("CurrencyIsoCode"),
        stage=f.text("StageName"),
        is_closed=closed,
        is_won=f.flag("IsWon"),
        closed_at=f.time("CloseDate") if closed else None,
        account_id=f.text("AccountId"),
        contact_ids=contact_ids,
    )


def case(row: Row, source: str, names: FieldNames) -> Ticket:
    """A Case; first response from the configured field (standard Case has none)."""
    f = Fields(row)
    return Ticket(
        **f.common(source),
        subject=f.text("Subject"),
        priority=f.text("Priority"),
        channel=f.text("Origin"),
        account_id=f.text("AccountId"),
        contact_id=f.text("ContactId"),
        first_response_at=f.time(names.first_response),
        closed_at=f.time("ClosedDate") if f.flag("IsClosed") else None,
    )


def survey_kind(
    question_type: str | None, developer_name: str | None, ces_marker: str
) -> SurveyKind | None:
    """Which KPI family a Feedback Management question feeds (``None``: not a score)."""
    qtype = (question_type or "").upper()
    if qtype == "NPS":
        return SurveyKind.NPS
    if qtype == "CSAT":
        return SurveyKind.CSAT
    if (
        qtype in ("RATING", "SLIDER", "NUMBER")
        and ces_marker.lower() in (developer_name or "").lower()
    ):
        return SurveyKind.CES
    return None


def survey_answer(
    response: Row,
    answer: Row,
    *,
    kind: SurveyKind,
    comment: str | None,
    ticket_id: str | None,
    source: str,
) -> SurveyResponse:
    """One scored SurveyQuestionResponse of a SurveyResponse, as a normalized answer.

    The record id is the question response's id; dates and deletion come from the response.
    """
    r = Fields(response)
    a = Fields(answer)
    common = r.common(source)
    answer_id = a.text("Id")
    if answer_id is None:
        raise ValueError("question response Id is empty")
    common["id"] = answer_id
    score = a.number("NumberValue")
    if score is None:
        raise ValueError(f"NumberValue of question response {answer_id} is empty")
    low, high = SURVEY_SCALES[kind]
    answered = r.time("CompletionDateTime") or r.required_time("CreatedDate")
    return SurveyResponse(
        **common,
        survey_kind=kind,
        score=float(score),
        scale_min=low,
        scale_max=high,
        comment=comment,
        answered_at=answered,
        contact_id=r.text("Invitation.ContactId") or r.text("SubmitterId"),
        ticket_id=ticket_id,
    )


def custom_survey(row: Row, source: str) -> SurveyResponse:
    """One row of a custom survey object (``NPS_Response__c`` and the like).

    Fields: ``Survey_Type__c`` (NPS / CSAT / CES), ``Score__c``, ``Comment__c``,
    ``Answered_At__c``, ``Contact__c``, ``Case__c``.
    """
    f = Fields(row)
    kind_text = (f.text("Survey_Type__c") or "NPS").upper()
    try:
        kind = SurveyKind(kind_text)
    except ValueError:
        raise ValueError(f"Survey_Type__c={kind_text!r} is not NPS, CSAT or CES") from None
    score = f.number("Score__c")
    if score is None:
        raise ValueError("Score__c is empty")
    low, high = SURVEY_SCALES[kind]
    return SurveyResponse(
        **f.common(source),
        survey_kind=kind,
        score=float(score),
        scale_min=low,
        scale_max=high,
        comment=f.text("Comment__c"),
        answered_at=f.time("Answered_At__c") or f.required_time("CreatedDate"),
        contact_id=f.text("Contact__c"),
        ticket_id=f.text("Case__c"),
    )


CONTACT_PREFIX = "003"
"""Key prefix of Contact ids: a Task's ``WhoId`` may also be a Lead (``00Q``)."""
ACCOUNT_PREFIX = "001"

TASK_SUBTYPES: dict[str, ActivityKind] = {
    "Email": ActivityKind.EMAIL,
    "ListEmail": ActivityKind.EMAIL,
    "Call": ActivityKind.CALL,
}
"""``Task.TaskSubtype`` values that name a kind; the rest (``Task``, ``Cadence``, ``LinkedIn``)
fall back to ``Type``."""

TASK_TYPES: dict[str, ActivityKind] = {
    "Email": ActivityKind.EMAIL,
    "Call": ActivityKind.CALL,
    "Note": ActivityKind.NOTE,
}
"""``Task.Type`` values that name a kind. ``Call`` and ``Email`` are standard picklist values
(tasks logged before ``TaskSubtype`` existed carry only them); ``Note`` is a value orgs add to log
notes as tasks. Anything else is a plain task."""

CALL_TYPES: dict[str, Literal["inbound", "outbound"]] = {
    "Inbound": "inbound",
    "Outbound": "outbound",
}
"""``Task.CallType`` -> direction; ``Internal`` calls have none."""


def task_kind(subtype: str | None, task_type: str | None) -> ActivityKind:
    """Which activity a Task is: ``TaskSubtype`` first, then ``Type``, else a task."""
    return TASK_SUBTYPES.get(subtype or "") or TASK_TYPES.get(task_type or "") or ActivityKind.TASK


def _prefixed(value: str | None, prefix: str) -> str | None:
    return value if value is not None and value.startswith(prefix) else None


def task(row: Row, source: str, incoming: bool | None = None) -> Activity:
    """A Task as an e-mail, call, note or task ``Activity``.

    It occurred at ``CompletedDateTime`` (when it was done), else at ``CreatedDate`` (when it was
    logged): ``ActivityDate`` is a due date, date-only and possibly in the future, so it is not
    used. Calls take their direction from ``CallType``; e-mails from their ``EmailMessage``
    (``incoming``, ``None`` when the org has no Enhanced Email record for the task). The contact is
    ``WhoId`` when it is a Contact (not a Lead); the account is ``AccountId`` (which Salesforce
    derives from ``WhatId`` or the contact), else ``WhatId`` when it is an Account.
    """
    f = Fields(row)
    kind = task_kind(f.text("TaskSubtype"), f.text("Type"))
    direction: Literal["inbound", "outbound"] | None = None
    if kind is ActivityKind.CALL:
        direction = CALL_TYPES.get(f.text("CallType") or "")
    elif kind is ActivityKind.EMAIL and incoming is not None:
        direction = "inbound" if incoming else "outbound"
    return Activity(
        **f.common(source),
        activity_kind=kind,
        occurred_at=f.time("CompletedDateTime") or f.required_time("CreatedDate"),
        direction=direction,
        **_parties(f),
    )


def event(row: Row, source: str) -> Activity:
    """An Event as a meeting ``Activity``, occurring at ``StartDateTime``.

    ``ActivityDateTime`` equals it on timed events; an all-day event may carry only its
    ``ActivityDate`` (placed at noon UTC, as dates are everywhere here).
    """
    f = Fields(row)
    occurred = (
        f.time("StartDateTime")
        or f.time("ActivityDateTime")
        or f.time("ActivityDate")
        or f.required_time("CreatedDate")
    )
    return Activity(
        **f.common(source),
        activity_kind=ActivityKind.MEETING,
        occurred_at=occurred,
        **_parties(f),
    )


def _parties(f: Fields) -> dict[str, str | None]:
    return {
        "account_id": f.text("AccountId") or _prefixed(f.text("WhatId"), ACCOUNT_PREFIX),
        "contact_id": _prefixed(f.text("WhoId"), CONTACT_PREFIX),
    }


def map_row(build: Callable[[], Record], row: Row, stream: str) -> Record:
    """Run a mapper, turning any parse or validation failure into ``InvalidRecordError``."""
    return normalized(build, stream=stream, record_id=row.get("Id"))


LINK_FIELDS: dict[str, tuple[str, ...]] = {
    "contacts": ("AccountId",),
    "deals": ("AccountId",),
    "tickets": ("AccountId", "ContactId"),
    "tasks": ("AccountId", "WhatId", "WhoId"),
    "events": ("AccountId", "WhatId", "WhoId"),
    "surveys": ("Contact__c", "Case__c"),
}
"""Lookup fields per stream that become the records' association fields."""

Links = dict[str, str | tuple[str, ...] | None]


def links(stream: str, row: Row, survey_source: str = "custom_object") -> Links:
    """The association fields the stream's mapper would set from ``row``'s lookups.

    Opportunity contacts (contact roles) and Feedback Management survey links need other
    objects, so they are not part of it.
    """
    f = Fields(row)
    if stream in ("contacts", "deals"):
        return {"account_id": f.text("AccountId")}
    if stream == "tickets":
        return {"account_id": f.text("AccountId"), "contact_id": f.text("ContactId")}
    if stream in ("tasks", "events"):
        return dict(_parties(f))
    if stream == "surveys" and survey_source == "custom_object":
        return {"contact_id": f.text("Contact__c"), "ticket_id": f.text("Case__c")}
    return {}
