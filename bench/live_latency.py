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
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from crmpulse import synth
from harness import AS_OF, serving, start_sandbox

ROOT = Path(__file__).resolve().parent
TOKEN = "bench-live-token"
SECRET = "bench-live-client-secret"
SEED = 7


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
    samples: list[dict[str, Any]] = []
    try:
        with serving(crm, TOKEN, SECRET, workdir, CRMPULSE_SYNC__OVERLAP_SECONDS="1") as serve:
            _server, base, first_sync = serve
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
