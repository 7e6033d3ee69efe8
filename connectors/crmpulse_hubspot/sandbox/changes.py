"""What changed in a portal, and who changed it: the raw material of webhook events.

The portal reports every write as :class:`Change` values to its listener. Who made the write is
ambient: the API gate marks its requests as the integration (``INTEGRATION``, the app id) and
everything else (``/_sandbox`` endpoints, the scenario clock) acts as a person in the CRM
(``CRM_UI``, ``userId:<n>``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

ChangeKind = Literal[
    "creation", "deletion", "propertyChange", "associationChange", "merge", "restore"
]

CRM_USER_ID = 7_000_001
"""The id of the person the emulator's own edits are attributed to."""

CRM_UI: tuple[str, str] = ("CRM_UI", f"userId:{CRM_USER_ID}")
"""``(changeSource, sourceId)`` of an edit made by a person in HubSpot."""

_ACTOR: ContextVar[tuple[str, str]] = ContextVar("sandbox_actor", default=CRM_UI)


def actor() -> tuple[str, str]:
    """``(changeSource, sourceId)`` of the write in progress."""
    return _ACTOR.get()


@contextmanager
def acting_as(source: str, source_id: str) -> Iterator[None]:
    """Attribute the writes made inside the block to ``source`` / ``source_id``."""
    token = _ACTOR.set((source, source_id))
    try:
        yield
    finally:
        _ACTOR.reset(token)


@dataclass(frozen=True, slots=True)
class Change:
    """One change to one object, as a webhook event would describe it (minus subscription)."""

    kind: ChangeKind
    object_type: str
    """The portal's object type name (``contacts``)."""
    object_type_id: str
    """HubSpot's object type id (``0-1``)."""
    object_id: int
    occurred_ms: int
    source: str
    source_id: str
    fields: dict[str, Any] = field(default_factory=dict)
    """Kind-specific event fields: ``propertyName``/``propertyValue``, merge or association ids."""
