"""Benchmark: full and incremental HubSpot sync of a synthetic world, as a user runs it.

The emulator runs in its own process (`crmpulse sandbox hubspot`) with HubSpot's real rate limits;
each sync runs as `crmpulse sync --json` in a child process, so its peak memory is its own.
Reports records/s, API calls per 100 records, write calls and peak RSS, and writes the figures to
bench/results/sync_hubspot_<scale>.json.

    .venv/bin/python bench/sync_hubspot.py --scale medium
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import requests

from harness import run_sync, start_sandbox

TOKEN = "bench-token"
ROOT = Path(__file__).resolve().parents[1]


def touch_tickets(base: str, count: int) -> None:
    """Change `count` tickets through the API, as agents would."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    page = requests.get(
        f"{base}/crm/v3/objects/tickets", params={"limit": 100}, headers=headers, timeout=30
    ).json()
    ids = [o["id"] for o in page["results"]][:count]
    body = {"inputs": [{"id": i, "properties": {"hs_ticket_priority": "URGENT"}} for i in ids]}
    r = requests.post(
        f"{base}/crm/v3/objects/tickets/batch/update", json=body, headers=headers, timeout=30
    )
    r.raise_for_status()


def summarise(label: str, report: dict[str, Any], wall: float, peak: float) -> dict[str, Any]:
    pulled = sum(report["records_pulled"].values())
    reads = report["api_calls"]["read"]
    return {
        "run": label,
        "records_pulled": pulled,
        "seconds": round(wall, 2),
        "records_per_second": round(pulled / wall, 1) if wall else None,
        "read_calls": reads,
        "read_calls_per_100_records": round(100 * reads / pulled, 2) if pulled else None,
        "write_calls": report["api_calls"]["write"],
        "values_written": report["values_written"],
        "peak_rss_mib": round(peak, 1),
        "by_operation": report["api_calls"]["by_operation"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--changes", type=int, default=50, help="tickets changed before run 2")
    args = parser.parse_args()

    proc, base = start_sandbox("hubspot", args.scale, args.seed, TOKEN, probe="/_sandbox/stats")
    results: list[dict[str, Any]] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
                "CRMPULSE_HUBSPOT__BASE_URL": base,
                "CRMPULSE_HUBSPOT__ACCESS_TOKEN": TOKEN,
                "CRMPULSE_STORE__URL": f"sqlite:///{tmp}/bench.db",
                "CRMPULSE_KPI__PERIOD": "2026-10",
                "CRMPULSE_SYNC__OVERLAP_SECONDS": "1",
            }
            report, wall, peak = run_sync(env, Path(tmp))
            results.append(summarise("full load + KPIs + write-back", report, wall, peak))
            report, wall, peak = run_sync(env, Path(tmp))
            results.append(summarise("incremental, nothing changed", report, wall, peak))
            touch_tickets(base, args.changes)
            report, wall, peak = run_sync(env, Path(tmp))
            results.append(
                summarise(f"incremental, {args.changes} tickets changed", report, wall, peak)
            )
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    out = ROOT / "bench" / "results" / f"sync_hubspot_{args.scale}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "runs": results}, indent=2))
    for r in results:
        print(
            f"{r['run']:<40} {r['records_pulled']:>8} rec {r['seconds']:>8.1f} s "
            f"{r['records_per_second'] or 0:>9.1f} rec/s  {r['read_calls']:>5} reads "
            f"({r['read_calls_per_100_records']} /100 rec)  {r['write_calls']:>4} writes  "
            f"{r['peak_rss_mib']:>7.1f} MiB"
        )
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
