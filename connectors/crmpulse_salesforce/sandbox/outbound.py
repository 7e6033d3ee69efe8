"""Outbound messages: workflow actions that POST a SOAP ``notifications`` envelope to a URL.

An :class:`OutboundMessage` names an sObject type, an endpoint and the fields to send. Workflow
rules are evaluated when a record is created or edited, never when it is deleted, so only those
changes queue a notification (``undeleted`` can be opted into). The queue keeps one notification
per record and action: a later change before delivery replaces its values, because Salesforce
only sends a record's latest values.

A daemon thread delivers the queue: up to 100 notifications of one action per request
(``Content-Type: text/xml; charset=utf-8``, ``SOAPAction: ""``). Anything but HTTP 200 with a
``notificationsResponse`` whose ``Ack`` is ``true`` leaves the notifications queued; they are
retried after 30 s, 1 min, 2 min, 4 min ... (at most 2 h apart) and dropped 24 h after they were
queued. ``time_scale`` multiplies every one of those intervals (0.001 turns 30 s into 30 ms).
"""

from __future__ import annotations

import dataclasses
import itertools
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

import requests

from .org import Change, Org, make_id

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND_NS = "http://soap.sforce.com/2005/09/outbound"
"""Namespace of ``notifications`` and of the receiver's ``notificationsResponse``."""
ENTERPRISE_NS = "urn:sobject.enterprise.soap.sforce.com"
"""Namespace of the sObject fields (prefix ``sf``)."""
MAX_NOTIFICATIONS = 100
"""Notifications per request."""
FIRST_RETRY = 30.0
"""Seconds before the first retry; each further retry waits twice as long ..."""
MAX_RETRY_INTERVAL = 2 * 3600.0
"""... but never longer than this."""
GIVE_UP_AFTER = 24 * 3600.0
"""Seconds after queueing at which an undelivered notification is dropped."""
API_VERSION = "59.0"

DEFAULT_SOBJECTS = (
    "Account",
    "Contact",
    "Opportunity",
    "Case",
    "Task",
    "Event",
    "SurveyInvitation",
    "SurveyResponse",
    "SurveyQuestionResponse",
    "SurveySubject",
)
"""Objects a definition without ``sobject(s)`` covers: the ones crmpulse reads."""
BASE_FIELDS = ("Id", "LastModifiedDate", "LastModifiedById", "SystemModstamp")
PARENT_FIELDS = (
    "AccountId",
    "ContactId",
    "WhatId",
    "WhoId",
    "ParentId",
    "OpportunityId",
    "SurveyId",
    "InvitationId",
    "ResponseId",
)
"""Parent references a default field list adds when the object has them."""
TRIGGERS = frozenset({"created", "updated", "undeleted"})
DEFAULT_TRIGGERS = ("created", "updated")
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})
_RECENT = 50


class OutboundError(ValueError):
    """An invalid outbound message definition or setting."""


@dataclasses.dataclass(frozen=True)
class OutboundMessage:
    """One outbound message action: which changes of ``sobject`` go where, with which fields."""

    action_id: str
    name: str
    sobject: str
    url: str
    fields: tuple[str, ...]
    organization_id: str
    instance_url: str
    triggers: tuple[str, ...] = DEFAULT_TRIGGERS
    session_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``GET /_sandbox/outbound``."""
        return {
            "actionId": self.action_id,
            "name": self.name,
            "sobject": self.sobject,
            "url": self.url,
            "fields": list(self.fields),
            "organizationId": self.organization_id,
            "triggers": list(self.triggers),
            "sendSessionId": self.session_id is not None,
        }


@dataclasses.dataclass
class _Pending:
    """A queued notification; ``version`` moves on when a newer change replaces the values."""

    notification_id: str
    record_id: str
    values: dict[str, Any]
    queued_at: float
    due: float
    version: int = 0
    attempts: int = 0
    in_flight: bool = False


@dataclasses.dataclass
class _Counts:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    dropped: int = 0
    requests: int = 0


def default_fields(org: Org, sobject: str) -> tuple[str, ...]:
    """Id, the last-modified fields and the parent references ``sobject`` has."""
    fields = org.describes[sobject]
    return tuple(f for f in (*BASE_FIELDS, *PARENT_FIELDS) if f in fields)


def soap_value(value: Any) -> str:
    """A field value as the enterprise WSDL writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def envelope(
    message: OutboundMessage, notifications: Sequence[tuple[str, Mapping[str, Any]]]
) -> str:
    """The SOAP request for ``notifications`` (``(notification id, field values)`` pairs)."""
    org15 = message.organization_id[:15]
    base = message.instance_url.rstrip("/")
    session = (
        f"<SessionId>{escape(message.session_id)}</SessionId>"
        if message.session_id is not None
        else '<SessionId xsi:nil="true"/>'
    )
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" '
        'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
        "<soapenv:Body>",
        f'<notifications xmlns="{OUTBOUND_NS}">',
        f"<OrganizationId>{escape(message.organization_id)}</OrganizationId>",
        f"<ActionId>{escape(message.action_id)}</ActionId>",
        session,
        f"<EnterpriseUrl>{escape(base)}/services/Soap/c/{API_VERSION}/{org15}</EnterpriseUrl>",
        f"<PartnerUrl>{escape(base)}/services/Soap/u/{API_VERSION}/{org15}</PartnerUrl>",
    ]
    ordered = ["Id", *sorted(f for f in message.fields if f != "Id")]
    for notification_id, values in notifications:
        parts.append(f"<Notification><Id>{notification_id}</Id>")
        parts.append(
            f'<sObject xsi:type={quoteattr("sf:" + message.sobject)} xmlns:sf="{ENTERPRISE_NS}">'
        )
        for field in ordered:
            value = values.get(field)
            if value is not None:  # empty fields are left out, as Salesforce does
                parts.append(f"<sf:{field}>{escape(soap_value(value))}</sf:{field}>")
        parts.append("</sObject></Notification>")
    parts.append("</notifications></soapenv:Body></soapenv:Envelope>")
    return "".join(parts)


def is_ack(status: int, body: bytes) -> bool:
    """Whether a receiver's answer acknowledges the message: HTTP 200 and a
    ``notificationsResponse`` (outbound namespace) whose ``Ack`` is ``true``."""
    if status != 200:
        return False
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return False
    for element in root.iter(f"{{{OUTBOUND_NS}}}notificationsResponse"):
        ack = element.find(f"{{{OUTBOUND_NS}}}Ack")
        if ack is not None and (ack.text or "").strip().lower() == "true":
            return True
    return False


class OutboundHub:
    """Outbound message definitions, their queues and the delivery thread.

    Registered as a listener of ``org``: committed changes of a configured object queue a
    notification. The thread starts with the first definition and stops on :meth:`close`.
    """

    def __init__(self, org: Org, *, time_scale: float = 1.0, timeout: float = 5.0) -> None:
        self.org = org
        self.time_scale = time_scale
        self.timeout = timeout
        self.paused = False
        self.messages: dict[str, OutboundMessage] = {}
        self._queues: dict[str, dict[str, _Pending]] = {}
        self._counts: dict[str, _Counts] = {}
        self._retired = _Counts()
        self._recent: deque[dict[str, Any]] = deque(maxlen=_RECENT)
        self._actions = itertools.count(1)
        self._notifications = itertools.count(1)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False
        org.listeners.append(self.on_change)

    # -- configuration -----------------------------------------------------------------------
    def define(
        self,
        sobject: str,
        url: str,
        *,
        instance_url: str,
        fields: Iterable[str] | None = None,
        name: str | None = None,
        organization_id: str | None = None,
        triggers: Iterable[str] | None = None,
        session_id: str | None = None,
    ) -> OutboundMessage:
        """Add an outbound message on ``sobject`` posting to ``url`` (plain HTTP, loopback)."""
        canonical = self.org.sobject_name(sobject)
        if canonical is None:
            raise OutboundError(f"unknown sObject type {sobject!r}")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or parts.hostname not in _LOOPBACK:
            raise OutboundError(f"endpoint must be an http URL on 127.0.0.1, got {url!r}")
        if fields is None:
            chosen = default_fields(self.org, canonical)
        else:
            names = []
            for raw in ["Id", *fields]:
                field = self.org.field_name(canonical, str(raw))
                if field is None:
                    raise OutboundError(f"no field {raw!r} on {canonical}")
                if field not in names:
                    names.append(field)
            chosen = tuple(names)
        wanted = tuple(triggers) if triggers is not None else DEFAULT_TRIGGERS
        unknown = [t for t in wanted if t not in TRIGGERS]
        if unknown or not wanted:
            raise OutboundError(f"triggers must be among {sorted(TRIGGERS)}, got {unknown}")
        with self._cond:
            action_id = make_id("04k", next(self._actions))
            message = OutboundMessage(
                action_id=action_id,
                name=name or f"{canonical}_changes",
                sobject=canonical,
                url=url,
                fields=chosen,
                organization_id=organization_id or self.org.org_id,
                instance_url=instance_url,
                triggers=wanted,
                session_id=session_id,
            )
            self.messages[action_id] = message
            self._queues[action_id] = {}
            self._counts[action_id] = _Counts()
            self._start()
        return message

    def remove(self, action_id: str) -> bool:
        """Delete one definition and its queue; whether it existed."""
        with self._cond:
            found = self.messages.pop(action_id, None) is not None
            self._queues.pop(action_id, None)
            counts = self._counts.pop(action_id, None)
            if counts is not None:
                self._retire(counts)
            return found

    def clear(self) -> None:
        """Delete every definition, everything queued and the delivery counts."""
        with self._cond:
            self._retired = _Counts()
            self._recent.clear()
            self.messages.clear()
            self._queues.clear()
            self._counts.clear()

    def _retire(self, counts: _Counts) -> None:
        for field in dataclasses.fields(_Counts):
            total = getattr(self._retired, field.name) + getattr(counts, field.name)
            setattr(self._retired, field.name, total)

    def configure(
        self,
        *,
        time_scale: float | None = None,
        timeout: float | None = None,
        paused: bool | None = None,
    ) -> None:
        """Change the retry time scale (real seconds per emulated second), the request timeout,
        or hold / resume delivery (``paused``: notifications keep queueing meanwhile)."""
        with self._cond:
            if paused is not None:
                self.paused = bool(paused)
            if time_scale is not None:
                if not time_scale > 0:
                    raise OutboundError("time_scale must be positive")
                self.time_scale = float(time_scale)
            if timeout is not None:
                if not timeout > 0:
                    raise OutboundError("timeout must be positive")
                self.timeout = float(timeout)
            self._cond.notify_all()

    def settings(self) -> dict[str, Any]:
        """JSON form of the settings."""
        return {"time_scale": self.time_scale, "timeout": self.timeout, "paused": self.paused}

    # -- queueing ----------------------------------------------------------------------------
    def on_change(self, change: Change) -> None:
        """Org listener: queue (or refresh) a notification for each matching definition."""
        if not self.messages:
            return
        with self._cond:
            queued = False
            for action_id, message in self.messages.items():
                if message.sobject != change.sobject or change.kind not in message.triggers:
                    continue
                values = {f: change.row.get(f) for f in message.fields}
                queue = self._queues[action_id]
                record_id = change.row["Id"]
                pending = queue.get(record_id)
                if pending is not None:
                    pending.values = values
                    pending.version += 1
                else:
                    now = time.monotonic()
                    queue[record_id] = _Pending(
                        notification_id=make_id("04l", next(self._notifications)),
                        record_id=record_id,
                        values=values,
                        queued_at=now,
                        due=now,
                    )
                queued = True
            if queued:
                self._cond.notify_all()

    def stats(self) -> dict[str, Any]:
        """Counts for ``GET /_sandbox/outbound/deliveries``: notifications ``queued`` now, and
        so far ``sent`` (per attempt), ``acked``, ``failed`` (per attempt) and ``dropped``;
        ``requests`` made; the same per action; the latest requests."""
        with self._cond:
            per_action = []
            total = dataclasses.replace(self._retired)
            queued = 0
            for action_id, message in self.messages.items():
                counts = self._counts[action_id]
                waiting = len(self._queues[action_id])
                queued += waiting
                for field in dataclasses.fields(_Counts):
                    setattr(
                        total, field.name, getattr(total, field.name) + getattr(counts, field.name)
                    )
                per_action.append(
                    {
                        "actionId": action_id,
                        "sobject": message.sobject,
                        "queued": waiting,
                        **dataclasses.asdict(counts),
                    }
                )
            return {
                "queued": queued,
                **dataclasses.asdict(total),
                "actions": per_action,
                "recent": list(self._recent),
            }

    # -- delivery ----------------------------------------------------------------------------
    def _start(self) -> None:
        if self._thread is None and not self._closed:
            self._thread = threading.Thread(
                target=self._run, name="salesforce-outbound", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop the delivery thread (queued notifications stay undelivered)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        if self.on_change in self.org.listeners:
            self.org.listeners.remove(self.on_change)

    def _run(self) -> None:
        session = requests.Session()
        try:
            while True:
                with self._cond:
                    if self._closed:
                        return
                    if self.paused:
                        self._cond.wait(timeout=1.0)
                        continue
                    work, wait = self._take_due(time.monotonic())
                    if not work:
                        self._cond.wait(timeout=min(wait, 1.0) if wait is not None else 1.0)
                        continue
                for message, batch in work:
                    self._deliver(session, message, batch)
        finally:
            session.close()

    def _take_due(
        self, now: float
    ) -> tuple[
        list[tuple[OutboundMessage, list[tuple[_Pending, int, dict[str, Any]]]]], float | None
    ]:
        """Due notifications in batches (marked in flight), or the seconds to the next due one."""
        work = []
        next_due: float | None = None
        for action_id, queue in self._queues.items():
            due = []
            for pending in queue.values():
                if pending.in_flight:
                    continue
                if pending.due <= now:
                    due.append(pending)
                else:
                    wait = pending.due - now
                    next_due = wait if next_due is None else min(next_due, wait)
            for start in range(0, len(due), MAX_NOTIFICATIONS):
                batch = []
                for pending in due[start : start + MAX_NOTIFICATIONS]:
                    pending.in_flight = True
                    batch.append((pending, pending.version, dict(pending.values)))
                work.append((self.messages[action_id], batch))
        return work, next_due

    def _deliver(
        self,
        session: requests.Session,
        message: OutboundMessage,
        batch: list[tuple[_Pending, int, dict[str, Any]]],
    ) -> None:
        body = envelope(message, [(p.notification_id, values) for p, _, values in batch])
        error = ""
        status = 0
        try:
            response = session.post(
                message.url,
                data=body.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                timeout=self.timeout,
            )
            status = response.status_code
            acked = is_ack(status, response.content)
            if not acked:
                error = f"HTTP {status}" if status != 200 else "no Ack true in the response"
        except (requests.RequestException, ValueError) as exc:
            acked = False
            error = type(exc).__name__
        with self._cond:
            self._settle(message, batch, acked)
            self._recent.append(
                {
                    "actionId": message.action_id,
                    "sobject": message.sobject,
                    "notifications": len(batch),
                    "status": status,
                    "acked": acked,
                    "error": error or None,
                }
            )
            self._cond.notify_all()

    def _settle(
        self,
        message: OutboundMessage,
        batch: list[tuple[_Pending, int, dict[str, Any]]],
        acked: bool,
    ) -> None:
        queue = self._queues.get(message.action_id)
        counts = self._counts.get(message.action_id)
        if queue is None or counts is None:  # the definition was removed meanwhile
            return
        counts.requests += 1
        counts.sent += len(batch)
        now = time.monotonic()
        for pending, version, _ in batch:
            pending.in_flight = False
            if queue.get(pending.record_id) is not pending:
                continue
            changed = pending.version != version
            if acked:
                counts.acked += 1
                if changed:  # a newer change arrived meanwhile: it is a new notification
                    pending.notification_id = make_id("04l", next(self._notifications))
                    pending.queued_at = pending.due = now
                    pending.attempts = 0
                else:
                    del queue[pending.record_id]
                continue
            counts.failed += 1
            pending.attempts += 1
            interval = min(FIRST_RETRY * 2 ** (pending.attempts - 1), MAX_RETRY_INTERVAL)
            pending.due = now + interval * self.time_scale
            if now - pending.queued_at >= GIVE_UP_AFTER * self.time_scale:
                counts.dropped += 1
                del queue[pending.record_id]
