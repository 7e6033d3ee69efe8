"""End to end, as a user runs it: the emulator in one process, `crmpulse` in others.

Everything is configured through environment variables only, and every check reads the CRM back
through the real HubSpot SDK over HTTP.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from hubspot import HubSpot
from hubspot.crm.objects import SimplePublicObjectInput

from e2ehelp import crmpulse as run_crmpulse
from e2ehelp import sandbox_process, stats

pytestmark = pytest.mark.slow

TOKEN = "e2e-token-not-secret"
PERIOD = "2026-10"


@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    with sandbox_process("hubspot", TOKEN, probe="/_sandbox/stats") as base:
        yield base


@pytest.fixture(scope="module")
def env(sandbox: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    store = tmp_path_factory.mktemp("e2e") / "store.db"
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_HUBSPOT__BASE_URL": sandbox,
        "CRMPULSE_HUBSPOT__ACCESS_TOKEN": TOKEN,
        "CRMPULSE_STORE__URL": f"sqlite:///{store}",
        "CRMPULSE_KPI__PERIOD": PERIOD,
        "CRMPULSE_SYNC__OVERLAP_SECONDS": "0.3",
    }


def crmpulse(env: dict[str, str], *args: str) -> dict[str, Any]:
    return run_crmpulse(env, *args, secret=TOKEN)


def hubspot(sandbox: str) -> HubSpot:
    return HubSpot(access_token=TOKEN, host=sandbox)


def all_companies(sandbox: str) -> dict[str, dict[str, str | None]]:
    api = hubspot(sandbox).crm.companies.basic_api
    found: dict[str, dict[str, str | None]] = {}
    after = None
    while True:
        page = api.get_page(limit=100, after=after, properties=["name", "crmpulse_nps"])
        found.update({o.id: o.properties for o in page.results})
        if not (page.paging and page.paging.next):
            return found
        after = page.paging.next.after


def test_dry_run_writes_nothing(sandbox: str, env: dict[str, str], tmp_path: Path) -> None:
    dry_env = {**env, "CRMPULSE_STORE__URL": f"sqlite:///{tmp_path / 'dry.db'}"}
    report = crmpulse(dry_env, "sync", "--dry-run", "--json")
    assert report["dry_run"] is True
    assert report["api_calls"]["write"] == 0
    assert report["planned_changes"] > 0
    assert all(p.get("crmpulse_nps") is None for p in all_companies(sandbox).values())


def test_sync_writes_the_nps_that_kpis_reports(sandbox: str, env: dict[str, str]) -> None:
    first = crmpulse(env, "sync", "--json")
    assert first["status"] == "ok", first
    assert all(first["full_load"].values())
    assert first["records_pulled"]["companies"] > 0
    assert first["records_pulled"]["feedback_submissions"] > 0
    assert first["api_calls"]["write"] > 0
    assert first["values_written"] > 0

    kpis = crmpulse(env, "kpis", "--json")
    assert kpis["period"] == PERIOD
    nps = {
        v["entity_id"]: v["value"]
        for v in kpis["values"]
        if v["kpi"] == "nps" and v["level"] == "account"
    }
    assert any(v is not None for v in nps.values())

    companies = all_companies(sandbox)
    for company_id, props in companies.items():
        expected = nps.get(company_id)
        written = props.get("crmpulse_nps")
        if expected is None:
            assert written in (None, ""), (company_id, written)
        else:
            assert written is not None, company_id
            assert float(written) == round(expected, 2), (company_id, written, expected)


def test_second_sync_with_nothing_changed_is_nearly_free(sandbox: str, env: dict[str, str]) -> None:
    before = stats(sandbox)
    again = crmpulse(env, "sync", "--json")
    streams = len(again["records_pulled"])
    assert not any(again["full_load"].values())
    assert again["api_calls"]["write"] == 0
    # per stream: one search, one page of the archived listing (archiving leaves modification
    # dates alone, so only the listing shows it)
    assert again["api_calls"]["read"] <= 2 * streams, again["api_calls"]
    ops = again["api_calls"]["by_operation"]
    assert sum(n for op, n in ops.items() if op.startswith("search ")) == streams
    assert again["values_written"] == 0
    # The emulator agrees: no call was made that the report did not count.
    assert stats(sandbox) - before == again["api_calls"]["read"]


def test_changes_in_the_crm_are_pulled_and_only_they(sandbox: str, env: dict[str, str]) -> None:
    client = hubspot(sandbox)
    tickets = client.crm.tickets.basic_api.get_page(limit=1)
    ticket_id = tickets.results[0].id
    client.crm.tickets.basic_api.update(
        ticket_id, SimplePublicObjectInput(properties={"hs_ticket_priority": "URGENT"})
    )
    contact_id = client.crm.contacts.basic_api.get_page(limit=1).results[0].id
    injected = requests.post(
        f"{sandbox}/_sandbox/objects/feedback_submissions",
        json={
            "properties": {
                "hs_survey_type": "NPS",
                "hs_value": "0",
                "hs_content": "Péssimo atendimento, ninguém responde.",
                "hs_submission_timestamp": "2026-10-15T12:00:00.000Z",
                "hs_contact_id": contact_id,
            },
            "associations": {"contacts": [contact_id]},
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert injected.status_code == 201, injected.text

    third = crmpulse(env, "sync", "--json")
    assert third["records_pulled"]["tickets"] == 1
    assert third["records_pulled"]["feedback_submissions"] == 1
    assert third["records_pulled"]["deals"] == 0
    assert third["values_written"] > 0  # the detractor moved someone's NPS

    kpis = crmpulse(env, "kpis", "--json")
    nps = {
        v["entity_id"]: v["value"]
        for v in kpis["values"]
        if v["kpi"] == "nps" and v["level"] == "account"
    }
    for company, props in all_companies(sandbox).items():
        if nps.get(company) is not None:
            assert float(props["crmpulse_nps"] or "nan") == round(nps[company], 2)
