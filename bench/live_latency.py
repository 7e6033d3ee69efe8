"""Live latency benchmark: a survey answer in the CRM → the company's values on the CRM record.

The HubSpot emulator and `crmpulse serve` run as their own processes, as a user runs them; the
emulator delivers its webhooks to the server, signed, as HubSpot does. ``--answers`` detractors
answer one after another (each for a different company, ``--gap`` seconds apart); for each the
benchmark polls the company through the API until ``crmpulse_nps`` has moved, and notes the
time from the answer's creation to that moment (the poll runs every ``--poll`` seconds, so the
figures are rounded up to it). It also counts the API calls the server spent per answer.

Run: ``python bench/live_latency.py [--answers 20]``; results go to
``bench/results/live_latency.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from crmpulse import synth
from harness import AS_OF, free_port, start_sandbox

ROOT = Path(__file__).resolve().parent
TOKEN = "bench-live-token"
SECRET = "bench-live-client-secret"
SEED = 7


def wait_ready(base: str, server: subprocess.Popen[bytes], log: Path) -> float:
    started = time.perf_counter()
    while True:
        try:
            if requests.get(f"{base}/readyz", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except requests.ConnectionError:
            pass
        if server.poll() is not None or time.perf_counter() - started > 600:
            raise SystemExit(f"serve did not get ready: {log.read_text()[-2000:]}")
        time.sleep(0.2)


def company_nps(crm: str, company: str) -> str | None:
    while True:
        response = requests.get(
            f"{crm}/crm/v3/objects/companies/{company}",
            params={"properties": "crmpulse_nps"},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        if response.status_code != 429:
            value: str | None = response.json()["properties"].get("crmpulse_nps")
            return value
        time.sleep(0.5)


def run(args: argparse.Namespace) -> dict[str, Any]:
    emulator, crm = start_sandbox("hubspot", args.scale, SEED, TOKEN)
    workdir = Path(tempfile.mkdtemp(prefix="crmpulse-live-"))
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
        "CRMPULSE_HUBSPOT__BASE_URL": crm,
        "CRMPULSE_HUBSPOT__ACCESS_TOKEN": TOKEN,
        "CRMPULSE_HUBSPOT__CLIENT_SECRET": SECRET,
        "CRMPULSE_STORE__URL": f"sqlite:///{workdir / 'serve.db'}",
        "CRMPULSE_SYNC__OVERLAP_SECONDS": "1",
        "CRMPULSE_LOG__LEVEL": "WARNING",
    }
    log = workdir / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [sys.executable, "-m", "crmpulse", "serve", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    samples: list[dict[str, Any]] = []
    try:
        first_sync = wait_ready(base, server, log)
        hooks = {"targetUrl": f"{base}/webhooks/hubspot", "clientSecret": SECRET}
        requests.post(f"{crm}/_sandbox/webhooks", json=hooks, timeout=5).raise_for_status()
        world = synth.generate(
            seed=SEED, scale=args.scale, as_of=datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)
        )
        by_company: dict[str, str] = {}
        for contact in world.contacts():
            if contact.account_id and contact.deleted_at is None:
                by_company.setdefault(contact.account_id, contact.id)
        for company, contact in list(by_company.items())[: args.answers]:
            before = company_nps(crm, company)
            calls_before = requests.get(f"{crm}/_sandbox/stats", timeout=5).json()["total"]
            answered = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            started = time.perf_counter()
            requests.post(
                f"{crm}/_sandbox/objects/feedback_submissions",
                json={
                    "properties": {
                        "hs_survey_type": "NPS",
                        "hs_value": "1",
                        "hs_submission_timestamp": answered,
                    },
                    "associations": {"contacts": [contact]},
                },
                timeout=5,
            ).raise_for_status()
            polls = 0
            while company_nps(crm, company) == before:
                polls += 1
                if time.perf_counter() - started > 60:
                    raise SystemExit(f"company {company} did not move in 60 s")
                time.sleep(args.poll)
            seconds = time.perf_counter() - started
            time.sleep(args.gap)
            stats = requests.get(f"{crm}/_sandbox/stats", timeout=5).json()["total"]
            samples.append(
                {
                    "company": company,
                    "seconds": round(seconds, 3),
                    "crm_calls": stats - calls_before - (polls + 1),  # less our own polls
                }
            )
            print(f"{company}: {seconds:.2f} s", file=sys.stderr)
        ready = requests.get(f"{base}/readyz", timeout=5).json()
    finally:
        server.terminate()
        server.wait(timeout=60)
        emulator.terminate()
        emulator.wait(timeout=30)
    times = sorted(s["seconds"] for s in samples)
    return {
        "scale": args.scale,
        "answers": len(samples),
        "poll_seconds": args.poll,
        "first_sync_seconds": round(first_sync, 1),
        "seconds": {
            "p50": times[len(times) // 2],
            "p95": times[min(len(times) - 1, int(0.95 * len(times)))],
            "max": times[-1],
        },
        "crm_calls_per_answer": sorted(s["crm_calls"] for s in samples)[len(samples) // 2],
        "inbox": ready["inbox"],
        "samples": samples,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between answers")
    parser.add_argument("--poll", type=float, default=0.1, help="seconds between polls")
    args = parser.parse_args()
    result = run(args)
    out = ROOT / "results" / "live_latency.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
