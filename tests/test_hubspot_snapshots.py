"""KPI snapshot records in HubSpot: the custom object schemas API and batch upsert of the
emulator, the connector's snapshot object, and a whole sync writing snapshots.

Everything goes through the real ``hubspot-api-client`` over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import hubspot
import pytest
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInputUpsert,
)
from hubspot.crm.objects.exceptions import ApiException as ObjectsApiException
from hubspot.crm.schemas import (
    ObjectSchemaEgg,
    ObjectTypeDefinitionLabels,
    ObjectTypePropertyCreate,
)
from hubspot.crm.schemas.exceptions import ApiException as SchemasApiException
from pydantic import SecretStr

from crmpulse import kpireport, service, synth, writeback
from crmpulse.kpis.periods import Period
from crmpulse.ports import PropertyChange
from crmpulse.settings import HubSpotSettings, Settings, StoreSettings, SyncSettings
from crmpulse.store import Store
from crmpulse_hubspot.connector import HubSpotConnector
from crmpulse_hubspot.sandbox import DEFAULT_PORTAL_ID, Portal, SandboxServer

TOKEN = "snapshot-test-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
PERIOD = "2026-10"
FQN = f"p{DEFAULT_PORTAL_ID}_kpi_snapshot"


def sdk(server: SandboxServer) -> Any:
    return hubspot.HubSpot(access_token=TOKEN, host=server.base_url)


def egg(name: str = "kpi_snapshot") -> ObjectSchemaEgg:
    def prop(pname: str, ptype: str, field_type: str, **extra: Any) -> ObjectTypePropertyCreate:
        return ObjectTypePropertyCreate(
            name=pname, label=pname.title(), type=ptype, field_type=field_type, **extra
        )

    return ObjectSchemaEgg(
        name=name,
        labels=ObjectTypeDefinitionLabels(singular="KPI snapshot", plural="KPI snapshots"),
        primary_display_property="key",
        secondary_display_properties=["kpi"],
        searchable_properties=["key", "kpi"],
        required_properties=["key"],
        associated_objects=["COMPANY"],
        properties=[
            prop("key", "string", "text", has_unique_value=True),
            prop("kpi", "string", "text"),
            prop("value", "number", "number"),
            prop("period_start", "date", "date"),
        ],
    )


def upsert_body(*rows: tuple[str, dict[str, str]]) -> BatchInputSimplePublicObjectBatchInputUpsert:
    return BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[
            SimplePublicObjectBatchInputUpsert(id=key, id_property="key", properties=props)
            for key, props in rows
        ]
    )


@pytest.fixture
def server() -> Iterator[SandboxServer]:
    with SandboxServer(Portal(), token=TOKEN) as srv:
        yield srv


# ------------------------------------------------------------------------------- emulator


def test_schema_create_list_read_and_conflict(server: SandboxServer) -> None:
    api = sdk(server).crm.schemas.core_api
    made = api.create(egg())
    assert made.object_type_id.startswith("2-")
    assert made.fully_qualified_name == FQN
    assert made.name == "kpi_snapshot"
    assert made.labels.plural == "KPI snapshots"
    assert made.primary_display_property == "key"
    assert made.required_properties == ["key"]
    assert made.associations[0].to_object_type_id == "0-2"
    props = {p.name: p for p in made.properties}
    assert props["key"].has_unique_value is True
    assert props["value"].has_unique_value is False
    assert {"hs_object_id", "hs_createdate", "hs_lastmodifieddate"} <= set(props)
    assert props["period_start"].type == "date"

    assert [s.object_type_id for s in api.get_all().results] == [made.object_type_id]
    assert api.get_by_id(FQN).object_type_id == made.object_type_id
    assert api.get_by_id(made.object_type_id).name == "kpi_snapshot"
    with pytest.raises(SchemasApiException) as conflict:
        api.create(egg())
    assert conflict.value.status == 409
    with pytest.raises(SchemasApiException) as missing:
        api.get_by_id("2-999")
    assert missing.value.status == 404
    # The properties API serves the custom object too, by either name.
    names = {p.name for p in sdk(server).crm.properties.core_api.get_all(FQN).results}
    assert {"key", "kpi", "value"} <= names


def test_schema_with_undefined_display_property_is_400(server: SandboxServer) -> None:
    bad = egg()
    bad.primary_display_property = "nope"
    with pytest.raises(SchemasApiException) as info:
        sdk(server).crm.schemas.core_api.create(bad)
    assert info.value.status == 400
    assert sdk(server).crm.schemas.core_api.get_all().results == []


def test_batch_upsert_creates_then_updates_by_unique_value(server: SandboxServer) -> None:
    client = sdk(server)
    type_id = client.crm.schemas.core_api.create(egg()).object_type_id
    batch = client.crm.objects.batch_api
    first = batch.upsert(
        type_id,
        upsert_body(
            ("2026-10|nps", {"kpi": "nps", "value": "41.5", "period_start": "2026-10-01"}),
            ("2026-10|csat", {"kpi": "csat", "value": "88"}),
        ),
    )
    assert first.status == "COMPLETE"
    assert [r.new for r in first.results] == [True, True]
    created = {r.properties["key"]: r for r in first.results}
    assert created["2026-10|nps"].properties["value"] == "41.5"

    second = batch.upsert(FQN, upsert_body(("2026-10|nps", {"value": "42"})))
    (again,) = second.results
    assert again.new is False
    assert again.id == created["2026-10|nps"].id
    assert again.updated_at >= created["2026-10|nps"].updated_at

    page = client.crm.objects.basic_api.get_page(
        FQN, limit=10, properties=["key", "kpi", "value", "period_start"]
    )
    by_key = {o.properties["key"]: o.properties for o in page.results}
    assert set(by_key) == {"2026-10|nps", "2026-10|csat"}
    assert by_key["2026-10|nps"]["value"] == "42"
    assert by_key["2026-10|nps"]["kpi"] == "nps"
    assert by_key["2026-10|nps"]["period_start"] == "2026-10-01"

    found = client.crm.objects.search_api.do_search(
        type_id,
        PublicObjectSearchRequest(
            filter_groups=[
                {"filters": [{"propertyName": "kpi", "operator": "EQ", "value": "csat"}]}
            ],
            properties=["key"],
            limit=10,
        ),
    )
    assert found.total == 1
    assert found.results[0].properties["key"] == "2026-10|csat"


def test_batch_upsert_rejects_duplicates_and_non_unique_id_property(
    server: SandboxServer,
) -> None:
    client = sdk(server)
    type_id = client.crm.schemas.core_api.create(egg()).object_type_id
    batch = client.crm.objects.batch_api
    with pytest.raises(ObjectsApiException) as dup:
        batch.upsert(type_id, upsert_body(("k", {"value": "1"}), ("k", {"value": "2"})))
    assert dup.value.status == 400
    assert json.loads(dup.value.body)["category"] == "VALIDATION_ERROR"
    with pytest.raises(ObjectsApiException) as non_unique:
        batch.upsert(
            type_id,
            BatchInputSimplePublicObjectBatchInputUpsert(
                inputs=[
                    SimplePublicObjectBatchInputUpsert(
                        id="nps", id_property="kpi", properties={"value": "1"}
                    )
                ]
            ),
        )
    assert non_unique.value.status == 400
    assert "non-unique" in json.loads(non_unique.value.body)["message"]
    # Nothing was written by the refused batches.
    assert client.crm.objects.basic_api.get_page(type_id, limit=10).results == []


def test_portal_without_custom_objects_refuses_schemas() -> None:
    with SandboxServer(Portal(), token=TOKEN, custom_objects=False) as srv:
        with pytest.raises(SchemasApiException) as info:
            sdk(srv).crm.schemas.core_api.create(egg())
        assert info.value.status == 403
        body = json.loads(info.value.body)
        assert body["category"] == "MISSING_SCOPES"
        scopes = body["errors"][0]["context"]["requiredGranularScopes"]
        assert "crm.schemas.custom.write" in scopes
        calls = {(c["method"], c["route"], c["status"]) for c in srv.state.stats.to_json()["calls"]}
        assert ("POST", "/crm-object-schemas/v3/schemas", 403) in calls


def test_custom_object_calls_are_counted_by_name(server: SandboxServer) -> None:
    client = sdk(server)
    type_id = client.crm.schemas.core_api.create(egg()).object_type_id
    client.crm.objects.batch_api.upsert(type_id, upsert_body(("k", {"value": "1"})))
    routes = {c["route"] for c in server.state.stats.to_json()["calls"]}
    assert f"/crm/v3/objects/{FQN}/batch/upsert" in routes


# ------------------------------------------------------------------------------ connector


def connector(base_url: str) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotSettings(base_url=base_url, access_token=SecretStr(TOKEN)),
        SyncSettings(overlap_seconds=0.2),
    )


def snapshot_rows(n: int, value: str = "1.5") -> list[PropertyChange]:
    return [
        PropertyChange(
            level="snapshot",
            object_id=writeback.snapshot_key(PERIOD, "portfolio", None, f"kpi{i}"),
            values={
                "crmpulse_period": PERIOD,
                "crmpulse_period_start": "2026-10-01",
                "crmpulse_level": "portfolio",
                "crmpulse_kpi": f"kpi{i}",
                "crmpulse_value": value,
                "crmpulse_sample_size": "12",
            },
        )
        for i in range(n)
    ]


def snapshot_records(server: SandboxServer) -> dict[str, dict[str, str | None]]:
    client = sdk(server)
    (schema,) = [
        s
        for s in client.crm.schemas.core_api.get_all().results
        if s.name == "crmpulse_kpi_snapshot"
    ]
    names = [f.name for f in writeback.snapshot_spec().fields]
    found: dict[str, dict[str, str | None]] = {}
    after = None
    while True:
        page = client.crm.objects.basic_api.get_page(
            schema.object_type_id, limit=100, after=after, properties=names
        )
        for obj in page.results:
            assert obj.properties["crmpulse_key"] not in found, "duplicate snapshot"
            found[obj.properties["crmpulse_key"]] = obj.properties
        if not (page.paging and page.paging.next):
            return found
        after = page.paging.next.after


def test_ensure_targets_creates_the_snapshot_object_once(server: SandboxServer) -> None:
    spec = writeback.target_spec("crmpulse")
    conn = connector(server.base_url)
    created = conn.ensure_targets(spec)
    assert "custom object crmpulse_kpi_snapshot" in created
    schema = sdk(server).crm.schemas.core_api.get_by_id(
        f"p{DEFAULT_PORTAL_ID}_crmpulse_kpi_snapshot"
    )
    props = {p.name: p for p in schema.properties}
    assert spec.snapshot is not None
    assert {f.name for f in spec.snapshot.fields} <= set(props)
    assert props["crmpulse_key"].has_unique_value is True
    assert props["crmpulse_period_start"].type == "date"
    assert props["crmpulse_value"].type == "number"
    assert schema.primary_display_property == "crmpulse_key"
    assert {"crmpulse_key", "crmpulse_kpi", "crmpulse_period"} <= set(schema.searchable_properties)

    again = connector(server.base_url)
    assert again.ensure_targets(spec) == []
    assert again.calls.by_operation["create schema"] == 0
    assert again.calls.by_operation["list schemas"] == 1


def test_ensure_targets_adds_properties_missing_from_an_existing_object(
    server: SandboxServer,
) -> None:
    spec = writeback.target_spec("crmpulse")
    assert spec.snapshot is not None
    conn = connector(server.base_url)
    conn.ensure_targets(spec)
    fqn = f"p{DEFAULT_PORTAL_ID}_crmpulse_kpi_snapshot"
    server.portal.properties.archive(fqn, "crmpulse_margin_of_error")
    created = connector(server.base_url).ensure_targets(spec)
    assert created == [
        "crmpulse_kpi_snapshot group crmpulse",
        "crmpulse_kpi_snapshot.crmpulse_margin_of_error",
    ]


def test_push_upserts_snapshots_in_batches_without_duplicates(server: SandboxServer) -> None:
    conn = connector(server.base_url)
    conn.ensure_targets(writeback.target_spec("crmpulse"))
    rows = snapshot_rows(150)
    result = conn.push(rows)
    assert result.failed == []
    assert len(result.written) == 150
    assert all(stamp is not None for _, stamp in result.written)
    upserts = [op for op in conn.calls.by_operation if op.startswith("batch upsert")]
    assert sum(conn.calls.by_operation[op] for op in upserts) == 2

    updated = conn.push(snapshot_rows(3, value="2.25"))
    assert len(updated.written) == 3
    assert updated.failed == []
    records = snapshot_records(server)
    assert len(records) == 150
    key = writeback.snapshot_key(PERIOD, "portfolio", None, "kpi0")
    assert records[key]["crmpulse_value"] == "2.25"
    assert records[key]["crmpulse_period_start"] == "2026-10-01"
    assert (
        records[writeback.snapshot_key(PERIOD, "portfolio", None, "kpi99")]["crmpulse_value"]
        == "1.5"
    )


def test_push_finds_the_object_when_targets_were_ensured_earlier(server: SandboxServer) -> None:
    connector(server.base_url).ensure_targets(writeback.target_spec("crmpulse"))
    fresh = connector(server.base_url)  # a later run: ensure_targets is skipped
    result = fresh.push(snapshot_rows(2))
    assert len(result.written) == 2
    assert result.failed == []
    assert fresh.calls.by_operation["list schemas"] == 1
    assert fresh.calls.by_operation["create schema"] == 0


def test_refused_portal_reports_snapshot_rows_and_writes_properties() -> None:
    with SandboxServer(Portal(), token=TOKEN, custom_objects=False) as srv:
        conn = connector(srv.base_url)
        created = conn.ensure_targets(writeback.target_spec("crmpulse"))
        assert "companies.crmpulse_nps" in created
        assert not any("custom object" in c for c in created)
        company = srv.portal.create("companies", {"name": "Acme"})
        before = conn.calls.writes
        rows = [
            PropertyChange("account", str(company.id), {"crmpulse_nps": "40"}),
            *snapshot_rows(3),
        ]
        result = conn.push(rows)
        assert [c.level for c, _ in result.written] == ["account"]
        assert len(result.failed) == 3
        message = result.failed[0].message
        assert "Enterprise" in message
        assert "crm.schemas.custom.write" in message
        assert "hasn't been granted" in message  # HubSpot's own words
        assert conn.calls.writes - before == 1  # the company batch only
        assert srv.portal.get("companies", company.id).props["crmpulse_nps"] == "40"  # type: ignore[union-attr]


# -------------------------------------------------------------------------------- service


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=7, scale="tiny", as_of=AS_OF)


def test_sync_writes_one_snapshot_per_period_level_segment_and_kpi(
    world: synth.World, tmp_path: Path
) -> None:
    with SandboxServer(Portal.from_records(world.records()), token=TOKEN) as srv:
        settings = Settings(
            store=StoreSettings(url=f"sqlite:///{tmp_path}/snap.db"),
            hubspot=HubSpotSettings(base_url=srv.base_url, access_token=SecretStr(TOKEN)),
            sync=SyncSettings(overlap_seconds=0.2),
            kpi={"period": PERIOD},  # type: ignore[arg-type]
        )
        with Store.open(settings.store.url) as store:
            first = service.run_sync(connector(srv.base_url), store, settings)
            assert first.status == "ok", first.errors
            assert "custom object crmpulse_kpi_snapshot" in first.targets_created
            month = Period.parse(PERIOD)
            values = kpireport.compute_kpis(store, settings, month)
            records = snapshot_records(srv)

            expected = {
                writeback.snapshot_key(
                    PERIOD, v.level, v.entity_id if v.level == "segment" else None, v.kpi
                ): v
                for v in values
                if v.level in ("portfolio", "segment")
            }
            assert set(records) == set(expected)
            assert {v.level for v in expected.values()} == {"portfolio", "segment"}
            for key, v in expected.items():
                got = records[key]
                assert got["crmpulse_kpi"] == v.kpi
                assert got["crmpulse_level"] == v.level
                assert got["crmpulse_period"] == PERIOD
                assert got["crmpulse_period_start"] == "2026-10-01"
                assert got["crmpulse_value"] == writeback.format_value(v.value), key
                assert got["crmpulse_sample_size"] == str(v.n)
                segment = v.entity_id if v.level == "segment" else None
                assert got["crmpulse_segment"] == segment
            snapshot_rows_written = sum(1 for c in first.plan if c.level == "snapshot")
            assert snapshot_rows_written == len(expected)

            second = service.run_sync(connector(srv.base_url), store, settings)
            assert second.status == "ok", second.errors
            assert second.rows_written == 0
            assert second.plan == []
            assert len(snapshot_records(srv)) == len(expected)


def test_sync_without_custom_objects_is_partial_not_failed(
    world: synth.World, tmp_path: Path
) -> None:
    portal = Portal.from_records(world.records(), custom_objects=False)
    with SandboxServer(portal, token=TOKEN) as srv:
        settings = Settings(
            store=StoreSettings(url=f"sqlite:///{tmp_path}/refused.db"),
            hubspot=HubSpotSettings(base_url=srv.base_url, access_token=SecretStr(TOKEN)),
            sync=SyncSettings(overlap_seconds=0.2),
            kpi={"period": PERIOD},  # type: ignore[arg-type]
        )
        with Store.open(settings.store.url) as store:
            report = service.run_sync(connector(srv.base_url), store, settings)
        assert report.status == "partial"
        snapshots = sum(1 for c in report.plan if c.level == "snapshot")
        assert snapshots > 0
        assert report.rows_failed == snapshots
        assert report.rows_written == len(report.plan) - snapshots
        assert all("Enterprise" in e for e in report.errors)
