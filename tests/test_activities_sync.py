"""Activities through both connectors: one synthetic world, two CRMs, the same Activity records.

The world is loaded into the HubSpot emulator (calls, emails, meetings, notes, tasks) and the
Salesforce emulator (Task and Event, with Enhanced Email messages), pulled through each connector
into its own store, and every activity is compared field by field with the world's own. HubSpot
keeps the world's ids; Salesforce ids encode them (``world_id``). Both CRMs keep datetimes to the
millisecond; the world's are whole seconds, so ``occurred_at`` must match exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from pydantic import SecretStr

from crmpulse import service, synth
from crmpulse.model import Activity, ActivityKind
from crmpulse.ports import Connector
from crmpulse.settings import HubSpotSettings, SalesforceSettings, SyncSettings
from crmpulse.store import Store
from crmpulse_hubspot import mapper as hubspot_mapper
from crmpulse_hubspot.client import RawObject
from crmpulse_hubspot.connector import HubSpotConnector
from crmpulse_hubspot.sandbox import Portal, RateLimits
from crmpulse_hubspot.sandbox import SandboxServer as HubSpotServer
from crmpulse_salesforce import mapper as sf_mapper
from crmpulse_salesforce.connector import SalesforceConnector
from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.seed import load, world_id
from crmpulse_salesforce.sandbox.server import SandboxServer as SalesforceServer

AS_OF = datetime(2026, 9, 14, 15, 30, tzinfo=UTC)
TOKEN = "activities-token"
FIELDS = ("activity_kind", "occurred_at", "direction", "account_id", "contact_id")
HUBSPOT_STREAMS = ("calls", "emails", "meetings", "notes", "tasks")

Shape = tuple[object, ...]


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=11, scale="tiny", as_of=AS_OF)


@pytest.fixture(scope="module")
def expected(world: synth.World) -> dict[str, Shape]:
    return {a.id: _shape(a, str) for a in world.activities()}


def _shape(activity: Activity, key_of: Callable[[str], str]) -> Shape:
    """The compared fields, with ids translated to the world's."""
    values: list[object] = []
    for name in FIELDS:
        value = getattr(activity, name)
        values.append(key_of(value) if name.endswith("_id") and value is not None else value)
    return tuple(values)


def _hubspot(base_url: str) -> HubSpotConnector:
    return HubSpotConnector(
        HubSpotSettings(base_url=base_url, access_token=SecretStr(TOKEN)),
        SyncSettings(overlap_seconds=0),
    )


def _salesforce(base_url: str, bulk_threshold: int = 0) -> SalesforceConnector:
    return SalesforceConnector(
        SalesforceSettings(
            instance_url=base_url, access_token=SecretStr(TOKEN), bulk_threshold=bulk_threshold
        ),
        SyncSettings(overlap_seconds=0),
        bulk_poll_seconds=0,
    )


def _sync(connector: Connector, store: Store) -> service.SyncReport:
    report = service.SyncReport(run_id="x", source=connector.source, period="", dry_run=True)
    service.pull_all(connector, store, report)
    assert not any(report.rejected.values()), report.rejected
    return report


def _activities(store: Store, key_of: Callable[[str], str]) -> dict[str, Shape]:
    return {
        key_of(r.id): _shape(r, key_of)
        for r in store.iter_records("activities")
        if isinstance(r, Activity)
    }


@pytest.fixture(scope="module")
def hubspot_activities(
    world: synth.World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Shape]:
    url = f"sqlite:///{tmp_path_factory.mktemp('hs') / 'hs.db'}"
    portal = Portal.from_records(world.records())
    with HubSpotServer(portal, token=TOKEN) as server, Store.open(url) as store:
        _sync(_hubspot(server.base_url), store)
        return _activities(store, str)


@pytest.fixture(scope="module", params=["rest", "bulk"])
def salesforce_activities(
    request: pytest.FixtureRequest, world: synth.World, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Shape]:
    org = Org()
    load(org, world.records())
    url = f"sqlite:///{tmp_path_factory.mktemp('sf') / 'sf.db'}"
    with SalesforceServer(org, session_token=TOKEN) as server:
        connector = _salesforce(server.base_url, 1 if request.param == "bulk" else 0)
        with Store.open(url) as store:
            _sync(connector, store)
            return _activities(store, world_id)


def test_the_world_has_every_kind_direction_and_party(expected: dict[str, Shape]) -> None:
    kinds = {shape[0] for shape in expected.values()}
    directions = {shape[2] for shape in expected.values()}
    assert kinds == set(ActivityKind)
    assert directions == {"inbound", "outbound", None}
    assert all(shape[3] and shape[4] for shape in expected.values())


def test_hubspot_activities_are_the_worlds(
    hubspot_activities: dict[str, Shape], expected: dict[str, Shape]
) -> None:
    drift = {
        k: (v, hubspot_activities.get(k))
        for k, v in expected.items()
        if hubspot_activities.get(k) != v
    }
    assert not drift, list(drift.items())[:3]
    assert set(hubspot_activities) == set(expected)


def test_salesforce_activities_are_the_worlds(
    salesforce_activities: dict[str, Shape], expected: dict[str, Shape]
) -> None:
    drift = {
        k: (v, salesforce_activities.get(k))
        for k, v in expected.items()
        if salesforce_activities.get(k) != v
    }
    assert not drift, list(drift.items())[:3]
    assert set(salesforce_activities) == set(expected)


# -- incremental ------------------------------------------------------------------------------


def _reads_by_stream(connector: Connector, names: tuple[str, ...]) -> dict[str, int]:
    """Read calls per stream, from the connector's per-operation counts."""
    ops = connector.calls.by_operation
    return {n: sum(c for op, c in ops.items() if n in op.replace("->", " ").split()) for n in names}


def test_hubspot_incremental_pulls_a_changed_and_an_added_activity(
    world: synth.World, expected: dict[str, Shape], tmp_path: Path
) -> None:
    # The client paces search at exactly HubSpot's 5 per second, which races the emulator's
    # window and now and then earns a 429 and a retry; a roomier search limit keeps this count
    # about the connector's calls per stream, not about that race.
    limits = RateLimits(search_per_second=10)
    with (
        HubSpotServer(Portal.from_records(world.records()), token=TOKEN, limits=limits) as server,
        Store.open(f"sqlite:///{tmp_path / 'hs.db'}") as store,
    ):
        _sync(_hubspot(server.base_url), store)
        call_id, call = next(
            (k, v) for k, v in expected.items() if v[0] is ActivityKind.CALL and v[2] == "outbound"
        )
        api = f"{server.base_url}/crm/v3/objects"
        headers = {"Authorization": f"Bearer {TOKEN}"}
        r = requests.patch(
            f"{api}/calls/{call_id}",
            json={"properties": {"hs_call_direction": "INBOUND"}},
            headers=headers,
            timeout=5,
        )
        r.raise_for_status()
        when = datetime(2026, 10, 1, 9, 15, 30, 250_000, tzinfo=UTC)
        account_id, contact_id = str(call[3]), str(call[4])
        r = requests.post(
            f"{api}/emails",
            json={
                "properties": {
                    "hs_timestamp": when.isoformat().replace("+00:00", "Z"),
                    "hs_email_direction": "INCOMING_EMAIL",
                    "hs_email_subject": "Re: renewal",
                },
                "associations": [
                    {
                        "to": {"id": contact_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 198}
                        ],
                    },
                    {
                        "to": {"id": account_id},
                        "types": [
                            {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 186}
                        ],
                    },
                ],
            },
            headers=headers,
            timeout=5,
        )
        r.raise_for_status()
        added_id = str(r.json()["id"])

        connector = _hubspot(server.base_url)
        report = _sync(connector, store)
        got = _activities(store, str)

    assert report.pulled["calls"] == 1
    assert report.pulled["emails"] == 1
    assert got[call_id] == (*call[:2], "inbound", *call[3:])
    assert got[added_id] == (ActivityKind.EMAIL, when, "inbound", account_id, contact_id)
    reads = _reads_by_stream(connector, HUBSPOT_STREAMS)
    # An unchanged stream costs its one search and one page of its (empty) archived listing; a
    # changed one adds one v4 association read per association type (contacts, companies).
    assert reads == {"calls": 4, "emails": 4, "meetings": 2, "notes": 2, "tasks": 2}


def test_salesforce_incremental_pulls_a_changed_and_an_added_activity(
    world: synth.World, expected: dict[str, Shape], tmp_path: Path
) -> None:
    org = Org()
    load(org, world.records())
    with (
        SalesforceServer(org, session_token=TOKEN) as server,
        Store.open(f"sqlite:///{tmp_path / 'sf.db'}") as store,
    ):
        _sync(_salesforce(server.base_url), store)
        later = AS_OF + timedelta(days=20)
        calls = [
            i
            for i, row in org.rows["Task"].items()
            if row.get("TaskSubtype") == "Call" and row.get("CallType") == "Outbound"
        ]
        call_id = calls[0]
        org.update(call_id, {"CallType": "Inbound"}, when=later)
        call = expected[world_id(call_id)]
        template = org.rows["Task"][call_id]
        when = datetime(2026, 10, 1, 9, 15, 30, 250_000, tzinfo=UTC)
        task_id = org.insert(
            "Task",
            {
                "Subject": "Email: Re: renewal",
                "Status": "Completed",
                "IsClosed": True,
                "TaskSubtype": "Email",
                "Type": "Email",
                "ActivityDate": when.date(),
                "CompletedDateTime": when,
                "WhoId": template["WhoId"],
                "WhatId": template["WhatId"],
                "AccountId": template["AccountId"],
            },
            created=later,
        )
        org.insert(
            "EmailMessage", {"ActivityId": task_id, "Incoming": True, "Status": "1"}, created=later
        )

        connector = _salesforce(server.base_url)
        report = _sync(connector, store)
        got = _activities(store, world_id)

    assert report.pulled["tasks"] == 2
    assert report.pulled["events"] == 0
    assert got[world_id(call_id)] == (*call[:2], "inbound", *call[3:])
    assert got[world_id(task_id)] == (ActivityKind.EMAIL, when, "inbound", *call[3:])
    streams = len(connector.streams())
    # One query per stream, plus one EmailMessage lookup for the page holding the new e-mail.
    assert connector.calls.by_operation["query"] == streams + 1
    assert connector.calls.reads == streams + 1


# -- mapper edge cases ------------------------------------------------------------------------


def _raw_engagement(props: dict[str, str | None]) -> RawObject:
    stamp = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    return RawObject("42", props, stamp, stamp, False, None, {"contacts": ["7"]})


@pytest.mark.parametrize(
    ("object_type", "value", "direction"),
    [
        ("emails", "EMAIL", "outbound"),
        ("emails", "INCOMING_EMAIL", "inbound"),
        ("emails", "FORWARDED_EMAIL", None),
        ("calls", "OUTBOUND", "outbound"),
        ("calls", "inbound", "inbound"),
        ("calls", None, None),
    ],
)
def test_hubspot_direction_values(object_type: str, value: str | None, direction: str) -> None:
    prop = {"emails": "hs_email_direction", "calls": "hs_call_direction"}[object_type]
    activity = hubspot_mapper.engagement(_raw_engagement({prop: value}), "hubspot:1", object_type)
    assert activity.direction == direction
    assert activity.contact_id == "7"
    assert activity.account_id is None
    assert activity.occurred_at == activity.created_at  # no hs_timestamp: when it was logged


def test_a_meeting_has_no_direction_and_its_own_timestamp() -> None:
    raw = _raw_engagement({"hs_timestamp": "1767945600000", "hs_call_direction": "INBOUND"})
    activity = hubspot_mapper.engagement(raw, "hubspot:1", "meetings")
    assert activity.activity_kind is ActivityKind.MEETING
    assert activity.direction is None
    assert activity.occurred_at == datetime(2026, 1, 9, 8, 0, tzinfo=UTC)


_TASK = {
    "Id": "00T000000000001AAA",
    "IsDeleted": "false",
    "CreatedDate": "2026-01-05T08:00:00.000+0000",
    "SystemModstamp": "2026-01-06T08:00:00.000+0000",
}


@pytest.mark.parametrize(
    ("fields", "kind"),
    [
        ({"TaskSubtype": "ListEmail"}, ActivityKind.EMAIL),
        ({"TaskSubtype": "Task", "Type": "Call"}, ActivityKind.CALL),
        ({"TaskSubtype": "Task", "Type": "Note"}, ActivityKind.NOTE),
        ({"TaskSubtype": "Cadence", "Type": "Other"}, ActivityKind.TASK),
        ({}, ActivityKind.TASK),
    ],
)
def test_salesforce_task_kinds(fields: dict[str, str], kind: ActivityKind) -> None:
    assert sf_mapper.task({**_TASK, **fields}, "salesforce:x").activity_kind is kind


def test_a_task_with_a_lead_and_an_open_due_date() -> None:
    row = {
        **_TASK,
        "TaskSubtype": "Call",
        "CallType": "Internal",
        "ActivityDate": "2026-03-01",
        "WhoId": "00Q000000000001AAA",
        "WhatId": "001000000000001AAA",
    }
    activity = sf_mapper.task(row, "salesforce:x")
    assert activity.direction is None
    assert activity.contact_id is None  # a Lead is not a contact
    assert activity.account_id == "001000000000001AAA"
    assert activity.occurred_at == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)  # not the due date


def test_an_email_task_takes_its_direction_from_its_message_only() -> None:
    row = {**_TASK, "TaskSubtype": "Email", "WhatId": "006000000000001AAA"}
    assert sf_mapper.task(row, "s", incoming=False).direction == "outbound"
    assert sf_mapper.task(row, "s", incoming=True).direction == "inbound"
    unknown = sf_mapper.task(row, "s")
    assert unknown.direction is None
    assert unknown.account_id is None  # an Opportunity is not an account


def test_an_all_day_event_occurs_on_its_date() -> None:
    row = {**_TASK, "Id": "00U000000000001AAA", "ActivityDate": "2026-02-10"}
    activity = sf_mapper.event(row, "salesforce:x")
    assert activity.activity_kind is ActivityKind.MEETING
    assert activity.occurred_at == datetime(2026, 2, 10, 12, 0, tzinfo=UTC)
    timed = sf_mapper.event({**row, "StartDateTime": "2026-02-10T14:30:00.000+0000"}, "s")
    assert timed.occurred_at == datetime(2026, 2, 10, 14, 30, tzinfo=UTC)
