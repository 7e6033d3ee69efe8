"""The Salesforce connector against the emulator, through simple-salesforce over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from crmpulse import synth
from crmpulse.model import SurveyKind, SurveyResponse, Ticket
from crmpulse.ports import Cursor, StreamSpec
from crmpulse.settings import SalesforceSettings, SyncSettings
from crmpulse_salesforce import soql
from crmpulse_salesforce.connector import SalesforceConnector
from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.seed import load, world_id
from crmpulse_salesforce.sandbox.server import SandboxServer

TOKEN = "salesforce-connector-token"
AS_OF = datetime(2026, 11, 20, tzinfo=UTC)


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=5, scale="tiny", as_of=AS_OF)


@pytest.fixture
def org(world: synth.World) -> Org:
    org = Org()
    load(org, world.records())
    return org


@pytest.fixture
def server(org: Org) -> Iterator[SandboxServer]:
    with SandboxServer(org, session_token=TOKEN) as srv:
        yield srv


def connector(server: SandboxServer, **options: object) -> SalesforceConnector:
    settings = SalesforceSettings(
        instance_url=server.base_url,
        access_token=SecretStr(TOKEN),
        **options,  # type: ignore[arg-type]
    )
    return SalesforceConnector(settings, SyncSettings(overlap_seconds=0), bulk_poll_seconds=0)


def stream(conn: SalesforceConnector, name: str) -> StreamSpec:
    return next(s for s in conn.streams() if s.name == name)


def pull(conn: SalesforceConnector, name: str, cursor: Cursor | None) -> tuple[list, Cursor]:
    records, last = [], cursor
    for page in conn.pull(stream(conn, name), cursor):
        assert not page.rejects, page.rejects
        records.extend(page.records)
        last = page.cursor or last
    assert last is not None
    return records, last


def test_full_load_pulls_exactly_the_world(server: SandboxServer, world: synth.World) -> None:
    conn = connector(server)
    tickets, cursor = pull(conn, "tickets", None)
    expected = {t.id: t for t in world.tickets() if t.deleted_at is None}
    assert {world_id(t.id) for t in tickets} == set(expected)
    for ticket in tickets:
        assert isinstance(ticket, Ticket)
        source = expected[world_id(ticket.id)]
        assert ticket.first_response_at == source.first_response_at
        assert ticket.closed_at == source.closed_at
        assert ticket.account_id is not None
        assert world_id(ticket.account_id) == source.account_id
    assert cursor.updated_at == max(t.updated_at for t in expected.values())
    # One page of up to 2,000 rows per call.
    assert conn.calls.by_operation["query"] == 1
    assert conn.calls.writes == 0


def test_surveys_come_from_feedback_management(server: SandboxServer, world: synth.World) -> None:
    conn = connector(server)
    answers, _ = pull(conn, "surveys", None)
    by_world = {a.ticket_id: a for a in answers if isinstance(a, SurveyResponse) and a.ticket_id}
    expected = [s for s in world.surveys() if s.deleted_at is None]
    assert len(answers) == len(expected)
    assert {a.survey_kind for a in answers} == set(SurveyKind)
    kinds = sorted((s.survey_kind.value, s.score, s.comment or "") for s in expected)
    got = sorted((a.survey_kind.value, a.score, a.comment or "") for a in answers)
    assert got == kinds
    assert by_world, "CSAT/CES answers link to their case through SurveySubject"


def test_incremental_pull_reads_only_changes_and_soft_deletes(
    server: SandboxServer, org: Org
) -> None:
    conn = connector(server)
    _, cursor = pull(conn, "tickets", None)
    later = cursor.updated_at + timedelta(minutes=5)
    case_ids = list(org.rows["Case"])
    org.update(case_ids[0], {"Subject": "Changed after the pull"}, when=later)
    org.delete(case_ids[1], when=later)
    records, cursor2 = pull(conn, "tickets", cursor)
    assert {r.id for r in records} == {case_ids[0], case_ids[1]}
    deleted = next(r for r in records if r.id == case_ids[1])
    assert deleted.deleted_at == later
    assert cursor2.updated_at == later
    again, _ = pull(conn, "tickets", cursor2)
    assert again == []


def test_bulk_full_load_equals_rest(server: SandboxServer) -> None:
    rest = connector(server, bulk_threshold=0)
    bulk = connector(server, bulk_threshold=1)
    for name in ("accounts", "contacts", "deals", "tickets", "surveys"):
        via_rest, _ = pull(rest, name, None)
        via_bulk, _ = pull(bulk, name, None)
        assert sorted(via_bulk, key=lambda r: r.id) == sorted(via_rest, key=lambda r: r.id), name
    assert bulk.calls.by_operation["bulk_query"] > 0


def test_soql_literals_cannot_inject() -> None:
    assert soql.quote("O'Brien\\") == "'O\\'Brien\\\\'"
    with pytest.raises(ValueError, match="not a Salesforce id"):
        soql.record_id("001' OR Name != '")
    with pytest.raises(ValueError, match="not a Salesforce API name"):
        soql.name("Account WHERE Id != null")
    assert soql.when(datetime(2024, 1, 2, 3, 4, 5, 999000, tzinfo=UTC)) == "2024-01-02T03:04:05Z"


def test_a_malformed_row_is_quarantined_not_fatal(server: SandboxServer, org: Org) -> None:
    conn = connector(server)
    _, cursor = pull(conn, "surveys", None)
    later = cursor.updated_at + timedelta(minutes=1)
    response_id = next(iter(org.rows["SurveyResponse"]))
    answer_id = next(
        i for i, r in org.rows["SurveyQuestionResponse"].items() if r["ResponseId"] == response_id
    )
    org.update(answer_id, {"NumberValue": 42.0}, when=later)
    org.update(response_id, {"Status": "Completed"}, when=later)
    pages = list(conn.pull(stream(conn, "surveys"), cursor))
    rejects = [r for p in pages for r in p.rejects]
    assert len(rejects) == 1
    assert "outside" in str(rejects[0])
    assert answer_id in str(rejects[0])
