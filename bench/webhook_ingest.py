"""Webhook ingest benchmark: signed HubSpot deliveries at a steady rate into `crmpulse serve`.

The HubSpot emulator and `crmpulse serve` (SQLite store, its worker and scheduler in the same
process) run as their own processes, as a user runs them. This process is the CRM: it sends
signed v3 deliveries of ``--batch`` property-change events at ``--rate`` events per second for
``--seconds``, open loop (each request leaves at its scheduled time whether or not earlier ones
were answered, and its latency is counted from that time, so a stall is not hidden). A share of
the deliveries (``--replays``) are HubSpot-style retries of earlier ones: the same events with a
higher ``attemptNumber``. Events name real contacts, tickets and companies of the emulator's
world, so the worker reads them back and recomputes their accounts, concurrently with the load.

Afterwards it waits for the inbox to drain and reads it back: every new event must be ``done``
after exactly one attempt, every retry must have been recognised as a duplicate.

Run: ``python bench/webhook_ingest.py [--rate 1000] [--batch 10] [--seconds 60]``; results go to
``bench/results/webhook_ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from crmpulse import synth
from crmpulse_hubspot.sandbox.delivery import sign_v3
from harness import serving, start_sandbox

ROOT = Path(__file__).resolve().parent
TOKEN = "bench-ingest-token"
SECRET = "bench-ingest-client-secret"
SEED = 7
AS_OF = "2026-11-20"  # harness.start_sandbox's world date


@dataclass
class Delivery:
    """One request to send: its body, headers and when."""

    at: float
    body: bytes
    headers: dict[str, str]
    new_events: int


@dataclass
class Sent:
    at: float
    started: float
    finished: float
    status: int


def sign(body: bytes, url: str) -> dict[str, str]:
    """Headers of a delivery signed as HubSpot (and its emulator) signs one."""
    stamp = str(int(time.time() * 1000))
    return {
        "Content-Type": "application/json",
        "X-HubSpot-Signature-v3": sign_v3(SECRET, "POST", url, body.decode(), stamp),
        "X-HubSpot-Request-Timestamp": stamp,
    }


def objects(scale: str) -> list[tuple[str, str]]:
    """(subscription type, object id) of live contacts, tickets and companies of the world."""
    world = synth.generate(seed=SEED, scale=scale, as_of=_as_of())
    out = [("contact.propertyChange", c.id) for c in world.contacts() if c.deleted_at is None]
    out += [("ticket.propertyChange", t.id) for t in world.tickets() if t.deleted_at is None]
    out += [("company.propertyChange", a.id) for a in world.accounts() if a.deleted_at is None]
    return out


def _as_of() -> datetime:
    return datetime.fromisoformat(AS_OF).replace(tzinfo=UTC)


def plan(
    url: str, rate: float, batch: int, seconds: float, replays: float, pool: list[tuple[str, str]]
) -> list[Delivery]:
    """Every request of the run, signed in advance (timestamps stay well inside 5 minutes)."""
    rng = random.Random(11)
    requests_per_second = rate / batch
    count = int(seconds * requests_per_second)
    event_id = 9_000_000_000
    sent: list[list[dict[str, Any]]] = []
    out: list[Delivery] = []
    for i in range(count):
        at = i / requests_per_second
        if sent and rng.random() < replays:
            again = [{**e, "attemptNumber": e["attemptNumber"] + 1} for e in rng.choice(sent)]
            body = json.dumps(again).encode()
            out.append(Delivery(at, body, sign(body, url), 0))
            continue
        events = []
        for _ in range(batch):
            kind, object_id = rng.choice(pool)
            event_id += 1
            events.append(
                {
                    "eventId": event_id,
                    "subscriptionId": 1,
                    "portalId": 4242424,
                    "appId": 1160452,
                    "occurredAt": int(time.time() * 1000),
                    "subscriptionType": kind,
                    "attemptNumber": 0,
                    "objectId": int(object_id),
                    "changeSource": "CRM_UI",
                    "sourceId": "userId:7000001",
                    "propertyName": "hs_lead_status",
                    "propertyValue": "OPEN",
                }
            )
        sent.append(events)
        body = json.dumps(events).encode()
        out.append(Delivery(at, body, sign(body, url), batch))
    return out


def send_all(url: str, deliveries: list[Delivery], senders: int) -> tuple[list[Sent], float]:
    """Open-loop sending from ``senders`` threads; returns every result and the start time."""
    results: list[Sent | None] = [None] * len(deliveries)
    start = time.perf_counter() + 0.5

    def worker(k: int) -> None:
        session = requests.Session()
        for i in range(k, len(deliveries), senders):
            d = deliveries[i]
            due = start + d.at
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            began = time.perf_counter()
            try:
                status = session.post(url, data=d.body, headers=d.headers, timeout=30).status_code
            except requests.RequestException:
                status = 0
            results[i] = Sent(due, began, time.perf_counter(), status)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(senders)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [r for r in results if r is not None], start


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def children_peak_rss_mib(pid: int) -> float:
    """The largest peak among the server's child processes (its worker)."""
    children = [
        child
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    return max((peak_rss_mib(int(child)) for child in children), default=0.0)


def run(args: argparse.Namespace) -> dict[str, Any]:
    emulator, crm = start_sandbox("hubspot", args.scale, SEED, TOKEN)
    workdir = Path(tempfile.mkdtemp(prefix="crmpulse-ingest-"))
    try:
        with serving(
            crm,
            TOKEN,
            SECRET,
            workdir,
            CRMPULSE_SERVER__SYNC_INTERVAL_SECONDS="86400",
            CRMPULSE_KPI__PERIOD="2026-10",
            **dict(a.split("=", 1) for a in args.env),
        ) as (server, base, first_sync):
            url = f"{base}/webhooks/hubspot"
            pool = objects(args.scale)
            deliveries = plan(url, args.rate, args.batch, args.seconds, args.replays, pool)
            print(f"sending {len(deliveries)} requests over {args.seconds:g} s", file=sys.stderr)
            sent, _ = send_all(url, deliveries, args.senders)
            load_end = time.perf_counter()
            drained_at = None
            while time.perf_counter() - load_end < args.drain_timeout:
                pending = requests.get(f"{base}/readyz", timeout=10).json()["inbox"]["pending"]
                if pending == 0:
                    drained_at = time.perf_counter()
                    break
                time.sleep(0.5)
            rss = (peak_rss_mib(server.pid), children_peak_rss_mib(server.pid))
            metrics = requests.get(f"{base}/metrics", timeout=10).text
    finally:
        emulator.terminate()
        emulator.wait(timeout=30)
    inbox = read_inbox(workdir / "serve.inbox.db")  # on SQLite the inbox has its own file
    return summarize(args, deliveries, sent, inbox, first_sync, load_end, drained_at, rss, metrics)


def read_inbox(path: Path) -> dict[str, Any]:
    db = sqlite3.connect(path)
    try:
        by_status = dict(db.execute("SELECT status, count(*) FROM inbox GROUP BY status"))
        attempts = dict(
            db.execute("SELECT attempts, count(*) FROM inbox WHERE status='done' GROUP BY attempts")
        )
        keys = db.execute("SELECT count(DISTINCT dedupe_key), count(*) FROM inbox").fetchone()
    finally:
        db.close()
    return {
        "by_status": by_status,
        "done_attempts": attempts,
        "distinct_keys": keys[0],
        "rows": keys[1],
    }


def summarize(
    args: argparse.Namespace,
    deliveries: list[Delivery],
    sent: list[Sent],
    inbox: dict[str, Any],
    first_sync: float,
    load_end: float,
    drained_at: float | None,
    rss: tuple[float, float],
    metrics: str,
) -> dict[str, Any]:
    ok = [s for s in sent if s.status == 200]
    span = max(s.finished for s in sent) - min(s.at for s in sent)
    latency = [(s.finished - s.at) * 1000 for s in sent]
    service = [(s.finished - s.started) * 1000 for s in sent]
    new_events = sum(d.new_events for d in deliveries)
    events = sum(len(json.loads(d.body)) for d in deliveries)
    accepted = sum(
        len(json.loads(d.body)) for d, s in zip(deliveries, sent, strict=True) if s.status == 200
    )
    batches = [
        line for line in metrics.splitlines() if line.startswith("crmpulse_worker_batches_total")
    ]
    return {
        "scale": args.scale,
        "rate_events_per_second": args.rate,
        "batch": args.batch,
        "seconds": args.seconds,
        "replay_share": args.replays,
        "senders": args.senders,
        "server_env": args.env,
        "first_sync_seconds": round(first_sync, 1),
        "requests": len(sent),
        "requests_ok": len(ok),
        "requests_failed": len(sent) - len(ok),
        "events_sent": events,
        "events_accepted": accepted,
        "accepted_events_per_second": round(accepted / span, 1),
        "latency_ms": {
            "p50": round(percentile(latency, 0.50), 1),
            "p90": round(percentile(latency, 0.90), 1),
            "p99": round(percentile(latency, 0.99), 1),
            "max": round(max(latency), 1),
        },
        "service_ms_p99": round(percentile(service, 0.99), 1),
        "drain_seconds_after_load": None if drained_at is None else round(drained_at - load_end, 1),
        "new_events": new_events,
        "inbox": inbox,
        "exactly_once": inbox["by_status"].get("done", 0) == new_events
        and inbox["done_attempts"] == {1: new_events}
        and inbox["distinct_keys"] == inbox["rows"],
        "worker_batches": batches,
        "serve_peak_rss_mib": round(rss[0]),
        "worker_peak_rss_mib": round(rss[1]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="small")
    parser.add_argument("--rate", type=float, default=1000.0, help="events per second")
    parser.add_argument("--batch", type=int, default=10, help="events per delivery (max 100)")
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--replays", type=float, default=0.02, help="share of retried deliveries")
    parser.add_argument("--senders", type=int, default=16, help="concurrent connections")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=VALUE for the server (repeatable)"
    )
    args = parser.parse_args()
    result = run(args)
    out = ROOT / "results" / "webhook_ingest.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
