"""One synthetic world, two CRMs: the same KPIs through the HubSpot and Salesforce connectors.

The world is loaded into both emulators, pulled through each connector (real SDKs over HTTP) into
its own store, and every KPI is computed at every level for every month of the world's history.
Entity ids differ between the CRMs, so both sides are keyed by the world's own ids (HubSpot keeps
them; the Salesforce emulator encodes them in its ids). Any vendor-specific drift in mapping or
KPI code shows up as a differing value, a missing key or an extra one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import SecretStr

from crmpulse import kpireport, service, synth
from crmpulse.kpis.periods import Period
from crmpulse.kpis.values import KpiValue
from crmpulse.ports import Connector
from crmpulse.settings import (
    HubSpotSettings,
    KpiSettings,
    SalesforceSettings,
    Settings,
    StoreSettings,
    SyncSettings,
)
from crmpulse.store import Store
from crmpulse_hubspot.connector import HubSpotConnector
from crmpulse_hubspot.sandbox import Portal
from crmpulse_hubspot.sandbox import SandboxServer as HubSpotServer
from crmpulse_salesforce.connector import SalesforceConnector
from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.seed import load, world_id
from crmpulse_salesforce.sandbox.server import SandboxServer as SalesforceServer

AS_OF = datetime(2026, 9, 14, 15, 30, tzinfo=UTC)
TOKEN = "cross-vendor-token"
ZONE = "America/Sao_Paulo"

Key = tuple[str, str, str | None, str]
Values = dict[Key, KpiValue]


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=11, scale="small", as_of=AS_OF)


def _months(world: synth.World) -> list[Period]:
    month = Period.containing(world.start, ZONE)
    last = Period.containing(AS_OF, ZONE)
    months = []
    while month.start <= last.start:
        months.append(month)
        month = month.next()
    return months


def _pull_and_compute(
    connector: Connector, tmp: Path, months: list[Period], key_of: Callable[[str], str]
) -> Values:
    settings = Settings(
        store=StoreSettings(url=f"sqlite:///{tmp / connector.name}.db"),
        kpi=KpiSettings(timezone=ZONE),
    )
    with Store.open(settings.store.url) as store:
        report = service.SyncReport(run_id="x", source=connector.source, period="", dry_run=True)
        service.pull_all(connector, store, report)
        assert not any(report.rejected.values()), report.rejected
        values: Values = {}
        engine_setup = kpireport.setup(settings)
        frame = kpireport.frame_of(store, engine_setup)
        cache: dict[object, object] = {}
        for month in months:
            table = kpireport.table_for(frame, engine_setup, month, as_of=AS_OF, cache=cache)
            for v in table.rows():
                entity = v.entity_id
                if v.level in ("account", "contact") and entity is not None:
                    entity = key_of(entity)
                values[(v.kpi, v.level, entity, v.period)] = v
    return values


@pytest.fixture(scope="module")
def hubspot_values(
    world: synth.World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Values]:
    with HubSpotServer(Portal.from_records(world.records()), token=TOKEN) as server:
        connector = HubSpotConnector(
            HubSpotSettings(base_url=server.base_url, access_token=SecretStr(TOKEN)),
            SyncSettings(overlap_seconds=0),
        )
        yield _pull_and_compute(
            connector, tmp_path_factory.mktemp("hubspot"), _months(world), lambda i: i
        )


@pytest.fixture(scope="module", params=["rest", "bulk"])
def salesforce_values(
    request: pytest.FixtureRequest, world: synth.World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Values]:
    org = Org()
    load(org, world.records())
    with SalesforceServer(org, session_token=TOKEN) as server:
        connector = SalesforceConnector(
            SalesforceSettings(
                instance_url=server.base_url,
                access_token=SecretStr(TOKEN),
                bulk_threshold=1 if request.param == "bulk" else 0,
            ),
            SyncSettings(overlap_seconds=0),
            bulk_poll_seconds=0,
        )
        yield _pull_and_compute(
            connector, tmp_path_factory.mktemp("salesforce"), _months(world), world_id
        )


def _same(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12)


def test_every_kpi_at_every_level_and_period_is_identical(
    hubspot_values: Values, salesforce_values: Values
) -> None:
    assert len(hubspot_values) > 1000
    assert set(salesforce_values) == set(hubspot_values)
    levels = {key[1] for key in hubspot_values}
    assert levels == {"portfolio", "segment", "account", "contact"}
    drift = [
        (key, hubspot_values[key], salesforce_values[key])
        for key in sorted(hubspot_values, key=str)
        if not (
            _same(hubspot_values[key].value, salesforce_values[key].value)
            and hubspot_values[key].n == salesforce_values[key].n
            and _same(hubspot_values[key].margin_of_error, salesforce_values[key].margin_of_error)
        )
    ]
    assert not drift, drift[:5]
    defined = [v for v in hubspot_values.values() if v.value is not None]
    assert len(defined) > 500
