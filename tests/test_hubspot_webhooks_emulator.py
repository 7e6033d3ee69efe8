"""The HubSpot emulator's webhooks: configured through the real SDK, delivered over real HTTP to a
receiver on 127.0.0.1, signed so that the SDK's own ``Signature`` helper accepts them."""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import hubspot
import pytest
import requests
from hubspot.crm.contacts import (
    Filter,
    FilterGroup,
    PublicObjectSearchRequest,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.utils.signature import Signature
from hubspot.webhooks import (
    SettingsChangeRequest,
    SubscriptionCreateRequest,
    SubscriptionPatchRequest,
    ThrottlingSettings,
)
from hubspot.webhooks.exceptions import ApiException as WebhooksApiException

from crmpulse_hubspot.sandbox import SandboxServer, build_portal
from crmpulse_hubspot.sandbox.changes import CRM_USER_ID
from crmpulse_hubspot.sandbox.delivery import RetryPolicy

TOKEN = "webhook-test-token"
APP_ID = 555_111
DEV_KEY = "dev-key-for-tests"
SECRET = "client-secret-for-tests"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
# 24 hours of HubSpot retries in about 1.5 seconds.
FAST = RetryPolicy(time_scale=1.5 / 86_400, timeout=0.8, coalesce=0.05)


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one POST."""

    status: int = 204
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0


@dataclass
class Delivery:
    """One POST the receiver got."""

    path: str
    headers: dict[str, str]
    body: str

    @property
    def events(self) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(self.body)
        return events


class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording deliveries; answers from ``replies``
    (then 204), slowly when a reply says so, and tracks how many POSTs were open at once."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.replies: deque[Reply] = deque()
        self.lock = threading.Lock()
        self.open = 0
        self.most_open = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.lock:
                    receiver.deliveries.append(
                        Delivery(self.path, dict(self.headers.items()), raw.decode("utf-8"))
                    )
                    receiver.open += 1
                    receiver.most_open = max(receiver.most_open, receiver.open)
                    reply = receiver.replies.popleft() if receiver.replies else Reply()
                time.sleep(reply.delay)
                with receiver.lock:
                    receiver.open -= 1
                try:
                    self.send_response(reply.status)
                    for name, value in reply.headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sender gave up waiting

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hubspot/webhooks?tenant=a"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [e for d in self.deliveries for e in d.events]

    def wait_for(
        self, check: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if check(events):
                return events
            time.sleep(0.02)
        raise AssertionError(f"condition not met; got {self.events()}")


@pytest.fixture(scope="module")
def server() -> Iterator[SandboxServer]:
    portal = build_portal(seed=11, scale="tiny", as_of=AS_OF)
    with SandboxServer(
        portal, token=TOKEN, app_id=APP_ID, developer_key=DEV_KEY, retry=FAST
    ) as srv:
        yield srv


@pytest.fixture
def receiver(server: SandboxServer) -> Iterator[Receiver]:
    requests.delete(f"{server.base_url}/_sandbox/webhooks/deliveries", timeout=5)
    recv = Receiver()
    yield recv
    recv.close()
    requests.post(f"{server.base_url}/_sandbox/search_lag", json={"seconds": 0}, timeout=5)


def _configure(server: SandboxServer, receiver: Receiver, subscriptions: Any = None) -> None:
    body: dict[str, Any] = {"targetUrl": receiver.url, "clientSecret": SECRET}
    if subscriptions is not None:
        body["subscriptions"] = subscriptions
    response = requests.post(f"{server.base_url}/_sandbox/webhooks", json=body, timeout=5)
    assert response.status_code == 200, response.text


def _client(server: SandboxServer) -> hubspot.HubSpot:
    return hubspot.HubSpot(access_token=TOKEN, host=server.base_url)


def _deliveries(server: SandboxServer) -> dict[str, Any]:
    report: dict[str, Any] = requests.get(
        f"{server.base_url}/_sandbox/webhooks/deliveries", timeout=5
    ).json()
    return report


# ------------------------------------------------------------------ management API
def test_management_api_through_the_sdk(server: SandboxServer) -> None:
    dev = hubspot.HubSpot(api_key=DEV_KEY, host=server.base_url)
    settings = dev.webhooks.settings_api.configure(
        APP_ID,
        SettingsChangeRequest(
            target_url="http://127.0.0.1:9/hooks",
            throttling=ThrottlingSettings(max_concurrent_requests=7),
        ),
    )
    assert settings.target_url == "http://127.0.0.1:9/hooks"
    assert dev.webhooks.settings_api.get_all(APP_ID).throttling.max_concurrent_requests == 7

    subs = dev.webhooks.subscriptions_api
    created = subs.create(
        APP_ID,
        SubscriptionCreateRequest(event_type="contact.propertyChange", property_name="email"),
    )
    assert created.active is True
    assert created.property_name == "email"
    generic = subs.create(
        APP_ID, SubscriptionCreateRequest(event_type="object.creation", object_type_id="0-19")
    )
    assert generic.object_type_id == "0-19"
    listed = {s.id for s in subs.get_all(APP_ID).results}
    assert {created.id, generic.id} <= listed
    paused = subs.update(created.id, APP_ID, SubscriptionPatchRequest(active=False))
    assert paused.active is False
    assert subs.get_by_id(created.id, APP_ID).active is False
    subs.archive(created.id, APP_ID)
    with pytest.raises(WebhooksApiException) as missing:
        subs.get_by_id(created.id, APP_ID)
    assert missing.value.status == 404

    with pytest.raises(WebhooksApiException) as denied:
        hubspot.HubSpot(api_key="wrong", host=server.base_url).webhooks.settings_api.get_all(APP_ID)
    assert denied.value.status == 401
    bad = requests.post(
        f"{server.base_url}/webhooks/v3/{APP_ID}/subscriptions?hapikey={DEV_KEY}",
        json={"eventType": "contact.nonsense"},
        timeout=5,
    )
    assert bad.status_code == 400
    outside = requests.put(
        f"{server.base_url}/webhooks/v3/{APP_ID}/settings?hapikey={DEV_KEY}",
        json={"targetUrl": "http://example.com/x", "throttling": {"maxConcurrentRequests": 10}},
        timeout=5,
    )
    assert outside.status_code == 400
    dev.webhooks.settings_api.clear(APP_ID)
    with pytest.raises(WebhooksApiException) as cleared:
        dev.webhooks.settings_api.get_all(APP_ID)
    assert cleared.value.status == 404


# ------------------------------------------------------------------ delivery
def test_api_writes_are_delivered_signed_and_marked_as_the_integration(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver)
    created = _client(server).crm.contacts.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "hook.one@example.com", "firstname": "Hook"}
        )
    )
    events = receiver.wait_for(
        lambda evs: (
            {e["subscriptionType"] for e in evs if e["objectId"] == int(created.id)}
            >= {"contact.creation", "contact.propertyChange"}
        )
    )
    mine = [e for e in events if e["objectId"] == int(created.id)]
    creation = next(e for e in mine if e["subscriptionType"] == "contact.creation")
    assert creation["changeSource"] == "INTEGRATION"
    assert creation["sourceId"] == str(APP_ID)
    assert creation["appId"] == APP_ID
    assert creation["portalId"] == server.portal.portal_id
    assert creation["attemptNumber"] == 0
    assert isinstance(creation["eventId"], int)
    assert isinstance(creation["subscriptionId"], int)
    assert abs(creation["occurredAt"] - time.time() * 1000) < 60_000
    changed = {e["propertyName"]: e["propertyValue"] for e in mine if "propertyName" in e}
    assert changed == {"email": "hook.one@example.com", "firstname": "Hook"}

    for delivery in receiver.deliveries:
        headers = delivery.headers
        assert delivery.path == "/hubspot/webhooks?tenant=a"
        assert headers["Content-Type"] == "application/json"
        assert headers["User-Agent"].startswith("HubSpot Connect 2.0")
        assert Signature.is_valid(
            signature=headers["X-HubSpot-Signature-v3"],
            client_secret=SECRET,
            request_body=delivery.body,
            http_uri=receiver.url,
            http_method="POST",
            signature_version="v3",
            timestamp=headers["X-HubSpot-Request-Timestamp"],
        )
        assert headers["X-HubSpot-Signature-Version"] == "v1"
        assert Signature.is_valid(
            signature=headers["X-HubSpot-Signature"],
            client_secret=SECRET,
            request_body=delivery.body,
            signature_version="v1",
        )
        assert not Signature.is_valid(
            signature=headers["X-HubSpot-Signature-v3"],
            client_secret="another-secret",
            request_body=delivery.body,
            http_uri=receiver.url,
            signature_version="v3",
            timestamp=headers["X-HubSpot-Request-Timestamp"],
        )


def test_property_changes_only_for_changed_values_and_the_subscribed_property(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(
        server,
        receiver,
        [
            {"eventType": "contact.propertyChange", "propertyName": "lastname"},
            {"eventType": "contact.deletion"},
        ],
    )
    contacts = _client(server).crm.contacts.basic_api
    target = server.portal.iter_objects("contacts").__next__()
    same = target.props.get("lastname")
    contacts.update(str(target.id), SimplePublicObjectInput(properties={"lastname": same}))
    contacts.update(
        str(target.id),
        SimplePublicObjectInput(properties={"lastname": "Changed", "firstname": "X"}),
    )
    contacts.archive(str(target.id))
    events = receiver.wait_for(lambda evs: len(evs) >= 2)
    time.sleep(0.3)  # nothing else may follow
    events = receiver.events()
    assert [e["subscriptionType"] for e in events] == ["contact.propertyChange", "contact.deletion"]
    change, deletion = events
    assert change["propertyName"] == "lastname"
    assert change["propertyValue"] == "Changed"
    assert deletion["objectId"] == target.id
    assert deletion["changeFlag"] == "DELETED"


def test_events_are_batched_at_most_100_per_post(server: SandboxServer, receiver: Receiver) -> None:
    _configure(server, receiver, [{"eventType": "company.propertyChange"}])
    touched = requests.post(
        f"{server.base_url}/_sandbox/touch",
        json={
            "objectType": "companies",
            "limit": 20,
            "lastModified": "2026-11-21T00:00:00Z",
            "properties": {"industry": "Batching", "description": "many"},
        },
        timeout=5,
    ).json()
    expected = touched["touched"] * 2
    requests.post(
        f"{server.base_url}/_sandbox/touch",
        json={
            "objectType": "companies",
            "create": 130,
            "lastModified": "2026-11-21T00:00:00Z",
            "properties": {"industry": "Batching"},
        },
        timeout=5,
    )
    expected += 130
    events = receiver.wait_for(lambda evs: len(evs) >= expected)
    assert len(events) == expected
    sizes = [len(d.events) for d in receiver.deliveries]
    assert max(sizes) <= 100
    assert len(sizes) >= 2
    assert len({e["eventId"] for e in events}) == expected
    report = _deliveries(server)
    assert report["delivered"] == expected
    assert report["pending"] == 0


def test_failed_deliveries_are_retried_with_growing_attempt_numbers(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver, [{"eventType": "deal.creation"}])
    receiver.replies.extend([Reply(500), Reply(503)])
    deal = _client(server).crm.deals.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"dealname": "Retry me"})
    )
    receiver.wait_for(lambda evs: len(evs) >= 3)
    attempts = [(e["objectId"], e["attemptNumber"]) for e in receiver.events()]
    assert attempts == [(int(deal.id), 0), (int(deal.id), 1), (int(deal.id), 2)]
    assert len({e["eventId"] for e in receiver.events()}) == 1
    stamps = [int(d.headers["X-HubSpot-Request-Timestamp"]) for d in receiver.deliveries]
    assert stamps == sorted(stamps)
    report = _deliveries(server)
    assert report["failed"] == 2
    assert report["delivered"] == 1
    assert report["dropped"] == 0
    assert [a["status"] for a in report["attempts"]] == [500, 503, 204]
    assert [a["attemptNumber"] for a in report["attempts"]] == [0, 1, 2]


def test_slow_answers_and_429_are_retried_429_after_its_retry_after(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver, [{"eventType": "company.creation"}])
    receiver.replies.extend([Reply(delay=1.2), Reply(429, (("Retry-After", "7200"),))])
    company = _client(server).crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Slowpoke"})
    )
    receiver.wait_for(lambda evs: len(evs) >= 3)
    assert [e["attemptNumber"] for e in receiver.events()] == [0, 1, 2]
    assert {e["objectId"] for e in receiver.events()} == {int(company.id)}
    deadline = time.monotonic() + 3
    while _deliveries(server)["delivered"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    attempts = _deliveries(server)["attempts"]
    assert [(a["status"], a["error"]) for a in attempts] == [
        (None, "timeout"),
        (429, None),
        (204, None),
    ]
    assert attempts[1]["retryInSeconds"] == 7200  # Retry-After wins over the schedule
    assert 60 * 0.75 <= attempts[0]["retryInSeconds"] <= 60 * 1.25


def test_concurrent_posts_stay_within_max_concurrent_requests(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver, [{"eventType": "contact.propertyChange"}])
    requests.post(
        f"{server.base_url}/_sandbox/webhooks",
        json={
            "targetUrl": receiver.url,
            "clientSecret": SECRET,
            "maxConcurrentRequests": 5,
            "subscriptions": [{"eventType": "contact.propertyChange"}],
        },
        timeout=5,
    )
    receiver.replies.extend([Reply(delay=0.25)] * 8)
    requests.post(
        f"{server.base_url}/_sandbox/touch",
        json={
            "objectType": "contacts",
            "create": 800,
            "lastModified": "2026-11-21T00:00:00Z",
            "properties": {"firstname": "Many"},
        },
        timeout=10,
    )
    receiver.wait_for(lambda evs: len(evs) >= 800)
    assert len(receiver.deliveries) >= 8
    assert 2 <= receiver.most_open <= 5


def test_a_target_that_keeps_failing_is_dropped_after_ten_retries(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver, [{"eventType": "ticket.creation"}])
    receiver.replies.extend([Reply(404)] * 11)
    _client(server).crm.tickets.basic_api.create(
        SimplePublicObjectInputForCreate(
            properties={"subject": "Never heard", "hs_pipeline": "0", "hs_pipeline_stage": "1"}
        )
    )
    receiver.wait_for(lambda evs: len(evs) >= 11, timeout=15)
    deadline = time.monotonic() + 5
    while _deliveries(server)["dropped"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    report = _deliveries(server)
    assert report["dropped"] == 1
    assert report["sent"] == 11
    assert [e["attemptNumber"] for e in receiver.events()] == list(range(11))


def test_merge_association_and_restore_events(server: SandboxServer, receiver: Receiver) -> None:
    _configure(server, receiver)
    client = _client(server)
    basic = client.crm.contacts.basic_api
    a = basic.create(SimplePublicObjectInputForCreate(properties={"email": "keep@example.com"}))
    b = basic.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "gone@example.com", "firstname": "Moved", "lastname": "Merged"}
        )
    )
    company = client.crm.companies.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"name": "Merge Co"})
    )
    put = requests.put(
        f"{server.base_url}/crm/v4/objects/contacts/{b.id}/associations/default/companies/{company.id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert put.status_code == 200
    merged = requests.post(
        f"{server.base_url}/crm/v3/objects/contacts/merge",
        headers={"Authorization": f"Bearer {TOKEN}"},
        json={"primaryObjectId": a.id, "objectIdToMerge": b.id},
        timeout=5,
    )
    assert merged.status_code == 200, merged.text
    assert merged.json()["id"] == a.id
    via_old_id = basic.get_by_id(b.id, properties=["email", "firstname", "hs_merged_object_ids"])
    assert via_old_id.id == a.id
    assert via_old_id.properties["email"] == "keep@example.com"
    assert via_old_id.properties["firstname"] == "Moved"
    assert via_old_id.properties["hs_merged_object_ids"] == b.id
    moved = requests.get(
        f"{server.base_url}/crm/v4/objects/contacts/{a.id}/associations/companies",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    ).json()["results"]
    assert [r["toObjectId"] for r in moved] == [int(company.id)]
    removed = requests.delete(
        f"{server.base_url}/crm/v4/objects/contacts/{a.id}/associations/companies/{company.id}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert removed.status_code == 204
    basic.archive(a.id)
    restored = requests.post(
        f"{server.base_url}/_sandbox/objects/contacts/{a.id}/restore", timeout=5
    )
    assert restored.status_code == 200

    def kinds(evs: list[dict[str, Any]]) -> set[str]:
        return {e["subscriptionType"] for e in evs}

    events = receiver.wait_for(
        lambda evs: (
            {"contact.merge", "contact.restore", "contact.deletion"} <= kinds(evs)
            and sum(e["subscriptionType"].endswith("associationChange") for e in evs) >= 4
        )
    )
    merge = next(e for e in events if e["subscriptionType"] == "contact.merge")
    assert merge["objectId"] == int(a.id)
    assert merge["primaryObjectId"] == int(a.id)
    assert merge["mergedObjectIds"] == [int(b.id)]
    assert merge["newObjectId"] == int(a.id)
    assert merge["numberOfPropertiesMoved"] == 2  # firstname, lastname
    links = [e for e in events if e["subscriptionType"].endswith("associationChange")]
    added = [e for e in links if not e["associationRemoved"]]
    gone = [e for e in links if e["associationRemoved"]]
    assert {(e["subscriptionType"], e["associationType"]) for e in added} == {
        ("contact.associationChange", "CONTACT_TO_COMPANY"),
        ("company.associationChange", "COMPANY_TO_CONTACT"),
    }
    to_company = next(e for e in gone if e["associationType"] == "CONTACT_TO_COMPANY")
    assert to_company["fromObjectId"] == int(a.id)
    assert to_company["toObjectId"] == int(company.id)
    assert to_company["objectId"] == int(a.id)
    assert to_company["isPrimaryAssociation"] is False
    restore = next(e for e in events if e["subscriptionType"] == "contact.restore")
    assert restore["changeSource"] == "CRM_UI"
    assert restore["sourceId"] == f"userId:{CRM_USER_ID}"


def test_scenario_writes_look_like_people_in_the_crm(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(server, receiver)
    before = server.portal.count("feedback_submissions")
    result = requests.post(
        f"{server.base_url}/_sandbox/scenario/advance", json={"hours": 24 * 45}, timeout=30
    ).json()
    assert result["records"] > 0
    assert result["created"].get("tickets")
    assert server.portal.count("feedback_submissions") > before
    events = receiver.wait_for(
        lambda evs: (
            any(e["subscriptionType"] == "object.creation" for e in evs)
            and any(e["subscriptionType"] == "ticket.creation" for e in evs)
        )
    )
    assert {e["changeSource"] for e in events} == {"CRM_UI"}
    assert {e["sourceId"] for e in events} == {f"userId:{CRM_USER_ID}"}
    feedback = [e for e in events if e["subscriptionType"] == "object.creation"]
    assert {e["objectTypeId"] for e in feedback} == {"0-19"}
    ticket_ids = {int(v) for k, v in result["ids"].items()}
    assert {e["objectId"] for e in events if e["subscriptionType"] == "ticket.creation"} <= (
        ticket_ids
    )
    created = next(e for e in events if e["subscriptionType"] == "ticket.creation")
    ticket = server.portal.get("tickets", created["objectId"])
    assert ticket is not None
    assert created["occurredAt"] == ticket.created_ms
    again = requests.post(
        f"{server.base_url}/_sandbox/scenario/advance", json={"hours": -1}, timeout=5
    )
    assert again.status_code == 400


def test_search_lags_behind_writes(server: SandboxServer, receiver: Receiver) -> None:
    requests.post(f"{server.base_url}/_sandbox/search_lag", json={"seconds": 0.6}, timeout=5)
    contacts = _client(server).crm.contacts
    created = contacts.basic_api.create(
        SimplePublicObjectInputForCreate(properties={"email": "lagging@example.com"})
    )
    query = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[Filter(property_name="email", operator="EQ", value="lagging@example.com")]
            )
        ]
    )
    assert contacts.search_api.do_search(public_object_search_request=query).total == 0
    assert contacts.basic_api.get_by_id(created.id).id == created.id
    time.sleep(0.7)
    found = contacts.search_api.do_search(public_object_search_request=query)
    assert [r.id for r in found.results] == [created.id]


def test_more_than_10000_changes_can_share_one_lastmodified_date(
    server: SandboxServer, receiver: Receiver
) -> None:
    stamp = "2026-11-22T08:00:00Z"
    done = requests.post(
        f"{server.base_url}/_sandbox/touch",
        json={"objectType": "notes", "create": 10_050, "lastModified": stamp},
        timeout=60,
    ).json()
    assert done["created"] == 10_050
    query = PublicObjectSearchRequest(
        filter_groups=[
            FilterGroup(
                filters=[Filter(property_name="hs_lastmodifieddate", operator="EQ", value=stamp)]
            )
        ],
        limit=1,
    )
    found = _client(server).crm.objects.search_api.do_search(
        "notes", public_object_search_request=query
    )
    assert found.total == 10_050


def test_scenario_updates_existing_objects_and_applies_churn(
    server: SandboxServer, receiver: Receiver
) -> None:
    _configure(
        server,
        receiver,
        [
            {"eventType": "ticket.propertyChange", "propertyName": "first_agent_reply_date"},
            {"eventType": "company.propertyChange", "propertyName": "churn_date"},
        ],
    )
    advance = f"{server.base_url}/_sandbox/scenario/advance"
    replied: dict[str, Any] = {}
    for _ in range(200):
        replied = requests.post(advance, json={"hours": 3}, timeout=30).json()
        if replied["updated"].get("tickets"):
            break
    assert replied["updated"].get("tickets"), "a ticket opened earlier gets its reply later"
    event = receiver.wait_for(lambda evs: len(evs) >= 1)[0]
    ticket = server.portal.get("tickets", event["objectId"])
    assert ticket is not None
    assert ticket.props["first_agent_reply_date"] == event["propertyValue"]
    assert ticket.created_ms < ticket.updated_ms == event["occurredAt"]
    year = requests.post(advance, json={"hours": 24 * 365}, timeout=60).json()
    assert year["updated"].get("companies")
    churned = receiver.wait_for(
        lambda evs: any(e["subscriptionType"] == "company.propertyChange" for e in evs)
    )
    company_event = next(e for e in churned if e["subscriptionType"] == "company.propertyChange")
    company = server.portal.get("companies", company_event["objectId"])
    assert company is not None
    assert company.props["churn_date"] == company_event["propertyValue"]
    assert company.props["lifecyclestage"] == "other"
