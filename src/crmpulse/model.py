"""The normalized CRM model: one shape for every vendor.

Connectors map vendor payloads into these records and nothing else crosses into the core. Every
record carries the ``source`` it came from (``"hubspot:<portal>"``, ``"salesforce:<org>"``), its
CRM id, its created / updated / deleted timestamps (timezone-aware UTC) and the raw vendor
properties the mapper chose to keep. Records are immutable values; no I/O happens here.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
"""A timezone-aware timestamp, normalized to UTC."""


class LifecycleStage(StrEnum):
    """Where a contact stands in the relationship, vendor-neutral."""

    SUBSCRIBER = "subscriber"
    LEAD = "lead"
    OPPORTUNITY = "opportunity"
    CUSTOMER = "customer"
    CHURNED = "churned"
    OTHER = "other"


class SurveyKind(StrEnum):
    """The survey families crmpulse understands."""

    NPS = "NPS"
    CSAT = "CSAT"
    CES = "CES"


class ActivityKind(StrEnum):
    """Engagement types (HubSpot engagements, Salesforce Task/Event subtypes)."""

    EMAIL = "email"
    CALL = "call"
    MEETING = "meeting"
    NOTE = "note"
    TASK = "task"


class Record(BaseModel):
    """Fields every normalized record has."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field(description="which portal or org the record came from")
    id: str = Field(min_length=1, description="the record's id in its CRM")
    created_at: UtcDatetime
    updated_at: UtcDatetime
    deleted_at: UtcDatetime | None = None
    raw: dict[str, str | None] = Field(default_factory=dict)

    @property
    def deleted(self) -> bool:
        """Whether the CRM reports the record as archived / deleted."""
        return self.deleted_at is not None


class Account(Record):
    """A customer organisation (HubSpot company, Salesforce Account)."""

    kind: Literal["account"] = "account"
    name: str | None = None
    domain: str | None = None
    segment: str | None = None
    industry: str | None = None
    became_customer_at: UtcDatetime | None = None
    churned_at: UtcDatetime | None = None


class Contact(Record):
    """A person (HubSpot contact, Salesforce Contact or Lead)."""

    kind: Literal["contact"] = "contact"
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    lifecycle_stage: LifecycleStage | None = None
    account_id: str | None = None
    became_lead_at: UtcDatetime | None = None
    became_customer_at: UtcDatetime | None = None
    churned_at: UtcDatetime | None = None


class Deal(Record):
    """A sales opportunity (HubSpot deal, Salesforce Opportunity)."""

    kind: Literal["deal"] = "deal"
    name: str | None = None
    amount: Decimal | None = None
    currency: str | None = None
    stage: str | None = None
    is_closed: bool = False
    is_won: bool = False
    closed_at: UtcDatetime | None = None
    account_id: str | None = None
    contact_ids: tuple[str, ...] = ()


class Ticket(Record):
    """A service request (HubSpot ticket, Salesforce Case)."""

    kind: Literal["ticket"] = "ticket"
    subject: str | None = None
    priority: str | None = None
    channel: str | None = None
    account_id: str | None = None
    contact_id: str | None = None
    first_response_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Ticket:
        for name in ("first_response_at", "closed_at"):
            value = getattr(self, name)
            if value is not None and value < self.created_at:
                raise ValueError(f"{name} {value.isoformat()} is before created_at")
        return self


class Activity(Record):
    """An interaction: email, call, meeting, note or task."""

    kind: Literal["activity"] = "activity"
    activity_kind: ActivityKind
    occurred_at: UtcDatetime
    direction: Literal["inbound", "outbound"] | None = None
    account_id: str | None = None
    contact_id: str | None = None


class SurveyResponse(Record):
    """One answer to an NPS, CSAT or CES question.

    ``scale_min``/``scale_max`` travel with the score because vendors and surveys differ (CSAT on
    1-5 or 0-2, CES on 1-5 or 1-7); ``higher_is_better`` says which end of a CES scale is good.
    """

    kind: Literal["survey"] = "survey"
    survey_kind: SurveyKind
    score: float
    scale_min: int
    scale_max: int
    higher_is_better: bool = True
    comment: str | None = None
    answered_at: UtcDatetime
    contact_id: str | None = None
    account_id: str | None = None
    ticket_id: str | None = None

    @model_validator(mode="after")
    def _in_scale(self) -> SurveyResponse:
        if self.scale_min >= self.scale_max:
            raise ValueError(f"scale {self.scale_min}..{self.scale_max} is empty")
        if not self.scale_min <= self.score <= self.scale_max:
            scale = f"{self.scale_min}..{self.scale_max}"
            raise ValueError(f"{self.survey_kind} score {self.score} is outside {scale}")
        if self.survey_kind is SurveyKind.NPS and (
            (self.scale_min, self.scale_max) != (0, 10) or self.score != int(self.score)
        ):
            raise ValueError(f"NPS answers are whole numbers 0..10, got {self.score}")
        return self


class LeadConversion(Record):
    """A lead becoming a customer: what conversion-rate KPIs count."""

    kind: Literal["conversion"] = "conversion"
    contact_id: str
    account_id: str | None = None
    became_lead_at: UtcDatetime
    converted_at: UtcDatetime | None = None


AnyRecord = Account | Contact | Deal | Ticket | Activity | SurveyResponse | LeadConversion
"""Every normalized record type."""

ENTITY_TYPES: dict[str, type[Record]] = {
    "accounts": Account,
    "contacts": Contact,
    "deals": Deal,
    "tickets": Ticket,
    "activities": Activity,
    "surveys": SurveyResponse,
    "conversions": LeadConversion,
}
"""Store entity name -> record type."""


def entity_of(record: Record) -> str:
    """The store entity name of a record."""
    for name, cls in ENTITY_TYPES.items():
        if type(record) is cls:
            return name
    raise TypeError(f"not a normalized record: {type(record).__name__}")
