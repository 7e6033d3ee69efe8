"""The worker of ``crmpulse serve`` in a process of its own, started and watched by the server.

Recomputing KPIs is CPU work in Python, and Python runs one thread of a process at a time: a
worker thread beside the webhook endpoint makes every answer wait for the interpreter while a
batch is applied. So by default (``server.worker = "process"``) the server starts one child
process that opens its own connector and store and runs the :class:`~crmpulse.tasks.LocalRunner`
there; the server keeps only what answering a webhook needs (the receiver and the inbox).

The two share the inbox (durable, so nothing passes between them but a nudge) and talk through
two pipes, and nothing else: a lock or semaphore shared with a process that can be killed at any
moment may stay locked forever.

* The *nudge* pipe, server to child: one byte means new events are in the inbox (written without
  blocking: a full pipe already holds a wake-up); its end of file means stop, whether the server
  closed it on shutdown or died.
* The *report* pipe, child to server: every :data:`REPORT_SECONDS` the runner's status (for
  ``/healthz`` and ``/readyz``) and its metrics (served under ``/metrics``).

The child ignores SIGINT and SIGTERM (a Ctrl-C reaches the whole process group): it stops when
the server tells it to, after the batch in hand. If it dies, the server logs why and starts
another after a pause; events it had not finished are still pending in the inbox and are applied
by the next one.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from dataclasses import asdict
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

import structlog

from crmpulse import logs, plugins
from crmpulse.errors import CrmPulseError
from crmpulse.metrics import Metrics
from crmpulse.settings import Settings
from crmpulse.store import Store
from crmpulse.tasks import LocalRunner, RunnerStatus

log = structlog.get_logger("crmpulse.worker")

REPORT_SECONDS = 0.25
"""How often the child reports its status and metrics to the server."""

RESTART_PAUSE_MAX = 60.0
"""Longest pause before a worker that keeps dying is started again."""

HEALTHY_SECONDS = 60.0
"""A worker that ran this long before dying is restarted at once (it was not a crash loop)."""


class ProcessRunner:
    """The server's handle on the worker process: start, nudge, stop, and its last report."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._context = multiprocessing.get_context("spawn")
        self._stopping = threading.Event()
        self._nudge: Connection | None = None
        self._lock = threading.Lock()
        self._process: BaseProcess | None = None
        self._supervisor: threading.Thread | None = None
        self._report: dict[str, Any] = {}
        self._exposition = b""
        self.restarts = 0

    # -- the Runner interface --------------------------------------------------------------

    def start(self) -> None:
        """Start the worker process and the thread that watches it."""
        if self._supervisor is not None:
            return
        self._supervisor = threading.Thread(
            target=self._supervise, name="crmpulse-worker-supervisor", daemon=True
        )
        self._supervisor.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Tell the worker to finish its batch and stop; killed if still running after
        ``timeout`` (whatever it had not finished stays pending in the inbox)."""
        self._stopping.set()
        self._close_nudge()
        if self._supervisor is None:
            return
        self._supervisor.join(timeout)
        with self._lock:
            process = self._process
        if process is not None and process.is_alive():
            log.warning("worker.stop_timeout", pid=process.pid, timeout=timeout)
            process.kill()
            process.join(5)
        self._supervisor.join(5)

    def wake(self) -> None:
        """New events are in the inbox: nudge the worker (never blocks)."""
        with self._lock:
            nudge = self._nudge
            if nudge is None:
                return
            # full: a nudge is already waiting; closed or broken: there is no worker to nudge
            with contextlib.suppress(OSError):
                os.write(nudge.fileno(), b"w")

    def _close_nudge(self) -> None:
        with self._lock:
            nudge, self._nudge = self._nudge, None
        if nudge is not None:
            nudge.close()

    def status(self) -> RunnerStatus:
        """The worker's last report, with whether its process is alive now."""
        with self._lock:
            report = dict(self._report)
            process = self._process
        alive = process is not None and process.is_alive()
        if not report:
            return RunnerStatus(
                started=self._supervisor is not None,
                worker_alive=alive,
                scheduler_alive=alive,
                first_sync_done=False,
                live_table_built_at=None,
                last_sync=None,
                last_batch=None,
                last_error=None,
            )
        report["worker_alive"] = alive and report["worker_alive"]
        report["scheduler_alive"] = alive and report["scheduler_alive"]
        return RunnerStatus(**report)

    @property
    def pid(self) -> int | None:
        """The worker process's id, while there is one."""
        with self._lock:
            return None if self._process is None else self._process.pid

    def exposition(self) -> bytes:
        """The worker's metrics as it last reported them."""
        with self._lock:
            return self._exposition

    # -- supervision -----------------------------------------------------------------------

    def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            reports, report_end = self._context.Pipe(duplex=False)
            nudge_end, nudge = self._context.Pipe(duplex=False)
            os.set_blocking(nudge.fileno(), False)
            process = self._context.Process(
                target=run_worker,
                args=(self.settings, nudge_end, report_end, os.getpid()),
                name="crmpulse-worker",
            )
            started = time.monotonic()
            process.start()
            # the child holds the only other ends: its exit ends the reports, and closing
            # `nudge` tells it to stop
            report_end.close()
            nudge_end.close()
            with self._lock:
                self._process = process
                self._nudge = nudge
            if self._stopping.is_set():  # stop() came while starting
                self._close_nudge()
            log.info("worker.started", pid=process.pid)
            self._read(reports)
            process.join()
            reports.close()
            self._close_nudge()
            if self._stopping.is_set():
                log.info("worker.stopped", pid=process.pid, exitcode=process.exitcode)
                return
            failures = 1 if time.monotonic() - started > HEALTHY_SECONDS else failures + 1
            pause = min(RESTART_PAUSE_MAX, 2.0 ** (failures - 1))
            self.restarts += 1
            with self._lock:
                self._report = {}
            log.error(
                "worker.died",
                pid=process.pid,
                exitcode=process.exitcode,
                restart_in_seconds=pause,
                hint="pending events stay in the inbox; see the worker's log lines above",
            )
            self._stopping.wait(pause)

    def _read(self, receiver: Connection) -> None:
        """Take the child's reports until it exits."""
        while True:
            try:
                message = receiver.recv()
            except Exception:  # ended, or cut mid-message by the child's death
                return
            with self._lock:
                self._report = message["status"]
                self._exposition = message["metrics"]


def run_worker(settings: Settings, nudge: Connection, sender: Connection, parent_pid: int) -> None:
    """The worker process: a :class:`~crmpulse.tasks.LocalRunner` over its own connector and
    store, woken by bytes on ``nudge``, stopped by its end of file; reports go to ``sender``."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logs.configure(settings.log)
    try:
        connector = plugins.load(settings.crm).connect(settings)
        store = Store.open(settings.store.url)
    except CrmPulseError as exc:
        log.error("worker.start_failed", error=str(exc))
        raise SystemExit(2) from None
    metrics = Metrics()
    metrics.watch_calls(lambda: (connector.calls.reads, connector.calls.writes))
    runner = LocalRunner(connector, store, settings, metrics)

    def report() -> bool:
        try:
            sender.send({"status": asdict(runner.status()), "metrics": metrics.worker_exposition()})
        except (BrokenPipeError, OSError):
            return False
        return True

    runner.start()
    reported = 0.0
    try:
        while os.getppid() == parent_pid:
            if nudge.poll(REPORT_SECONDS):
                if not os.read(nudge.fileno(), 4096):
                    break  # end of file: stop
                runner.wake()
            if time.monotonic() - reported >= REPORT_SECONDS:
                if not report():
                    break
                reported = time.monotonic()
    finally:
        runner.stop()
        report()
        sender.close()
        nudge.close()
        connector.close()
        store.close()
