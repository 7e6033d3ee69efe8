"""The API budget of one source, shared by every call crmpulse makes to it, reads and writes.

A CRM meters calls in rolling windows (HubSpot: so many per 10 seconds, and search so many per
second) and per day (both CRMs). Rather than learn of a limit from a 429, every call first asks
the budget for a slot: :meth:`Budget.acquire` blocks until the call fits every window it counts
in, and refuses with :class:`~crmpulse.errors.BudgetExhaustedError` once the day's allocation,
less a reserve kept for the customer's other integrations, is spent.

A slot is held from the moment the call starts until ``window`` seconds after its answer came
back: the server admitted the call somewhere in between, so measured that way our own calls can
never crowd a server-side window, whatever the latency. The CRM's own figures (rate-limit headers,
``Sforce-Limit-Info``) correct the budget whenever a response carries them: a smaller limit than
configured, calls made by other processes sharing the app, the day's real usage.

This module knows no CRM SDK; the connectors translate their headers into :meth:`Slot.release`
arguments.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import structlog

from crmpulse.errors import BudgetExhaustedError

log = structlog.get_logger("crmpulse.budget")

CallKind = Literal["read", "write", "search"]
"""``search`` is a read that counts in the search window instead of the general one."""

CLOCK_MARGIN = 0.02
"""Seconds added to every window: the server's clock ticks apart from ours."""


@dataclass(frozen=True)
class Window:
    """At most ``limit`` calls in any ``seconds``-long rolling window."""

    limit: int
    seconds: float


@dataclass(frozen=True)
class Limits:
    """What a CRM allows one app or org."""

    window: Window | None = None
    """The general rolling window (HubSpot: per 10 s); ``None``: none."""
    search: Window | None = None
    """The search endpoints' own window; ``None``: searches count in ``window``."""
    daily: int | None = None
    """Calls per day; ``None`` until a response says."""


HUBSPOT_TIERS: dict[str, Limits] = {
    "free": Limits(Window(100, 10.0), Window(5, 1.0), 250_000),
    "starter": Limits(Window(100, 10.0), Window(5, 1.0), 250_000),
    "professional": Limits(Window(190, 10.0), Window(5, 1.0), 625_000),
    "enterprise": Limits(Window(190, 10.0), Window(5, 1.0), 1_000_000),
    "api_add_on": Limits(Window(250, 10.0), Window(5, 1.0), 1_625_000),
}
"""HubSpot's published limits for privately distributed apps, per account tier
(``api_add_on``: a Professional portal with one API Limit Increase)."""


def reserve_calls(reserve: float, daily: int) -> int:
    """Calls kept back: ``reserve`` below 1 is a fraction of ``daily``, from 1 up a count."""
    if reserve <= 0:
        return 0
    if reserve < 1:
        return math.ceil(reserve * daily)
    return int(reserve)


@dataclass(frozen=True)
class BudgetState:
    """A snapshot of a budget, for reports and estimates."""

    source: str
    daily_limit: int | None
    daily_used: int
    reserve: int
    calls: int
    waited_seconds: float
    window_limit: int | None = None
    """Calls allowed per general window, as configured or lowered by the CRM's headers."""

    @property
    def available(self) -> int | None:
        """Calls left today before the reserve; ``None`` while the allocation is unknown."""
        if self.daily_limit is None:
            return None
        return max(0, self.daily_limit - self.reserve - self.daily_used)


class _Meter:
    """One rolling window: calls in flight hold a slot; a finished call holds it until its
    answer is ``seconds`` old."""

    def __init__(self, window: Window) -> None:
        self.limit = window.limit
        self.seconds = window.seconds + CLOCK_MARGIN
        self.in_flight = 0
        self.expiries: deque[float] = deque()
        """When the slots of finished (and foreign) calls free up; non-decreasing."""
        self.closed_until = 0.0

    def used(self, now: float) -> int:
        while self.expiries and self.expiries[0] <= now:
            self.expiries.popleft()
        return self.in_flight + len(self.expiries)

    def wait(self, now: float) -> float | None:
        """Seconds until a slot frees (0: one is free); ``None``: only a call ending frees one."""
        if now < self.closed_until:
            return self.closed_until - now
        used = self.used(now)
        if used < self.limit:
            return 0.0
        need = used - self.limit + 1
        if need <= len(self.expiries):
            return max(0.0, self.expiries[need - 1] - now)
        return None

    def start(self) -> None:
        self.in_flight += 1

    def finish(self, now: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self.expiries.append(now + self.seconds)

    def foreign(self, server_used: int, now: float) -> None:
        """The server counts ``server_used`` calls in its window: make room for those not ours."""
        missing = server_used - self.used(now)
        for _ in range(max(0, missing)):
            self.expiries.append(now + self.seconds)


class Slot:
    """Permission for one call; release it when the answer (or the failure) is in."""

    def __init__(self, budget: Budget, meter: _Meter | None) -> None:
        self._budget = budget
        self._meter = meter
        self._released = False

    def release(
        self,
        *,
        daily_limit: int | None = None,
        daily_remaining: int | None = None,
        daily_used: int | None = None,
        window_limit: int | None = None,
        window_remaining: int | None = None,
    ) -> None:
        """The call is over; pass what its response said about the limits, if anything.

        ``daily_used`` or ``daily_remaining`` (with ``daily_limit``) are the CRM's count for the
        day including this call; ``window_limit``/``window_remaining`` its rolling window.
        """
        if self._released:
            return
        self._released = True
        self._budget._release(
            self._meter,
            daily_limit=daily_limit,
            daily_remaining=daily_remaining,
            daily_used=daily_used,
            window_limit=window_limit,
            window_remaining=window_remaining,
        )


class Budget:
    """The calls one source may still make: rolling windows and the daily allocation.

    ``reserve`` (a fraction of the allocation below 1, a number of calls from 1 up) is left for
    the customer's other integrations. ``daily_cap``, when set, caps the allocation below what the
    CRM reports. Thread-safe: any number of threads may share one budget.
    """

    def __init__(
        self,
        source: str,
        limits: Limits,
        *,
        reserve: float = 0.0,
        daily_cap: int | None = None,
        reserve_setting: str = "budget reserve",
        clock: Callable[[], float] = time.monotonic,
        today: Callable[[], int] = lambda: int(time.time() // 86_400),
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.source = source
        self.reserve = reserve
        self.daily_cap = daily_cap
        self._reserve_setting = reserve_setting
        self._clock = clock
        self._today = today
        self._sleep = sleep
        self._cond = threading.Condition()
        self._window = _Meter(limits.window) if limits.window else None
        self._search = _Meter(limits.search) if limits.search else self._window
        self._daily_limit = self._capped(limits.daily)
        self._daily_used = 0
        self._day = today()
        self._in_flight = 0
        self._calls = 0
        self._waited = 0.0

    def _capped(self, daily: int | None) -> int | None:
        if self.daily_cap is None:
            return daily
        return self.daily_cap if daily is None else min(daily, self.daily_cap)

    # -- asking ----------------------------------------------------------------------------

    def acquire(self, kind: CallKind = "read") -> Slot:
        """Block until a call of ``kind`` fits every window; count it against the day.

        Raises ``BudgetExhaustedError`` when the call would eat into the reserve.
        """
        meter = self._search if kind == "search" else self._window
        with self._cond:
            while True:
                now = self._clock()
                self._roll_day()
                self._check_daily()
                pause = meter.wait(now) if meter is not None else 0.0
                if pause == 0.0:
                    break
                started = now
                if self._sleep is not None and pause is not None:
                    # an injected sleep (tests): step the fake clock without the lock
                    self._cond.release()
                    try:
                        self._sleep(pause)
                    finally:
                        self._cond.acquire()
                else:
                    self._cond.wait(pause)
                self._waited += max(0.0, self._clock() - started)
            if meter is not None:
                meter.start()
            self._in_flight += 1
            self._daily_used += 1
            self._calls += 1
            return Slot(self, meter)

    @contextmanager
    def call(self, kind: CallKind = "read") -> Iterator[Slot]:
        """``acquire`` as a context: the slot is released on the way out if the body did not."""
        slot = self.acquire(kind)
        try:
            yield slot
        finally:
            slot.release()

    def throttled(self, kind: CallKind, seconds: float) -> None:
        """The CRM answered 429 all the same (another app sharing the limit): hold calls of
        ``kind`` back for ``seconds``."""
        meter = self._search if kind == "search" else self._window
        if meter is None:
            return
        with self._cond:
            meter.closed_until = max(meter.closed_until, self._clock() + seconds)
            log.info("budget.throttled", source=self.source, kind=kind, seconds=seconds)

    def state(self) -> BudgetState:
        """Where the budget stands now."""
        with self._cond:
            self._roll_day()
            return BudgetState(
                source=self.source,
                daily_limit=self._daily_limit,
                daily_used=self._daily_used,
                reserve=self._reserve_count(),
                calls=self._calls,
                waited_seconds=self._waited,
                window_limit=self._window.limit if self._window else None,
            )

    # -- bookkeeping -----------------------------------------------------------------------

    def _reserve_count(self) -> int:
        return reserve_calls(self.reserve, self._daily_limit) if self._daily_limit else 0

    def _roll_day(self) -> None:
        day = self._today()
        if day != self._day:
            self._day, self._daily_used = day, self._in_flight

    def _check_daily(self) -> None:
        limit = self._daily_limit
        if limit is None:
            return
        reserve = self._reserve_count()
        if self._daily_used + 1 > limit - reserve:
            resume = "the store keeps what was pulled and the next run resumes from there"
            hint = (
                f"{resume}; lower {self._reserve_setting} to let crmpulse use more of it"
                if reserve
                else f"{resume} once the CRM renews the allocation"
            )
            raise BudgetExhaustedError(
                f"{self.source}: today's API budget is spent: {self._daily_used:,} of "
                f"{limit:,} daily calls used, {reserve:,} kept in reserve for other integrations",
                hint=hint,
            )

    def _release(
        self,
        meter: _Meter | None,
        *,
        daily_limit: int | None,
        daily_remaining: int | None,
        daily_used: int | None,
        window_limit: int | None,
        window_remaining: int | None,
    ) -> None:
        with self._cond:
            now = self._clock()
            self._in_flight = max(0, self._in_flight - 1)
            if daily_limit is not None:
                self._daily_limit = self._capped(daily_limit)
            if daily_used is None and daily_limit is not None and daily_remaining is not None:
                daily_used = daily_limit - daily_remaining
            if daily_used is not None:
                # the CRM's count includes this call, not those still in flight
                self._daily_used = daily_used + self._in_flight
            if meter is not None:
                meter.finish(now)
                # only ever lower: a smaller configured limit leaves room for other apps
                if window_limit is not None and 0 < window_limit < meter.limit:
                    log.info(
                        "budget.window_corrected",
                        source=self.source,
                        configured=meter.limit,
                        reported=window_limit,
                    )
                    meter.limit = window_limit
                if window_remaining is not None:
                    meter.foreign(meter.limit - window_remaining, now)
            self._cond.notify_all()


def hubspot_budget(
    source: str,
    *,
    tier: str = "professional",
    burst_limit: int | None = None,
    daily_allocation: int | None = None,
    reserve: float = 0.0,
) -> Budget:
    """A HubSpot portal's budget: the tier's windows (the general one no wider than
    ``burst_limit``), its daily allocation unless ``daily_allocation`` says otherwise."""
    base = HUBSPOT_TIERS[tier]
    window = base.window
    if window is not None and burst_limit is not None and burst_limit < window.limit:
        window = Window(burst_limit, window.seconds)
    limits = Limits(window=window, search=base.search, daily=daily_allocation or base.daily)
    return Budget(
        source,
        limits,
        reserve=reserve,
        daily_cap=daily_allocation,
        reserve_setting="budget.hubspot_reserve (CRMPULSE_BUDGET__HUBSPOT_RESERVE)",
    )


def salesforce_budget(
    source: str, *, daily_allocation: int | None = None, reserve: float = 0.0
) -> Budget:
    """A Salesforce org's budget: no rolling window, the 24-hour allocation (learnt from
    ``Sforce-Limit-Info`` unless ``daily_allocation`` caps it)."""
    return Budget(
        source,
        Limits(daily=daily_allocation),
        reserve=reserve,
        daily_cap=daily_allocation,
        reserve_setting="budget.salesforce_reserve (CRMPULSE_BUDGET__SALESFORCE_RESERVE)",
    )
