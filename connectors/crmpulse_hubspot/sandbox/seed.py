"""Load a world of normalized records into a portal as HubSpot-shaped objects.

The mapping is the contract the HubSpot connector maps back from:

- Account -> companies; Contact -> contacts (+ contact->company, with the Primary label);
- Deal -> deals (+ deal->company, deal->contacts); Ticket -> tickets (+ ticket->company, ->contact);
- SurveyResponse -> feedback_submissions (+ submission->contact, ->ticket);
- Activity -> calls / emails / meetings / notes / tasks (+ ->contact, ->company).

Record ids become object ids (non-numeric ids get fresh numeric ones, references follow).
``createdate``/``hs_createdate`` = created_at, the last-modified property = updated_at; a
``deleted_at`` makes the object archived. Keys of ``raw`` that name a property of the object type
fill it when the mapping left it empty.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from crmpulse.model import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    LifecycleStage,
    SurveyKind,
    SurveyResponse,
    Ticket,
)
from crmpulse_hubspot import schema

from .catalog import OBJECT_TYPES, PRIMARY, UNLABELED
from .values import boolean, epoch_ms, iso, number

if TYPE_CHECKING:
    from crmpulse.model import Record

    from .portal import Portal

Props = dict[str, str | None]
Link = tuple[str, str]  # (to object type, record id)

SURVEYS: dict[str, tuple[str, str]] = {
    "NPS": ("1001", "NPS Survey"),
    "CSAT": ("1002", "Customer Satisfaction Survey"),
    "CES": ("1003", "Customer Effort Survey"),
}
"""Survey kind -> (hs_survey_id, hs_survey_name) of the emulated portal's surveys."""

_ACTIVITY_TYPES = {
    ActivityKind.CALL: "calls",
    ActivityKind.EMAIL: "emails",
    ActivityKind.MEETING: "meetings",
    ActivityKind.NOTE: "notes",
    ActivityKind.TASK: "tasks",
}


def _ts(value: datetime | None) -> str | None:
    return iso(value) if value is not None else None


def _ms_between(start: datetime, end: datetime | None) -> str | None:
    return str(epoch_ms(end) - epoch_ms(start)) if end is not None else None


def _company(r: Account) -> tuple[Props, list[Link]]:
    if r.churned_at is not None:
        stage = "other"
    elif r.became_customer_at is not None:
        stage = "customer"
    else:
        stage = "lead"
    return {
        "name": r.name,
        "domain": r.domain,
        "industry": r.industry,
        "customer_segment": r.segment,
        "lifecyclestage": stage,
        "hs_lifecyclestage_customer_date": _ts(r.became_customer_at),
        "churn_date": _ts(r.churned_at),
    }, []


def _contact(r: Contact) -> tuple[Props, list[Link]]:
    stage = r.lifecycle_stage
    return {
        "email": r.email,
        "firstname": r.first_name,
        "lastname": r.last_name,
        "lifecyclestage": (
            "other" if stage is LifecycleStage.CHURNED else (stage.value if stage else None)
        ),
        "associatedcompanyid": r.account_id,
        "hs_lifecyclestage_lead_date": _ts(r.became_lead_at),
        "hs_lifecyclestage_customer_date": _ts(r.became_customer_at),
        "churn_date": _ts(r.churned_at),
    }, ([("companies", r.account_id)] if r.account_id else [])


def _deal(r: Deal) -> tuple[Props, list[Link]]:
    links: list[Link] = [("companies", r.account_id)] if r.account_id else []
    links += [("contacts", c) for c in r.contact_ids]
    return {
        "dealname": r.name,
        "amount": number(r.amount) if r.amount is not None else None,
        "deal_currency_code": r.currency,
        "dealstage": r.stage,
        "pipeline": "default",
        "closedate": _ts(r.closed_at),
        "hs_is_closed": boolean(r.is_closed),
        "hs_is_closed_won": boolean(r.is_won),
    }, links


def _ticket(r: Ticket) -> tuple[Props, list[Link]]:
    links: list[Link] = [("companies", r.account_id)] if r.account_id else []
    if r.contact_id:
        links.append(("contacts", r.contact_id))
    return {
        "subject": r.subject,
        "content": r.raw.get("content"),
        "hs_pipeline": schema.TICKET_PIPELINE,
        "hs_pipeline_stage": "4" if r.closed_at is not None else "1",
        "hs_ticket_priority": r.priority,
        "source_type": r.channel,
        "first_agent_reply_date": _ts(r.first_response_at),
        "time_to_first_agent_reply": _ms_between(r.created_at, r.first_response_at),
        "closed_date": _ts(r.closed_at),
        "time_to_close": _ms_between(r.created_at, r.closed_at),
    }, links


def response_group(score: float) -> str:
    """NPS bucket of a 0-10 answer."""
    if score >= 9:
        return "PROMOTER"
    return "PASSIVE" if score >= 7 else "DETRACTOR"


def _survey(r: SurveyResponse) -> tuple[Props, list[Link]]:
    kind = r.survey_kind.value
    survey_id, survey_name = SURVEYS[kind]
    links: list[Link] = [("contacts", r.contact_id)] if r.contact_id else []
    if r.ticket_id:
        links.append(("tickets", r.ticket_id))
    return {
        "hs_survey_type": kind,
        "hs_value": number(r.score),
        "hs_response_group": (response_group(r.score) if r.survey_kind is SurveyKind.NPS else None),
        "hs_content": r.comment,
        "hs_submission_timestamp": iso(r.answered_at),
        "hs_survey_id": survey_id,
        "hs_survey_name": survey_name,
        "hs_survey_channel": "EMAIL",
        "hs_submission_name": survey_name,  # completed with the contact's email after loading
        "hs_contact_id": r.contact_id,
    }, links


def _activity(r: Activity) -> tuple[Props, list[Link]]:
    props: Props = {"hs_timestamp": iso(r.occurred_at)}
    if r.activity_kind is ActivityKind.CALL and r.direction:
        props["hs_call_direction"] = r.direction.upper()
    elif r.activity_kind is ActivityKind.EMAIL and r.direction:
        props["hs_email_direction"] = "INCOMING_EMAIL" if r.direction == "inbound" else "EMAIL"
    links: list[Link] = [("contacts", r.contact_id)] if r.contact_id else []
    if r.account_id:
        links.append(("companies", r.account_id))
    return props, links


def object_type_of(record: Record) -> str | None:
    """The HubSpot object type a normalized record becomes (None: not represented)."""
    if isinstance(record, Activity):
        return _ACTIVITY_TYPES[record.activity_kind]
    return {
        Account: "companies",
        Contact: "contacts",
        Deal: "deals",
        Ticket: "tickets",
        SurveyResponse: "feedback_submissions",
    }.get(type(record))


def to_properties(record: Record) -> tuple[Props, list[Link]]:
    """HubSpot property values and outgoing links (to type, record id) of one record."""
    mapper: Any = {
        Account: _company,
        Contact: _contact,
        Deal: _deal,
        Ticket: _ticket,
        SurveyResponse: _survey,
        Activity: _activity,
    }[type(record)]
    result: tuple[Props, list[Link]] = mapper(record)
    return result


def load(portal: Portal, records: Iterable[Record]) -> None:
    """Insert records into a portal (no validation; HubSpot-defined values included)."""
    pending: list[tuple[str, Record]] = []
    ids: dict[tuple[str, str], int] = {}
    for record in records:
        otype = object_type_of(record)
        if otype is None:
            continue  # e.g. LeadConversion: derived from contact lifecycle dates in HubSpot
        pending.append((otype, record))
        if record.id.isdigit():
            ids[(otype, record.id)] = int(record.id)
            portal.reserve_id(int(record.id))
    for otype, record in pending:
        if (otype, record.id) not in ids:
            ids[(otype, record.id)] = portal.new_id()

    submissions: list[tuple[int, str]] = []
    for otype, record in pending:
        props, links = to_properties(record)
        defined = OBJECT_TYPES[otype].properties
        for key, value in record.raw.items():
            if key in defined and props.get(key) is None:
                props[key] = value
        oid = ids[(otype, record.id)]
        # References to records that were not loaded are dropped from the ids but kept in props.
        if otype == "contacts" and props.get("associatedcompanyid"):
            mapped = ids.get(("companies", str(props["associatedcompanyid"])))
            props["associatedcompanyid"] = str(mapped) if mapped is not None else None
        if otype == "feedback_submissions" and props.get("hs_contact_id"):
            mapped = ids.get(("contacts", str(props["hs_contact_id"])))
            props["hs_contact_id"] = str(mapped) if mapped is not None else None
            if mapped is not None:
                submissions.append((oid, str(mapped)))
        portal.insert(
            otype,
            oid,
            props,
            created=record.created_at,
            updated=record.updated_at,
            archived_at=record.deleted_at,
        )
        for to_type, ref in links:
            to_id = ids.get((to_type, ref))
            if to_id is None:
                continue
            portal.associations.add(otype, oid, to_type, to_id, UNLABELED[(otype, to_type)])
            primary = PRIMARY.get((otype, to_type))
            if primary is not None:
                portal.associations.add(otype, oid, to_type, to_id, primary)
    _name_submissions(portal, submissions)


def _name_submissions(portal: Portal, submissions: list[tuple[int, str]]) -> None:
    contacts = portal.table("contacts")
    table = portal.table("feedback_submissions")
    for oid, contact_id in submissions:
        obj = table.active.get(oid) or table.archived.get(oid)
        contact = contacts.active.get(int(contact_id)) or contacts.archived.get(int(contact_id))
        if obj is not None and contact is not None and contact.props.get("email"):
            obj.props["hs_submission_name"] = f"{obj.props['hs_submission_name']} - " + str(
                contact.props["email"]
            )
