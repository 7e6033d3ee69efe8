"""Benchmark: full, incremental and Bulk API 2.0 Salesforce syncs of a synthetic world.

The emulator runs in its own process (`crmpulse sandbox salesforce`); each sync runs as
`crmpulse sync --json` in a child process, so its peak memory is its own. Runs, on one emulator:

1. full load through REST paging, KPIs, write-back (the first run also creates the custom fields);
2. the same store again, nothing changed (our own Collections writes come back once);
3. a third unchanged run;
4. after N Cases were changed through sObject Collections;
5. a full load through Bulk API 2.0 into a fresh store (``bulk_threshold=1``);
6. store 5 again for another period, written through Bulk API 2.0 ingest
   (``bulk_write_threshold=1``).

For each run: records/s, read calls (and per 100 records), write calls, values written, peak RSS,
the call count the emulator saw (``/_sandbox/stats``) next to the connector's own, and the
theoretical minimum of read and write calls for that run. Figures go to
bench/results/sync_salesforce_<scale>.json. Bulk jobs are polled without a wait by default
(``--bulk-poll-seconds 0``): the emulator finishes a job on its second status read.

    .venv/bin/python bench/sync_salesforce.py --scale medium
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from crmpulse_salesforce import connector
from harness import run_sync, start_sandbox

TOKEN = "00D000000000001!bench-session"
ROOT = Path(__file__).resolve().parents[1]
API = "/services/data/v59.0"
PAGE = 2_000
"""Rows per REST query page."""
IN_CHUNK = connector.IN_CHUNK
"""Ids per ``IN (...)`` sub-query of the connector."""
BULK_PAGE = 50_000
"""Rows per Bulk API 2.0 result page the client asks for."""
COLLECTION = 200
"""Rows per sObject Collections call."""
STREAMS = {
    "accounts": "Account",
    "contacts": "Contact",
    "deals": "Opportunity",
    "tickets": "Case",
    "surveys": "SurveyResponse",
    "tasks": "Task",
    "events": "Event",
}
SIDE = ("OpportunityContactRole", "SurveyQuestionResponse", "SurveySubject")
RUN_TIMEOUT = 900
"""Seconds one sync may take before the bench gives up."""
OVERLAP = 1
"""``sync.overlap_seconds`` of the runs: rows changed this close to a pull are read again."""
PAUSE = OVERLAP + 1.0
"""Seconds between runs, so one run's writes are out of the next run's overlap window."""


class Org:
    """The emulator over plain HTTP, as another API user would use it."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Bearer {TOKEN}"

    def query(self, soql: str) -> dict[str, Any]:
        r = self.http.get(f"{self.base}{API}/query", params={"q": soql}, timeout=60)
        r.raise_for_status()
        body: dict[str, Any] = r.json()
        return body

    def count(self, sobject: str, where: str = "") -> int:
        clause = f" WHERE {where}" if where else ""
        return int(self.query(f"SELECT COUNT() FROM {sobject}{clause}")["totalSize"])

    def touch_cases(self, count: int) -> int:
        """Change ``count`` Cases through sObject Collections, as agents would."""
        ids = [r["Id"] for r in self.query(f"SELECT Id FROM Case LIMIT {count}")["records"]]
        records = [{"attributes": {"type": "Case"}, "Id": i, "Priority": "High"} for i in ids]
        for start in range(0, len(records), COLLECTION):
            r = self.http.patch(
                f"{self.base}{API}/composite/sobjects",
                json={"allOrNone": True, "records": records[start : start + COLLECTION]},
                timeout=60,
            )
            r.raise_for_status()
            if not all(o.get("success") for o in r.json()):
                raise SystemExit(f"changing cases failed: {r.text[:500]}")
        return len(ids)

    def reset_stats(self) -> None:
        self.http.post(f"{self.base}/_sandbox/stats/reset", timeout=10).raise_for_status()

    def stats_total(self) -> int:
        r = self.http.get(f"{self.base}/_sandbox/stats", timeout=10)
        r.raise_for_status()
        return int(r.json()["total"])


def pages(rows: int, size: int = PAGE) -> list[int]:
    """Row counts of the pages of a ``rows``-row query (one empty page for none)."""
    return [min(size, rows - start) for start in range(0, rows, size)] or [0]


def rest_floor(rows: int) -> int:
    return math.ceil(rows / PAGE) or 1


def sub_queries(parent_rows: int, per_chunk: int) -> int:
    """IN-list sub-queries over each page of a parent stream (``per_chunk`` queries per chunk)."""
    return sum(math.ceil(p / IN_CHUNK) for p in pages(parent_rows)) * per_chunk


def full_rest_minimum(sizes: dict[str, int]) -> dict[str, int]:
    """Read calls of a REST full load: stream pages, plus the connector's per-page sub-queries."""
    streams = sum(rest_floor(sizes[o]) for o in STREAMS.values())
    roles = sub_queries(sizes["Opportunity"], 1)
    answers = sub_queries(sizes["SurveyResponse"], 2)
    return {
        "stream_pages": streams,
        "contact_role_queries": roles,
        "survey_queries": answers,
        "email_direction_queries": email_floor(sizes),
    }


def email_floor(sizes: dict[str, int]) -> int:
    """EmailMessage lookups for the direction of e-mail Tasks: at least one per 500 of them."""
    return math.ceil(sizes["EmailTask"] / IN_CHUNK)


def full_bulk_minimum(sizes: dict[str, int]) -> dict[str, int]:
    """Read calls of a Bulk 2.0 full load: create + one poll + result pages per stream."""
    jobs = sum(2 + math.ceil(sizes[o] / BULK_PAGE) for o in STREAMS.values())
    # Bulk results arrive in 50,000-row pages, but the sub-queries still follow each page.
    roles = sum(math.ceil(p / IN_CHUNK) for p in pages(sizes["Opportunity"], BULK_PAGE))
    answers = 2 * sum(math.ceil(p / IN_CHUNK) for p in pages(sizes["SurveyResponse"], BULK_PAGE))
    return {
        "bulk_job_calls": jobs,
        "contact_role_queries": roles,
        "survey_queries": answers,
        "email_direction_queries": email_floor(sizes),
    }


def incremental_floor(pulled: dict[str, int]) -> int:
    """One query per stream, one more page per 2,000 rows, sub-queries for pages that came back."""
    calls = sum(rest_floor(n) for n in pulled.values())
    if pulled.get("deals"):
        calls += sub_queries(pulled["deals"], 1)
    if pulled.get("surveys"):  # answers, not responses: at least one chunk of responses
        calls += sub_queries(pulled["surveys"], 2)
    return calls


PROVISION_READS = 3
"""Describes of Account, Contact and the snapshot object when a store first checks its targets
(plus one permission-set lookup when fields were created)."""
BULK_INGEST_WRITES = 5
"""Per Bulk 2.0 ingest job, as the client counts them: create, upload, close, one poll, job info."""
BULK_INGEST_READS = 2
"""Per Bulk 2.0 ingest job: its successful and its failed rows."""


def rows_written(store: Path, run_id: str) -> dict[str, int]:
    """Rows written per level by one run, from the store's write-back ledger."""
    with sqlite3.connect(store) as db:
        found = db.execute(
            "SELECT level, COUNT(DISTINCT object_id) FROM writeback_ledger WHERE run_id = ? "
            "GROUP BY level",
            (run_id,),
        ).fetchall()
    return {str(level): int(n) for level, n in found}


def write_floor(report: dict[str, Any], rows: dict[str, int], *, bulk_ingest: bool = False) -> int:
    """Collections: ⌈rows / 200⌉ per level (Bulk ingest: the fixed calls per job for accounts and
    contacts); plus, when fields were created, one create per field, object and permission set
    and ⌈grants / 200⌉ permission rows."""
    calls = 0
    for level, n in rows.items():
        if bulk_ingest and level in ("account", "contact"):
            calls += BULK_INGEST_WRITES
        else:
            calls += math.ceil(n / COLLECTION)
    created = report["targets_created"]
    grants = [c for c in created if not c.startswith("PermissionSet")]
    return calls + len(created) + math.ceil(len(grants) / COLLECTION)


def summarise(
    label: str,
    report: dict[str, Any],
    wall: float,
    peak: float,
    emulator_calls: int,
    floor: dict[str, int],
    written: dict[str, int],
    note: str,
) -> dict[str, Any]:
    pulled = sum(report["records_pulled"].values())
    reads = report["api_calls"]["read"]
    writes = report["api_calls"]["write"]
    return {
        "run": label,
        "status": report["status"],
        "records_pulled": pulled,
        "pulled_by_stream": report["records_pulled"],
        "seconds": round(wall, 2),
        "records_per_second": round(pulled / wall, 1) if wall and pulled else None,
        "read_calls": reads,
        "read_calls_per_100_records": round(100 * reads / pulled, 2) if pulled else None,
        "minimum_read_calls": floor["reads"],
        "minimum_read_calls_per_100_records": (
            round(100 * floor["reads"] / pulled, 2) if pulled else None
        ),
        "write_calls": writes,
        "minimum_write_calls": floor["writes"],
        "values_written": report["values_written"],
        "rows_written_by_level": written,
        "targets_created": len(report["targets_created"]),
        "kpis_changed": report["kpis_changed"],
        "connector_calls": reads + writes,
        "emulator_calls": emulator_calls,
        "peak_rss_mib": round(peak, 1),
        "by_operation": report["api_calls"]["by_operation"],
        "minimum_read_calls_note": note,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--scale", default="medium")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--changes", type=int, default=50, help="Cases changed before run 4")
    parser.add_argument(
        "--bulk-poll-seconds",
        type=int,
        default=0,
        help="salesforce.bulk_poll_seconds (the emulator finishes a job on its second status "
        "read, so any wait only adds sleep; a real org wants the default, 2)",
    )
    args = parser.parse_args()

    proc, base = start_sandbox("salesforce", args.scale, args.seed, TOKEN, probe="/_sandbox/health")
    org = Org(base)
    results: list[dict[str, Any]] = []
    sizes: dict[str, int] = {}
    try:
        sizes = {o: org.count(o) for o in (*STREAMS.values(), *SIDE)}
        sizes["EmailTask"] = org.count("Task", "TaskSubtype = 'Email'")
        with tempfile.TemporaryDirectory() as tmp:
            common = {
                **{k: v for k, v in os.environ.items() if not k.startswith("CRMPULSE_")},
                "CRMPULSE_CRM": "salesforce",
                "CRMPULSE_SALESFORCE__INSTANCE_URL": base,
                "CRMPULSE_SALESFORCE__ACCESS_TOKEN": TOKEN,
                "CRMPULSE_SALESFORCE__ORG_NAME": "bench",
                "CRMPULSE_KPI__PERIOD": "2026-10",
                "CRMPULSE_SYNC__OVERLAP_SECONDS": str(OVERLAP),
            }
            common["CRMPULSE_SALESFORCE__BULK_POLL_SECONDS"] = str(args.bulk_poll_seconds)
            rest_db, bulk_db = Path(tmp) / "rest.db", Path(tmp) / "bulk.db"
            rest = {**common, "CRMPULSE_STORE__URL": f"sqlite:///{rest_db}"}
            bulk = {
                **common,
                "CRMPULSE_STORE__URL": f"sqlite:///{bulk_db}",
                "CRMPULSE_SALESFORCE__BULK_THRESHOLD": "1",
            }
            ingest = {
                **bulk,
                "CRMPULSE_KPI__PERIOD": "2026-09",
                "CRMPULSE_SALESFORCE__BULK_WRITE_THRESHOLD": "1",
            }
            rest_floor_parts = full_rest_minimum(sizes)
            bulk_floor_parts = full_bulk_minimum(sizes)
            plan: list[tuple[str, dict[str, str], Path, str]] = [
                ("1. full load (REST) + KPIs + write-back", rest, rest_db, "rest"),
                ("2. unchanged re-run", rest, rest_db, "incremental"),
                ("3. third unchanged run", rest, rest_db, "incremental"),
                (f"4. after {args.changes} Cases changed", rest, rest_db, "incremental"),
                ("5. full load (Bulk API 2.0), fresh store", bulk, bulk_db, "bulk"),
                ("6. run 5's store, period 2026-09, Bulk ingest", ingest, bulk_db, "ingest"),
            ]
            for label, env, db, kind in plan:
                if label.startswith("4."):
                    org.touch_cases(args.changes)
                if results:
                    time.sleep(PAUSE)
                org.reset_stats()
                report, wall, peak = run_sync(env, Path(tmp), RUN_TIMEOUT)
                seen = org.stats_total()
                written = rows_written(db, report["run_id"])
                if kind == "rest":
                    reads, note = sum(rest_floor_parts.values()), str(rest_floor_parts)
                elif kind == "bulk":
                    reads, note = sum(bulk_floor_parts.values()), str(bulk_floor_parts)
                else:
                    reads = incremental_floor(report["records_pulled"])
                    note = "one query per stream, one page per 2,000 rows, sub-queries per page"
                if "describe" in report["api_calls"]["by_operation"]:
                    reads += PROVISION_READS + (1 if report["targets_created"] else 0)
                if kind == "ingest":
                    jobs = sum(1 for lvl in ("account", "contact") if written.get(lvl))
                    reads += BULK_INGEST_READS * jobs
                floor = {
                    "reads": reads,
                    "writes": write_floor(report, written, bulk_ingest=kind == "ingest"),
                }
                results.append(summarise(label, report, wall, peak, seen, floor, written, note))
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    out = ROOT / "bench" / "results" / f"sync_salesforce_{args.scale}.json"
    out.parent.mkdir(exist_ok=True)
    document = {
        "scale": args.scale,
        "seed": args.seed,
        "as_of": "2026-11-20",
        "bulk_poll_seconds": args.bulk_poll_seconds,
        "rows": sizes,
        "runs": results,
    }
    out.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print("rows:", ", ".join(f"{k} {v}" for k, v in sizes.items()))
    for r in results:
        print(
            f"{r['run']:<48} {r['records_pulled']:>6} rec {r['seconds']:>6.1f} s "
            f"{r['records_per_second'] or 0:>7.0f} rec/s  {r['read_calls']:>4} reads "
            f"(min {r['minimum_read_calls']}; {r['read_calls_per_100_records']} /100 rec)  "
            f"{r['write_calls']:>3} writes (min {r['minimum_write_calls']})  "
            f"{r['values_written']:>5} values  calls {r['connector_calls']}/"
            f"{r['emulator_calls']} (ours/emulator)  {r['peak_rss_mib']:>6.1f} MiB"
        )
    print(f"results: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
