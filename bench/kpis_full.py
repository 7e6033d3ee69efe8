"""KPI engine benchmark: full recompute of a very large CRM, then one account at a time.

World (``bench/bigworld.py``, cached): 200,000 companies, 1,000,000 contacts, 5,000,000 tickets,
1,000,000 survey answers, 2,000,000 deals and 1,000,000 activities in a SQLite store.

Phases, each timed, in one child process per run so its peak memory is the engine's own:

1. load — every live record as numpy columns (``load_frame``);
2. full recompute — every KPI of the catalogue at every level for the period, the previous period
   and the same period last year (the comparisons ``crmpulse kpis`` shows), with the health score
   over its trailing window and feedback sentiment when the text extra is installed;
3. incremental — ``--accounts`` random accounts, each given a new survey answer in the store and
   recomputed alone (``LiveKpis.recompute_account``), latency per account.

Run: ``python bench/kpis_full.py [--scale 1.0] [--accounts 50] [--cache-dir DIR]``; results go to
``bench/results/kpis_full_<scale>.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from bigworld import BigWorldSpec, ensure
from crmpulse.kpireport import setup
from crmpulse.kpis.engine import compute_window
from crmpulse.kpis.incremental import LiveKpis
from crmpulse.kpis.periods import Period
from crmpulse.model import SurveyKind, SurveyResponse
from crmpulse.settings import KpiSettings, Settings
from crmpulse.store import Store

ROOT = Path(__file__).resolve().parent


def _peak_mib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def run(scale: float, accounts: int, cache_dir: Path) -> dict[str, Any]:
    """Build or reuse the world, then measure the phases."""
    spec = BigWorldSpec().scaled(scale) if scale != 1.0 else BigWorldSpec()
    started = time.perf_counter()
    path = ensure(spec, cache_dir)
    built = time.perf_counter() - started
    as_of = spec.as_of
    period = Period.containing(as_of, "UTC").previous()
    settings = Settings(kpi=KpiSettings(timezone="UTC"))
    engine_setup = setup(settings)
    result: dict[str, Any] = {
        "scale": scale,
        "world": {
            "accounts": spec.accounts,
            "contacts": spec.contacts,
            "tickets": spec.tickets,
            "surveys": spec.surveys,
            "deals": spec.deals,
            "activities": spec.activities,
        },
        "period": period.label,
        "world_ready_seconds": round(built, 1),
        "feedback": engine_setup.analyzer is not None,
    }
    with Store.open(f"sqlite:///{path}") as store:
        t0 = time.perf_counter()
        live = LiveKpis(
            store,
            period,
            as_of=as_of,
            config=engine_setup.config,
            health=engine_setup.health,
            analyzer=engine_setup.analyzer,
            opener=store.reopen,
        )
        t1 = time.perf_counter()
        for other in (period.previous(), period.same_last_year()):
            compute_window(
                live.frame,
                other,
                as_of=as_of,
                config=engine_setup.config,
                health=engine_setup.health,
                analyzer=engine_setup.analyzer,
                cache=live.cache,
            )
        t2 = time.perf_counter()
        rows = sum(1 for _ in live.table.rows())
        t3 = time.perf_counter()
        result["full_peak_rss_mib"] = round(_peak_mib())
        result["full"] = {
            "load_seconds": round(live.seconds["load"], 2),
            "current_period_seconds": round(live.seconds["compute"], 2),
            "incremental_ready_seconds": round(live.seconds["ready"], 2),
            "previous_and_last_year_seconds": round(t2 - t1, 2),
            "rows_materialized_seconds": round(t3 - t2, 2),
            "recompute_seconds": round(t2 - t0, 2),
            "values": rows,
            "peak_rss_mib": round(_peak_mib()),
            "ticket_reader_peak_rss_mib": round(_peak_mib(resource.RUSAGE_CHILDREN)),
        }
        print(json.dumps(result["full"]), flush=True)
        latencies = _incremental(store, live, accounts, period)
        result["incremental"] = {
            "accounts": len(latencies),
            "p50_ms": round(1000 * latencies[len(latencies) // 2], 1),
            "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
            "max_ms": round(1000 * latencies[-1], 1),
            "stale_aggregates": sorted(live.stale),
        }
    result["peak_rss_mib"] = round(_peak_mib())
    return result


def _sample(live: LiveKpis, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """``count`` random accounts that have contacts, each with its first contact."""
    frame = live.frame
    with_contacts = np.unique(frame.contact_account[frame.contact_account >= 0]).tolist()
    chosen = rng.sample(with_contacts, min(count, len(with_contacts)))
    return [
        (
            str(frame.account_ids[account]),
            str(frame.contact_ids[int(np.argmax(frame.contact_account == account))]),
        )
        for account in chosen
    ]


def _incremental(store: Store, live: LiveKpis, count: int, period: Period) -> list[float]:
    rng = random.Random(7)
    # the sample is drawn in a function of its own: its temporaries are gone before timing
    chosen = _sample(live, count, rng)
    latencies = []
    moment = period.start + timedelta(days=3)
    for i, (account_id, contact_id) in enumerate(chosen):
        answer = SurveyResponse(
            source="hubspot:bench",
            id=f"bench-incremental-{i}",
            created_at=moment,
            updated_at=datetime.now(UTC),
            survey_kind=SurveyKind.NPS,
            score=rng.randint(0, 10),
            scale_min=0,
            scale_max=10,
            answered_at=moment,
            contact_id=contact_id,
        )
        store.upsert([answer])
        result = live.recompute_account(account_id)
        latencies.append(result.seconds)
    return sorted(latencies)


def main(argv: list[str] | None = None) -> int:
    """Command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--cache-dir", type=Path, default=Path.home() / ".cache" / "crmpulse")
    args = parser.parse_args(argv)
    result = run(args.scale, args.accounts, args.cache_dir)
    out = ROOT / "results" / f"kpis_full_{args.scale:g}.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
