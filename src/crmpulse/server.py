"""The HTTP side of ``crmpulse serve``: webhooks in, health, readiness and metrics out.

``POST /webhooks/{crm}`` reads the raw body (at most ``server.max_body_bytes``: 413 beyond),
hands it to the CRM's :class:`~crmpulse.events.WebhookReceiver` (signature or organization,
then parsing: 401 / 403 / 400 with the reason), stores the events in the inbox and only then
answers 2xx, so an acknowledged event is never lost. Redelivered events are recognised by their
key and stored once; events of types crmpulse does not read are acknowledged and logged. A
refused request changes nothing in the store.

``/healthz`` says whether the process and its worker are alive, ``/readyz`` whether the store
answers and the first sync has run, ``/metrics`` is Prometheus' text format.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from crmpulse.errors import StoreError, WebhookRejected
from crmpulse.events import InboundRequest, WebhookAnswer, WebhookReceiver
from crmpulse.metrics import Metrics
from crmpulse.ports import Connector
from crmpulse.settings import Settings
from crmpulse.store import Store
from crmpulse.tasks import LocalRunner, Runner
from crmpulse.worker_process import ProcessRunner

log = structlog.get_logger("crmpulse.server")


@dataclass
class Runtime:
    """Everything the server and its runner share."""

    settings: Settings
    store: Store
    crm: str
    connector: Connector
    receiver: WebhookReceiver
    runner: Runner
    metrics: Metrics


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT / SIGTERM with exit status 0.

    uvicorn shuts down gracefully on either signal (requests in flight finish, then the
    lifespan stops the runner) and then raises the signal again, so the process dies of it.
    A stop asked for and carried out is a success: the CLI returns normally instead.
    """

    @contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Route SIGINT / SIGTERM to a graceful exit, restoring the handlers afterwards."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        handled = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def build_runtime(
    settings: Settings, store: Store, crm: str, connector: Connector, receiver: WebhookReceiver
) -> Runtime:
    """Wire the runner (``server.worker``: a process of its own, or threads of this one) and the
    metrics around a connector and a store."""
    metrics = Metrics()
    metrics.watch_inbox(store.inbox.counts)
    runner: Runner
    if settings.server.worker == "process":
        runner = ProcessRunner(settings)
    else:
        runner = LocalRunner(connector, store, settings, metrics)
        metrics.watch_calls(lambda: (connector.calls.reads, connector.calls.writes))
    return Runtime(settings, store, crm, connector, receiver, runner, metrics)


async def _read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 as soon as it is known to be larger than ``limit``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise WebhookRejected(413, f"body of {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise WebhookRejected(413, f"body is over the {limit}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _called_url(request: Request, public_url: str | None) -> str:
    """The URL the CRM called: the configured public URL (behind a proxy the request's own host
    is not what the CRM signed) or, unset, the request's, with the path and query."""
    base = (public_url or str(request.base_url)).rstrip("/")
    query = request.url.query
    return f"{base}{request.url.path}" + (f"?{query}" if query else "")


def create_app(runtime: Runtime, *, manage_runner: bool = True) -> FastAPI:
    """The server's app; with ``manage_runner`` its lifespan starts and stops the runner."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if manage_runner:
            runtime.runner.start()
        log.info("server.started", crm=runtime.crm, source=runtime.connector.source)
        yield
        if manage_runner:
            await run_in_threadpool(runtime.runner.stop)
        log.info("server.stopped", pending=runtime.store.inbox.counts()["pending"])

    app = FastAPI(
        title="crmpulse", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    settings = runtime.settings.server
    metrics = runtime.metrics

    @app.post("/webhooks/{crm}")
    async def webhook(crm: str, request: Request) -> Response:
        """Receive one webhook delivery of the configured CRM."""
        started = time.perf_counter()
        if crm != runtime.crm:
            metrics.requests.labels(crm, "404").inc()
            message = f"this server receives {runtime.crm} webhooks, not {crm}"
            return JSONResponse({"status": "error", "message": message}, status_code=404)
        answer = await _receive(runtime, request, settings.max_body_bytes, settings.public_url)
        metrics.requests.labels(crm, str(answer.status)).inc()
        metrics.request_seconds.labels(crm).observe(time.perf_counter() - started)
        return Response(answer.body, status_code=answer.status, media_type=answer.media_type)

    @app.get("/healthz")
    async def healthz() -> Response:
        """Alive: the process answers and its worker runs."""
        status = runtime.runner.status()
        alive = status.worker_alive or not status.started
        body = {"status": "ok" if alive else "worker stopped"}
        return JSONResponse(body, status_code=200 if alive else 503)

    @app.get("/readyz")
    async def readyz() -> Response:
        """Ready: the store answers and the first sync has run; the backlog and last runs."""
        status = runtime.runner.status()
        try:
            counts = await run_in_threadpool(runtime.store.inbox.counts)
            oldest = await run_in_threadpool(runtime.store.inbox.oldest_pending)
        except StoreError as exc:
            return JSONResponse({"ready": False, "store": str(exc)}, status_code=503)
        ready = status.first_sync_done and (status.worker_alive or not status.started)
        body: dict[str, Any] = {
            "ready": ready,
            "crm": runtime.crm,
            "source": runtime.connector.source,
            "inbox": counts,
            "oldest_pending_seconds": None
            if oldest is None
            else round((datetime.now(UTC) - oldest).total_seconds(), 3),
            **{
                k: (v.isoformat() if isinstance(v, datetime) else v)
                for k, v in asdict(status).items()
            },
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        """Prometheus text exposition."""
        data = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(data + runtime.runner.exposition(), media_type=CONTENT_TYPE_LATEST)

    return app


async def _receive(
    runtime: Runtime, request: Request, limit: int, public_url: str | None
) -> WebhookAnswer:
    """Verify, parse and store one delivery; the answer in the CRM's dialect."""
    receiver, metrics, crm = runtime.receiver, runtime.metrics, runtime.crm
    bound = log.bind(crm=crm)
    try:
        body = await _read_body(request, limit)
        inbound = InboundRequest(
            method=request.method,
            url=_called_url(request, public_url),
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            received_at=time.time(),
        )
        delivery = receiver.receive(inbound)
    except WebhookRejected as exc:
        bound.warning("webhook.refused", status=exc.status, reason=str(exc))
        return receiver.refuse(exc.status, str(exc))
    for ignored in delivery.ignored:
        bound.info("webhook.unknown_event", kind=ignored.kind, reason=ignored.reason)
    metrics.events.labels(crm, "unknown").inc(len(delivery.ignored))
    try:
        accepted = await run_in_threadpool(
            runtime.store.inbox.accept,
            delivery.events,
            datetime.fromtimestamp(inbound.received_at, UTC),
        )
    except StoreError as exc:
        # not stored, so not acknowledged: the CRM delivers it again
        bound.error("webhook.not_stored", error=str(exc))
        return receiver.refuse(503, "the event store is unavailable; deliver again later")
    metrics.events.labels(crm, "accepted").inc(accepted.new - accepted.ours)
    metrics.events.labels(crm, "ours").inc(accepted.ours)
    metrics.events.labels(crm, "duplicate").inc(accepted.duplicates)
    if accepted.new > accepted.ours:
        runtime.runner.wake()
    bound.debug(
        "webhook.accepted",
        events=len(delivery.events),
        new=accepted.new,
        duplicates=accepted.duplicates,
        ours=accepted.ours,
    )
    return receiver.acknowledge(accepted.new, accepted.duplicates)
