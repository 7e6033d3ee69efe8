"""`crmpulse serve` end to end, as a user runs it: the CRM emulator in one process, `crmpulse
serve` in another, configured through environment variables only. A detractor answers a survey
in the CRM; within 5 s the company's NPS and health score on the CRM record have moved. Then the
server stops on SIGTERM with nothing left in its inbox. A stop in the middle of a flood of
deliveries loses none that were acknowledged."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests

from crmpulse import synth
from crmpulse.model import Contact
from crmpulse.store import Store
from crmpulse_hubspot.sandbox.delivery import sign_v3
from e2ehelp import sandbox_process, serve_process

pytestmark = pytest.mark.slow

DEADLINE = 5.0
"""Seconds from the answer landing in the CRM to the new values on the company record."""
SEED = 11  # the seed e2ehelp.sandbox_process generates its world with


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def serve_env(tmp_path: Path, **crm: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_STORE__URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "CRMPULSE_SYNC__OVERLAP_SECONDS": "0.5",
        "CRMPULSE_LOG__LEVEL": "INFO",
        **crm,
    }


def hubspot_env(tmp_path: Path, crm: str, token: str, secret: str) -> dict[str, str]:
    return serve_env(
        tmp_path,
        CRMPULSE_HUBSPOT__BASE_URL=crm,
        CRMPULSE_HUBSPOT__ACCESS_TOKEN=token,
        CRMPULSE_HUBSPOT__CLIENT_SECRET=secret,
    )


def world() -> synth.World:
    """The world the sandbox serves (e2ehelp.sandbox_process's seed and scale, as of today)."""
    return synth.generate(
        seed=SEED, scale="tiny", as_of=datetime.fromisoformat(today()).replace(tzinfo=UTC)
    )


def detractable(w: synth.World) -> Contact:
    """A contact of a company for which one more detractor lowers the NPS points of the health
    score: the default model scores NPS linearly from 0 (floor) to 50 (target) over the 90-day
    health window, so its window NPS must be above 0 and fall below 50 with the new answer."""
    contacts = {c.id: c for c in w.contacts() if c.deleted_at is None}
    since = datetime.now(UTC) - timedelta(days=90)
    scores: dict[str, list[float]] = {}
    for s in w.surveys():
        contact = contacts.get(s.contact_id or "")
        account = s.account_id or (contact.account_id if contact else None)
        if s.survey_kind == "NPS" and s.deleted_at is None and s.answered_at >= since and account:
            scores.setdefault(account, []).append(s.score)
    for contact in contacts.values():
        answers = scores.get(contact.account_id or "", [])
        if answers:
            net = sum(a >= 9 for a in answers) - sum(a <= 6 for a in answers)
            old, new = 100 * net / len(answers), 100 * (net - 1) / (len(answers) + 1)
            if old > 0 and new < 50:
                return contact
    pytest.fail("the world has no company whose health a detractor must lower")


def moved(read: Any, before: dict[str, Any]) -> tuple[float, dict[str, Any]]:
    """Poll ``read()`` until every value differs from ``before``; (seconds taken, values)."""
    started = time.monotonic()
    while True:
        now = read()
        if all(now[k] != before[k] for k in before):
            return time.monotonic() - started, now
        if time.monotonic() - started > 3 * DEADLINE:
            pytest.fail(f"values did not move: before {before}, now {now}")
        time.sleep(0.2)  # the poll shares the CRM's rate limit with crmpulse


def stop_gracefully(proc: Any, base: str, log: Path) -> None:
    ready = requests.get(f"{base}/readyz", timeout=5).json()
    assert ready["inbox"]["pending"] == 0
    assert ready["inbox"]["failed"] == 0
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=30) == 0, log.read_text()
    text = log.read_text()
    assert "server.stopped" in text
    assert "Traceback" not in text


def test_hubspot_detractor_moves_the_company_within_seconds(tmp_path: Path) -> None:
    token, secret = "e2e-serve-token", "e2e-client-secret"
    with sandbox_process("hubspot", token, as_of=today()) as crm:
        env = hubspot_env(tmp_path, crm, token, secret)
        log = tmp_path / "serve.log"
        with serve_process(env, log) as (base, proc):
            hooks = {"targetUrl": f"{base}/webhooks/hubspot", "clientSecret": secret}
            requests.post(f"{crm}/_sandbox/webhooks", json=hooks, timeout=5).raise_for_status()
            headers = {"Authorization": f"Bearer {token}"}
            props = ("crmpulse_nps", "crmpulse_health_score")

            def company(company_id: str) -> dict[str, Any]:
                response = requests.get(
                    f"{crm}/crm/v3/objects/companies/{company_id}",
                    params={"properties": ",".join(props)},
                    headers=headers,
                    timeout=5,
                )
                if response.status_code == 429:  # our poll met the 10-second window: wait
                    time.sleep(1.0)
                    return company(company_id)
                return {k: response.json()["properties"].get(k) for k in props}

            contact = detractable(world())
            company_id = str(contact.account_id)
            before = company(company_id)

            answered = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            requests.post(
                f"{crm}/_sandbox/objects/feedback_submissions",
                json={
                    "properties": {
                        "hs_survey_type": "NPS",
                        "hs_value": "0",
                        "hs_submission_timestamp": answered,
                        "hs_content": "Nobody answers our tickets. We are leaving.",
                    },
                    "associations": {"contacts": [contact.id]},
                },
                timeout=5,
            ).raise_for_status()
            seconds, after = moved(lambda: company(company_id), before)
            assert seconds <= DEADLINE, (seconds, before, after)
            assert float(after["crmpulse_nps"]) < float(before["crmpulse_nps"] or 101)
            assert float(after["crmpulse_health_score"]) < float(before["crmpulse_health_score"])
            time.sleep(0.5)  # let the echoes of our own write-back arrive
            stop_gracefully(proc, base, log)


def test_salesforce_detractor_moves_the_account_within_seconds(tmp_path: Path) -> None:
    token = "00D000000000001!e2e-serve-session"
    with sandbox_process("salesforce", token, probe="/_sandbox/health", as_of=today()) as crm:
        env = serve_env(
            tmp_path,
            CRMPULSE_CRM="salesforce",
            CRMPULSE_SALESFORCE__INSTANCE_URL=crm,
            CRMPULSE_SALESFORCE__ACCESS_TOKEN=token,
        )
        log = tmp_path / "serve.log"
        with serve_process(env, log) as (base, proc):
            outbound = {"url": f"{base}/webhooks/salesforce"}
            requests.post(f"{crm}/_sandbox/outbound", json=outbound, timeout=5).raise_for_status()
            headers = {"Authorization": f"Bearer {token}"}

            def account(account_id: str) -> dict[str, Any]:
                soql = (
                    "SELECT crmpulse_nps__c, crmpulse_health_score__c FROM Account "
                    f"WHERE Id = '{account_id}'"
                )
                response = requests.get(
                    f"{crm}/services/data/v59.0/query",
                    params={"q": soql},
                    headers=headers,
                    timeout=5,
                )
                row = response.json()["records"][0]
                return {"nps": row["crmpulse_nps__c"], "health": row["crmpulse_health_score__c"]}

            from crmpulse_salesforce.sandbox.seed import salesforce_id

            contact = detractable(world())
            account_id = str(salesforce_id("Account", contact.account_id))
            before = account(account_id)
            now = datetime.now(UTC).isoformat()
            answer = {
                "source": "synth",
                "id": "9900000000001",
                "created_at": now,
                "updated_at": now,
                "survey_kind": "NPS",
                "score": 0,
                "scale_min": 0,
                "scale_max": 10,
                "answered_at": now,
                "contact_id": contact.id,
                "comment": "Nobody answers our cases. We are leaving.",
            }
            body = json.dumps({"entity": "surveys", "records": [answer]})
            requests.post(
                f"{crm}/_sandbox/scenario/records",
                data=body,
                headers={"Content-Type": "application/json"},
                timeout=5,
            ).raise_for_status()
            seconds, after = moved(lambda: account(account_id), before)
            assert seconds <= DEADLINE, (seconds, before, after)
            assert after["nps"] < (before["nps"] if before["nps"] is not None else 101)
            assert after["health"] < before["health"]
            time.sleep(0.5)
            stop_gracefully(proc, base, log)


def test_a_stop_under_load_loses_no_acknowledged_event(tmp_path: Path) -> None:
    """SIGTERM while deliveries keep arriving: the server exits 0, every delivery it answered
    200 is in the inbox, and the next start applies what was left, each event once."""
    token, secret = "e2e-stop-token", "e2e-stop-secret"
    people = [int(c.id) for c in world().contacts()][:40]
    with sandbox_process("hubspot", token, as_of=today()) as crm:
        env = hubspot_env(tmp_path, crm, token, secret)
        acknowledged: list[int] = []
        log = tmp_path / "serve.log"
        with serve_process(env, log) as (base, proc):
            url = f"{base}/webhooks/hubspot"
            stop = threading.Event()

            def send() -> None:
                n = 0
                with requests.Session() as session:
                    while not stop.is_set():
                        now = int(time.time() * 1000)
                        body = json.dumps(
                            [
                                {
                                    "eventId": 10_000 + n + i,
                                    "subscriptionId": 1,
                                    "portalId": 1,
                                    "appId": 1,
                                    "occurredAt": now,
                                    "subscriptionType": "contact.propertyChange",
                                    "attemptNumber": 0,
                                    "objectId": people[(n + i) % len(people)],
                                    "propertyName": "lifecyclestage",
                                    "propertyValue": "customer",
                                }
                                for i in range(5)
                            ]
                        )
                        stamp = str(now)
                        headers = {
                            "Content-Type": "application/json",
                            "X-HubSpot-Signature-v3": sign_v3(secret, "POST", url, body, stamp),
                            "X-HubSpot-Request-Timestamp": stamp,
                        }
                        try:
                            answer = session.post(url, data=body, headers=headers, timeout=10)
                        except requests.ConnectionError:
                            return  # the server has stopped listening
                        if answer.status_code == 200:
                            acknowledged.append(answer.json()["accepted"])
                        n += 5

            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(2.0)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0, log.read_text()
            stop.set()
            sender.join(15)
        assert sum(acknowledged) > 50, "the load did not get going"
        inbox = inbox_rows(tmp_path)
        assert inbox["rows"] >= sum(acknowledged)
        assert set(inbox["by_status"]) <= {"done", "pending"}

        # the next start applies what the stop left pending, and nothing twice
        with serve_process(env, tmp_path / "again.log") as (base, proc):
            deadline = time.monotonic() + 60
            while requests.get(f"{base}/readyz", timeout=5).json()["inbox"]["pending"]:
                assert time.monotonic() < deadline, "the backlog was not applied"
                time.sleep(0.2)
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=60) == 0
        again = inbox_rows(tmp_path)
        assert again["rows"] == inbox["rows"]
        assert again["by_status"] == {"done": inbox["rows"]}
        assert again["attempts"] == {1: inbox["rows"]}


def inbox_rows(tmp_path: Path) -> dict[str, Any]:
    """The server's inbox: rows, rows per status, settled rows per attempt count."""
    with Store.open(f"sqlite:///{tmp_path / 'serve.db'}") as store:
        counts = {k: v for k, v in store.inbox.counts().items() if v}
        return {
            "rows": sum(counts.values()),
            "by_status": counts,
            "attempts": store.inbox.attempts(),
        }
