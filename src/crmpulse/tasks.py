"""The runner of ``crmpulse serve``: a worker that applies inbox events and a scheduler that runs
the periodic sync, on two threads (of the worker process, see :mod:`crmpulse.worker_process`, or
of the server's own process).

Both talk to the CRM through one connector and move one in-memory KPI table, so one lock keeps
them apart: an event batch waits for a running sync, and the other way round. Events are durable
in the inbox before they are acknowledged, so nothing the worker has not finished is lost when
the process stops: :meth:`LocalRunner.stop` lets the batch in hand finish, and whatever is still
pending is picked up at the next start.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog

from crmpulse import live, service
from crmpulse.errors import CrmPulseError, RetriableError
from crmpulse.metrics import Metrics
from crmpulse.ports import Connector
from crmpulse.settings import Settings
from crmpulse.store import Store
from crmpulse.store.inbox import InboxItem

log = structlog.get_logger("crmpulse.worker")

RETRY_BACKOFF_MAX = 60.0
"""Longest pause after a batch that must be retried (the CRM is down, the quota is spent)."""


@dataclass
class RunnerStatus:
    """What ``/readyz`` reports."""

    started: bool
    worker_alive: bool
    scheduler_alive: bool
    first_sync_done: bool
    live_table_built_at: datetime | None
    last_sync: dict[str, Any] | None
    last_batch: dict[str, Any] | None
    last_error: str | None


class Runner(Protocol):
    """What the server asks of its worker, wherever it runs."""

    def start(self) -> None:
        """Start working (at most once)."""

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the work in hand and stop within ``timeout``."""

    def wake(self) -> None:
        """New events are in the inbox."""

    def status(self) -> RunnerStatus:
        """What ``/readyz`` reports."""

    def exposition(self) -> bytes:
        """The worker's metrics in Prometheus' text format."""


class LocalRunner:
    """Worker and scheduler threads over one connector and one store."""

    def __init__(
        self,
        connector: Connector,
        store: Store,
        settings: Settings,
        metrics: Metrics | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.connector = connector
        self.store = store
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.state = live.LiveState(store, settings)
        self.lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._first_sync = threading.Event()
        self._threads: list[threading.Thread] = []
        self.last_sync: dict[str, Any] | None = None
        self.last_batch: dict[str, Any] | None = None
        self.last_error: str | None = None

    # -- life cycle ------------------------------------------------------------------------

    def start(self) -> None:
        """Start the worker and (unless the interval is 0) the scheduler."""
        if self._threads:
            return
        worker = threading.Thread(target=self._work, name="crmpulse-worker", daemon=True)
        self._threads.append(worker)
        if self.settings.server.sync_interval_seconds > 0:
            scheduler = threading.Thread(
                target=self._schedule, name="crmpulse-scheduler", daemon=True
            )
            self._threads.append(scheduler)
        else:
            self._first_sync.set()
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask both threads to stop, let the work in hand finish, wait up to ``timeout``."""
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("runner.stop_timeout", still_running=alive)

    def wake(self) -> None:
        """New events are in the inbox."""
        self._wake.set()

    def status(self) -> RunnerStatus:
        """The threads and the last things they did."""
        names = {t.name: t.is_alive() for t in self._threads}
        interval = self.settings.server.sync_interval_seconds
        return RunnerStatus(
            started=bool(self._threads),
            worker_alive=names.get("crmpulse-worker", False),
            scheduler_alive=names.get("crmpulse-scheduler", interval <= 0),
            first_sync_done=self._first_sync.is_set(),
            live_table_built_at=self.state.built_at,
            last_sync=self.last_sync,
            last_batch=self.last_batch,
            last_error=self.last_error,
        )

    def exposition(self) -> bytes:
        """The worker's metrics in Prometheus' text format."""
        return self.metrics.worker_exposition()

    # -- the worker ------------------------------------------------------------------------

    def _work(self) -> None:
        server = self.settings.server
        backoff = 0.0
        while not self._stopping.is_set():
            if backoff:
                self._stopping.wait(backoff)
            elif not self._wake.wait(server.poll_seconds):
                pass
            self._wake.clear()
            if self._stopping.is_set() or not self._first_sync.is_set():
                continue
            items = self._gather()
            if not items:
                backoff = 0.0
                continue
            started = time.perf_counter()
            with self.lock:
                if self._stopping.is_set():
                    return
                backoff = self._process(items)
            if not backoff:
                # Rest in proportion to the work just done: the worker shares the machine (or,
                # as a thread, the interpreter) with the webhook endpoint, and a flood is better
                # met by bigger batches than by slower answers.
                share = server.worker_share
                self._stopping.wait((time.perf_counter() - started) * (1 - share) / share)
                self._wake.set()  # more may be waiting: look again at once

    def _gather(self) -> list[InboxItem]:
        """Pending events; a burst is given ``coalesce_seconds`` to complete first."""
        server = self.settings.server
        inbox = self.store.inbox
        items = inbox.pending(server.batch_size, source=self.connector.source)
        if not items:
            return []
        age = (self.clock() - items[0].received_at).total_seconds()
        if age < server.coalesce_seconds:
            self._stopping.wait(server.coalesce_seconds - age)
            items = inbox.pending(server.batch_size, source=self.connector.source)
        return items

    def _process(self, items: list[InboxItem]) -> float:
        """Apply one batch; returns how long to pause before the next (0: no pause)."""
        inbox = self.store.inbox
        ids = [item.id for item in items]
        run_id = f"live-{items[0].id}-{items[-1].id}"
        bound = log.bind(run_id=run_id, trigger="webhook", source=self.connector.source)
        try:
            report = live.process_events(
                self.connector, self.store, self.settings, items, self.state, run_id=run_id
            )
        except RetriableError as exc:
            return self._retry(items, str(exc), bound, retriable=True)
        except CrmPulseError as exc:
            return self._retry(items, str(exc), bound, retriable=False)
        except Exception as exc:  # a bug must not stop the worker; the events stay pending
            bound.exception("live.batch_crashed")
            return self._retry(items, f"{type(exc).__name__}: {exc}", bound, retriable=False)
        inbox.finish(ids, "done")
        done = self.clock()
        for item in items:
            self.metrics.lag.observe(max(0.0, (done - item.received_at).total_seconds()))
        self.metrics.processed.labels("done").inc(len(items))
        self.metrics.batches.labels("ok").inc()
        self.metrics.accounts_recomputed.inc(len(report.accounts))
        if report.full_pass:
            self.metrics.full_passes.inc()
        self.metrics.values_written.labels("webhook").inc(report.values_written)
        self.last_batch = {"at": done.isoformat(), **live.describe(report)}
        self.last_error = "; ".join(report.errors) or None
        bound.info("live.batch", **live.describe(report))
        return 0.0

    def _retry(self, items: list[InboxItem], error: str, bound: Any, *, retriable: bool) -> float:
        inbox = self.store.inbox
        limit = self.settings.server.max_attempts
        exhausted = [i.id for i in items if i.attempts + 1 >= limit]
        again = [i.id for i in items if i.attempts + 1 < limit]
        inbox.retry_later(again, error)
        inbox.finish(exhausted, "failed", error)
        self.metrics.batches.labels("retry" if again else "failed").inc()
        self.metrics.processed.labels("failed").inc(len(exhausted))
        self.last_error = error
        bound.warning(
            "live.batch_failed",
            error=error,
            retriable=retriable,
            retry=len(again),
            gave_up=len(exhausted),
        )
        attempts = max(i.attempts for i in items) + 1
        pause: float = self.settings.server.poll_seconds * 2.0**attempts
        return min(RETRY_BACKOFF_MAX, pause)

    # -- the scheduler ---------------------------------------------------------------------

    def _schedule(self) -> None:
        interval = self.settings.server.sync_interval_seconds
        while not self._stopping.is_set():
            with self.lock:
                if self._stopping.is_set():
                    return
                self._sync()
            self._first_sync.set()
            self._wake.set()
            self._stopping.wait(interval)

    def _sync(self) -> None:
        """One periodic sync, then a fresh live table from what it left in the store."""
        try:
            report = service.run_sync(self.connector, self.store, self.settings, trigger="schedule")
        except CrmPulseError as exc:
            self.metrics.syncs.labels("failed").inc()
            self.last_error = str(exc)
            log.error("schedule.sync_failed", error=str(exc))
            return
        self.metrics.syncs.labels(report.status).inc()
        self.metrics.last_sync.set(time.time())
        self.metrics.values_written.labels("schedule").inc(report.values_written)
        self.last_sync = {
            "at": self.clock().isoformat(),
            "run_id": report.run_id,
            "status": report.status,
            "seconds": round(report.seconds, 3),
        }
        if report.errors:
            self.last_error = "; ".join(report.errors)
        try:
            self.state.rebuild(self.clock())
            self.metrics.full_passes.inc()
        except CrmPulseError as exc:
            self.last_error = str(exc)
            log.error("schedule.full_pass_failed", error=str(exc))
