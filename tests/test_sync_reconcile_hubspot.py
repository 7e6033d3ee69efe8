"""Incremental HubSpot syncs that miss nothing: archives, merges, re-associations, 10,000+ changes
sharing one millisecond and a lagging search index, against the emulator over HTTP.

After a first full sync the portal changes in every way modification-date cursors miss; the
syncs after it must leave the store equal to the portal: the same live ids per entity, the same
association fields, and what left the portal marked deleted.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from crmpulse import synth
from crmpulse.model import Contact, Deal, Ticket
from crmpulse.pulling import ReconcilePolicy, pull_all, refresh
from crmpulse.service import SyncReport
from crmpulse.settings import HubSpotSettings, SyncSettings
from crmpulse.store import Store
from crmpulse_hubspot.connector import STREAMS, HubSpotConnector
from crmpulse_hubspot.sandbox import Portal, SandboxServer

TOKEN = "reconcile-test-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
LAG = 3.0
"""Seconds the search index trails writes; the overlap window is wider."""
OVERLAP = 4.0
SAME_MS = 10_050
"""Contacts created with one modification millisecond: past HubSpot's 10,000-result cap."""


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=5, scale="tiny", as_of=AS_OF)


@pytest.fixture
def server(world: synth.World) -> Iterator[SandboxServer]:
    with SandboxServer(Portal.from_records(world.records()), token=TOKEN) as srv:
        yield srv


def connector(base_url: str) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotSettings(base_url=base_url, access_token=SecretStr(TOKEN)),
        SyncSettings(overlap_seconds=OVERLAP),
    )


def api(base: str, method: str, path: str, body: object = None) -> Any:
    """One call as another integration would make it: unpaced, so it waits out the portal's
    10-second window when it hits it (reading the truth takes more calls than one window)."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    for _ in range(30):
        response = requests.request(method, f"{base}{path}", json=body, headers=headers, timeout=60)
        if response.status_code != 429:
            break
        time.sleep(1.0)
    assert response.status_code < 300, response.text
    return response.json() if response.content else None


def truth(base: str, object_type: str, associations: tuple[str, ...]) -> dict[str, dict]:
    """Every live object of a type with its associations, straight from the list endpoint."""
    out: dict[str, dict[str, list[str]]] = {}
    after = None
    while True:
        query = f"?limit=100&properties=hs_object_id&associations={','.join(associations)}"
        if after:
            query += f"&after={after}"
        page = api(base, "GET", f"/crm/v3/objects/{object_type}{query}")
        for obj in page["results"]:
            links = obj.get("associations") or {}
            out[obj["id"]] = {
                name: [str(a["id"]) for a in links.get(name, {}).get("results", [])]
                for name in associations
            }
        after = (page.get("paging") or {}).get("next", {}).get("after")
        if not after:
            return out


def sync(conn: HubSpotConnector, store: Store, policy: ReconcilePolicy) -> dict[str, Any]:
    before = conn.calls.reads
    report = SyncReport(run_id="t", source=conn.source, period="2026-11", dry_run=False)
    summary = pull_all(conn, store, report, policy=policy)
    return {"reads": conn.calls.reads - before, "summary": summary, "report": report}


def assert_store_equals_portal(base: str, store: Store, source: str) -> None:
    entities: dict[str, set[str]] = {}
    links: dict[str, dict[str, dict[str, list[str]]]] = {}
    for stream in STREAMS:
        found = truth(base, stream.crm_object, stream.associations)
        entities.setdefault(stream.entity, set()).update(found)
        links.setdefault(stream.entity, {}).update(found)
    for entity, ids in entities.items():
        assert store.live_ids(entity, source) == ids, entity
    for contact in store.iter_records("contacts", source=source):
        assert isinstance(contact, Contact)
        companies = links["contacts"][contact.id]["companies"]
        assert contact.account_id == (companies[0] if companies else None), contact.id
    for deal in store.iter_records("deals", source=source):
        assert isinstance(deal, Deal)
        assert set(deal.contact_ids) == set(links["deals"][deal.id]["contacts"]), deal.id
    for ticket in store.iter_records("tickets", source=source):
        assert isinstance(ticket, Ticket)
        contacts = links["tickets"][ticket.id]["contacts"]
        assert ticket.contact_id == (contacts[0] if contacts else None), ticket.id


def test_every_change_reaches_the_store(
    server: SandboxServer, world: synth.World, tmp_path: Path
) -> None:
    base = server.base_url
    conn = connector(base)
    policy = ReconcilePolicy(every_syncs=3, interval=timedelta(days=1))
    with Store.open(f"sqlite:///{tmp_path / 'hub.db'}") as store:
        first = sync(conn, store, policy)
        assert not first["summary"].reconciled
        source = conn.source
        live_before = store.count("contacts", source)

        # Sync 2: 10,050 new contacts sharing one modification millisecond all arrive.
        stamp = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=123000)
        touch = {"objectType": "contacts", "lastModified": stamp.isoformat(), "create": SAME_MS}
        assert api(base, "POST", "/_sandbox/touch", touch)["created"] == SAME_MS
        second = sync(conn, store, policy)
        assert store.count("contacts", source) == live_before + SAME_MS
        assert second["report"].pulled["contacts"] == SAME_MS

        # Then every change that modification dates miss, behind a lagging search index.
        api(base, "POST", "/_sandbox/search_lag", {"seconds": LAG})
        contacts = {c.id: c for c in world.contacts()}
        with_company = [c for c in contacts.values() if c.account_id]
        archived, restored = with_company[0].id, with_company[1].id
        api(base, "DELETE", f"/crm/v3/objects/contacts/{archived}")
        api(base, "DELETE", f"/crm/v3/objects/contacts/{restored}")
        primary, loser = with_company[2].id, with_company[3].id
        body = {"primaryObjectId": primary, "objectIdToMerge": loser}
        api(base, "POST", "/crm/v3/objects/contacts/merge", body)
        accounts = sorted({c.account_id for c in with_company[4:] if c.account_id})
        kept_company, merged_company = accounts[0], accounts[1]
        body = {"primaryObjectId": kept_company, "objectIdToMerge": merged_company}
        api(base, "POST", "/crm/v3/objects/companies/merge", body)
        # A contact moves to another company: no modification date changes.
        mover = next(
            c for c in with_company[4:] if c.account_id not in (kept_company, merged_company)
        )
        target = next(a for a in accounts if a not in (mover.account_id, merged_company))
        path = f"/crm/v4/objects/contacts/{mover.id}/associations"
        api(base, "DELETE", f"{path}/companies/{mover.account_id}")
        api(base, "PUT", f"{path}/default/companies/{target}")
        # Edits and creations the index holds back for LAG seconds.
        edited = [c.id for c in with_company[10:20]]
        late = {
            "objectType": "contacts",
            "lastModified": datetime.now(UTC).isoformat(),
            "ids": edited,
            "create": 5,
            "properties": {"lastname": "Late"},
        }
        assert api(base, "POST", "/_sandbox/touch", late)["touched"] == len(edited)

        # Sync 3, within the lag: the archived listing sees the archives at once; the searches
        # cannot see the edits, the new contacts or the merges' survivors yet.
        third = sync(conn, store, policy)
        assert not third["summary"].reconciled
        assert third["report"].pulled["contacts"] <= 1  # at most the contact merge's survivor
        assert store.get("contacts", source, archived).deleted_at is not None  # type: ignore[union-attr]
        assert store.get("contacts", source, edited[0]).last_name != "Late"  # type: ignore[union-attr]

        api(base, "POST", f"/_sandbox/objects/contacts/{restored}/restore")
        time.sleep(LAG + 0.2)
        # Sync 4: the overlap window re-reads what the index held back; the reconciliation
        # (due every third sync) brings back the restored contact and the moved one's company.
        fourth = sync(conn, store, policy)
        assert fourth["summary"].reconciled
        assert fourth["report"].pulled["contacts"] >= len(edited) + 5
        assert store.get("contacts", source, edited[0]).last_name == "Late"  # type: ignore[union-attr]
        assert_store_equals_portal(base, store, source)

        gone = store.get("contacts", source, loser)
        assert gone is not None
        assert gone.deleted_at is not None
        back = store.get("contacts", source, restored)
        assert back is not None
        assert back.deleted_at is None
        moved = store.get("contacts", source, mover.id)
        assert isinstance(moved, Contact)
        assert moved.account_id == target
        follower = next(c for c in with_company[4:] if c.account_id == merged_company)
        now_with = store.get("contacts", source, follower.id)
        assert isinstance(now_with, Contact)
        assert now_with.account_id == kept_company
        assert store.get("accounts", source, merged_company).deleted_at is not None  # type: ignore[union-attr]

        # Sync 5, nothing changed: the overlap window and the archived listings only.
        fifth = sync(conn, store, policy)
        assert fifth["report"].pulled["contacts"] == 0
        syncs = (first, second, third, fourth, fifth)
        print("reads per sync:", [s["reads"] for s in syncs])


def test_association_change_events_refresh_only_the_named_ids(
    server: SandboxServer, world: synth.World, tmp_path: Path
) -> None:
    base = server.base_url
    conn = connector(base)
    policy = ReconcilePolicy(every_syncs=1_000)
    with Store.open(f"sqlite:///{tmp_path / 'hub.db'}") as store:
        sync(conn, store, policy)
        mover = next(c for c in world.contacts() if c.account_id)
        target = next(a.id for a in world.accounts() if a.id != mover.account_id)
        path = f"/crm/v4/objects/contacts/{mover.id}/associations"
        api(base, "DELETE", f"{path}/companies/{mover.account_id}")
        api(base, "PUT", f"{path}/default/companies/{target}")
        assert sync(conn, store, policy)["report"].pulled["contacts"] == 0
        stale = store.get("contacts", conn.source, mover.id)
        assert isinstance(stale, Contact)
        assert stale.account_id == mover.account_id
        before = conn.calls.reads
        refresh(conn, store, "contacts", [mover.id])
        assert conn.calls.reads - before == 2  # one batch read, one association read
        fresh = store.get("contacts", conn.source, mover.id)
        assert isinstance(fresh, Contact)
        assert fresh.account_id == target
