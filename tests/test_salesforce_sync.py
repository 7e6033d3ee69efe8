"""Whole sync runs against the Salesforce emulator: write-back, logins, limits and outages."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from crmpulse import service, synth, writeback
from crmpulse.errors import AuthError
from crmpulse.kpis.periods import Period
from crmpulse.ports import Cursor
from crmpulse.settings import (
    KpiSettings,
    SalesforceSettings,
    Settings,
    StoreSettings,
    SyncSettings,
)
from crmpulse.store import Store
from crmpulse_salesforce.connector import SalesforceConnector
from crmpulse_salesforce.sandbox.app import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_USERNAME,
)
from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.seed import load
from crmpulse_salesforce.sandbox.server import SandboxServer
from sfhelp import client, create_fields, key_pair

TOKEN = "salesforce-sync-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
PERIOD = Period.parse("2026-10")


PRIVATE_KEY, PUBLIC_KEY = key_pair()


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=9, scale="tiny", as_of=AS_OF)


@pytest.fixture
def server(world: synth.World) -> Iterator[SandboxServer]:
    org = Org()
    load(org, world.records())
    with SandboxServer(org, session_token=TOKEN, jwt_public_key=PUBLIC_KEY) as srv:
        yield srv


def settings_for(server: SandboxServer, tmp_path: Path, **auth: object) -> Settings:
    credentials = auth or {"access_token": SecretStr(TOKEN)}
    return Settings(
        crm="salesforce",
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'sf.db'}"),
        salesforce=SalesforceSettings(instance_url=server.base_url, **credentials),  # type: ignore[arg-type]
        sync=SyncSettings(overlap_seconds=0),
        kpi=KpiSettings(period=str(PERIOD)),
    )


def connect(settings: Settings) -> SalesforceConnector:
    return SalesforceConnector(settings.salesforce, settings.sync, bulk_poll_seconds=0)


def test_write_back_lands_in_the_org_and_an_unchanged_rerun_writes_nothing(
    server: SandboxServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    with Store.open(settings.store.url) as store:
        first = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert first.status == "ok", first.errors
        assert first.rows_written > 0
        assert "Account.crmpulse_nps__c" in first.targets_created
        assert "crmpulse_kpi_snapshot__c" in first.targets_created
        expected = {
            v.entity_id: writeback.format_value(v.value)
            for v in store.current_kpis(period=str(PERIOD))
            if v.kpi == "nps" and v.level == "account" and v.value is not None
        }
        portfolio = {
            v.kpi: writeback.format_value(v.value)
            for v in store.current_kpis(period=str(PERIOD))
            if v.level == "portfolio"
        }

        sf = client(server)
        rows = sf.query_all("SELECT Id, crmpulse_nps__c FROM Account WHERE crmpulse_nps__c != null")
        got = {r["Id"]: writeback.format_value(r["crmpulse_nps__c"]) for r in rows["records"]}
        assert got == expected
        assert expected
        snapshots = sf.query_all(
            "SELECT crmpulse_key__c, crmpulse_kpi__c, crmpulse_value__c FROM "
            f"crmpulse_kpi_snapshot__c WHERE crmpulse_period__c = '{PERIOD}' "
            "AND crmpulse_level__c = 'portfolio'"
        )["records"]
        assert {
            r["crmpulse_kpi__c"]: writeback.format_value(r["crmpulse_value__c"]) for r in snapshots
        } == portfolio

        second = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert second.status == "ok"
        assert second.calls_write == 0
        assert second.plan == []
        third = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert third.calls_write == 0
        # Nothing changed since the second run: one query per stream, nothing more.
        assert third.calls_read == len(connect(settings).streams())


def _lock_rows(server: SandboxServer, count: int) -> None:
    requests.post(
        f"{server.base_url}/_sandbox/faults",
        json={"kind": "unable_to_lock_row", "count": count},
        timeout=5,
    ).raise_for_status()


def test_a_locked_row_is_sent_again_within_the_run(server: SandboxServer, tmp_path: Path) -> None:
    settings = settings_for(server, tmp_path)
    connect(settings).ensure_targets(writeback.target_spec("crmpulse"))
    _lock_rows(server, 1)
    with Store.open(settings.store.url) as store:
        report = service.run_sync(connect(settings), store, settings, period=PERIOD)
    assert report.status == "ok"
    assert report.rows_failed == 0
    assert report.rows_written == len(report.plan)


def test_a_rejected_row_is_reported_and_sent_again_next_run(
    server: SandboxServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    settings.salesforce.max_retries = 0
    connect(settings).ensure_targets(writeback.target_spec("crmpulse"))
    _lock_rows(server, 1)
    with Store.open(settings.store.url) as store:
        first = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert first.status == "partial"
        assert first.rows_failed == 1
        assert any("UNABLE_TO_LOCK_ROW" in e for e in first.errors)
        second = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert second.status == "ok"
        assert second.rows_written == 1


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({"username": DEFAULT_USERNAME, "password": DEFAULT_PASSWORD}, id="soap"),
        pytest.param(
            {
                "username": DEFAULT_USERNAME,
                "password": DEFAULT_PASSWORD,
                "consumer_key": DEFAULT_CONSUMER_KEY,
                "consumer_secret": DEFAULT_CONSUMER_SECRET,
            },
            id="oauth-password",
        ),
        pytest.param(
            {
                "consumer_key": DEFAULT_CONSUMER_KEY,
                "consumer_secret": DEFAULT_CONSUMER_SECRET,
                "domain": "acme.my",
            },
            id="client-credentials",
        ),
        pytest.param(
            {"username": DEFAULT_USERNAME, "consumer_key": DEFAULT_CONSUMER_KEY}, id="jwt"
        ),
    ],
)
def test_every_login_variant_pulls(
    server: SandboxServer, tmp_path: Path, auth: dict[str, object]
) -> None:
    if "consumer_key" in auth and "password" not in auth and "consumer_secret" not in auth:
        key_file = tmp_path / "key.pem"
        key_file.write_bytes(PRIVATE_KEY)
        auth = {**auth, "private_key_file": key_file}
    settings = settings_for(server, tmp_path, **auth)
    conn = connect(settings)
    accounts = conn.streams()[0]
    assert sum(len(p.records) for p in conn.pull(accounts, None)) > 0
    assert conn.calls.by_operation["login"] <= 1


def test_bad_credentials_name_the_settings_to_fix(server: SandboxServer, tmp_path: Path) -> None:
    settings = settings_for(
        server, tmp_path, username=DEFAULT_USERNAME, password=SecretStr("wrong-password")
    )
    conn = connect(settings)
    with pytest.raises(AuthError, match="CRMPULSE_SALESFORCE__") as caught:
        list(conn.pull(conn.streams()[0], None))
    assert "wrong-password" not in str(caught.value)


def test_spent_daily_allocation_stops_cleanly_and_the_next_run_resumes(
    server: SandboxServer, tmp_path: Path
) -> None:
    settings = settings_for(server, tmp_path)
    server.state.api_limit = 3  # two streams' worth of calls
    with Store.open(settings.store.url) as store:
        first = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert first.status == "interrupted"
        # Sforce-Limit-Info said the allocation was spent: the budget stops before the org
        # has to answer REQUEST_LIMIT_EXCEEDED.
        assert any("3 of 3 daily calls used" in e for e in first.errors), first.errors
        assert first.calls_read == 3
        assert store.get_cursor("salesforce:default", "accounts") is not None
        server.state.api_limit = 15000
        second = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert second.status == "ok"
        assert second.full_load["accounts"] is False
        assert second.full_load["surveys"] is True


def test_server_errors_are_retried(server: SandboxServer, tmp_path: Path) -> None:
    settings = settings_for(server, tmp_path)
    requests.post(
        f"{server.base_url}/_sandbox/faults",
        json={"kind": "server_unavailable", "count": 2},
        timeout=5,
    ).raise_for_status()
    conn = connect(settings)
    records = [r for p in conn.pull(conn.streams()[0], None) for r in p.records]
    assert records
    # The first load's COUNT() met both 503s and was retried; then one query page.
    assert conn.calls.by_operation["count"] + conn.calls.by_operation["query"] == 4


def test_surveys_from_a_custom_object(server: SandboxServer, tmp_path: Path) -> None:
    """Orgs without Feedback Management keep one answer per record of their own object."""
    sf = client(server)
    sf.toolingexecute(
        "sobjects/CustomObject/",
        method="POST",
        data={
            "FullName": "NPS_Response__c",
            "Metadata": {
                "label": "NPS Response",
                "pluralLabel": "NPS Responses",
                "nameField": {"type": "AutoNumber", "label": "Response", "displayFormat": "R-{0}"},
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
            },
        },
    )
    fields = {
        "Survey_Type__c": {"type": "Text", "length": 10},
        "Score__c": {"type": "Number", "precision": 4, "scale": 1},
        "Comment__c": {"type": "Text", "length": 255},
        "Answered_At__c": {"type": "DateTime"},
        "Contact__c": {"type": "Text", "length": 18},
        "Case__c": {"type": "Text", "length": 18},
    }
    create_fields(sf, "NPS_Response__c", fields)
    contact = sf.query("SELECT Id FROM Contact LIMIT 1")["records"][0]["Id"]
    answers = [("NPS", 3.0, "slow support"), ("NPS", 10.0, None), ("CES", 6.0, "easy")]
    for kind, score, comment in answers:
        sf.NPS_Response__c.create(
            {
                "Survey_Type__c": kind,
                "Score__c": score,
                "Comment__c": comment,
                "Answered_At__c": "2026-10-05T12:00:00.000+0000",
                "Contact__c": contact,
            }
        )
    settings = settings_for(server, tmp_path)
    settings.salesforce.survey_source = "custom_object"
    conn = connect(settings)
    surveys = next(s for s in conn.streams() if s.name == "surveys")
    assert surveys.crm_object == "NPS_Response__c"
    pages = list(conn.pull(surveys, None))
    records = [r for p in pages for r in p.records]
    assert not [r for p in pages for r in p.rejects]
    got = sorted((r.survey_kind.value, r.score, r.comment) for r in records)  # type: ignore[attr-defined]
    assert got == sorted(answers)
    assert {r.contact_id for r in records} == {contact}  # type: ignore[attr-defined]
    assert all(r.answered_at == datetime(2026, 10, 5, 12, tzinfo=UTC) for r in records)  # type: ignore[attr-defined]


def test_large_change_sets_go_through_bulk_ingest(server: SandboxServer, tmp_path: Path) -> None:
    settings = settings_for(server, tmp_path)
    settings.salesforce.bulk_write_threshold = 1
    with Store.open(settings.store.url) as store:
        report = service.run_sync(connect(settings), store, settings, period=PERIOD)
        assert report.status == "ok", report.errors
        assert report.calls_by_operation["bulk_ingest"] > 0
        assert report.calls_by_operation.get("collection_update", 0) == 0
        expected = {
            v.entity_id: writeback.format_value(v.value)
            for v in store.current_kpis(period=str(PERIOD), kpi="nps", level="contact")
            if v.value is not None
        }
    rows = client(server).query_all(
        "SELECT Id, crmpulse_nps__c FROM Contact WHERE crmpulse_nps__c != null"
    )["records"]
    assert {r["Id"]: writeback.format_value(r["crmpulse_nps__c"]) for r in rows} == expected
    assert expected


def test_a_field_hidden_from_the_integration_user_is_granted_not_recreated(
    server: SandboxServer, tmp_path: Path
) -> None:
    client(server).toolingexecute(
        "sobjects/CustomField/",
        method="POST",
        data={
            "FullName": "Account.crmpulse_nps__c",
            "Metadata": {"label": "NPS", "type": "Number", "precision": 18, "scale": 2},
        },
    )
    settings = settings_for(server, tmp_path)
    created = connect(settings).ensure_targets(writeback.target_spec("crmpulse"))
    assert "Account.crmpulse_nps__c" not in created
    assert "Account.crmpulse_csat__c" in created
    client(server).query("SELECT crmpulse_nps__c, crmpulse_csat__c FROM Account LIMIT 1")


def test_a_missing_custom_field_is_skipped_and_read_once_created(
    server: SandboxServer, tmp_path: Path
) -> None:
    """A configured field the org lacks costs a describe and a warning, not the sync; once an
    admin creates it, the next pull of the same connector reads it (no restart)."""
    settings = settings_for(server, tmp_path)
    settings.salesforce.segment_field = "Tier__c"
    conn = connect(settings)
    accounts = next(s for s in conn.streams() if s.name == "accounts")
    first = [r for p in conn.pull(accounts, None) for r in p.records]
    assert first
    assert {getattr(r, "segment", None) for r in first} == {None}
    assert conn.calls.by_operation["describe"] == 1

    create_fields(client(server), "Account", {"Tier__c": {"type": "Text", "length": 20}})
    gold = first[0].id
    requests.patch(
        f"{server.base_url}/_sandbox/records/Account/{gold}", json={"Tier__c": "Gold"}, timeout=5
    ).raise_for_status()
    cursor = Cursor(first[-1].updated_at, first[-1].id, first[-1].updated_at)
    again = [r for p in conn.pull(accounts, cursor) for r in p.records]
    assert {r.id: getattr(r, "segment", None) for r in again}[gold] == "Gold"
    assert conn.calls.by_operation["describe"] == 1  # the field was there: no second describe
