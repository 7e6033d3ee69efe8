"""Outbound messages and change feeds of the Salesforce emulator, over real HTTP: the emulator
as a server driven by simple-salesforce, and a small SOAP receiver on 127.0.0.1."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from xml.etree import ElementTree as ET

import pytest
import requests
from simple_salesforce import Salesforce, exceptions

from crmpulse_salesforce.sandbox.launch import build_world
from crmpulse_salesforce.sandbox.org import AGENT_USER_ID, API_USER_ID, Org
from crmpulse_salesforce.sandbox.server import SandboxServer
from crmpulse_salesforce.sandbox.state import SandboxState
from sfhelp import client

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
ENTERPRISE = "urn:sobject.enterprise.soap.sforce.com"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
ACK = (
    f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body>'
    f'<notificationsResponse xmlns="{OUTBOUND}"><Ack>true</Ack></notificationsResponse>'
    "</soapenv:Body></soapenv:Envelope>"
)
WRONG_ACK = ACK.replace("<Ack>true</Ack>", "<Ack>false</Ack>")
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


@dataclass
class Notification:
    id: str
    sobject: str
    values: dict[str, str]


@dataclass
class Message:
    headers: dict[str, str]
    root: ET.Element
    notifications: list[Notification] = field(default_factory=list)


class Receiver:
    """A SOAP endpoint answering with scripted ``(status, body)`` pairs, then with ACK."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.script: list[tuple[int, str]] = []
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.record(dict(self.headers), body)
                with outer.cond:
                    status, answer = outer.script.pop(0) if outer.script else (200, ACK)
                data = answer.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/outbound?token=s3cret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def record(self, headers: dict[str, str], body: bytes) -> None:
        root = ET.fromstring(body)
        message = Message(headers, root)
        for element in root.iter(f"{{{OUTBOUND}}}Notification"):
            sobject = element.find(f"{{{OUTBOUND}}}sObject")
            assert sobject is not None
            values = {local(c.tag): c.text or "" for c in sobject}
            kind = sobject.get(f"{{{XSI}}}type", "")
            notification_id = element.findtext(f"{{{OUTBOUND}}}Id") or ""
            message.notifications.append(Notification(notification_id, kind, values))
        with self.cond:
            self.messages.append(message)
            self.cond.notify_all()

    def wait(self, predicate: Callable[[list[Message]], bool], timeout: float = 10.0) -> None:
        with self.cond:
            assert self.cond.wait_for(lambda: predicate(self.messages), timeout), self.messages

    def notifications(self) -> list[Notification]:
        with self.cond:
            return [n for m in self.messages for n in m.notifications]

    def for_record(self, record_id: str) -> list[Notification]:
        return [n for n in self.notifications() if n.values.get("Id") == record_id]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    recv = Receiver()
    recv.thread.start()
    yield recv
    recv.server.shutdown()
    recv.server.server_close()


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    org = Org()
    account = org.insert("Account", {"Name": "Acme"}, created=T0)
    org.insert("Contact", {"LastName": "Lovelace", "AccountId": account}, created=T0)
    with SandboxServer(org) as srv:
        yield srv


@pytest.fixture
def sf(server: SandboxServer) -> Salesforce:
    return client(server)


def control(server: SandboxServer, method: str, path: str, body: Any = None) -> Any:
    response = requests.request(method, f"{server.base_url}/_sandbox/{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def configure(server: SandboxServer, receiver: Receiver, **spec: Any) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = control(
        server, "POST", "outbound", {"url": receiver.url, **spec}
    )["messages"]
    return messages


def deliveries(server: SandboxServer) -> dict[str, Any]:
    result: dict[str, Any] = control(server, "GET", "outbound/deliveries")
    return result


def wait_stats(
    server: SandboxServer, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        stats = deliveries(server)
        if predicate(stats):
            return stats
        assert time.monotonic() < deadline, stats
        time.sleep(0.02)


def settle(server: SandboxServer) -> dict[str, Any]:
    """Wait until nothing is queued (every notification acknowledged or dropped)."""
    return wait_stats(server, lambda s: s["queued"] == 0)


def test_envelope_follows_the_wsdl_and_tells_who_changed(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    (account_message,) = configure(server, receiver, sobject="Account")
    (contact_message,) = configure(server, receiver, sobject="Contact")
    assert account_message["actionId"].startswith("04k")
    assert contact_message["fields"] == [
        "Id",
        "LastModifiedDate",
        "LastModifiedById",
        "SystemModstamp",
        "AccountId",
    ]
    listed = control(server, "GET", "outbound")
    assert {m["sobject"] for m in listed["messages"]} == {"Account", "Contact"}

    created = sf.Account.create({"Name": "Globex"})["id"]
    receiver.wait(lambda ms: len(ms) == 1)
    message = receiver.messages[0]
    assert message.headers["Content-Type"] == "text/xml; charset=utf-8"
    assert message.headers["SOAPAction"] == '""'
    assert local(message.root.tag) == "Envelope"
    assert message.root.tag.startswith(f"{{{SOAP_ENV}}}")
    body = message.root.find(f"{{{SOAP_ENV}}}Body")
    assert body is not None
    (notifications,) = list(body)
    assert notifications.tag == f"{{{OUTBOUND}}}notifications"
    assert [local(c.tag) for c in notifications] == [
        "OrganizationId",
        "ActionId",
        "SessionId",
        "EnterpriseUrl",
        "PartnerUrl",
        "Notification",
    ]
    assert all(c.tag.startswith(f"{{{OUTBOUND}}}") for c in notifications)
    assert notifications.findtext(f"{{{OUTBOUND}}}OrganizationId") == server.org.org_id
    assert notifications.findtext(f"{{{OUTBOUND}}}ActionId") == account_message["actionId"]
    session = notifications.find(f"{{{OUTBOUND}}}SessionId")
    assert session is not None
    assert session.get(f"{{{XSI}}}nil") == "true"
    enterprise = notifications.findtext(f"{{{OUTBOUND}}}EnterpriseUrl") or ""
    assert enterprise.startswith(server.base_url)
    assert enterprise.endswith("/services/Soap/c/59.0/" + server.org.org_id[:15])
    (note,) = message.notifications
    assert note.id.startswith("04l")
    assert len(note.id) == 18
    assert note.sobject == "sf:Account"
    sobject = notifications.find(f"{{{OUTBOUND}}}Notification/{{{OUTBOUND}}}sObject")
    assert sobject is not None
    assert all(c.tag.startswith(f"{{{ENTERPRISE}}}") for c in sobject)
    assert local(sobject[0].tag) == "Id"
    assert note.values["Id"] == created
    assert note.values["LastModifiedById"] == API_USER_ID
    assert note.values["LastModifiedDate"].endswith("Z")

    # A change made inside the org carries the agent user; a receiver can tell them apart.
    contact = sf.query("SELECT Id FROM Contact")["records"][0]["Id"]
    control(server, "PATCH", f"records/Contact/{contact}", {"Title": "CTO"})
    receiver.wait(lambda ms: len(ms) == 2)
    (by_agent,) = receiver.for_record(contact)
    assert by_agent.sobject == "sf:Contact"
    assert by_agent.values["LastModifiedById"] == AGENT_USER_ID
    assert by_agent.values["AccountId"] == sf.Contact.get(contact)["AccountId"]
    assert sf.Contact.get(contact)["LastModifiedById"] == AGENT_USER_ID
    assert sf.Account.get(created)["CreatedById"] == API_USER_ID
    users = sf.query("SELECT Id, Name FROM User ORDER BY Name")["records"]
    assert {u["Id"] for u in users} == {API_USER_ID, AGENT_USER_ID}
    stats = settle(server)
    assert (stats["sent"], stats["acked"], stats["failed"], stats["requests"]) == (2, 2, 0, 2)

    control(server, "DELETE", "outbound")
    assert control(server, "GET", "outbound")["messages"] == []
    assert deliveries(server)["sent"] == 0
    for spec in (
        {"url": "http://example.com/hook", "sobject": "Account"},
        {"url": receiver.url, "sobject": "Nope"},
        {"url": receiver.url, "sobject": "Account", "fields": ["Missing__c"]},
        {"url": receiver.url, "sobject": "Account", "triggers": ["deleted"]},
    ):
        refused = requests.post(f"{server.base_url}/_sandbox/outbound", json=spec, timeout=10)
        assert refused.status_code == 400, spec
    sf.Account.update(created, {"Name": "Globex 2"})
    time.sleep(0.2)
    assert len(receiver.messages) == 2


def test_batches_hold_one_type_and_at_most_100_with_latest_values(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    control(server, "POST", "outbound/settings", {"paused": True})
    configure(server, receiver, sobject="Contact", fields=["LastName", "AccountId"])
    configure(server, receiver, sobject="Account")
    account = sf.Account.create({"Name": "Initech"})["id"]
    ids: list[str] = []
    for chunk in range(2):
        records = [
            {"attributes": {"type": "Contact"}, "LastName": f"C{chunk}-{i}", "AccountId": account}
            for i in range(200 if chunk == 0 else 50)
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"records": records})
        ids += [r["id"] for r in results]
    # Changed twice more before delivery: one notification, the latest values.
    sf.Contact.update(ids[7], {"LastName": "Second"})
    sf.Contact.update(ids[7], {"LastName": "Third"})
    # A bulk ingest job queues notifications too.
    bulk = sf.bulk2.Contact.insert(records=[{"LastName": "FromBulk", "AccountId": account}], wait=0)
    assert bulk[0]["numberRecordsProcessed"] == 1
    assert deliveries(server)["queued"] == 252
    assert receiver.messages == []

    control(server, "POST", "outbound/settings", {"paused": False})
    stats = settle(server)
    assert stats["acked"] == 252
    assert stats["failed"] == 0
    sizes = sorted(len(m.notifications) for m in receiver.messages)
    assert sizes == [1, 51, 100, 100]
    for message in receiver.messages:
        assert len({n.sobject for n in message.notifications}) == 1
    contacts = [n for n in receiver.notifications() if n.sobject == "sf:Contact"]
    assert len({n.values["Id"] for n in contacts}) == len(contacts) == 251
    assert len({n.id for n in receiver.notifications()}) == 252
    (latest,) = receiver.for_record(ids[7])
    assert latest.values["LastName"] == "Third"
    assert set(latest.values) == {"Id", "LastName", "AccountId"}
    assert {n.values["LastName"] for n in contacts} >= {"FromBulk", "C1-49"}


def test_retried_until_acknowledged_on_a_compressed_schedule(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    control(server, "POST", "outbound/settings", {"time_scale": 0.002})
    receiver.script = [(500, "oops"), (200, WRONG_ACK), (200, '{"ack": true}')]
    configure(server, receiver, sobject="Account")
    began = time.monotonic()
    record = sf.Account.create({"Name": "Retry"})["id"]
    stats = wait_stats(server, lambda s: s["acked"] == 1)
    elapsed = time.monotonic() - began
    assert len(receiver.messages) == 4
    notes = [m.notifications[0] for m in receiver.messages]
    assert len({n.id for n in notes}) == 1
    assert notes[0].values["Id"] == record
    assert (stats["sent"], stats["failed"], stats["queued"], stats["dropped"]) == (4, 3, 0, 0)
    assert [r["acked"] for r in stats["recent"]] == [False, False, False, True]
    assert [r["status"] for r in stats["recent"]] == [500, 200, 200, 200]
    # 30 s + 60 s + 120 s of emulated waiting, scaled by 0.002: at least 0.42 s.
    assert elapsed >= 0.4


def test_dropped_after_a_day_of_failures(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    control(server, "POST", "outbound/settings", {"time_scale": 0.00001})
    receiver.script = [(503, "down")] * 1000
    configure(server, receiver, sobject="Account")
    sf.Account.create({"Name": "Unlucky"})
    stats = wait_stats(server, lambda s: s["dropped"] == 1, timeout=15)
    assert stats["acked"] == 0
    assert stats["queued"] == 0
    # 30 s doubling to 2 h, then every 2 h, for 24 h: 8 growing waits and 11 of 2 h, give or take.
    assert 8 <= stats["failed"] <= 25


def test_delete_fires_no_outbound_message_but_shows_in_the_feeds(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    configure(server, receiver, sobject="Account", triggers=["created", "updated", "undeleted"])
    start = datetime.now(UTC) - timedelta(minutes=1)
    gone = sf.Account.create({"Name": "Doomed"})["id"]
    kept = sf.Account.create({"Name": "Kept"})["id"]
    settle(server)
    sf.Account.delete(gone)
    time.sleep(0.2)
    assert deliveries(server)["sent"] == 2
    end = datetime.now(UTC) + timedelta(minutes=1)
    updated = sf.Account.updated(start, end)
    assert set(updated["ids"]) == {kept}
    deleted = sf.Account.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone]
    assert deleted["earliestDateAvailable"] <= deleted["deletedRecords"][0]["deletedDate"]
    (row,) = sf.query_all(
        f"SELECT Id, IsDeleted, LastModifiedById FROM Account WHERE Id = '{gone}'",
        include_deleted=True,
    )["records"]
    assert row["IsDeleted"] is True
    assert row["LastModifiedById"] == API_USER_ID
    with pytest.raises(exceptions.SalesforceMalformedRequest) as info:
        sf.Account.updated(end, start)
    assert info.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"

    # Undelete (opted into here) notifies; the row is back in updated() and out of deleted().
    control(server, "POST", "undelete", {"ids": [gone]})
    receiver.wait(lambda ms: len(ms) == 3)
    assert receiver.for_record(gone)[-1].values["LastModifiedById"] == AGENT_USER_ID
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert gone in sf.Account.updated(start, later)["ids"]
    assert sf.Account.deleted(start, later)["deletedRecords"] == []


def test_feeds_ignore_seconds(server: SandboxServer, sf: Salesforce) -> None:
    record = sf.Account.create({"Name": "Stamped"})["id"]
    control(
        server, "PATCH", f"records/Account/{record}", {"SystemModstamp": "2024-03-01T10:00:30Z"}
    )
    window = sf.Account.updated(
        datetime(2024, 3, 1, 10, 0, 45, tzinfo=UTC), datetime(2024, 3, 1, 10, 5, 50, tzinfo=UTC)
    )
    assert window["ids"] == [record]
    assert window["latestDateCovered"].startswith("2024-03-01T10:05:00")
    before = sf.Account.updated(
        datetime(2024, 3, 1, 9, 0, tzinfo=UTC), datetime(2024, 3, 1, 10, 0, 59, tzinfo=UTC)
    )
    assert before["ids"] == []


def test_merge_flags_losers_and_reparents_children(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    master = sf.Account.create({"Name": "Acme Inc."})["id"]
    loser = sf.Account.create({"Name": "ACME"})["id"]
    child = sf.Contact.create({"LastName": "Moved", "AccountId": loser})["id"]
    case = sf.Case.create({"Subject": "Help", "AccountId": loser, "ContactId": child})["id"]
    before = sf.Contact.get(child)["LastModifiedDate"]
    configure(server, receiver, sobjects=["Account", "Contact", "Case"])
    time.sleep(0.01)
    start = datetime.now(UTC) - timedelta(minutes=1)

    result = control(
        server, "POST", "merge", {"sobject": "Account", "masterId": master, "mergedIds": [loser]}
    )
    assert result["mergedRecordIds"] == [loser]
    assert set(result["updatedRelatedIds"]) == {child, case}

    (gone,) = sf.query_all(
        "SELECT Id, IsDeleted, MasterRecordId FROM Account WHERE IsDeleted = true "
        "AND MasterRecordId != null",
        include_deleted=True,
    )["records"]
    assert gone["Id"] == loser
    assert gone["MasterRecordId"] == master
    moved = sf.Contact.get(child)
    assert moved["AccountId"] == master
    assert moved["LastModifiedDate"] > before
    assert moved["LastModifiedById"] == AGENT_USER_ID
    assert sf.Case.get(case)["AccountId"] == master
    end = datetime.now(UTC) + timedelta(minutes=1)
    assert [d["id"] for d in sf.Account.deleted(start, end)["deletedRecords"]] == [loser]
    assert child in sf.Contact.updated(start, end)["ids"]

    # Only the master's update fires workflow: no message for the loser or the children.
    receiver.wait(lambda ms: len(ms) >= 1)
    settle(server)
    time.sleep(0.1)
    assert [n.values["Id"] for n in receiver.notifications()] == [master]

    bad = requests.post(
        f"{server.base_url}/_sandbox/merge",
        json={"sobject": "Account", "masterId": master, "mergedIds": [loser]},
        timeout=10,
    )
    assert bad.status_code == 400
    assert bad.json()[0]["errorCode"] == "ENTITY_IS_DELETED"


def test_purge_removes_rows_from_query_all_and_deleted(
    server: SandboxServer, sf: Salesforce
) -> None:
    start = datetime.now(UTC) - timedelta(minutes=1)
    binned = sf.Account.create({"Name": "Binned"})["id"]
    purged = sf.Account.create({"Name": "Purged"})["id"]
    sf.Account.delete(binned)
    sf.Account.delete(purged)
    first = sf.Account.deleted(start, datetime.now(UTC) + timedelta(minutes=1))
    assert {d["id"] for d in first["deletedRecords"]} == {binned, purged}
    assert first["earliestDateAvailable"] == first["earliestDateAvailable"][:17] + "00.000+0000"

    result = control(server, "POST", "purge", {"ids": [purged, "001000000000zzzAAA"]})
    assert [r["success"] for r in result] == [True, False]
    rows = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True)
    assert [r["Id"] for r in rows["records"]] == [binned]
    after = sf.Account.deleted(start, datetime.now(UTC) + timedelta(minutes=1))
    assert [d["id"] for d in after["deletedRecords"]] == [binned]
    # The delete log now starts at the purge: a sync that began earlier has to resync.
    assert after["earliestDateAvailable"] > first["earliestDateAvailable"]


def test_moving_a_contact_bumps_the_child_only(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    first = sf.Account.create({"Name": "First"})["id"]
    second = sf.Account.create({"Name": "Second"})["id"]
    contact = sf.Contact.create({"LastName": "Mover", "AccountId": first})["id"]
    stamps = {i: sf.Account.get(i)["LastModifiedDate"] for i in (first, second)}
    before = sf.Contact.get(contact)["SystemModstamp"]
    configure(server, receiver, sobject="Contact")
    time.sleep(0.01)
    sf.Contact.update(contact, {"AccountId": second})
    moved = sf.Contact.get(contact)
    assert moved["SystemModstamp"] > before
    assert moved["LastModifiedDate"] > before
    assert {i: sf.Account.get(i)["LastModifiedDate"] for i in (first, second)} == stamps
    receiver.wait(lambda ms: len(ms) == 1)
    (note,) = receiver.notifications()
    assert note.values["AccountId"] == second
    assert note.values["LastModifiedById"] == API_USER_ID


def test_rolled_back_collections_send_nothing(
    server: SandboxServer, sf: Salesforce, receiver: Receiver
) -> None:
    configure(server, receiver, sobject="Account")
    control(server, "POST", "outbound/settings", {"paused": True})
    records = [
        {"attributes": {"type": "Account"}, "Name": "Fine"},
        {"attributes": {"type": "Account"}},  # no Name: the batch rolls back
    ]
    results = sf.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records}
    )
    assert not any(r["success"] for r in results)
    assert deliveries(server)["queued"] == 0
    sf.restful("composite/sobjects", method="POST", json={"records": records})
    assert deliveries(server)["queued"] == 1


def test_scenario_advance_applies_the_worlds_future(receiver: Receiver) -> None:
    org, world, loader = build_world(3, "tiny")
    state = SandboxState(org, world=world, loader=loader)
    with SandboxServer(state=state) as server:
        configure(server, receiver)  # every object crmpulse reads
        sf = client(server)
        result = control(server, "POST", "scenario/advance", {"hours": 24 * 14})
        assert result["records"] > 0
        assert result["created"]
        assert datetime.fromisoformat(result["now"][:19]) > world.as_of.replace(tzinfo=None)
        created = result["created"]
        changed = created + result["updated"]
        stats = wait_stats(server, lambda s: s["acked"] >= len(changed) and s["queued"] == 0)
        assert stats["failed"] == 0
        notified = {n.values["Id"]: n for n in receiver.notifications()}
        assert set(changed) <= set(notified)
        assert {n.values["LastModifiedById"] for n in notified.values()} == {AGENT_USER_ID}
        kinds = {n.sobject for n in notified.values()}
        assert "sf:Case" in kinds
        for record_id in result["updated"]:
            row = org.get(record_id)
            assert row is not None
            assert row["LastModifiedById"] == AGENT_USER_ID
        # Rows the scenario created are readable through the API, parents resolved.
        case = next(i for i in created if i.startswith("500"))
        got = sf.Case.get(case)
        assert got["CreatedById"] == AGENT_USER_ID
        assert got["AccountId"] is None or org.get(got["AccountId"]) is not None
        again = control(server, "POST", "scenario/advance", {"hours": 24})
        assert again["now"] > result["now"]


def test_scenario_over_a_generated_world(server: SandboxServer) -> None:
    started = control(
        server, "POST", "scenario", {"seed": 5, "scale": "tiny", "as_of": "2025-06-01T00:00:00Z"}
    )
    assert started["now"].startswith("2025-06-01T00:00:00")
    result = control(server, "POST", "scenario/advance", {"hours": 24 * 7})
    assert result["records"] > 0
    for record_id in result["created"]:
        row = server.org.get(record_id)
        assert row is not None
        assert row["CreatedById"] == AGENT_USER_ID
    bad = requests.post(f"{server.base_url}/_sandbox/scenario/advance", json={}, timeout=10)
    assert bad.status_code == 400
