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
from typing import Any, Literal

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
