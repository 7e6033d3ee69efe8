"""HubSpot rate limits: a 10-second rolling window and a daily quota per token, and the separate
per-second limit of the search endpoints.

Numbers default to a Professional private app (190 per 10 s, 625,000 per day, search 5 per s).
Rejected calls do not consume the quota. [UNVERIFIED] Search calls count against the daily quota
but not against the 10-second window (HubSpot meters search separately).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from . import errors
from .errors import correlation_id

INTERVAL_MS = 10_000


@dataclass(frozen=True)
class RateLimits:
    """Limits of one emulated app/portal."""

    burst: int = 190
    """Calls per 10-second rolling window."""
    daily: int = 625_000
    """Calls per day (resets at midnight UTC, the emulated portal's time zone)."""
    search_per_second: int = 5
    """Search calls per second."""
    retry_after: bool = False
    """Send ``Retry-After`` on 429s (HubSpot does not document one; it changes SDK retries)."""
    enabled: bool = True


@dataclass
class _Usage:
    window: deque[float] = field(default_factory=deque)
    search: deque[float] = field(default_factory=deque)
    day: int = -1
    daily_used: int = 0


class RateLimiter:
    """Admits or rejects calls per token; ``clock`` is injectable (seconds, epoch-based)."""

    def __init__(self, limits: RateLimits | None = None, clock: Callable[[], float] = time.time):
        self.limits = limits or RateLimits()
        self.clock = clock
        self._usage: dict[str, _Usage] = {}

    def _use(self, token: str, now: float) -> _Usage:
        usage = self._usage.setdefault(token, _Usage())
        day = int(now // 86_400)
        if usage.day != day:
            usage.day, usage.daily_used = day, 0
        while usage.window and usage.window[0] <= now - INTERVAL_MS / 1000:
            usage.window.popleft()
        while usage.search and usage.search[0] <= now - 1.0:
            usage.search.popleft()
        return usage

    def admit(self, token: str, *, search: bool) -> dict[str, str]:
        """Count one call; return the rate-limit headers to send (none for search).

        Raises the HubSpot 429 ``ApiError`` when a limit is reached.
        """
        limits = self.limits
        if not limits.enabled:
            return {}
        now = self.clock()
        usage = self._use(token, now)
        if usage.daily_used >= limits.daily:
            raise self._reject(
                "You have reached your daily limit.",
                "DAILY",
                self._headers(usage, 0) if not search else {},
                retry=max(1, int(86_400 - now % 86_400)),
            )
        if search:
            if len(usage.search) >= limits.search_per_second:
                raise self._reject("You have reached your secondly limit.", "SECONDLY", {}, retry=1)
            usage.search.append(now)
            usage.daily_used += 1
            return {}
        if len(usage.window) >= limits.burst:
            wait = usage.window[0] + INTERVAL_MS / 1000 - now
            raise self._reject(
                "You have reached your ten_secondly_rolling limit.",
                "TEN_SECONDLY_ROLLING",
                self._headers(usage, 0),
                retry=max(1, int(wait + 0.999)),
            )
        usage.window.append(now)
        usage.daily_used += 1
        return self._headers(usage, limits.burst - len(usage.window))

    def _headers(self, usage: _Usage, remaining: int) -> dict[str, str]:
        return {
            "X-HubSpot-RateLimit-Interval-Milliseconds": str(INTERVAL_MS),
            "X-HubSpot-RateLimit-Max": str(self.limits.burst),
            "X-HubSpot-RateLimit-Remaining": str(max(0, remaining)),
            "X-HubSpot-RateLimit-Daily": str(self.limits.daily),
            "X-HubSpot-RateLimit-Daily-Remaining": str(
                max(0, self.limits.daily - usage.daily_used)
            ),
        }

    def _reject(
        self, message: str, policy: str, headers: dict[str, str], retry: int
    ) -> errors.ApiError:
        if self.limits.retry_after:
            headers = {**headers, "Retry-After": str(retry)}
        return errors.ApiError(
            429,
            {
                "status": "error",
                "message": message,
                "errorType": "RATE_LIMIT",
                "policyName": policy,
                "requestId": correlation_id(),
            },
            headers,
        )

    def reset(self) -> None:
        """Forget all usage."""
        self._usage.clear()
