"""The two webhook dialects, request by request: HubSpot's signed JSON batches and Salesforce's
outbound-message SOAP envelopes. Signatures are computed here from HubSpot's documented recipe
(and a published test vector), not with the code under test."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from crmpulse.errors import WebhookRejected
from crmpulse.events import InboundRequest
from crmpulse_hubspot.webhooks import HubSpotReceiver, decode_uri
from crmpulse_salesforce.notifications import ACK, SalesforceReceiver

SECRET = "app-client-secret"
URL = "https://hooks.example.com/webhooks/hubspot"
NOW = 1_796_300_000.0
SOURCE = "hubspot:4242"


def sign(body: bytes, *, uri: str = URL, stamp: int | None = None, secret: str = SECRET) -> dict:
    """HubSpot's v3 headers: base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    ms = str(stamp if stamp is not None else int(NOW * 1000))
    message = b"POST" + uri.encode() + body + ms.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return {
        "x-hubspot-signature-v3": base64.b64encode(digest).decode(),
        "x-hubspot-request-timestamp": ms,
    }


def request(body: bytes, headers: dict[str, str], url: str = URL) -> InboundRequest:
    return InboundRequest(method="POST", url=url, headers=headers, body=body, received_at=NOW)


def receiver(app_id: str | None = "1160452") -> HubSpotReceiver:
    return HubSpotReceiver(source=SOURCE, client_secret=SECRET, app_id=app_id, window_seconds=300)


def event(**fields: Any) -> dict[str, Any]:
    base = {
        "eventId": 101,
        "subscriptionId": 7,
        "portalId": 4242,
        "appId": 1160452,
        "occurredAt": int(NOW * 1000) - 2000,
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 2001,
        "changeSource": "CRM_UI",
        "sourceId": "userId:7",
        "propertyName": "lifecyclestage",
        "propertyValue": "customer",
    }
    return {**base, **fields}


def test_the_published_v3_vector_verifies() -> None:
    # hubspot-api.md, section 1.6: secret "secret", body [{"eventId":1}], POST, the uri below
    body = b'[{"eventId":1}]'
    headers = sign(body, uri="https://example.com/hook", stamp=1_700_000_000_000, secret="secret")
    assert headers["x-hubspot-signature-v3"] == "G7Tuc4la8lPIPNeYZBYQJLZG1coYBhNfQe36ytqvNjI="
    vector = HubSpotReceiver(source=SOURCE, client_secret="secret", app_id=None, window_seconds=300)
    inbound = InboundRequest("POST", "https://example.com/hook", headers, body, 1_700_000_010.0)
    with pytest.raises(WebhookRejected) as caught:  # verified, then refused: no objectId
        vector.receive(inbound)
    assert caught.value.status == 400


def test_a_signed_batch_becomes_events_with_stable_keys() -> None:
    body = json.dumps([event(), event(eventId=102, objectId=2002)]).encode()
    delivery = receiver().receive(request(body, sign(body)))
    assert [e.object_id for e in delivery.events] == ["2001", "2002"]
    first = delivery.events[0]
    assert (first.entity, first.event_type, first.source, first.ours) == (
        "contacts",
        "updated",
        SOURCE,
        False,
    )
    again = receiver().receive(request(body, sign(body)))
    assert [e.dedupe_key for e in again.events] == [e.dedupe_key for e in delivery.events]
    assert len({e.dedupe_key for e in delivery.events}) == 2


@pytest.mark.parametrize(
    ("mangle", "status"),
    [
        (lambda b, h: (b, {**h, "x-hubspot-signature-v3": "AAAA"}), 401),
        (lambda b, h: (b + b" ", h), 401),  # body changed after signing
        (lambda b, h: (b, {k: v for k, v in h.items() if "signature" not in k}), 401),
        (lambda b, h: (b, {k: v for k, v in h.items() if "timestamp" not in k}), 401),
        (lambda b, h: (b, {**h, "x-hubspot-request-timestamp": "yesterday"}), 401),
    ],
    ids=["wrong signature", "tampered body", "no signature", "no timestamp", "bad timestamp"],
)
def test_what_is_not_signed_right_is_refused_with_401(mangle: Any, status: int) -> None:
    body = json.dumps([event()]).encode()
    bad_body, bad_headers = mangle(body, sign(body))
    with pytest.raises(WebhookRejected) as caught:
        receiver().receive(request(bad_body, bad_headers))
    assert caught.value.status == status
    assert SECRET not in str(caught.value)


@pytest.mark.parametrize("skew", [-301, 301, 3600, -3600])
def test_stale_and_future_timestamps_are_refused(skew: int) -> None:
    body = json.dumps([event()]).encode()
    stamp = int((NOW - skew) * 1000)
    with pytest.raises(WebhookRejected) as caught:
        receiver().receive(request(body, sign(body, stamp=stamp)))
    assert caught.value.status == 401
    assert "old" in str(caught.value) or "future" in str(caught.value)


def test_within_the_window_both_ways_is_accepted() -> None:
    body = json.dumps([event()]).encode()
    for skew in (-299, 299):
        stamp = int((NOW - skew) * 1000)
        assert receiver().receive(request(body, sign(body, stamp=stamp))).events


def test_the_uri_is_decoded_as_hubspot_says_and_only_so() -> None:
    called = "https://hooks.example.com/webhooks/hubspot?x=a%3Ab%2Cc%20d"
    assert decode_uri(called) == "https://hooks.example.com/webhooks/hubspot?x=a:b,c%20d"
    body = json.dumps([event()]).encode()
    signed_over = "https://hooks.example.com/webhooks/hubspot?x=a:b,c%20d"
    assert receiver().receive(request(body, sign(body, uri=signed_over), url=called)).events
    with pytest.raises(WebhookRejected):
        receiver().receive(request(body, sign(body, uri=called), url=called))


@pytest.mark.parametrize(
    "body",
    [b"not json", b'{"eventId": 1}', b"[1, 2]", json.dumps([event(objectId=None)]).encode()],
    ids=["not json", "not an array", "not objects", "no objectId"],
)
def test_malformed_bodies_are_refused_with_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        receiver().receive(request(body, sign(body)))
    assert caught.value.status == 400


def test_unknown_types_are_ignored_not_refused() -> None:
    body = json.dumps(
        [event(subscriptionType="conversation.newMessage"), event(eventId=9)]
    ).encode()
    delivery = receiver().receive(request(body, sign(body)))
    assert [i.kind for i in delivery.ignored] == ["conversation.newMessage"]
    assert len(delivery.events) == 1


def test_our_own_writes_are_marked_ours() -> None:
    ours_by_property = event(propertyName="crmpulse_nps", propertyValue="12")
    ours_by_app = event(eventId=5, changeSource="INTEGRATION", sourceId="1160452")
    someone_else = event(eventId=6, changeSource="INTEGRATION", sourceId="999")
    body = json.dumps([ours_by_property, ours_by_app, someone_else]).encode()
    delivery = receiver().receive(request(body, sign(body)))
    assert [e.ours for e in delivery.events] == [True, True, False]


def test_merge_association_and_generic_object_events() -> None:
    merge = event(
        subscriptionType="company.merge",
        objectId=11,
        primaryObjectId=11,
        mergedObjectIds=[12],
        newObjectId=11,
    )
    association = event(
        eventId=2,
        subscriptionType="contact.associationChange",
        objectId=2001,
        fromObjectId=2001,
        toObjectId=11,
        associationType="CONTACT_TO_COMPANY",
    )
    survey = event(eventId=3, subscriptionType="object.creation", objectTypeId="0-19", objectId=77)
    body = json.dumps([merge, association, survey]).encode()
    events = receiver().receive(request(body, sign(body))).events
    assert [(e.entity, e.event_type, e.object_id) for e in events] == [
        ("accounts", "merged", "11"),
        ("contacts", "associated", "2001"),
        ("surveys", "created", "77"),
    ]
    assert events[0].related_ids == ("12",)


# -- Salesforce ------------------------------------------------------------------------------

ORG = "00D5Y000001MPM7UAO"
USER = "005000000000001AAA"


def envelope(*notes: str, org: str = ORG, sobject: str = "Case") -> bytes:
    body = "".join(
        f"<Notification><Id>{nid}</Id>"
        f'<sObject xsi:type="sf:{sobject}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"{fields}</sObject></Notification>"
        for nid, fields in (n.split("|", 1) for n in notes)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
        '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
        f"<OrganizationId>{org}</OrganizationId><ActionId>04k5Y0000008Q1hQAE</ActionId>"
        '<SessionId xsi:nil="true"/>'
        f"{body}</notifications></soapenv:Body></soapenv:Envelope>"
    ).encode()


def sf_receiver(orgs: tuple[str, ...] = (ORG,)) -> SalesforceReceiver:
    return SalesforceReceiver(source="salesforce:acme", allowed_orgs=orgs, integration_user_id=USER)


def sf_request(body: bytes) -> InboundRequest:
    headers = {"content-type": "text/xml; charset=utf-8", "soapaction": '""'}
    return InboundRequest("POST", "https://hooks.example.com/webhooks/salesforce", headers, body, 0)


CASE = (
    "04l5Y00002lRDRNQA4|<sf:Id>5005Y00001SuvwAQAB</sf:Id>"
    "<sf:LastModifiedById>005000000000002AAA</sf:LastModifiedById>"
    "<sf:LastModifiedDate>2026-06-02T13:00:00.000Z</sf:LastModifiedDate>"
)


def test_an_outbound_message_becomes_events_keyed_by_notification_id() -> None:
    delivery = sf_receiver().receive(sf_request(envelope(CASE)))
    [e] = delivery.events
    assert (e.entity, e.object_id, e.dedupe_key, e.ours) == (
        "tickets",
        "5005Y00001SuvwAQAB",
        "04l5Y00002lRDRNQA4",
        False,
    )
    assert e.occurred_at.isoformat() == "2026-06-02T13:00:00+00:00"
    answer = sf_receiver().acknowledge(1, 0)
    assert answer.status == 200
    assert answer.body == ACK
    assert "<Ack>true</Ack>" in answer.body


def test_the_organization_is_checked_on_its_15_characters() -> None:
    assert sf_receiver(orgs=(ORG[:15],)).receive(sf_request(envelope(CASE))).events
    with pytest.raises(WebhookRejected) as caught:
        sf_receiver().receive(sf_request(envelope(CASE, org="00D000000000009AAA")))
    assert caught.value.status == 403
    assert "00D000000000009" in str(caught.value)
    with pytest.raises(WebhookRejected) as nobody:
        sf_receiver(orgs=()).receive(sf_request(envelope(CASE)))
    assert "CRMPULSE_SALESFORCE__ORGANIZATION_IDS" in (nobody.value.hint or "")


def test_changes_by_the_integration_user_are_ours() -> None:
    mine = CASE.replace("005000000000002AAA", USER[:15])
    [e] = sf_receiver().receive(sf_request(envelope(mine))).events
    assert e.ours


@pytest.mark.parametrize(
    "body",
    [
        b"<not-xml",
        b"<a/>",
        envelope("x|<sf:Name>no id</sf:Name>").replace(b"<Id>x</Id>", b""),
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>',
    ],
    ids=["not xml", "not an envelope", "notification without id", "entities"],
)
def test_malformed_or_dangerous_xml_is_refused_with_400(body: bytes) -> None:
    with pytest.raises(WebhookRejected) as caught:
        sf_receiver().receive(sf_request(body))
    assert caught.value.status == 400


def test_survey_question_responses_name_their_survey_response() -> None:
    answer = (
        "04l000000000009AAA|<sf:Id>0Kq000000000001AAA</sf:Id>"
        "<sf:ResponseId>0Kp000000000001AAA</sf:ResponseId>"
    )
    [e] = (
        sf_receiver().receive(sf_request(envelope(answer, sobject="SurveyQuestionResponse"))).events
    )
    assert (e.entity, e.object_id) == ("surveys", "0Kp000000000001AAA")
    unknown = sf_receiver().receive(sf_request(envelope(CASE, sobject="Pricebook2")))
    assert not unknown.events
    assert [i.kind for i in unknown.ignored] == ["Pricebook2"]


def test_a_refusal_is_a_soap_fault() -> None:
    answer = sf_receiver().refuse(403, "organization 00D000000000009 is not allowed <&>")
    assert answer.status == 403
    assert "<faultstring>organization 00D000000000009 is not allowed &lt;&amp;&gt;" in answer.body
