"""``crmpulse serve``'s HTTP side and its worker, in-process, over real HTTP: the HubSpot emulator
delivers signed webhooks to the server, the worker applies them and writes back through the SDK.

Refused requests (bad or missing signature, stale or future timestamp, malformed, oversized)
must leave the store exactly as it was; accepted ones are processed once, however often they
are delivered.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr

from crmpulse import synth
from crmpulse.httpserver import BackgroundServer
from crmpulse.server import Runtime, build_runtime, create_app
from crmpulse.settings import (
    HubSpotSettings,
    KpiSettings,
    ServerSettings,
    Settings,
    StoreSettings,
    SyncSettings,
)
from crmpulse.store import Store
from crmpulse.worker_process import ProcessRunner
from crmpulse_hubspot import HubSpotPlugin
from crmpulse_hubspot.sandbox import Portal, SandboxServer
from crmpulse_hubspot.sandbox.delivery import sign_v3
from crmpulse_hubspot.sandbox.webhooks import DEFAULT_APP_ID

TOKEN = "serve-test-token"
SECRET = "serve-test-client-secret"
ENTITIES = ("accounts", "contacts", "deals", "tickets", "surveys", "activities")


@pytest.fixture(scope="module")
def world() -> synth.World:
    # as of now, so the running month (the period serve writes) has data
    return synth.generate(seed=3, scale="tiny", as_of=datetime.now(UTC))


@dataclass
class Stack:
    emulator: SandboxServer
    runtime: Runtime
    url: str

    @property
    def store(self) -> Store:
        return self.runtime.store

    def wait_until(self, check: Callable[[], Any], timeout: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = check()
            if got:
                return got
            time.sleep(0.05)
        pytest.fail(f"not true within {timeout} s: {check}")

    def company(self, company_id: str, *props: str) -> dict[str, Any]:
        response = requests.get(
            f"{self.emulator.base_url}/crm/v3/objects/companies/{company_id}",
            params={"properties": ",".join(props)},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        response.raise_for_status()
        properties: dict[str, Any] = response.json()["properties"]
        return properties


def settings_for(base_url: str, tmp_path: Path, retries: int = 5, **server: Any) -> Settings:
    return Settings(
        store=StoreSettings(url=f"sqlite:///{tmp_path / 'serve.db'}"),
        hubspot=HubSpotSettings(
            base_url=base_url,
            access_token=SecretStr(TOKEN),
            client_secret=SecretStr(SECRET),
            app_id=str(DEFAULT_APP_ID),
            max_retries=retries,
        ),
        sync=SyncSettings(overlap_seconds=0.5),
        kpi=KpiSettings(period="current"),
        server=ServerSettings(coalesce_seconds=0.05, poll_seconds=0.05, **server),
    )


@contextmanager
def stack(
    world: synth.World, tmp_path: Path, *, run: bool, retries: int = 5, **server: Any
) -> Iterator[Stack]:
    """Emulator + server (+ runner when ``run``); the emulator's webhooks point at the server."""
    portal = Portal.from_records(world.records())
    with SandboxServer(portal, token=TOKEN, client_secret=SECRET) as emulator:
        settings = settings_for(emulator.base_url, tmp_path, retries, **server)
        plugin = HubSpotPlugin()
        connector = plugin.connect(settings)
        with Store.open(settings.store.url) as store:
            receiver = plugin.webhook_receiver(settings, connector)
            runtime = build_runtime(settings, store, "hubspot", connector, receiver)
            app = create_app(runtime, manage_runner=False)
            with BackgroundServer(app, name="crmpulse-serve") as http:
                url = f"{http.base_url}/webhooks/hubspot"
                if run:
                    runtime.runner.start()
                    Stack(emulator, runtime, url).wait_until(
                        lambda: runtime.runner.status().live_table_built_at, timeout=60
                    )
                    hooks = {"targetUrl": url, "clientSecret": SECRET}
                    requests.post(
                        f"{emulator.base_url}/_sandbox/webhooks", json=hooks, timeout=5
                    ).raise_for_status()
                try:
                    yield Stack(emulator, runtime, url)
                finally:
                    runtime.runner.stop()
            connector.close()


def signed(body: bytes, url: str, *, at: float | None = None) -> dict[str, str]:
    """Headers of a delivery signed as the emulator (and HubSpot) signs one."""
    stamp = str(int((at if at is not None else time.time()) * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body.decode(), stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def events(*object_ids: int, kind: str = "contact.propertyChange") -> bytes:
    now = int(time.time() * 1000)
    return json.dumps(
        [
            {
                "eventId": 500 + i,
                "subscriptionId": 1,
                "portalId": 4242424,
                "appId": DEFAULT_APP_ID,
                "occurredAt": now,
                "subscriptionType": kind,
                "attemptNumber": 0,
                "objectId": oid,
                "changeSource": "CRM_UI",
                "sourceId": "userId:7000001",
                "propertyName": "lifecyclestage",
                "propertyValue": "customer",
            }
            for i, oid in enumerate(object_ids)
        ]
    ).encode()


def snapshot(store: Store) -> dict[str, Any]:
    return {
        "inbox": store.inbox.counts(),
        "records": {e: store.count(e, include_deleted=True) for e in ENTITIES},
        "runs": len(store.last_runs(100)),
    }


def contact_id(world: synth.World) -> int:
    return int(next(iter(world.contacts())).id)


@pytest.mark.parametrize(
    "case",
    [
        "bad signature",
        "no signature",
        "stale timestamp",
        "future timestamp",
        "malformed body",
        "oversized body",
        "oversized stream",
    ],
)
def test_refused_requests_change_nothing(world: synth.World, tmp_path: Path, case: str) -> None:
    with stack(world, tmp_path, run=False, max_body_bytes=4096) as s:
        before = snapshot(s.store)
        body = events(contact_id(world))
        headers = signed(body, s.url)
        expected = 401
        data: Any = body
        if case == "bad signature":
            headers["X-HubSpot-Signature-v3"] = base64.b64encode(b"x" * 32).decode()
        elif case == "no signature":
            del headers["X-HubSpot-Signature-v3"]
        elif case == "stale timestamp":
            headers = signed(body, s.url, at=time.time() - 301)
        elif case == "future timestamp":
            headers = signed(body, s.url, at=time.time() + 301)
        elif case == "malformed body":
            data = b'[{"eventId": 1, "objectId": "x"'
            headers, expected = signed(data, s.url), 400
        elif case == "oversized body":
            data = b"[" + b" " * 5000 + b"]"
            headers, expected = signed(data, s.url), 413
        else:  # no Content-Length: chunks until the limit is passed
            data = iter([b"[", b" " * 3000, b" " * 3000, b"]"])
            expected = 413
        response = requests.post(s.url, data=data, headers=headers, timeout=10)
        assert response.status_code == expected, response.text
        assert response.json()["status"] == "error"
        assert SECRET not in response.text
        assert snapshot(s.store) == before


def test_the_other_crm_and_unknown_types(world: synth.World, tmp_path: Path) -> None:
    with stack(world, tmp_path, run=False) as s:
        base = s.url.rsplit("/", 1)[0]
        wrong = requests.post(f"{base}/salesforce", data=b"<x/>", timeout=5)
        assert wrong.status_code == 404
        assert "hubspot" in wrong.json()["message"]
        body = events(1, kind="conversation.newMessage")
        response = requests.post(s.url, data=body, headers=signed(body, s.url), timeout=5)
        assert response.status_code == 200
        assert response.json() == {"accepted": 0, "duplicates": 0}
        assert s.store.inbox.counts()["pending"] == 0
        metrics = requests.get(f"{base.rsplit('/', 1)[0]}/metrics", timeout=5).text
        assert 'crmpulse_webhook_events_total{crm="hubspot",outcome="unknown"} 1.0' in metrics
        assert 'crmpulse_webhook_requests_total{crm="hubspot",status="200"} 1.0' in metrics


@pytest.mark.parametrize("worker", ["process", "thread"])
def test_a_detractor_moves_the_company_and_a_replay_is_processed_once(
    world: synth.World, tmp_path: Path, worker: str
) -> None:
    with stack(world, tmp_path, run=True, worker=worker) as s:
        store = s.store
        props = ("crmpulse_nps", "crmpulse_health_score")
        scored = {
            a.id: p
            for a in world.accounts()
            if (p := s.company(a.id, *props))["crmpulse_health_score"]
        }
        contact = next(c for c in world.contacts() if c.account_id in scored)
        company = str(contact.account_id)
        before = scored[company]
        answered = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        requests.post(
            f"{s.emulator.base_url}/_sandbox/objects/feedback_submissions",
            json={
                "properties": {
                    "hs_survey_type": "NPS",
                    "hs_value": "0",
                    "hs_submission_timestamp": answered,
                    "hs_content": "Support never answers; we are cancelling.",
                },
                "associations": {"contacts": [contact.id]},
            },
            timeout=5,
        ).raise_for_status()
        after = s.wait_until(
            lambda: (
                (p := s.company(company, *props))["crmpulse_nps"] != before["crmpulse_nps"] and p
            )
        )
        assert float(after["crmpulse_nps"]) < float(before["crmpulse_nps"] or 101)
        assert after["crmpulse_health_score"] != before["crmpulse_health_score"]
        s.wait_until(lambda: store.inbox.counts()["ignored"] > 0)  # our write-back's echoes
        s.wait_until(lambda: store.inbox.counts()["pending"] == 0)
        done = store.inbox.counts()
        assert done["done"] > 0
        assert done["failed"] == 0

        # the CRM delivers a batch again: stored once, processed once
        replay = events(int(contact.id))
        for _ in range(3):
            answer = requests.post(s.url, data=replay, headers=signed(replay, s.url), timeout=5)
            assert answer.status_code == 200
        assert answer.json() == {"accepted": 0, "duplicates": 1}
        s.wait_until(lambda: store.inbox.counts()["pending"] == 0)
        assert store.inbox.counts()["done"] == done["done"] + 1
        attempts = store.inbox.attempts()
        assert set(attempts) == {0, 1}  # ignored echoes were never processed; the rest once
        assert attempts[1] == done["done"] + 1

        ready = requests.get(s.url.replace("/webhooks/hubspot", "/readyz"), timeout=5).json()
        assert ready["ready"] is True
        assert ready["inbox"]["pending"] == 0
        s.wait_until(lambda: s.runtime.runner.status().last_batch)  # reported every 0.25 s
        metrics = requests.get(s.url.replace("/webhooks/hubspot", "/metrics"), timeout=5).text
        assert 'crmpulse_worker_batches_total{outcome="ok"}' in metrics  # the worker's side
        assert 'crmpulse_webhook_requests_total{crm="hubspot",status="200"}' in metrics


def test_a_worker_process_that_dies_is_replaced_and_its_events_still_apply(
    world: synth.World, tmp_path: Path
) -> None:
    with stack(world, tmp_path, run=True, worker="process") as s:
        runner = s.runtime.runner
        assert isinstance(runner, ProcessRunner)
        first = runner.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        s.wait_until(lambda: runner.restarts == 1 and not runner.status().worker_alive)
        health = requests.get(s.url.replace("/webhooks/hubspot", "/healthz"), timeout=5)
        if runner.pid == first:  # still in the pause before the restart
            assert health.status_code == 503
        body = events(contact_id(world))
        assert requests.post(s.url, data=body, headers=signed(body, s.url), timeout=5).ok
        s.wait_until(lambda: s.store.inbox.counts()["done"] == 1, timeout=60)
        assert runner.pid not in (None, first)
        assert runner.status().worker_alive
        assert s.store.inbox.attempts() == {1: 1}


def test_an_outage_keeps_events_pending_until_they_apply(
    world: synth.World, tmp_path: Path
) -> None:
    with stack(world, tmp_path, run=True, retries=1, max_attempts=10) as s:
        store = s.store
        requests.post(
            f"{s.emulator.base_url}/_sandbox/faults",
            json={"path_prefix": "/crm/v3/objects/contacts/batch/read", "status": 503, "count": 3},
            timeout=5,
        ).raise_for_status()
        body = events(contact_id(world))
        assert requests.post(s.url, data=body, headers=signed(body, s.url), timeout=5).ok
        # the client retries each read a few times, then the batch goes back to the inbox
        s.wait_until(
            lambda: store.inbox.pending(10) and store.inbox.pending(10)[0].attempts >= 1,
            timeout=60,
        )
        s.wait_until(lambda: store.inbox.counts()["done"] == 1, timeout=60)
        assert store.inbox.counts()["failed"] == 0
        assert store.inbox.attempts() == {2: 1}  # one failed attempt, then applied once


def test_events_pending_at_a_stop_are_applied_at_the_next_start(
    world: synth.World, tmp_path: Path
) -> None:
    with stack(world, tmp_path, run=False) as s:
        body = events(contact_id(world), contact_id(world) + 1)
        assert requests.post(s.url, data=body, headers=signed(body, s.url), timeout=5).ok
        assert s.store.inbox.counts()["pending"] == 2
    # a new process over the same store: the first sync, then the backlog
    with stack(world, tmp_path, run=True) as again:
        again.wait_until(lambda: again.store.inbox.counts()["done"] == 2)
        assert again.store.inbox.attempts() == {1: 2}
