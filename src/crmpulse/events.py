"""Change events: what a CRM webhook tells us, normalized, before anything is fetched.

A webhook is a *trigger*, not data: HubSpot sends an object id and maybe one property, Salesforce
only the latest values of a few fields. The worker coalesces events per object, batch-reads the
objects and applies what it reads. An event names the entity (a key of
``crmpulse.model.ENTITY_TYPES``), the object, what happened and when, and carries a key that is
the same for every redelivery of the same event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

EventType = Literal["created", "updated", "deleted", "restored", "merged", "associated", "other"]


@dataclass(frozen=True)
class ChangeEvent:
    """One change to one CRM object, as a webhook reported it."""

    source: str
    entity: str
    object_id: str
    event_type: EventType
    occurred_at: datetime
    dedupe_key: str
    ours: bool = False
    """Caused by crmpulse's own write-back: recorded, never recomputed on."""
    payload: dict[str, Any] = field(default_factory=dict)
    related_ids: tuple[str, ...] = ()
    """Other objects the event names (merged-away ids, the other side of an association)."""


@dataclass(frozen=True)
class IgnoredEvent:
    """An event a parser understood but crmpulse has no use for (logged, acknowledged)."""

    kind: str
    reason: str


@dataclass(frozen=True)
class ParsedDelivery:
    """What one webhook request held."""

    events: list[ChangeEvent]
    ignored: list[IgnoredEvent] = field(default_factory=list)


@dataclass(frozen=True)
class InboundRequest:
    """A webhook request as it arrived: what a receiver verifies and parses."""

    method: str
    url: str
    """The URL the CRM called, scheme and host as the CRM sees them (the configured public
    URL), with the request's path and query."""
    headers: dict[str, str]
    """Header names lower-cased."""
    body: bytes
    received_at: float
    """Epoch seconds."""


@dataclass(frozen=True)
class WebhookAnswer:
    """What the endpoint answers the CRM."""

    status: int
    body: str
    media_type: str


class WebhookReceiver(Protocol):
    """One CRM's webhook dialect: check a request came from it, read its events, answer it."""

    def receive(self, request: InboundRequest) -> ParsedDelivery:
        """The events of a genuine delivery; :class:`~crmpulse.errors.WebhookRejected` (with the
        HTTP status to answer) when it is not genuine or not well formed."""
        ...

    def acknowledge(self, new: int, duplicates: int) -> WebhookAnswer:
        """The answer that tells the CRM the delivery is safely stored."""
        ...

    def refuse(self, status: int, message: str) -> WebhookAnswer:
        """The answer to a refused delivery, in the CRM's dialect."""
        ...
