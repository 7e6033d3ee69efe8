"""Benchmark: full pulls under the CRMs' real limits, paced by the API budget.

Each emulator runs in its own process with the limits it enforces; each pull runs as the product
does (`plugin.connect(settings)` + `service.pull_all`) in a child process that notes when every
call was let through. Reported per run: the refusals the emulator counted (429 for HubSpot,
403 REQUEST_LIMIT_EXCEEDED for Salesforce; target 0) and how much of what the limit allows the
run used (target at least 90 %):

- under HubSpot's 10-second window, throughput = the shortest time the window allows for the
  run's N calls, W * (ceil(N / B) - 1) for B calls per W seconds, over the time from the first
  call to the last;
- under a daily allocation running out mid-pull, the calls made over the allocation less the
  reserve (the budget should stop exactly at that line, and the CRM should refuse nothing).

Results go to bench/results/rate_limits_<scale>.json.

    .venv/bin/python bench/rate_limits.py --scale medium
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import requests

from harness import AS_OF, free_port

ROOT = Path(__file__).resolve().parents[1]
HUBSPOT_TOKEN = "bench-token"
SALESFORCE_TOKEN = "00D000000000001!bench-session"
WINDOW_SECONDS = 10.0

_HUBSPOT_SERVER = """
import sys
from datetime import datetime, UTC
from crmpulse_hubspot.sandbox.limits import RateLimits
from crmpulse_hubspot.sandbox.server import build_portal, serve_forever
port, scale, seed, burst, daily, token = sys.argv[1:7]
as_of = datetime.fromisoformat(sys.argv[7]).replace(tzinfo=UTC)
portal = build_portal(int(seed), scale, as_of)
serve_forever(portal, "127.0.0.1", int(port), token,
              limits=RateLimits(burst=int(burst), daily=int(daily)))
"""

_SALESFORCE_SERVER = """
import sys
from datetime import datetime, UTC
import uvicorn
from crmpulse_salesforce.sandbox.app import SandboxState, create_app
from crmpulse_salesforce.sandbox.launch import build_org
port, scale, seed, api_limit, token = sys.argv[1:6]
as_of = datetime.fromisoformat(sys.argv[6]).replace(tzinfo=UTC)
org = build_org(int(seed), scale, as_of)
state = SandboxState(org, session_token=token, api_limit=int(api_limit))
uvicorn.run(create_app(state), host="127.0.0.1", port=int(port), log_level="warning",
            access_log=False, lifespan="off")
"""

# A full pull as `crmpulse sync` runs it, noting when the budget let each call through.
_PULL = """
import json, time
from crmpulse import plugins, service
from crmpulse.errors import CrmPulseError
from crmpulse.settings import load_settings
from crmpulse.store import Store
settings = load_settings()
plugin = plugins.load(settings.crm)
connector = plugin.connect(settings)
budget = connector.client.budget
starts = []
admit = budget.acquire
def noted(kind="read"):
    slot = admit(kind)
    starts.append(time.monotonic())
    return slot
budget.acquire = noted
report = service.SyncReport(run_id="bench", source=connector.source, period="", dry_run=True)
status, error = "ok", None
started = time.monotonic()
with Store.open(settings.store.url) as store:
    try:
        service.pull_all(connector, store, report)
    except CrmPulseError as exc:
        status, error = type(exc).__name__, str(exc)
seconds = time.monotonic() - started
state = budget.state()
print(json.dumps({
    "status": status, "error": error, "seconds": seconds,
    "records": sum(report.pulled.values()), "calls": len(starts),
    "span": (starts[-1] - starts[0]) if len(starts) > 1 else 0.0,
    "window_limit": state.window_limit, "daily_limit": state.daily_limit,
    "daily_used": state.daily_used, "reserve": state.reserve,
    "waited_seconds": state.waited_seconds,
}))
"""


@contextmanager
def emulator(code: str, *args: str, probe: str) -> Iterator[str]:
    """An emulator in its own process; yields its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                requests.get(f"{base}{probe}", timeout=2)
                break
            except requests.ConnectionError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("emulator did not start") from None
                time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def statuses(base: str) -> Counter[int]:
    """Calls the emulator answered, by status."""
    doc = requests.get(f"{base}/_sandbox/stats", timeout=10).json()
    counts: Counter[int] = Counter()
    for row in doc["calls"]:
        counts[int(row["status"])] += int(row["count"])
    return counts


def pull(env: dict[str, str]) -> dict[str, Any]:
    """One measured full pull in a child process."""
    with tempfile.TemporaryDirectory() as tmp:
        child = {
            **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
            **env,
            "CRMPULSE_STORE__URL": f"sqlite:///{tmp}/bench.db",
        }
        done = subprocess.run(
            [sys.executable, "-c", _PULL],
            env=child,
            capture_output=True,
            text=True,
            timeout=3600,
            check=False,
            cwd=tmp,
        )
    if done.returncode != 0:
        raise SystemExit(f"pull failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def window_run(label: str, run: dict[str, Any], refused: int) -> dict[str, Any]:
    limit = int(run["window_limit"])
    fastest = WINDOW_SECONDS * (math.ceil(run["calls"] / limit) - 1)
    return {
        "run": label,
        "status": run["status"],
        "records": run["records"],
        "calls": run["calls"],
        "refused_by_crm": refused,
        "seconds": round(run["seconds"], 2),
        "calls_span_seconds": round(run["span"], 2),
        "window": f"{limit} / {WINDOW_SECONDS:g} s",
        "fastest_span_allowed_seconds": fastest,
        "throughput_of_limit": round(fastest / run["span"], 3) if run["span"] else None,
        "budget_waited_seconds": round(run["waited_seconds"], 2),
    }


def daily_run(label: str, run: dict[str, Any], refused: int, allowed: int) -> dict[str, Any]:
    return {
        "run": label,
        "status": run["status"],
        "message": run["error"],
        "records": run["records"],
        "calls": run["calls"],
        "refused_by_crm": refused,
        "seconds": round(run["seconds"], 2),
        "allowed_calls": allowed,
        "used_of_allowed": round(run["calls"] / allowed, 3) if allowed else None,
    }


def hubspot(scale: str, seed: int) -> list[dict[str, Any]]:
    """Starter tier (100 per 10 s) full pull; then a daily allocation that runs out mid-pull."""
    results = []
    env = {"CRMPULSE_HUBSPOT__ACCESS_TOKEN": HUBSPOT_TOKEN, "CRMPULSE_HUBSPOT__PORTAL_ID": "b"}
    args = (scale, str(seed), "100", "250000", HUBSPOT_TOKEN, AS_OF)
    with emulator(_HUBSPOT_SERVER, *args, probe="/_sandbox/stats") as base:
        run = pull(
            {**env, "CRMPULSE_HUBSPOT__BASE_URL": base, "CRMPULSE_BUDGET__HUBSPOT_TIER": "starter"}
        )
        results.append(
            window_run("hubspot full pull, Starter (100 / 10 s)", run, statuses(base)[429])
        )
    daily, reserve = 300, 50
    args = (scale, str(seed), "190", str(daily), HUBSPOT_TOKEN, AS_OF)
    with emulator(_HUBSPOT_SERVER, *args, probe="/_sandbox/stats") as base:
        run = pull(
            {
                **env,
                "CRMPULSE_HUBSPOT__BASE_URL": base,
                "CRMPULSE_BUDGET__HUBSPOT_RESERVE": str(reserve),
            }
        )
        label = f"hubspot full pull, {daily} calls a day, reserve {reserve}"
        results.append(daily_run(label, run, statuses(base)[429], daily - reserve))
    return results


def salesforce(scale: str, seed: int) -> list[dict[str, Any]]:
    """A full pull (no rate window: calls per second only); then an allocation running out."""
    results = []
    env = {"CRMPULSE_CRM": "salesforce", "CRMPULSE_SALESFORCE__ACCESS_TOKEN": SALESFORCE_TOKEN}
    args = (scale, str(seed), "15000", SALESFORCE_TOKEN, AS_OF)
    with emulator(_SALESFORCE_SERVER, *args, probe="/_sandbox/stats") as base:
        run = pull({**env, "CRMPULSE_SALESFORCE__INSTANCE_URL": base})
        results.append(
            {
                "run": "salesforce full pull (REST), 15,000 calls a day",
                "status": run["status"],
                "records": run["records"],
                "calls": run["calls"],
                "refused_by_crm": statuses(base)[403],
                "seconds": round(run["seconds"], 2),
                "calls_per_second": round(run["calls"] / run["seconds"], 1),
                "note": "Salesforce meters calls per 24 hours only: no window to fill",
            }
        )
    remaining, reserve = 100, 50
    with emulator(_SALESFORCE_SERVER, *args, probe="/_sandbox/stats") as base:
        requests.post(
            f"{base}/_sandbox/faults",
            json={"kind": "api_usage", "value": 15000 - remaining},
            timeout=10,
        ).raise_for_status()
        run = pull(
            {
                **env,
                "CRMPULSE_SALESFORCE__INSTANCE_URL": base,
                "CRMPULSE_BUDGET__SALESFORCE_RESERVE": str(reserve),
            }
        )
        label = f"salesforce full pull, {remaining} calls left today, reserve {reserve}"
        results.append(daily_run(label, run, statuses(base)[403], remaining - reserve))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--crm", choices=("hubspot", "salesforce", "both"), default="both")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    if args.crm in ("hubspot", "both"):
        results.extend(hubspot(args.scale, args.seed))
    if args.crm in ("salesforce", "both"):
        results.extend(salesforce(args.scale, args.seed))
    out = ROOT / "bench" / "results" / f"rate_limits_{args.scale}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "runs": results}, indent=2))
    for r in results:
        share = r.get("throughput_of_limit", r.get("used_of_allowed"))
        print(
            f"{r['run']:<58} {r['calls']:>5} calls {r['seconds']:>7.1f} s  "
            f"refused {r['refused_by_crm']}  "
            f"{'of limit ' + format(share, '.1%') if share is not None else ''}"
        )
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
