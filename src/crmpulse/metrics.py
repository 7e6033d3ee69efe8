"""Prometheus metrics of ``crmpulse serve``: webhooks in, events processed, syncs, API calls.

Each server owns its registries (no process-wide state), so tests can run several side by side.
The web side's instruments (requests, events received, the inbox backlog) live in ``registry``,
the worker's (events processed, batches, syncs, API calls) in ``worker_registry``: when the worker
runs in a process of its own, that process fills its own ``worker_registry`` and hands the
exposition to the web process, which serves both. Gauges that mirror the store (the inbox backlog)
or the connector (API calls) are read when Prometheus scrapes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
LAG_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0)


class Metrics:
    """The server's instruments, on a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.worker_registry = CollectorRegistry()
        r, w = self.registry, self.worker_registry
        self.requests = Counter(
            "crmpulse_webhook_requests",
            "Webhook requests answered, by CRM and HTTP status.",
            ["crm", "status"],
            registry=r,
        )
        self.request_seconds = Histogram(
            "crmpulse_webhook_request_seconds",
            "Time from a webhook request's arrival to its answer.",
            ["crm"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.events = Counter(
            "crmpulse_webhook_events",
            "Webhook events received, by outcome: accepted (new), duplicate (redelivered), "
            "ours (our own write-back's echo), unknown (a type crmpulse does not read).",
            ["crm", "outcome"],
            registry=r,
        )
        self.processed = Counter(
            "crmpulse_events_processed",
            "Inbox events settled by the worker, by status (done, failed).",
            ["status"],
            registry=w,
        )
        self.lag = Histogram(
            "crmpulse_event_lag_seconds",
            "Time from an event's arrival to the end of its processing.",
            buckets=LAG_BUCKETS,
            registry=w,
        )
        self.batches = Counter(
            "crmpulse_worker_batches",
            "Event batches the worker ran, by outcome (ok, retry, failed).",
            ["outcome"],
            registry=w,
        )
        self.accounts_recomputed = Counter(
            "crmpulse_accounts_recomputed",
            "Accounts recomputed one by one after events.",
            registry=w,
        )
        self.full_passes = Counter(
            "crmpulse_full_passes",
            "Full KPI passes over the store (start-up, period roll-over, after syncs, events "
            "an account-by-account recompute cannot follow).",
            registry=w,
        )
        self.values_written = Counter(
            "crmpulse_values_written",
            "Property values written back to the CRM.",
            ["trigger"],
            registry=w,
        )
        self.syncs = Counter(
            "crmpulse_syncs",
            "Periodic syncs run, by status (ok, partial, interrupted, failed).",
            ["status"],
            registry=w,
        )
        self.last_sync = Gauge(
            "crmpulse_last_sync_timestamp_seconds",
            "When the last periodic sync finished (epoch seconds).",
            registry=w,
        )
        self.api_calls = Gauge(
            "crmpulse_api_calls",
            "API calls made to the CRM since start-up, by kind.",
            ["kind"],
            registry=w,
        )
        self.inbox = Gauge(
            "crmpulse_inbox_events",
            "Events in the inbox, by status.",
            ["status"],
            registry=r,
        )

    def watch_inbox(self, inbox_counts: Callable[[], dict[str, int]]) -> None:
        """Read the inbox backlog at every scrape (one query per scrape, not one per status)."""
        cache: dict[str, Any] = {"at": 0.0, "counts": {}}

        def count(status: str) -> float:
            if time.monotonic() - cache["at"] > 1.0:
                cache["counts"], cache["at"] = inbox_counts(), time.monotonic()
            return float(cache["counts"].get(status, 0))

        for status in ("pending", "done", "ignored", "failed"):
            self.inbox.labels(status).set_function(partial(count, status))

    def watch_calls(self, api_calls: Callable[[], tuple[int, int]]) -> None:
        """Read the worker connector's (reads, writes) at every scrape."""
        self.api_calls.labels("read").set_function(lambda: api_calls()[0])
        self.api_calls.labels("write").set_function(lambda: api_calls()[1])

    def worker_exposition(self) -> bytes:
        """The worker's instruments in Prometheus' text format."""
        return generate_latest(self.worker_registry)
