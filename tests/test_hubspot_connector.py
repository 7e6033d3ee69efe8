"""The HubSpot connector against the emulator, through the real SDK over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from pydantic import SecretStr

from crmpulse import service, synth
from crmpulse.errors import AuthError, CrmUnavailableError, QuotaExhaustedError
from crmpulse.model import Contact, SurveyResponse, Ticket
from crmpulse.settings import HubSpotSettings, Settings, StoreSettings, SyncSettings
from crmpulse.store import Store
from crmpulse_hubspot.connector import STREAMS, HubSpotConnector
from crmpulse_hubspot.sandbox import Portal, RateLimits, SandboxServer

TOKEN = "connector-test-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=5, scale="tiny", as_of=AS_OF)


@pytest.fixture
def server(world: synth.World) -> Iterator[SandboxServer]:
    with SandboxServer(Portal.from_records(world.records()), token=TOKEN) as srv:
        yield srv


def connector(base_url: str, token: str = TOKEN, **hub: object) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotSettings(base_url=base_url, access_token=SecretStr(token), **hub),  # type: ignore[arg-type]
        SyncSettings(overlap_seconds=0.2),
    )


def arm(server: SandboxServer, **fault: object) -> None:
    r = requests.post(f"{server.base_url}/_sandbox/faults", json=fault, timeout=5)
    assert r.status_code in (200, 201), r.text


def test_full_load_pulls_exactly_the_world(server: SandboxServer, world: synth.World) -> None:
    conn = connector(server.base_url)
    companies = next(s for s in STREAMS if s.name == "companies")
    pages = list(conn.pull(companies, None))
    ids = {r.id for p in pages for r in p.records}
    assert ids == {a.id for a in world.accounts()}
    assert pages[-1].cursor is not None
    assert pages[-1].cursor.updated_at == max(a.updated_at for a in world.accounts())
    assert conn.calls.writes == 0


def test_contacts_keep_their_company(server: SandboxServer, world: synth.World) -> None:
    conn = connector(server.base_url)
    contacts = next(s for s in STREAMS if s.name == "contacts")
    pulled = {r.id: r for p in conn.pull(contacts, None) for r in p.records}
    expected = {c.id: c for c in world.contacts()}
    assert set(pulled) == set(expected)
    for cid, c in expected.items():
        got = pulled[cid]
        assert isinstance(got, Contact)
        assert got.account_id == c.account_id
        assert got.became_customer_at == c.became_customer_at


def test_surveys_and_tickets_round_trip(server: SandboxServer, world: synth.World) -> None:
    conn = connector(server.base_url)
    by_name = {s.name: s for s in STREAMS}
    surveys = {r.id: r for p in conn.pull(by_name["feedback_submissions"], None) for r in p.records}
    for s in world.surveys():
        got = surveys[s.id]
        assert isinstance(got, SurveyResponse)
        assert (got.score, got.survey_kind, got.contact_id) == (
            s.score,
            s.survey_kind,
            s.contact_id,
        )
        assert got.answered_at == s.answered_at
    tickets = {r.id: r for p in conn.pull(by_name["tickets"], None) for r in p.records}
    for t in world.tickets():
        got_t = tickets[t.id]
        assert isinstance(got_t, Ticket)
        assert got_t.first_response_at == t.first_response_at
        assert got_t.closed_at == t.closed_at
        assert got_t.account_id == t.account_id


def test_wrong_token_is_a_clear_auth_error(server: SandboxServer) -> None:
    conn = connector(server.base_url, token="not-the-token")
    with pytest.raises(AuthError) as info:
        list(conn.pull(STREAMS[0], None))
    assert "CRMPULSE_HUBSPOT__ACCESS_TOKEN" in str(info.value)
    assert "not-the-token" not in str(info.value)


def test_429_and_5xx_are_retried(server: SandboxServer) -> None:
    arm(server, path_prefix="/crm/v3/objects/companies", status=429, count=2)
    arm(server, path_prefix="/crm/v3/objects/companies", status=502, count=1)
    conn = connector(server.base_url)
    pages = list(conn.pull(STREAMS[0], None))
    assert sum(len(p.records) for p in pages) > 0
    assert conn.calls.by_operation["list companies"] >= 4  # three failures, then the pages


def test_outage_gives_up_after_the_configured_retries(server: SandboxServer) -> None:
    arm(server, path_prefix="/crm/v3/objects/companies", status=503, count=10)
    conn = connector(server.base_url, max_retries=2)
    with pytest.raises(CrmUnavailableError):
        list(conn.pull(STREAMS[0], None))
    assert conn.calls.by_operation["list companies"] == 3


def test_daily_limit_stops_before_the_crm_refuses(world: synth.World) -> None:
    portal = Portal.from_records(world.records())
    with SandboxServer(portal, token=TOKEN, limits=RateLimits(daily=3)) as srv:
        conn = connector(srv.base_url)
        conn._sync = SyncSettings(page_size=5, overlap_seconds=0.2)
        contacts = next(s for s in STREAMS if s.name == "contacts")
        with pytest.raises(QuotaExhaustedError) as caught:
            list(conn.pull(contacts, None))
        # X-HubSpot-RateLimit-Daily-Remaining told the budget the day was spent: the fourth
        # call is never sent, so HubSpot never answers 429.
        assert conn.calls.by_operation["list contacts"] == 3
        assert "3 of 3 daily calls used" in str(caught.value)
        stats = requests.get(f"{srv.base_url}/_sandbox/stats", timeout=5).json()
        assert all(c["status"] != 429 for c in stats["calls"])


def test_daily_limit_spent_by_another_integration_stops_without_retrying(
    world: synth.World,
) -> None:
    portal = Portal.from_records(world.records())
    with SandboxServer(portal, token=TOKEN, limits=RateLimits(daily=4)) as srv:
        conn = connector(srv.base_url)
        conn._sync = SyncSettings(page_size=5, overlap_seconds=0.2)
        contacts = next(s for s in STREAMS if s.name == "contacts")
        pages = conn.pull(contacts, None)
        next(pages)  # one call: the budget now believes three are left
        headers = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(3):  # another app of the account spends them
            requests.get(f"{srv.base_url}/crm/v3/objects/deals", headers=headers, timeout=5)
        with pytest.raises(QuotaExhaustedError) as caught:
            list(pages)
        assert conn.calls.by_operation["list contacts"] == 2  # the refused call, not retried
        assert "daily" in str(caught.value).lower()


def test_pacing_keeps_a_small_burst_limit_free_of_429s(world: synth.World) -> None:
    portal = Portal.from_records(world.records())
    with SandboxServer(portal, token=TOKEN, limits=RateLimits(burst=12)) as srv:
        conn = connector(srv.base_url, burst_limit=12)
        # Lower the page size so the pull needs more calls than one window allows.
        conn._sync = SyncSettings(page_size=5, overlap_seconds=0.2)
        contacts = next(s for s in STREAMS if s.name == "contacts")
        pulled = sum(len(p.records) for p in conn.pull(contacts, None))
        assert pulled == sum(1 for _ in world.contacts())
        stats = requests.get(f"{srv.base_url}/_sandbox/stats", timeout=5).json()
        assert all(c["status"] != 429 for c in stats["calls"])


def test_invalid_records_are_quarantined_and_the_rest_synced(
    server: SandboxServer, tmp_path: object
) -> None:
    bad = requests.post(
        f"{server.base_url}/_sandbox/objects/feedback_submissions",
        json={"properties": {"hs_survey_type": "NPS", "hs_value": "11"}},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )
    assert bad.status_code == 201, bad.text
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path}/q.db"),
        hubspot=HubSpotSettings(base_url=server.base_url, access_token=SecretStr(TOKEN)),
        sync=SyncSettings(overlap_seconds=0.2),
        kpi={"period": "2026-10"},  # type: ignore[arg-type]
    )
    with Store.open(settings.store.url) as store:
        report = service.run_sync(connector(server.base_url), store, settings, dry_run=True)
        assert report.rejected["feedback_submissions"] == 1
        assert report.pulled["feedback_submissions"] > 0
        (q,) = store.quarantined()
        assert q.record_id == bad.json()["id"]
        assert "outside 0..10" in q.error
