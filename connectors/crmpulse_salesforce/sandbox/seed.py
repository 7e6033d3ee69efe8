"""Load a world of normalized records into an :class:`Org` as Salesforce-shaped rows.

The mapping is the contract the Salesforce connector maps back from:

- Account -> Account (segment, customer-since and churn dates in the org's custom fields);
- Contact -> Contact (lifecycle stage and dates in custom fields);
- Deal -> Opportunity (+ OpportunityContactRole per contact), ``CloseDate`` the UTC date;
- Ticket -> Case (first response in ``First_Response__c``, as orgs without milestones keep it);
- Activity -> Task (email, call, note, task) or Event (meeting); an email Task also gets its
  Enhanced Email ``EmailMessage`` (``ActivityId`` = the Task, ``Incoming`` its direction), a
  note is a Task of ``Type`` "Note" (a picklist value the org added);
- SurveyResponse -> Feedback Management: one SurveyInvitation, SurveyResponse and scored
  SurveyQuestionResponse per answer, a FreeText SurveyQuestionResponse for the comment, and a
  SurveySubject linking the response to its Case.

A record's numeric id becomes the numeric part of its Salesforce id, so every world record keeps
a stable, recoverable id (:func:`world_id`). ``CreatedDate`` = created_at, ``SystemModstamp`` =
updated_at; a ``deleted_at`` sends the row to the recycle bin.

:func:`load` returns the :class:`Loader`, whose :meth:`Loader.apply` later applies new or changed
records of the same world (a scenario moving it forward) as the org's agent user: a record whose
row exists updates it, any other is inserted; either way the org reports the change to its
listeners (outbound messages).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from crmpulse.model import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
)

from .org import AGENT_USER_ID, KEY_PREFIXES, Org, make_id

_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

STAGE_NAMES: dict[str, str] = {
    "appointmentscheduled": "Prospecting",
    "qualifiedtobuy": "Qualification",
    "presentationscheduled": "Needs Analysis",
    "decisionmakerboughtin": "Id. Decision Makers",
    "contractsent": "Negotiation/Review",
    "closedwon": "Closed Won",
    "closedlost": "Closed Lost",
}
"""World deal stages (HubSpot's default pipeline) -> Salesforce's default opportunity stages."""

ORIGINS = {"EMAIL": "Email", "CHAT": "Chat", "PHONE": "Phone", "FORM": "Web"}
"""World ticket channels -> Case ``Origin`` picklist values."""

PRIORITIES = {"LOW": "Low", "MEDIUM": "Medium", "HIGH": "High", "URGENT": "High"}
"""World ticket priorities -> Case ``Priority`` picklist values (Salesforce has no Urgent)."""


@dataclass(frozen=True)
class SurveyDefinition:
    """One Feedback Management survey of the emulated org."""

    name: str
    developer_name: str
    question_type: str
    score_question: str
    comment_question: str


SURVEYS: dict[SurveyKind, SurveyDefinition] = {
    SurveyKind.NPS: SurveyDefinition("NPS Survey", "nps_survey", "NPS", "nps_score", "nps_why"),
    SurveyKind.CSAT: SurveyDefinition(
        "Customer Satisfaction Survey", "csat_survey", "CSAT", "csat_score", "csat_why"
    ),
    # Feedback Management has no CES question type: effort is a Rating question, told by name.
    SurveyKind.CES: SurveyDefinition(
        "Customer Effort Survey", "ces_survey", "Rating", "ces_score", "ces_why"
    ),
}


def world_id(salesforce_id: str) -> str:
    """The world record id a seeded Salesforce id was made from (inverse of the seeding)."""
    number = 0
    for char in salesforce_id[6:15]:
        number = number * 62 + _DIGITS.index(char)
    return str(number)


def salesforce_id(sobject: str, record_id: str) -> str | None:
    """The Salesforce id a world record of numeric id ``record_id`` is seeded under."""
    if not record_id.isdigit() or sobject not in KEY_PREFIXES:
        return None
    return make_id(KEY_PREFIXES[sobject], int(record_id))


@dataclass(frozen=True)
class Applied:
    """What :meth:`Loader.apply` did: Salesforce ids created, updated and deleted."""

    created: list[str]
    updated: list[str]
    deleted: list[str]


class Loader:
    """Turns world records into org rows; remembers the ids it made and the surveys."""

    def __init__(self, org: Org, *, by: str = AGENT_USER_ID) -> None:
        self.org = org
        self.by = by
        self.ids: dict[tuple[str, str], str] = {}
        self.questions: dict[tuple[SurveyKind, str], str] = {}
        self.survey_ids: dict[SurveyKind, tuple[str, str]] = {}
        self.last_created = False
        """Whether the latest :meth:`add` inserted a row (rather than updating one)."""
        self.changed: tuple[list[str], list[str]] | None = None
        """Ids created and updated while :meth:`apply` runs."""

    def ref(self, sobject: str, record_id: str | None) -> str | None:
        if record_id is None:
            return None
        known = self.ids.get((sobject, record_id))
        if known is None:
            guess = salesforce_id(sobject, record_id)
            if guess is not None and guess in self.org.rows[sobject]:
                known = self.ids[(sobject, record_id)] = guess
        return known

    def add(self, sobject: str, record: Record, values: dict[str, Any]) -> str:
        # Only applying later changes can meet a row that exists; a first load never does.
        existing = self.ref(sobject, record.id) if self.changed is not None else None
        row = None if existing is None else self.org.rows[sobject].get(existing)
        if existing is not None and row is not None:
            if row["IsDeleted"]:
                self.org.undelete(existing, when=record.updated_at, by=self.by)
            self.org.update(existing, values, when=record.updated_at, by=self.by)
            self.last_created = False
            if self.changed is not None:
                self.changed[1].append(existing)
            return existing
        number = int(record.id) if record.id.isdigit() else None
        values = {k: v for k, v in values.items() if v is not None}
        values["SystemModstamp"] = values["LastModifiedDate"] = record.updated_at
        new_id = self.org.insert(
            sobject, values, created=record.created_at, number=number, by=self.by
        )
        self.ids[(sobject, record.id)] = new_id
        self.last_created = True
        if self.changed is not None:
            self.changed[0].append(new_id)
        return new_id

    def insert(self, sobject: str, values: dict[str, Any], created: datetime | None) -> str:
        """A row the world has no record of its own for (roles, messages, survey parts)."""
        return self.org.insert(sobject, values, created=created, by=self.by)

    def apply(self, records: Iterable[Record]) -> Applied:
        """Apply new or changed records: update the rows that exist, insert the others,
        recycle-bin the ones with a ``deleted_at``."""
        if not self.survey_ids:
            self.surveys()
        changed: tuple[list[str], list[str]] = ([], [])
        self.changed = changed
        pending: list[tuple[str, datetime]] = []
        try:
            for record in records:
                _put(self, record, pending)
        finally:
            self.changed = None
        deleted = []
        for row_id, when in pending:
            row = self.org.get(row_id)
            if row is not None and not row["IsDeleted"]:
                self.org.delete(row_id, when=when, by=self.by)
                deleted.append(row_id)
        created, updated = changed
        fresh = set(created)
        return Applied(created, [i for i in dict.fromkeys(updated) if i not in fresh], deleted)

    def delete_later(
        self, record: Record, new_id: str, pending: list[tuple[str, datetime]]
    ) -> None:
        if record.deleted_at is not None:
            pending.append((new_id, record.deleted_at))

    def surveys(self) -> None:
        """Find the org's Feedback Management surveys, creating the missing ones."""
        for kind, definition in SURVEYS.items():
            found = self.org.find_by("Survey", "DeveloperName", definition.developer_name)
            if found:
                survey = found[0]
                version = self.org.rows["Survey"][survey]["ActiveVersionId"]
                self.survey_ids[kind] = (survey, version)
                for question in self.org.find_by("SurveyQuestion", "SurveyVersionId", version):
                    name = self.org.rows["SurveyQuestion"][question]["DeveloperName"]
                    self.questions[(kind, name)] = question
                continue
            survey = self.org.insert(
                "Survey", {"Name": definition.name, "DeveloperName": definition.developer_name}
            )
            version = self.org.insert(
                "SurveyVersion",
                {
                    "Name": definition.name,
                    "SurveyId": survey,
                    "VersionNumber": 1,
                    "SurveyStatus": "Active",
                },
            )
            self.org.update(survey, {"ActiveVersionId": version, "LatestVersionId": version})
            for developer_name, qtype in (
                (definition.score_question, definition.question_type),
                (definition.comment_question, "FreeText"),
            ):
                self.questions[(kind, developer_name)] = self.org.insert(
                    "SurveyQuestion",
                    {
                        "Name": developer_name,
                        "DeveloperName": developer_name,
                        "QuestionName": developer_name,
                        "QuestionType": qtype,
                        "SurveyVersionId": version,
                        "IsDeprecated": False,
                    },
                )
            self.survey_ids[kind] = (survey, version)


def _date(value: datetime | None) -> Any:
    return None if value is None else value.date()


def _account(r: Account) -> dict[str, Any]:
    if r.churned_at is not None:
        kind = "Former Customer"
    elif r.became_customer_at is not None:
        kind = "Customer"
    else:
        kind = "Prospect"
    return {
        "Name": r.name or f"Account {r.id}",
        "Website": r.domain,
        "Industry": r.industry,
        "Type": kind,
        "Customer_Segment__c": r.segment,
        "Customer_Since__c": r.became_customer_at,
        "Churn_Date__c": r.churned_at,
    }


def _contact(r: Contact, loader: Loader) -> dict[str, Any]:
    return {
        "FirstName": r.first_name,
        "LastName": r.last_name or "(unknown)",
        "Email": r.email,
        "AccountId": loader.ref("Account", r.account_id),
        "Lifecycle_Stage__c": r.lifecycle_stage.value if r.lifecycle_stage else None,
        "Became_Lead_At__c": r.became_lead_at,
        "Became_Customer_At__c": r.became_customer_at,
        "Churn_Date__c": r.churned_at,
    }


def _opportunity(r: Deal, loader: Loader) -> dict[str, Any]:
    close = r.closed_at or r.created_at
    return {
        "Name": r.name or f"Opportunity {r.id}",
        "Amount": r.amount,
        "CurrencyIsoCode": r.currency,
        "StageName": STAGE_NAMES.get(r.stage or "", r.stage or "Prospecting"),
        "CloseDate": _date(close),
        "IsClosed": r.is_closed,
        "IsWon": r.is_won,
        "AccountId": loader.ref("Account", r.account_id),
        "ContactId": loader.ref("Contact", r.contact_ids[0] if r.contact_ids else None),
    }


def _case(r: Ticket, loader: Loader) -> dict[str, Any]:
    return {
        "Subject": r.subject,
        "Description": r.raw.get("content"),
        "Priority": PRIORITIES.get(r.priority or "", r.priority),
        "Origin": ORIGINS.get(r.channel or "", r.channel),
        "Status": "Closed" if r.closed_at is not None else "New",
        "IsClosed": r.closed_at is not None,
        "ClosedDate": r.closed_at,
        "AccountId": loader.ref("Account", r.account_id),
        "ContactId": loader.ref("Contact", r.contact_id),
        "First_Response__c": r.first_response_at,
    }


def _activity(r: Activity, loader: Loader) -> tuple[str, dict[str, Any]]:
    who = loader.ref("Contact", r.contact_id)
    what = loader.ref("Account", r.account_id)
    if r.activity_kind is ActivityKind.MEETING:
        return "Event", {
            "Subject": "Meeting",
            "Type": "Meeting",
            "StartDateTime": r.occurred_at,
            "ActivityDateTime": r.occurred_at,
            "ActivityDate": _date(r.occurred_at),
            "DurationInMinutes": 30,
            "WhoId": who,
            "WhatId": what,
            "AccountId": what,
        }
    subtype = {ActivityKind.EMAIL: "Email", ActivityKind.CALL: "Call"}.get(r.activity_kind, "Task")
    task_type = {ActivityKind.NOTE: "Note", ActivityKind.TASK: "Other"}.get(
        r.activity_kind, subtype
    )
    call = r.activity_kind is ActivityKind.CALL and r.direction is not None
    return "Task", {
        "Subject": r.activity_kind.value.capitalize(),
        "Status": "Completed",
        "IsClosed": True,
        "TaskSubtype": subtype,
        "Type": task_type,
        "CallType": r.direction.capitalize() if call and r.direction else None,
        "ActivityDate": _date(r.occurred_at),
        "CompletedDateTime": r.occurred_at,
        "WhoId": who,
        "WhatId": what,
        "AccountId": what,
    }


def _email_message(r: Activity, task_id: str, loader: Loader) -> str | None:
    """The Enhanced Email message behind an email Task (its direction lives there)."""
    if r.activity_kind is not ActivityKind.EMAIL or r.direction is None:
        return None
    return loader.insert(
        "EmailMessage",
        {
            "ActivityId": task_id,
            "RelatedToId": loader.ref("Account", r.account_id),
            "Subject": "Email",
            "Status": "1" if r.direction == "inbound" else "3",  # Read / Sent
            "Incoming": r.direction == "inbound",
            "MessageDate": r.occurred_at,
            "SystemModstamp": r.updated_at,
            "LastModifiedDate": r.updated_at,
        },
        r.created_at,
    )


def _survey(r: SurveyResponse, loader: Loader, pending: list[tuple[str, datetime]]) -> None:
    definition = SURVEYS[r.survey_kind]
    survey, version = loader.survey_ids[r.survey_kind]
    contact = loader.ref("Contact", r.contact_id)
    existing = loader.ref("SurveyResponse", r.id)
    if existing is not None:
        loader.add("SurveyResponse", r, {"CompletionDateTime": r.answered_at})
        loader.delete_later(r, existing, pending)
        return
    stamp = {"LastModifiedDate": r.updated_at, "SystemModstamp": r.updated_at}
    invitation = loader.insert(
        "SurveyInvitation",
        {
            "Name": f"{definition.name} invitation",
            "SurveyId": survey,
            "ParticipantId": contact,
            "ContactId": contact,
            "ResponseStatus": "Completed",
            **stamp,
        },
        r.created_at,
    )
    response = loader.add(
        "SurveyResponse",
        r,
        {
            "Name": definition.name,
            "SurveyId": survey,
            "SurveyVersionId": version,
            "InvitationId": invitation,
            "SubmitterId": contact,
            "Status": "Completed",
            "CompletionDateTime": r.answered_at,
        },
    )
    answers: list[tuple[str, dict[str, Any]]] = [
        (
            definition.score_question,
            {"Datatype": "Number", "NumberValue": r.score, "ResponseValue": f"{r.score:g}"},
        )
    ]
    if r.comment:
        answers.append(
            (definition.comment_question, {"Datatype": "String", "ResponseValue": r.comment})
        )
    for question, values in answers:
        loader.insert(
            "SurveyQuestionResponse",
            {
                "ResponseId": response,
                "QuestionId": loader.questions[(r.survey_kind, question)],
                "InvitationId": invitation,
                "SurveyVersionId": version,
                **values,
                **stamp,
            },
            r.created_at,
        )
    case = loader.ref("Case", r.ticket_id)
    if case is not None:
        loader.insert(
            "SurveySubject",
            {
                "Name": "Case",
                "ParentId": response,
                "SubjectId": case,
                "SubjectEntityType": "Case",
                "SurveyId": survey,
                **stamp,
            },
            r.created_at,
        )
    loader.delete_later(r, response, pending)


def _roles(loader: Loader, record: Deal, opportunity: str) -> None:
    """An OpportunityContactRole per contact of the deal (the missing ones, on an update)."""
    have: set[Any] = set()
    if not loader.last_created:
        for role in loader.org.find_by("OpportunityContactRole", "OpportunityId", opportunity):
            have.add(loader.org.rows["OpportunityContactRole"][role]["ContactId"])
    for contact_id in record.contact_ids:
        contact = loader.ref("Contact", contact_id)
        if contact is not None and contact not in have:
            loader.insert(
                "OpportunityContactRole",
                {
                    "OpportunityId": opportunity,
                    "ContactId": contact,
                    "IsPrimary": contact_id == record.contact_ids[0],
                    "Role": "Decision Maker",
                    "SystemModstamp": record.updated_at,
                    "LastModifiedDate": record.updated_at,
                },
                created=record.created_at,
            )


def _put(loader: Loader, record: Record, pending: list[tuple[str, datetime]]) -> None:
    """Insert or update the rows of one world record."""
    if isinstance(record, Account):
        new_id = loader.add("Account", record, _account(record))
    elif isinstance(record, Contact):
        new_id = loader.add("Contact", record, _contact(record, loader))
    elif isinstance(record, Deal):
        new_id = loader.add("Opportunity", record, _opportunity(record, loader))
        _roles(loader, record, new_id)
    elif isinstance(record, Ticket):
        new_id = loader.add("Case", record, _case(record, loader))
    elif isinstance(record, Activity):
        sobject, values = _activity(record, loader)
        new_id = loader.add(sobject, record, values)
        if loader.last_created:
            message = _email_message(record, new_id, loader)
            if message is not None:
                loader.delete_later(record, message, pending)
    elif isinstance(record, SurveyResponse):
        _survey(record, loader, pending)
        return
    else:
        return  # lead conversions: Salesforce keeps them on Lead rows, not seeded here
    loader.delete_later(record, new_id, pending)


def load(org: Org, records: Iterable[Record]) -> Loader:
    """Insert a world's records into ``org`` (parents must come before their children); the
    loader can apply the world's later changes."""
    loader = Loader(org)
    loader.surveys()
    pending: list[tuple[str, datetime]] = []
    for record in records:
        _put(loader, record, pending)
    for row_id, when in pending:
        org.delete(row_id, when=when)
    return loader
