"""``Connector.fetch``: records by id from both emulators, through the real SDKs over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from pydantic import SecretStr

from crmpulse import synth
from crmpulse.model import Activity, Contact, Deal
from crmpulse.settings import HubSpotSettings, SalesforceSettings, SyncSettings
from crmpulse_hubspot.connector import HubSpotConnector
from crmpulse_hubspot.sandbox import Portal
from crmpulse_hubspot.sandbox import SandboxServer as HubSpotServer
from crmpulse_salesforce.connector import SalesforceConnector
from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.seed import load
from crmpulse_salesforce.sandbox.server import SandboxServer as SalesforceServer

TOKEN = "fetch-test-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=5, scale="tiny", as_of=AS_OF)


# -- HubSpot ---------------------------------------------------------------------------------


@pytest.fixture
def hubspot(world: synth.World) -> Iterator[HubSpotServer]:
    with HubSpotServer(Portal.from_records(world.records()), token=TOKEN) as srv:
        yield srv


def hubspot_connector(base_url: str) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotSettings(base_url=base_url, access_token=SecretStr(TOKEN)),
        SyncSettings(overlap_seconds=0),
    )


def hs(base: str, method: str, path: str, body: object = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    response = requests.request(method, f"{base}{path}", json=body, headers=headers, timeout=10)
    assert response.status_code < 300, response.text
    return response


def test_hubspot_fetch_reads_contacts_with_their_company_in_two_calls(
    hubspot: HubSpotServer, world: synth.World
) -> None:
    contacts = [c for c in world.contacts() if c.deleted_at is None and c.account_id][:60]
    conn = hubspot_connector(hubspot.base_url)
    got = conn.fetch("contacts", [c.id for c in contacts])
    by_id = {r.id: r for r in got.records}
    assert set(by_id) == {c.id for c in contacts}
    for c in contacts:
        record = by_id[c.id]
        assert isinstance(record, Contact)
        assert record.account_id == c.account_id
        assert record.email == c.email
    assert got.missing == []
    assert got.merged_into == {}
    assert got.rejects == []
    # One batch read (100 ids per call), one association read (1,000 ids per call).
    assert conn.calls.reads == 2
    assert conn.calls.by_operation["batch read contacts"] == 1


def test_hubspot_fetch_names_archived_merged_and_unknown_ids(
    hubspot: HubSpotServer, world: synth.World
) -> None:
    live = [c.id for c in world.contacts() if c.deleted_at is None]
    keep, archived, primary, loser = live[:4]
    hs(hubspot.base_url, "DELETE", f"/crm/v3/objects/contacts/{archived}")
    body = {"primaryObjectId": primary, "objectIdToMerge": loser}
    hs(hubspot.base_url, "POST", "/crm/v3/objects/contacts/merge", body)
    conn = hubspot_connector(hubspot.base_url)
    got = conn.fetch("contacts", [keep, archived, loser, "999999999"])
    assert {r.id for r in got.records} == {keep, primary}
    assert set(got.missing) == {archived, loser, "999999999"}
    assert got.merged_into == {loser: primary}


def test_hubspot_fetch_of_more_than_a_batch_and_of_activities(
    hubspot: HubSpotServer, world: synth.World
) -> None:
    activities = [a for a in world.activities() if a.deleted_at is None]
    assert len(activities) > 100
    conn = hubspot_connector(hubspot.base_url)
    got = conn.fetch("activities", [a.id for a in activities])
    assert {r.id for r in got.records} == {a.id for a in activities}
    expected = {a.id: a for a in activities}
    for record in got.records:
        assert isinstance(record, Activity)
        assert record.activity_kind == expected[record.id].activity_kind
        assert record.contact_id == expected[record.id].contact_id
    assert got.missing == []
    deals = [d for d in world.deals() if d.deleted_at is None][:5]
    fetched = {r.id: r for r in conn.fetch("deals", [d.id for d in deals]).records}
    for d in deals:
        record = fetched[d.id]
        assert isinstance(record, Deal)
        assert record.account_id == d.account_id
        assert set(record.contact_ids) == set(d.contact_ids)


# -- Salesforce ------------------------------------------------------------------------------


@pytest.fixture
def salesforce(world: synth.World) -> Iterator[SalesforceServer]:
    org = Org()
    load(org, world.records())
    with SalesforceServer(org, session_token=TOKEN) as srv:
        yield srv


def salesforce_connector(server: SalesforceServer) -> SalesforceConnector:
    settings = SalesforceSettings(instance_url=server.base_url, access_token=SecretStr(TOKEN))
    return SalesforceConnector(settings, SyncSettings(overlap_seconds=0), bulk_poll_seconds=0)


def sf_ids(server: SalesforceServer, soql: str) -> list[str]:
    conn = salesforce_connector(server)
    return [str(r["Id"]) for rows in conn.client.query_pages(soql) for r in rows]


def sandbox(server: SalesforceServer, method: str, path: str, body: object = None) -> None:
    response = requests.request(method, f"{server.base_url}{path}", json=body, timeout=10)
    assert response.status_code < 300, response.text


def test_salesforce_fetch_reads_contacts_in_one_query(salesforce: SalesforceServer) -> None:
    rows = salesforce_connector(salesforce).client.query_pages(
        "SELECT Id, AccountId, Email FROM Contact WHERE AccountId != null"
    )
    expected = {str(r["Id"]): r for page in rows for r in page}
    ids = list(expected)[:80]
    conn = salesforce_connector(salesforce)
    got = conn.fetch("contacts", ids)
    assert {r.id for r in got.records} == set(ids)
    for record in got.records:
        assert isinstance(record, Contact)
        assert record.account_id == expected[record.id]["AccountId"]
        assert record.email == expected[record.id]["Email"]
    assert got.missing == []
    assert got.merged_into == {}
    assert conn.calls.by_operation["query"] == 1  # one queryAll for up to 500 ids


def test_salesforce_fetch_names_deleted_merged_and_purged_ids(
    salesforce: SalesforceServer,
) -> None:
    ids = sf_ids(salesforce, "SELECT Id FROM Contact")
    keep, deleted, master, loser, purged = ids[:5]
    sandbox(salesforce, "DELETE", f"/_sandbox/records/Contact/{deleted}")
    body = {"sobject": "Contact", "masterId": master, "mergedIds": [loser]}
    sandbox(salesforce, "POST", "/_sandbox/merge", body)
    sandbox(salesforce, "POST", "/_sandbox/purge", {"ids": [purged]})
    conn = salesforce_connector(salesforce)
    got = conn.fetch("contacts", [keep, deleted, loser, purged])
    assert [r.id for r in got.records] == [keep]
    assert set(got.missing) == {deleted, loser, purged}
    assert got.merged_into == {loser: master}


def test_salesforce_fetch_routes_activities_by_key_prefix(salesforce: SalesforceServer) -> None:
    tasks = sf_ids(salesforce, "SELECT Id FROM Task")[:3]
    events = sf_ids(salesforce, "SELECT Id FROM Event")[:3]
    conn = salesforce_connector(salesforce)
    got = conn.fetch("activities", [*tasks, *events])
    assert {r.id for r in got.records} == {*tasks, *events}
    assert conn.calls.by_operation["query"] >= 2
    deals = sf_ids(salesforce, "SELECT Id FROM Opportunity")[:4]
    fetched = conn.fetch("deals", deals)
    assert {r.id for r in fetched.records} == set(deals)
