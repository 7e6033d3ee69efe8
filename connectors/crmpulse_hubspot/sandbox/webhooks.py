"""The emulated app's webhook configuration, and turning portal changes into webhook events.

One :class:`Webhooks` per emulator: the app's settings (target URL, concurrency), its
subscriptions and its client secret. It listens to the portal's changes and, for every active
subscription a change matches, queues one HubSpot-shaped event for :mod:`.delivery`.

Matching follows HubSpot: ``contact|company|deal|ticket.<kind>`` for those four types,
``object.<kind>`` with an ``objectTypeId`` for any type (the only way to hear about feedback
submissions, ``0-19``); a ``propertyChange`` subscription with a ``propertyName`` hears that
property only.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import urlsplit

from . import errors
from .changes import Change
from .delivery import Delivery, RetryPolicy
from .values import iso

DEFAULT_APP_ID: Final = 1_160_452
"""The id of the app the emulator delivers webhooks for unless told otherwise."""
DEFAULT_DEVELOPER_KEY: Final = "sandbox-developer-key"
"""The developer API key (``?hapikey=``) the management API accepts unless told otherwise."""
DEFAULT_MAX_CONCURRENT: Final = 10

_KINDS: Final = ("creation", "deletion", "propertyChange", "associationChange", "merge", "restore")
_TYPED: Final = {
    "contacts": "contact",
    "companies": "company",
    "deals": "deal",
    "tickets": "ticket",
}
EVENT_TYPES: Final[frozenset[str]] = frozenset(
    {
        f"{prefix}.{kind}"
        for prefix in ("contact", "company", "deal", "ticket", "line_item")
        for kind in _KINDS
    }
    | {f"product.{kind}" for kind in _KINDS if kind != "associationChange"}
    | {f"object.{kind}" for kind in _KINDS}
    | {"contact.privacyDeletion"}
    | {
        f"conversation.{k}"
        for k in ("creation", "deletion", "privacyDeletion", "propertyChange", "newMessage")
    }
)
"""Every subscription type HubSpot accepts."""

DEFAULT_SUBSCRIPTIONS: Final[tuple[tuple[str, str | None], ...]] = (
    *((f"{p}.{k}", None) for p in ("contact", "company", "deal", "ticket") for k in _KINDS),
    *((f"object.{k}", "0-19") for k in ("creation", "deletion", "propertyChange", "restore")),
)
"""``(eventType, objectTypeId)`` of the set ``/_sandbox/webhooks`` subscribes to by default."""

_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(slots=True)
class Subscription:
    """One webhook subscription of the app."""

    id: int
    event_type: str
    property_name: str | None
    object_type_id: str | None
    active: bool
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        """The management API's shape."""
        body: dict[str, Any] = {
            "id": str(self.id),
            "eventType": self.event_type,
            "active": self.active,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }
        if self.property_name:
            body["propertyName"] = self.property_name
        if self.object_type_id:
            body["objectTypeId"] = self.object_type_id
        return body

    def matches(self, change: Change) -> bool:
        """Whether this subscription hears about ``change``."""
        prefix, _, kind = self.event_type.partition(".")
        if not self.active or kind != change.kind:
            return False
        if prefix == "object":
            if self.object_type_id != change.object_type_id:
                return False
        elif _TYPED.get(change.object_type) != prefix:
            return False
        if kind == "propertyChange" and self.property_name:
            return bool(change.fields.get("propertyName") == self.property_name)
        return True


@dataclass(slots=True)
class Settings:
    """The app's webhook settings."""

    target_url: str
    max_concurrent: int
    created_at: str
    updated_at: str

    def to_json(self) -> dict[str, Any]:
        """The management API's shape."""
        return {
            "targetUrl": self.target_url,
            "throttling": {"maxConcurrentRequests": self.max_concurrent},
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
        }


def check_target(url: Any) -> str:
    """A target URL the emulator may call: http(s) on the loopback interface only."""
    parts = urlsplit(str(url or ""))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise errors.validation(f"targetUrl must be an absolute http(s) URL, got {url!r}.")
    if parts.hostname not in _LOOPBACK:
        raise errors.validation("The sandbox only delivers webhooks to 127.0.0.1 / localhost.")
    return str(url)


class Webhooks:
    """The app's webhook configuration and the events waiting for delivery."""

    def __init__(
        self,
        portal_id: int,
        *,
        app_id: int = DEFAULT_APP_ID,
        developer_key: str = DEFAULT_DEVELOPER_KEY,
        client_secret: str | None = None,
        policy: RetryPolicy | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.portal_id = portal_id
        self.app_id = app_id
        self.developer_key = developer_key
        self.client_secret = client_secret
        self.settings: Settings | None = None
        self.subscriptions: dict[int, Subscription] = {}
        self._now = now
        self._ids = itertools.count(1)
        self._event_ids = itertools.count(3_816_279_340)
        self._lock = threading.Lock()
        self.delivery = Delivery(self, policy or RetryPolicy())

    # ---------------------------------------------------------------- settings
    def configure(self, target_url: Any, max_concurrent: Any = DEFAULT_MAX_CONCURRENT) -> Settings:
        """Set the target URL and throttling (the management API's PUT)."""
        url = check_target(target_url)
        if not isinstance(max_concurrent, int) or isinstance(max_concurrent, bool):
            raise errors.validation("throttling.maxConcurrentRequests must be an integer.")
        if max_concurrent < 5:
            # [UNVERIFIED exact wording] HubSpot requires at least 5 concurrent requests.
            raise errors.validation("throttling.maxConcurrentRequests must be at least 5.")
        stamp = iso(self._now())
        with self._lock:
            created = self.settings.created_at if self.settings else stamp
            self.settings = Settings(url, max_concurrent, created, stamp)
        return self.settings

    def clear(self) -> None:
        """Forget the settings; nothing is delivered until they are set again."""
        with self._lock:
            self.settings = None

    # ----------------------------------------------------------- subscriptions
    def subscribe(
        self,
        event_type: Any,
        *,
        property_name: Any = None,
        object_type_id: Any = None,
        active: Any = True,
    ) -> Subscription:
        """Add a subscription (the management API's POST)."""
        if event_type not in EVENT_TYPES:
            raise errors.validation(f"Unknown eventType: {event_type!r}.")
        if str(event_type).startswith("object.") and not object_type_id:
            raise errors.validation("object.* subscriptions need an objectTypeId.")
        if len(self.subscriptions) >= 1000:
            raise errors.validation("An app can have at most 1000 subscriptions.")
        stamp = iso(self._now())
        with self._lock:
            sub = Subscription(
                next(self._ids),
                str(event_type),
                str(property_name) if property_name else None,
                str(object_type_id) if object_type_id else None,
                bool(active),
                stamp,
                stamp,
            )
            self.subscriptions[sub.id] = sub
        return sub

    def subscription(self, subscription_id: str) -> Subscription:
        """One subscription by id; 404 if unknown."""
        sub = self.subscriptions.get(int(subscription_id)) if subscription_id.isdigit() else None
        if sub is None:
            raise errors.error(
                404, "OBJECT_NOT_FOUND", f"Subscription {subscription_id} not found."
            )
        return sub

    def set_active(self, subscription_id: str, active: Any) -> Subscription:
        """Pause or resume a subscription (the management API's PATCH)."""
        if not isinstance(active, bool):
            raise errors.validation("active must be a boolean.")
        sub = self.subscription(subscription_id)
        sub.active = active
        sub.updated_at = iso(self._now())
        return sub

    def unsubscribe(self, subscription_id: str) -> None:
        """Delete a subscription."""
        self.subscriptions.pop(self.subscription(subscription_id).id)

    # ------------------------------------------------------------------ events
    def record(self, change: Change) -> None:
        """The portal's change listener: queue one event per matching active subscription."""
        if self.settings is None or not self.subscriptions:
            return
        events = []
        for sub in list(self.subscriptions.values()):
            if not sub.matches(change):
                continue
            event: dict[str, Any] = {
                "eventId": next(self._event_ids),
                "subscriptionId": sub.id,
                "portalId": self.portal_id,
                "appId": self.app_id,
                "occurredAt": change.occurred_ms,
                "subscriptionType": sub.event_type,
                "attemptNumber": 0,
                "objectId": change.object_id,
                "changeSource": change.source,
                "sourceId": change.source_id,
                **change.fields,
            }
            if sub.event_type.startswith("object."):
                event["objectTypeId"] = change.object_type_id
            if change.kind == "propertyChange":
                event["isSensitive"] = False
            events.append(event)
        if events:
            self.delivery.submit(events)
