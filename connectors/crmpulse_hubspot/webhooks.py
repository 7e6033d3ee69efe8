"""HubSpot webhook deliveries: signature v3 checked on the raw bytes, then events normalized.

HubSpot signs ``method + uri + body + timestamp`` with the app's client secret
(``X-HubSpot-Signature-v3``, base64 HMAC-SHA256) and sends the timestamp in epoch milliseconds
(``X-HubSpot-Request-Timestamp``). The URI is the one HubSpot called, scheme and host included,
with a fixed set of percent-escapes decoded; behind a proxy it must be rebuilt from the configured
public URL, never from the request's Host header. The SDK's helper computes the signature; the
time window is applied here in both directions (the helper lets future timestamps through).
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hubspot.utils.signature import Signature

from crmpulse.errors import WebhookRejected
from crmpulse.events import (
    ChangeEvent,
    EventType,
    IgnoredEvent,
    InboundRequest,
    ParsedDelivery,
    WebhookAnswer,
)

OUR_PROPERTY_PREFIX = "crmpulse_"
"""Properties crmpulse writes: a change to one of them is our own echo."""

_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}
_ESCAPE = re.compile("|".join(_DECODED), re.IGNORECASE)

_ENTITY_OF_PREFIX = {
    "contact": "contacts",
    "company": "accounts",
    "deal": "deals",
    "ticket": "tickets",
}
_ENTITY_OF_TYPE_ID = {
    "0-1": "contacts",
    "0-2": "accounts",
    "0-3": "deals",
    "0-5": "tickets",
    "0-19": "surveys",
    "0-27": "activities",  # tasks
    "0-46": "activities",  # notes
    "0-47": "activities",  # meetings
    "0-48": "activities",  # calls
    "0-49": "activities",  # emails
}
_TYPE_OF_ACTION: dict[str, EventType] = {
    "creation": "created",
    "propertyChange": "updated",
    "deletion": "deleted",
    "privacyDeletion": "deleted",
    "restore": "restored",
    "merge": "merged",
    "associationChange": "associated",
}


def decode_uri(uri: str) -> str:
    """HubSpot's rule: decode exactly these escapes (``%3A`` ``%2F`` ``%3F`` ...), nothing else."""
    return _ESCAPE.sub(lambda m: _DECODED[m.group(0).upper()], uri)


def verify(
    *,
    body: bytes,
    headers: Mapping[str, str],
    method: str,
    uri: str,
    client_secret: str,
    now: float,
    window_seconds: float,
) -> None:
    """Raise :class:`WebhookRejected` (401) unless the v3 signature and timestamp are good."""
    signature = headers.get("x-hubspot-signature-v3")
    stamp = headers.get("x-hubspot-request-timestamp")
    if not signature or not stamp:
        raise WebhookRejected(401, "missing X-HubSpot-Signature-v3 or X-HubSpot-Request-Timestamp")
    try:
        millis = int(stamp)
    except ValueError:
        raise WebhookRejected(
            401, "X-HubSpot-Request-Timestamp is not epoch milliseconds"
        ) from None
    skew = now - millis / 1000
    if abs(skew) > window_seconds:
        way = "old" if skew > 0 else "far in the future"
        raise WebhookRejected(
            401,
            f"request timestamp is {abs(skew):.0f} s {way} (window {window_seconds:.0f} s)",
            hint="check the clock of this host",
        )
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise WebhookRejected(400, "body is not UTF-8") from None
    expected = Signature.get_signature(
        client_secret,
        text,
        "v3",
        http_uri=decode_uri(uri),
        http_method=method.upper(),
        timestamp=stamp,
    )
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise WebhookRejected(
            401,
            "signature does not match",
            hint="is CRMPULSE_HUBSPOT__CLIENT_SECRET the app's client secret, and "
            "CRMPULSE_SERVER__PUBLIC_URL the URL HubSpot calls?",
        )


def parse(body: bytes, *, source: str, app_id: str | None) -> ParsedDelivery:
    """The events of a (verified) delivery; :class:`WebhookRejected` (400) when malformed."""
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WebhookRejected(400, f"body is not JSON: {exc}") from None
    if not isinstance(document, list):
        raise WebhookRejected(400, "body must be a JSON array of events")
    events: list[ChangeEvent] = []
    ignored: list[IgnoredEvent] = []
    for index, raw in enumerate(document):
        if not isinstance(raw, dict):
            raise WebhookRejected(400, f"event {index} is not an object")
        event = _event(raw, index, source=source, app_id=app_id)
        if isinstance(event, IgnoredEvent):
            ignored.append(event)
        else:
            events.append(event)
    return ParsedDelivery(events, ignored)


def _event(
    raw: dict[str, Any], index: int, *, source: str, app_id: str | None
) -> ChangeEvent | IgnoredEvent:
    kind = str(raw.get("subscriptionType") or raw.get("eventType") or "")
    prefix, _, action = kind.partition(".")
    for required in ("objectId", "occurredAt", "eventId"):
        if raw.get(required) is None:
            raise WebhookRejected(400, f"event {index} ({kind or 'no type'}) has no {required}")
    if prefix == "object":
        entity = _ENTITY_OF_TYPE_ID.get(str(raw.get("objectTypeId")))
    else:
        entity = _ENTITY_OF_PREFIX.get(prefix)
    event_type = _TYPE_OF_ACTION.get(action)
    if entity is None or event_type is None:
        return IgnoredEvent(kind or "unknown", "not an object crmpulse reads")
    try:
        occurred = datetime.fromtimestamp(int(raw["occurredAt"]) / 1000, UTC)
        object_id = str(int(raw["objectId"]))
    except (TypeError, ValueError, OverflowError):
        raise WebhookRejected(
            400, f"event {index} has a malformed objectId or occurredAt"
        ) from None
    related: list[str] = []
    if event_type == "merged":
        related = [str(i) for i in raw.get("mergedObjectIds") or []]
        primary = raw.get("primaryObjectId") or raw.get("newObjectId")
        if primary is not None:
            object_id = str(primary)
    elif event_type == "associated":
        related = [str(raw[k]) for k in ("fromObjectId", "toObjectId") if raw.get(k) is not None]
    prop = str(raw.get("propertyName") or "")
    ours = prop.startswith(OUR_PROPERTY_PREFIX) or (
        app_id is not None
        and raw.get("changeSource") == "INTEGRATION"
        and str(raw.get("sourceId") or "") == str(app_id)
    )
    key = ":".join(str(raw.get(k)) for k in ("subscriptionId", "eventId", "occurredAt", "objectId"))
    return ChangeEvent(
        source=source,
        entity=entity,
        object_id=object_id,
        event_type=event_type,
        occurred_at=occurred,
        dedupe_key=key,
        ours=ours,
        payload=raw,
        related_ids=tuple(related),
    )


class HubSpotReceiver:
    """Webhook deliveries of one app to one portal (:class:`~crmpulse.events.WebhookReceiver`)."""

    def __init__(
        self, *, source: str, client_secret: str, app_id: str | None, window_seconds: float
    ) -> None:
        self.source = source
        self._secret = client_secret
        self.app_id = app_id
        self.window_seconds = window_seconds

    def receive(self, request: InboundRequest) -> ParsedDelivery:
        """Verify the v3 signature and timestamp on the raw bytes, then read the events."""
        verify(
            body=request.body,
            headers=request.headers,
            method=request.method,
            uri=request.url,
            client_secret=self._secret,
            now=request.received_at,
            window_seconds=self.window_seconds,
        )
        return parse(request.body, source=self.source, app_id=self.app_id)

    def acknowledge(self, new: int, duplicates: int) -> WebhookAnswer:
        """200 with what was stored (HubSpot only looks at the status)."""
        body = json.dumps({"accepted": new, "duplicates": duplicates})
        return WebhookAnswer(200, body, "application/json")

    def refuse(self, status: int, message: str) -> WebhookAnswer:
        """An error body in HubSpot's own shape."""
        body = json.dumps({"status": "error", "message": message})
        return WebhookAnswer(status, body, "application/json")
