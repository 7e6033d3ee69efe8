"""End to end against Salesforce, as a user runs it: the emulator in one process, `crmpulse` in
others, configured through environment variables only; every check reads the org back through
the real simple-salesforce client over HTTP."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from simple_salesforce import Salesforce

from crmpulse_salesforce.transport import make_session
from e2ehelp import crmpulse as run_crmpulse
from e2ehelp import sandbox_process, stats

pytestmark = pytest.mark.slow

TOKEN = "00D000000000001!e2e-session"
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process("salesforce", TOKEN, probe="/_sandbox/health") as base:
        yield base


@pytest.fixture(scope="module")
def env(sandbox: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    store = tmp_path_factory.mktemp("e2e") / "store.db"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_CRM": "salesforce",
        "CRMPULSE_SALESFORCE__INSTANCE_URL": sandbox,
        "CRMPULSE_SALESFORCE__ACCESS_TOKEN": TOKEN,
        "CRMPULSE_STORE__URL": f"sqlite:///{store}",
        "CRMPULSE_KPI__PERIOD": PERIOD,
        "CRMPULSE_SYNC__OVERLAP_SECONDS": "0.3",
    }


def crmpulse(env: dict[str, str], *args: str) -> dict[str, Any]:
    return run_crmpulse(env, *args, secret=TOKEN)


def sf(sandbox: str) -> Salesforce:
    return Salesforce(instance_url=sandbox, session_id=TOKEN, session=make_session(sandbox))


def account_nps(sandbox: str) -> dict[str, float | None]:
    rows = sf(sandbox).query_all("SELECT Id, crmpulse_nps__c FROM Account")["records"]
    return {r["Id"]: r["crmpulse_nps__c"] for r in rows}


def nps_by_account(env: dict[str, str]) -> dict[str, float | None]:
    kpis = crmpulse(env, "kpis", "--json")
    assert kpis["period"] == PERIOD
    return {
        v["entity_id"]: v["value"]
        for v in kpis["values"]
        if v["kpi"] == "nps" and v["level"] == "account"
    }


def test_sync_writes_the_nps_that_kpis_reports(sandbox: str, env: dict[str, str]) -> None:
    first = crmpulse(env, "sync", "--json")
    assert first["status"] == "ok", first
    assert all(first["full_load"].values())
    assert first["records_pulled"]["surveys"] > 0
    assert first["values_written"] > 0
    nps = nps_by_account(env)
    assert any(v is not None for v in nps.values())
    for account_id, written in account_nps(sandbox).items():
        expected = nps.get(account_id)
        if expected is None:
            assert written is None, (account_id, written)
        else:
            assert written == round(expected, 2), (account_id, written, expected)
    snapshots = sf(sandbox).query(
        "SELECT COUNT() FROM crmpulse_kpi_snapshot__c WHERE crmpulse_period__c = '2026-10'"
    )
    assert snapshots["totalSize"] > 0


def test_reruns_with_nothing_changed_write_nothing(sandbox: str, env: dict[str, str]) -> None:
    second = crmpulse(env, "sync", "--json")
    assert second["api_calls"]["write"] == 0
    assert second["values_written"] == 0
    before = stats(sandbox)
    third = crmpulse(env, "sync", "--json")
    assert third["api_calls"]["write"] == 0
    assert sum(third["records_pulled"].values()) == 0
    assert third["api_calls"]["read"] == len(third["records_pulled"])
    # The emulator agrees: no call was made that the report did not count.
    assert stats(sandbox) - before == third["api_calls"]["read"]


def test_changes_in_the_org_are_pulled_and_only_they(sandbox: str, env: dict[str, str]) -> None:
    client = sf(sandbox)
    case_id = client.query("SELECT Id FROM Case LIMIT 1")["records"][0]["Id"]
    client.Case.update(case_id, {"Priority": "High"})
    contact = client.query("SELECT Id, AccountId FROM Contact WHERE AccountId != null LIMIT 1")[
        "records"
    ][0]
    question = client.query(
        "SELECT Id, SurveyVersionId, SurveyVersion.SurveyId FROM SurveyQuestion "
        "WHERE DeveloperName = 'nps_score'"
    )["records"][0]

    def insert(sobject: str, values: dict[str, Any]) -> str:
        response = requests.post(f"{sandbox}/_sandbox/records/{sobject}", json=values, timeout=10)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    survey = question["SurveyVersion"]["SurveyId"]
    invitation = insert(
        "SurveyInvitation",
        {"SurveyId": survey, "ContactId": contact["Id"], "ParticipantId": contact["Id"]},
    )
    response = insert(
        "SurveyResponse",
        {
            "SurveyId": survey,
            "SurveyVersionId": question["SurveyVersionId"],
            "InvitationId": invitation,
            "Status": "Completed",
            "CompletionDateTime": "2026-10-15T12:00:00.000+0000",
        },
    )
    insert(
        "SurveyQuestionResponse",
        {"ResponseId": response, "QuestionId": question["Id"], "NumberValue": 0},
    )

    fourth = crmpulse(env, "sync", "--json")
    assert fourth["records_pulled"]["tickets"] == 1
    assert fourth["records_pulled"]["surveys"] == 1
    assert fourth["records_pulled"]["deals"] == 0
    assert fourth["values_written"] > 0  # the detractor moved the account's NPS
    nps = nps_by_account(env)
    assert nps[contact["AccountId"]] is not None
    written = account_nps(sandbox)
    for account_id, value in nps.items():
        if value is not None:
            assert written[account_id] == round(value, 2)
