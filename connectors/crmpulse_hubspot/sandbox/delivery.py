"""Delivering webhook events the way HubSpot does, on threads beside the API.

A dispatcher thread coalesces queued events into POSTs of at most 100, keeps at most
``maxConcurrentRequests`` of them in flight on a worker pool, signs each attempt (v3 over
``method + uri + body + timestamp``, plus the v1 signature and its version header) and retries
failures (connection errors, more than ``timeout`` seconds to answer, any 4xx/5xx) up to 10 times
spread over about 24 hours, with jitter, honouring ``Retry-After`` on 429.
``RetryPolicy.time_scale`` shrinks every wait so that a test sees a day of retries in seconds.
The API's event loop only ever appends to a queue.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import hmac
import itertools
import json
import random
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import requests

if TYPE_CHECKING:
    from .webhooks import Webhooks

BATCH_MAX: Final = 100
USER_AGENT: Final = (
    "HubSpot Connect 2.0 (http://dev.hubspot.com/) (namespace: webhooks-nio-http-client) "
    "- WebhooksExecutorDaemon-executor"
)
RETRY_DELAYS: Final = (60, 300, 900, 1_800, 3_600, 7_200, 10_800, 14_400, 21_600, 25_200)
"""Seconds before retry 1..10: about 24 hours in all (before jitter and time scale)."""
_RECENT_ATTEMPTS: Final = 50


@dataclass(frozen=True)
class RetryPolicy:
    """How deliveries time out and are retried.

    ``time_scale`` multiplies every wait (retry delays and ``Retry-After``): 1.0 is HubSpot's
    real pace, ``2 / 86_400`` fits the whole 24 h schedule into about two seconds.
    """

    time_scale: float = 1.0
    timeout: float = 5.0
    """Seconds a target has to answer before the attempt counts as failed."""
    jitter: float = 0.25
    """Each delay is drawn within +-jitter of its nominal value."""
    coalesce: float = 0.05
    """Seconds a lone event waits for company before a batch of fewer than 100 is sent."""
    delays: tuple[float, ...] = RETRY_DELAYS

    @property
    def max_retries(self) -> int:
        """Retries after the first attempt."""
        return len(self.delays)


@dataclass
class _Batch:
    id: int
    events: list[dict[str, Any]]
    generation: int
    attempt: int = 0


@dataclass
class _Counters:
    sent: int = 0
    """POSTs made (every attempt)."""
    succeeded: int = 0
    failed: int = 0
    """Attempts that failed (each may be retried)."""
    delivered: int = 0
    """Events whose batch was accepted."""
    dropped: int = 0
    """Events given up on after the last retry."""
    retries_scheduled: int = 0
    attempts: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=_RECENT_ATTEMPTS))


def sign_v3(secret: str, method: str, uri: str, body: str, timestamp: str) -> str:
    """``base64(HMAC-SHA256(secret, method + uri + body + timestamp))``."""
    digest = hmac.new(
        secret.encode(), f"{method}{uri}{body}{timestamp}".encode(), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode()


def sign_v1(secret: str, body: str) -> str:
    """``hex(SHA-256(secret + body))``."""
    return hashlib.sha256(f"{secret}{body}".encode()).hexdigest()


class Delivery:
    """The queue of events, the dispatcher thread and the senders."""

    def __init__(self, hooks: Webhooks, policy: RetryPolicy) -> None:
        self.hooks = hooks
        self.policy = policy
        self._cond = threading.Condition()
        self._pending: deque[dict[str, Any]] = deque()
        self._first_pending = 0.0
        self._retries: list[tuple[float, int, _Batch]] = []
        self._in_flight = 0
        self._batch_ids = itertools.count(1)
        self._stats = _Counters()
        self._rng = random.Random(0)
        self._local = threading.local()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = False
        self._generation = 0

    # -------------------------------------------------------------- public
    def submit(self, events: list[dict[str, Any]]) -> None:
        """Queue events (cheap; called from API handlers)."""
        with self._cond:
            if not self._pending:
                self._first_pending = time.monotonic()
            self._pending.extend(events)
            self._start()
            self._cond.notify_all()

    def stop(self) -> None:
        """Stop dispatching; attempts in flight finish on their own."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def wait_idle(self, timeout: float) -> bool:
        """Block until nothing is queued, in flight or waiting for a retry (True) or timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._pending or self._in_flight or self._retries:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def report(self) -> dict[str, Any]:
        """Counts and the last attempts, for ``GET /_sandbox/webhooks/deliveries``."""
        with self._cond:
            waiting = sum(len(batch.events) for _, _, batch in self._retries)
            stats = self._stats
            return {
                "sent": stats.sent,
                "succeeded": stats.succeeded,
                "failed": stats.failed,
                "delivered": stats.delivered,
                "dropped": stats.dropped,
                "pending": len(self._pending) + waiting,
                "inFlight": self._in_flight,
                "retriesScheduled": stats.retries_scheduled,
                "attempts": list(stats.attempts),
            }

    def reset(self) -> None:
        """Forget queued events, scheduled retries and counts (attempts in flight end uncounted)."""
        with self._cond:
            self._generation += 1
            self._pending.clear()
            self._retries.clear()
            self._stats = _Counters()

    # ----------------------------------------------------------- dispatcher
    def _start(self) -> None:
        if self._thread is None and not self._stopping:
            self._thread = threading.Thread(
                target=self._dispatch, name="hubspot-sandbox-webhooks", daemon=True
            )
            self._thread.start()

    def _limit(self) -> int:
        settings = self.hooks.settings
        return settings.max_concurrent if settings else 1

    def _next_batch(self) -> _Batch | float | None:
        """A batch to send now, or seconds to wait (None: until notified). Holds the lock."""
        now = time.monotonic()
        if self._in_flight >= self._limit():
            return None
        if self._retries and self._retries[0][0] <= now:
            return heapq.heappop(self._retries)[2]
        if self._pending:
            age = now - self._first_pending
            if len(self._pending) < BATCH_MAX and age < self.policy.coalesce:
                return self.policy.coalesce - age
            take = min(BATCH_MAX, len(self._pending))
            events = [self._pending.popleft() for _ in range(take)]
            self._first_pending = now
            return _Batch(next(self._batch_ids), events, self._generation)
        if self._retries:
            return self._retries[0][0] - now
        return None

    def _dispatch(self) -> None:
        while True:
            with self._cond:
                if self._stopping:
                    return
                step = self._next_batch()
                if not isinstance(step, _Batch):
                    self._cond.wait(step)
                    continue
                self._in_flight += 1
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(32, thread_name_prefix="hubspot-webhook-send")
            self._pool.submit(self._send, step)

    # --------------------------------------------------------------- sender
    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _send(self, batch: _Batch) -> None:
        try:
            self._attempt(batch)
        finally:
            with self._cond:
                self._in_flight -= 1
                self._cond.notify_all()

    def _attempt(self, batch: _Batch) -> None:
        hooks, settings = self.hooks, self.hooks.settings
        if settings is None:
            with self._cond:
                self._pending.extendleft(reversed(batch.events))
            return
        for event in batch.events:
            event["attemptNumber"] = batch.attempt
        body = json.dumps(batch.events, separators=(",", ":"))
        timestamp = str(int(time.time() * 1000))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-HubSpot-Timeout-Millis": str(int(self.policy.timeout * 1000)),
            "X-HubSpot-Request-Timestamp": timestamp,
        }
        secret = hooks.client_secret
        if secret:
            headers["X-HubSpot-Signature-v3"] = sign_v3(
                secret, "POST", settings.target_url, body, timestamp
            )
            headers["X-HubSpot-Signature"] = sign_v1(secret, body)
            headers["X-HubSpot-Signature-Version"] = "v1"
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        try:
            response = self._session().post(
                settings.target_url,
                data=body.encode(),
                headers=headers,
                timeout=self.policy.timeout,
                allow_redirects=False,
            )
            status = response.status_code
            if status == 429:
                retry_after = _seconds(response.headers.get("Retry-After"))
        except requests.Timeout:
            error = "timeout"
        except requests.RequestException as exc:
            error = type(exc).__name__
        ok = status is not None and 200 <= status < 300
        self._settle(batch, ok, status, error, retry_after, time.monotonic() - started)

    def _settle(
        self,
        batch: _Batch,
        ok: bool,
        status: int | None,
        error: str | None,
        retry_after: float | None,
        took: float,
    ) -> None:
        with self._cond:
            if batch.generation != self._generation:
                return
            stats = self._stats
            stats.sent += 1
            outcome = "delivered"
            wait: float | None = None
            if ok:
                stats.succeeded += 1
                stats.delivered += len(batch.events)
            else:
                stats.failed += 1
                if batch.attempt < self.policy.max_retries:
                    if retry_after is not None:
                        delay = retry_after
                    else:
                        spread = self._rng.uniform(1 - self.policy.jitter, 1 + self.policy.jitter)
                        delay = self.policy.delays[batch.attempt] * spread
                    batch.attempt += 1
                    wait = delay
                    due = time.monotonic() + delay * self.policy.time_scale
                    heapq.heappush(self._retries, (due, batch.id, batch))
                    stats.retries_scheduled += 1
                    outcome = "retry"
                else:
                    stats.dropped += len(batch.events)
                    outcome = "dropped"
            stats.attempts.append(
                {
                    "batchId": batch.id,
                    "attemptNumber": batch.attempt - (outcome == "retry"),
                    "events": len(batch.events),
                    "status": status,
                    "error": error,
                    "outcome": outcome,
                    "retryInSeconds": None if wait is None else round(wait, 3),
                    "durationMs": round(took * 1000, 1),
                    "at": time.time(),
                }
            )


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
