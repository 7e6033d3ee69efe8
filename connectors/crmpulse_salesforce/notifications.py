"""Salesforce outbound messages: the SOAP ``notifications`` envelope in, the ``Ack`` out.

Outbound messages carry no signature. What proves the sender is the organization id, checked
against an allow-list on its first 15 characters (the 18-character form only adds a checksum),
over HTTPS in production. Each ``Notification`` has an id (the deduplication key: Salesforce
redelivers until acknowledged) and the latest values of the fields the message was set up with;
they are a trigger to re-read the record, not the record. Elements are matched by local name:
both the enterprise and the partner namespaces occur.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from datetime import UTC, datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from crmpulse.errors import WebhookRejected
from crmpulse.events import (
    ChangeEvent,
    IgnoredEvent,
    InboundRequest,
    ParsedDelivery,
    WebhookAnswer,
)

ACK = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
    "<soapenv:Body>"
    '<notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">'
    "<Ack>true</Ack></notificationsResponse>"
    "</soapenv:Body></soapenv:Envelope>"
)
"""The answer that tells Salesforce the whole message (every notification in it) arrived."""

_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"

_ENTITY_OF_SOBJECT = {
    "Account": "accounts",
    "Contact": "contacts",
    "Opportunity": "deals",
    "Case": "tickets",
    "Task": "activities",
    "Event": "activities",
    "SurveyResponse": "surveys",
}
_PARENT_OF_SOBJECT = {"SurveyQuestionResponse": ("surveys", "ResponseId")}
"""Children whose change is a change of the parent crmpulse reads."""


def fault(message: str) -> str:
    """A SOAP fault body (Salesforce retries a message answered with one)."""
    text = message.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">'
        "<soapenv:Body><soapenv:Fault><faultcode>soapenv:Client</faultcode>"
        f"<faultstring>{text}</faultstring></soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element, name: str) -> str:
    """The text of the child called ``name`` ("" when absent or empty).

    (An element without children is falsy, so ``_child(...) or default`` would be wrong.)
    """
    child = _child(element, name)
    return "" if child is None else (child.text or "")


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [c for c in element if _local(c.tag) == name]


def org15(org_id: str) -> str:
    """The 15-character form of an organization id."""
    return org_id.strip()[:15]


def parse(
    body: bytes,
    *,
    source: str,
    allowed_orgs: Iterable[str],
    integration_user_id: str | None,
    custom_survey_object: str | None = None,
) -> ParsedDelivery:
    """The events of one outbound message; :class:`WebhookRejected` when it is refused.

    400: not a ``notifications`` envelope; 403: an organization not on the allow-list.
    """
    try:
        # defusedxml: no entity expansion, no external entities (a webhook body is untrusted)
        root = fromstring(body)
    except ET.ParseError as exc:
        raise WebhookRejected(400, f"body is not XML: {exc}") from None
    except DefusedXmlException:
        raise WebhookRejected(400, "body declares entities or a DTD, which are refused") from None
    body_element = _child(root, "Body") if _local(root.tag) == "Envelope" else None
    notifications = None if body_element is None else _child(body_element, "notifications")
    if notifications is None:
        raise WebhookRejected(400, "not a SOAP envelope with a notifications element")
    org = _text(notifications, "OrganizationId")
    allowed = {org15(o) for o in allowed_orgs}
    if not allowed:
        raise WebhookRejected(
            403,
            "no organization is allowed to send outbound messages",
            hint="set CRMPULSE_SALESFORCE__ORGANIZATION_IDS to your org id",
        )
    if org15(org) not in allowed:
        raise WebhookRejected(403, f"organization {org15(org) or '(none)'} is not allowed")
    entities = dict(_ENTITY_OF_SOBJECT)
    if custom_survey_object:
        entities[custom_survey_object] = "surveys"
    user15 = None if integration_user_id is None else integration_user_id[:15]
    events: list[ChangeEvent] = []
    ignored: list[IgnoredEvent] = []
    for index, note in enumerate(_children(notifications, "Notification")):
        notification_id = _text(note, "Id")
        sobject = _child(note, "sObject")
        if not notification_id or sobject is None:
            raise WebhookRejected(400, f"notification {index} has no Id or sObject")
        sobject_type = (sobject.get(_XSI_TYPE) or "").rsplit(":", 1)[-1]
        fields = {_local(c.tag): (c.text or "") for c in sobject}
        entity, object_id = entities.get(sobject_type), fields.get("Id", "")
        parent = _PARENT_OF_SOBJECT.get(sobject_type)
        if parent is not None and fields.get(parent[1]):
            entity, object_id = parent[0], fields[parent[1]]
        if entity is None or not object_id:
            ignored.append(IgnoredEvent(sobject_type or "unknown", "not an object crmpulse reads"))
            continue
        modified_by = fields.get("LastModifiedById", "")
        events.append(
            ChangeEvent(
                source=source,
                entity=entity,
                object_id=object_id,
                event_type="updated",
                occurred_at=_when(fields.get("LastModifiedDate") or fields.get("SystemModstamp")),
                dedupe_key=notification_id,
                ours=bool(user15) and modified_by[:15] == user15,
                payload={"sobject": sobject_type, **fields},
            )
        )
    if not events and not ignored:
        raise WebhookRejected(400, "the message has no notifications")
    return ParsedDelivery(events, ignored)


def _when(value: str | None) -> datetime:
    if value:
        try:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        except ValueError:
            pass
    return datetime.now(UTC)


class SalesforceReceiver:
    """Outbound messages of one org (:class:`~crmpulse.events.WebhookReceiver`)."""

    def __init__(
        self,
        *,
        source: str,
        allowed_orgs: Iterable[str],
        integration_user_id: str | None,
        custom_survey_object: str | None = None,
    ) -> None:
        self.source = source
        self.allowed_orgs = [org15(o) for o in allowed_orgs]
        self.integration_user_id = integration_user_id
        self.custom_survey_object = custom_survey_object

    def receive(self, request: InboundRequest) -> ParsedDelivery:
        """Check the organization, then read the notifications."""
        return parse(
            request.body,
            source=self.source,
            allowed_orgs=self.allowed_orgs,
            integration_user_id=self.integration_user_id,
            custom_survey_object=self.custom_survey_object,
        )

    def acknowledge(self, new: int, duplicates: int) -> WebhookAnswer:
        """The ``Ack`` that covers every notification of the message."""
        return WebhookAnswer(200, ACK, "text/xml; charset=utf-8")

    def refuse(self, status: int, message: str) -> WebhookAnswer:
        """A SOAP fault: Salesforce keeps the message and retries it."""
        return WebhookAnswer(status, fault(message), "text/xml; charset=utf-8")
