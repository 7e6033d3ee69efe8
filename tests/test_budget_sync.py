"""The API budget against the emulators over HTTP, under their real limits.

The emulators count every call by status at ``/_sandbox/stats``; a 429 (HubSpot) or a
403 REQUEST_LIMIT_EXCEEDED (Salesforce) there means the budget let a call through that the CRM
had to refuse.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from crmpulse import plugins, service
from crmpulse.budget import Budget, Limits
from crmpulse.errors import RateLimitedError
from crmpulse.settings import Settings, StoreSettings
from crmpulse.store import Store
from crmpulse_hubspot.client import HubSpotClient
from crmpulse_hubspot.sandbox.limits import RateLimits
from crmpulse_hubspot.sandbox.server import SandboxServer as HubSpotSandbox
from crmpulse_hubspot.sandbox.server import build_portal
from crmpulse_salesforce.sandbox.launch import build_org
from crmpulse_salesforce.sandbox.server import SandboxServer as SalesforceSandbox

AS_OF = datetime(2026, 11, 20, tzinfo=UTC)
HUBSPOT_TOKEN = "budget-token"
BURST = 25


def statuses(base: str) -> Counter[int]:
    """Calls the emulator answered, by status."""
    doc = requests.get(f"{base}/_sandbox/stats", timeout=5).json()
    counts: Counter[int] = Counter()
    for row in doc["calls"]:
        counts[int(row["status"])] += int(row["count"])
    return counts


def run_cli(env: dict[str, str], *args: str) -> tuple[int, dict[str, Any], str]:
    """`crmpulse ARGS --json` in its own process: (exit code, JSON document, stderr)."""
    done = subprocess.run(
        [sys.executable, "-m", "crmpulse", *args, "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        doc: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        pytest.fail(f"no JSON from crmpulse {' '.join(args)}: {done.stdout}\n{done.stderr}")
    return done.returncode, doc, done.stderr


def base_env(store: Path) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_STORE__URL": f"sqlite:///{store}",
        "CRMPULSE_KPI__PERIOD": "2026-10",
        "CRMPULSE_SYNC__OVERLAP_SECONDS": "1",
    }


# -- HubSpot: the 10-second window and the search window ---------------------------------------


@pytest.fixture(scope="module")
def hubspot_portal_args() -> dict[str, Any]:
    return {"seed": 11, "scale": "small", "as_of": AS_OF}


@pytest.fixture
def tight_hubspot(hubspot_portal_args: dict[str, Any]) -> Iterator[HubSpotSandbox]:
    """A portal whose app may make only ``BURST`` calls per 10 s (and 5 searches a second)."""
    portal = build_portal(**hubspot_portal_args)
    with HubSpotSandbox(portal, token=HUBSPOT_TOKEN, limits=RateLimits(burst=BURST)) as server:
        yield server


def hubspot_settings(base: str, store: Path) -> Settings:
    plugin = plugins.load("hubspot")
    settings = plugin.sandbox_settings(Settings(), base_url=base, token=HUBSPOT_TOKEN)
    return settings.model_copy(update={"store": StoreSettings(url=f"sqlite:///{store}")})


def test_the_emulator_refuses_calls_past_its_window(tight_hubspot: HubSpotSandbox) -> None:
    """The control: a client without a window runs into the emulator's 429 at once."""
    unlimited = Budget("hubspot:control", Limits())
    client = HubSpotClient(
        base_url=tight_hubspot.base_url,
        access_token=HUBSPOT_TOKEN,
        max_retries=0,
        budget=unlimited,
    )

    def page() -> None:
        client.list_page("companies", after=None, limit=10, properties=["name"], associations=())

    for _ in range(BURST):
        page()
    with pytest.raises(RateLimitedError):
        page()
    assert statuses(tight_hubspot.base_url)[429] >= 1


def test_a_full_and_an_incremental_pull_see_no_429(
    tight_hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    base = tight_hubspot.base_url
    # the settings say Professional (190 per 10 s): the emulator's headers lower it to 25
    settings = hubspot_settings(base, tmp_path / "store.db")
    connector = plugins.load("hubspot").connect(settings)
    with Store.open(settings.store.url) as store:
        report = service.SyncReport(run_id="r1", source=connector.source, period="", dry_run=True)
        started = time.monotonic()
        service.pull_all(connector, store, report)
        full_seconds = time.monotonic() - started
        list_calls = connector.calls.reads
        assert list_calls > BURST  # the pull needs more than one window
        assert sum(report.pulled.values()) == store.count("contacts") + sum(
            store.count(e) for e in ("accounts", "deals", "tickets", "surveys", "activities")
        )
        # other tools add records (through the emulator's own door, outside the limits), so
        # the incremental pull searches and reads associations
        for object_type, key in (
            ("companies", "name"),
            ("contacts", "email"),
            ("tickets", "subject"),
        ):
            for n in range(30):
                requests.post(
                    f"{base}/_sandbox/objects/{object_type}",
                    json={"properties": {key: f"new-{n}@example.com"}},
                    timeout=10,
                ).raise_for_status()
        time.sleep(1.2)  # past the overlap window
        before = connector.calls.reads
        report = service.SyncReport(run_id="r2", source=connector.source, period="", dry_run=True)
        service.pull_all(connector, store, report)
        searches = sum(
            n for op, n in connector.calls.by_operation.items() if op.startswith("search ")
        )
    counts = statuses(base)
    assert counts[429] == 0, counts
    assert searches >= 10
    assert connector.calls.reads - before > 10
    state = connector.client.budget.state()
    assert state.window_limit == BURST
    assert state.waited_seconds > 5  # it did hold calls back rather than being lucky
    # at most BURST calls start in any 10 s: the full pull could not be quicker than this
    assert full_seconds >= 10 * ((list_calls - 1) // BURST) - 0.5


# -- Salesforce: the daily allocation and the reserve ------------------------------------------


@pytest.fixture
def salesforce() -> Iterator[SalesforceSandbox]:
    org = build_org(11, "small", AS_OF)
    with SalesforceSandbox(org, api_limit=20) as server:
        yield server


def salesforce_env(server: SalesforceSandbox, store: Path) -> dict[str, str]:
    return {
        **base_env(store),
        "CRMPULSE_CRM": "salesforce",
        "CRMPULSE_SALESFORCE__INSTANCE_URL": server.base_url,
        "CRMPULSE_SALESFORCE__ACCESS_TOKEN": server.session_token,
        "CRMPULSE_SALESFORCE__ORG_NAME": "budget",
        "CRMPULSE_BUDGET__SALESFORCE_RESERVE": "5",
    }


def test_reaching_the_reserve_mid_sync_stops_cleanly_and_the_next_run_resumes(
    salesforce: SalesforceSandbox, tmp_path: Path
) -> None:
    store_path = tmp_path / "store.db"
    env = salesforce_env(salesforce, store_path)
    code, report, _stderr = run_cli(env, "sync")
    assert code == 1
    assert report["status"] == "interrupted"
    message = " ".join(report["errors"])
    assert "today's API budget is spent: 15 of 20 daily calls used" in message
    assert "5 kept in reserve" in message
    assert "next run resumes" in message
    # the budget stopped at the reserve line: Salesforce never had to refuse a call
    assert salesforce.state.api_usage == 15
    assert statuses(salesforce.base_url)[403] == 0
    pulled = report["records_pulled"]
    done = [stream for stream, n in pulled.items() if n]
    assert done, "the pull got somewhere before the budget ran out"
    with Store.open(f"sqlite:///{store_path}") as store:
        assert store.count("accounts") == len(salesforce.org.rows["Account"])
        assert store.get_cursor("salesforce:budget", "accounts") is not None

    salesforce.state.api_limit = 100_000  # a new day, or a bigger allocation
    code, report, stderr = run_cli(env, "sync")
    assert code == 0, stderr
    assert report["status"] == "ok"
    assert report["full_load"]["accounts"] is False  # resumed, not started over
    assert report["records_pulled"]["accounts"] < len(salesforce.org.rows["Account"])
    with Store.open(f"sqlite:///{store_path}") as store:
        assert store.count("contacts") == len(salesforce.org.rows["Contact"])
        assert store.count("tickets") == len(salesforce.org.rows["Case"])
    assert statuses(salesforce.base_url)[403] == 0


# -- --estimate --------------------------------------------------------------------------------


@pytest.fixture
def hubspot(hubspot_portal_args: dict[str, Any]) -> Iterator[HubSpotSandbox]:
    portal = build_portal(**hubspot_portal_args)
    with HubSpotSandbox(portal, token=HUBSPOT_TOKEN) as server:
        yield server


def spent(report: dict[str, Any]) -> int:
    calls: dict[str, int] = report["api_calls"]
    return int(calls["read"]) + int(calls["write"])


def test_the_estimate_is_close_to_what_the_sync_then_spends(
    hubspot: HubSpotSandbox, tmp_path: Path
) -> None:
    env = {
        **base_env(tmp_path / "store.db"),
        "CRMPULSE_HUBSPOT__BASE_URL": hubspot.base_url,
        "CRMPULSE_HUBSPOT__ACCESS_TOKEN": HUBSPOT_TOKEN,
    }
    code, first_estimate, stderr = run_cli(env, "sync", "--estimate")
    assert code == 0, stderr
    assert first_estimate["estimate_spent_calls"] == len(first_estimate["streams"])
    assert all(s["full_load"] for s in first_estimate["streams"])
    assert first_estimate["fits_budget"] is True
    code, first_run, stderr = run_cli(env, "sync")
    assert code == 0, stderr
    # the pull is exact; the first write-back is bounded from above
    pages = sum(
        n
        for op, n in first_run["api_calls"]["by_operation"].items()
        if op.startswith("list ") and op.split()[1] not in ("groups", "properties", "schemas")
    )
    assert first_estimate["pull_calls"] == pages
    assert spent(first_run) <= first_estimate["total_calls"] <= 1.15 * spent(first_run)

    # other tools change records; the next run is incremental with a known write-back plan
    headers = {"Authorization": f"Bearer {HUBSPOT_TOKEN}"}
    page = requests.get(
        f"{hubspot.base_url}/crm/v3/objects/tickets",
        params={"limit": 100},
        headers=headers,
        timeout=10,
    ).json()
    body = {
        "inputs": [
            {"id": o["id"], "properties": {"hs_ticket_priority": "HIGH"}} for o in page["results"]
        ]
    }
    requests.post(
        f"{hubspot.base_url}/crm/v3/objects/tickets/batch/update",
        json=body,
        headers=headers,
        timeout=10,
    ).raise_for_status()
    time.sleep(1.2)
    code, estimate, stderr = run_cli(env, "sync", "--estimate")
    assert code == 0, stderr
    tickets = next(s for s in estimate["streams"] if s["stream"] == "tickets")
    assert tickets["records"] >= 100
    assert not tickets["full_load"]
    code, run, stderr = run_cli(env, "sync")
    assert code == 0, stderr
    assert abs(estimate["total_calls"] - spent(run)) <= max(2, 0.1 * spent(run)), (estimate, run)


def test_the_salesforce_estimate_is_close_to_what_the_sync_then_spends(tmp_path: Path) -> None:
    org = build_org(11, "small", AS_OF)
    with SalesforceSandbox(org) as server:
        env = salesforce_env(server, tmp_path / "store.db")
        code, first_estimate, stderr = run_cli(env, "sync", "--estimate")
        assert code == 0, stderr
        code, first_run, stderr = run_cli(env, "sync")
        assert code == 0, stderr
        assert spent(first_run) <= first_estimate["total_calls"] <= 1.15 * spent(first_run)

        for case_id in list(server.org.rows["Case"])[:60]:
            requests.patch(
                f"{server.base_url}/_sandbox/records/Case/{case_id}",
                json={"Priority": "High"},
                timeout=10,
            ).raise_for_status()
        time.sleep(1.2)
        code, estimate, stderr = run_cli(env, "sync", "--estimate")
        assert code == 0, stderr
        cases = next(s for s in estimate["streams"] if s["stream"] == "tickets")
        assert cases["records"] >= 60
        code, run, stderr = run_cli(env, "sync")
        assert code == 0, stderr
        assert abs(estimate["total_calls"] - spent(run)) <= max(2, 0.1 * spent(run)), (
            estimate,
            run,
        )
        assert statuses(server.base_url)[403] == 0
