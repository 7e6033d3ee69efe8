"""``live.process_events``: events name objects; the worker reads them again, recomputes the
accounts they touch (or runs a full pass when it must) and writes back only what changed,
against the HubSpot emulator over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from crmpulse import live, service, synth
from crmpulse.events import ChangeEvent, EventType
from crmpulse.model import Contact
from crmpulse.settings import HubSpotSettings, KpiSettings, Settings, StoreSettings, SyncSettings
from crmpulse.store import Store
from crmpulse_hubspot import HubSpotPlugin
from crmpulse_hubspot.connector import HubSpotConnector
from crmpulse_hubspot.sandbox import Portal, SandboxServer

TOKEN = "live-test-token"


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=9, scale="tiny", as_of=datetime.now(UTC))


@dataclass
class Env:
    emulator: SandboxServer
    connector: HubSpotConnector
    store: Store
    settings: Settings
    state: live.LiveState
    keys: int = 0

    def api(self, method: str, path: str, body: object = None) -> Any:
        response = requests.request(
            method,
            f"{self.emulator.base_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=10,
        )
        assert response.status_code < 300, response.text
        return response.json() if response.content else None

    def apply(self, *named: tuple[str, str, EventType], related: tuple[str, ...] = ()) -> Any:
        """Store events for (entity, id, type) and process them like the worker does."""
        events = []
        for entity, object_id, kind in named:
            self.keys += 1
            events.append(
                ChangeEvent(
                    source=self.connector.source,
                    entity=entity,
                    object_id=object_id,
                    event_type=kind,
                    occurred_at=datetime.now(UTC),
                    dedupe_key=f"k{self.keys}",
                    related_ids=related,
                )
            )
        self.store.inbox.accept(events)
        items = self.store.inbox.pending(100)
        report = live.process_events(
            self.connector, self.store, self.settings, items, self.state, run_id="t"
        )
        self.store.inbox.finish([i.id for i in items], "done")
        return report

    def company(self, company_id: str, prop: str) -> str | None:
        got = self.api("GET", f"/crm/v3/objects/companies/{company_id}?properties={prop}")
        value: str | None = got["properties"].get(prop)
        return value


@pytest.fixture
def env(world: synth.World, tmp_path: Path) -> Iterator[Env]:
    with SandboxServer(Portal.from_records(world.records()), token=TOKEN) as emulator:
        settings = Settings(
            store=StoreSettings(url=f"sqlite:///{tmp_path / 'live.db'}"),
            hubspot=HubSpotSettings(base_url=emulator.base_url, access_token=SecretStr(TOKEN)),
            sync=SyncSettings(overlap_seconds=0.2),
            kpi=KpiSettings(period="current"),
        )
        connector = HubSpotPlugin().connect(settings)
        with Store.open(settings.store.url) as store:
            assert service.run_sync(connector, store, settings).status == "ok"
            state = live.LiveState(store, settings)
            state.rebuild()
            yield Env(emulator, connector, store, settings, state)
        connector.close()


def ticketed(env: Env, world: synth.World) -> tuple[str, str]:
    """A live ticket opened this month and its company (which has a ticket volume)."""
    period = env.state.period()
    for ticket in world.tickets():
        if (
            ticket.deleted_at is None
            and period.contains(ticket.created_at)
            and ticket.account_id
            and env.company(ticket.account_id, "crmpulse_ticket_volume") is not None
        ):
            return ticket.id, ticket.account_id
    pytest.skip("no ticket this month")


def test_an_archived_ticket_leaves_the_company_volume(env: Env, world: synth.World) -> None:
    ticket, company = ticketed(env, world)
    before = float(env.company(company, "crmpulse_ticket_volume") or 0)
    env.api("DELETE", f"/crm/v3/objects/tickets/{ticket}")
    calls = env.connector.calls.reads
    report = env.apply(("tickets", ticket, "deleted"))
    assert report.full_pass is None
    assert report.accounts == [company]
    assert report.deleted == {"tickets": 1}
    assert env.connector.calls.reads - calls <= 3  # one batch read, at most two association reads
    stored = env.store.get("tickets", env.connector.source, ticket)
    assert stored is not None
    assert stored.deleted
    assert float(env.company(company, "crmpulse_ticket_volume") or 0) == before - 1
    # the value moved account by account equals a full recompute of the same store
    full = live.LiveState(env.store, env.settings).rebuild().table
    assert env.state.kpis is not None
    for kpi, level, entity in [
        ("ticket_volume", "account", company),
        ("ticket_volume", "portfolio", None),
    ]:
        theirs = full.value(kpi, level, entity)
        ours = env.state.kpis.table.value(kpi, level, entity)
        if theirs is None:  # the company's only ticket of the month: no volume left
            assert ours is None, (kpi, level)
        else:
            assert ours is not None, (kpi, level)
            assert ours.value == pytest.approx(theirs.value), (kpi, level)


def test_a_contact_moving_company_recomputes_both(env: Env, world: synth.World) -> None:
    contacts = [c for c in world.contacts() if c.account_id and c.deleted_at is None]
    mover = contacts[0]
    target = next(c.account_id for c in contacts if c.account_id != mover.account_id)
    assert target is not None
    old = str(mover.account_id)
    env.api(
        "DELETE",
        f"/crm/v4/objects/contacts/{mover.id}/associations/companies/{old}",
    )
    env.api("PUT", f"/crm/v4/objects/contacts/{mover.id}/associations/default/companies/{target}")
    report = env.apply(("contacts", mover.id, "associated"))
    assert report.full_pass is None
    assert set(report.accounts) == {old, target}
    moved = env.store.get("contacts", env.connector.source, mover.id)
    assert isinstance(moved, Contact)
    assert moved.account_id == target


def test_a_company_merge_or_a_new_company_takes_a_full_pass(env: Env, world: synth.World) -> None:
    accounts = [a.id for a in world.accounts() if a.deleted_at is None]
    env.api(
        "POST",
        "/crm/v3/objects/companies/merge",
        {"primaryObjectId": accounts[0], "objectIdToMerge": accounts[1]},
    )
    report = env.apply(("accounts", accounts[0], "merged"), related=(accounts[1],))
    assert report.full_pass == "a company was merged or deleted"
    gone = env.store.get("accounts", env.connector.source, accounts[1])
    assert gone is not None
    assert gone.deleted

    created = env.api(
        "POST", "/crm/v3/objects/companies", {"properties": {"name": "Newco", "domain": "n.co"}}
    )
    report = env.apply(("accounts", str(created["id"]), "created"))
    assert report.full_pass == "1 new company"
    assert env.state.kpis is not None
    assert env.state.kpis.frame.account_code(str(created["id"])) >= 0


def test_only_the_touched_records_are_planned(env: Env, world: synth.World) -> None:
    _ticket, company = ticketed(env, world)
    before = float(env.company(company, "crmpulse_ticket_volume") or 0)
    ledger_before = env.store.ledger_values(env.connector.source, "account")
    opened = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    created = env.api(
        "POST",
        "/crm/v3/objects/tickets",
        {
            "properties": {
                "subject": "Cannot log in",
                "hs_pipeline": "0",
                "hs_pipeline_stage": "1",
                "createdate": opened,
            },
            "associations": [
                {
                    "to": {"id": company},
                    "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 26}],
                }
            ],
        },
    )
    report = env.apply(("tickets", str(created["id"]), "created"))
    assert report.full_pass is None
    assert report.accounts == [company]
    assert float(env.company(company, "crmpulse_ticket_volume") or 0) == before + 1
    ledger = env.store.ledger_values(env.connector.source, "account")
    changed = {
        o for key, value in ledger.items() if ledger_before.get(key) != value for o in [key[0]]
    }
    assert changed == {company}  # no other company was written, nothing was cleared
