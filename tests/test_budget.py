"""The API budget: rolling windows, header corrections, the reserve, thread safety."""

from __future__ import annotations

import threading
import time

import pytest

from crmpulse.budget import (
    CLOCK_MARGIN,
    Budget,
    Limits,
    Window,
    hubspot_budget,
    reserve_calls,
    salesforce_budget,
)
from crmpulse.errors import BudgetExhaustedError, QuotaExhaustedError, RetriableError
from crmpulse.settings import load_settings


class FakeTime:
    """A clock that only moves when the budget sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.day = 20_000
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


THREE_PER_10S = Window(3, 10.0)


def budget(
    t: FakeTime,
    *,
    window: Window | None = THREE_PER_10S,
    search: Window | None = None,
    daily: int | None = None,
    reserve: float = 0.0,
    cap: int | None = None,
) -> Budget:
    return Budget(
        "test:1",
        Limits(window=window, search=search, daily=daily),
        reserve=reserve,
        daily_cap=cap,
        reserve_setting="budget.test_reserve",
        clock=t.clock,
        today=lambda: t.day,
        sleep=t.sleep,
    )


def test_calls_within_the_window_do_not_wait_and_the_next_waits_for_the_oldest() -> None:
    t = FakeTime()
    b = budget(t)
    for _ in range(3):
        b.acquire("read").release()
        t.now += 1.0
    assert t.slept == []
    b.acquire("write").release()
    # the first call ended at 1000.0: its slot frees 10 s (plus the margin) later
    assert t.now == pytest.approx(1010.0 + CLOCK_MARGIN)
    assert b.state().waited_seconds == pytest.approx(10.0 + CLOCK_MARGIN - 3.0)


def test_a_slot_is_held_from_the_start_until_a_window_after_the_answer() -> None:
    t = FakeTime()
    b = budget(t, window=Window(1, 10.0))
    slot = b.acquire()
    t.now += 4.0  # a slow call: the server may have admitted it as late as now
    slot.release()
    b.acquire().release()
    assert t.now == pytest.approx(1004.0 + 10.0 + CLOCK_MARGIN)


def test_search_has_its_own_window() -> None:
    t = FakeTime()
    b = budget(t, window=Window(2, 10.0), search=Window(1, 1.0))
    b.acquire("search").release()
    b.acquire("read").release()
    b.acquire("read").release()
    assert t.slept == []  # searches do not use the 10-second window
    b.acquire("search").release()
    assert t.now == pytest.approx(1001.0 + CLOCK_MARGIN)


def test_headers_lower_the_window_and_account_for_other_apps() -> None:
    t = FakeTime()
    b = budget(t, window=Window(10, 10.0))
    b.acquire().release(window_limit=4, window_remaining=3)
    # the CRM says 4 per window, 1 used: ours
    b.acquire().release(window_limit=4, window_remaining=0)
    # it now counts 4 where we made 2: two foreign calls hold slots for a window too
    assert t.slept == []
    b.acquire().release()
    assert t.now == pytest.approx(1010.0 + CLOCK_MARGIN)


def test_headers_never_raise_the_configured_window() -> None:
    t = FakeTime()
    b = budget(t, window=Window(1, 10.0))
    b.acquire().release(window_limit=190, window_remaining=189)
    b.acquire().release()
    assert t.slept  # still one per window


def test_daily_usage_follows_the_crm() -> None:
    t = FakeTime()
    b = budget(t, window=None, daily=1000)
    b.acquire().release(daily_limit=500, daily_remaining=120)
    state = b.state()
    assert (state.daily_limit, state.daily_used) == (500, 380)
    b.acquire().release(daily_used=450, daily_limit=500)
    assert b.state().daily_used == 450


def test_the_reserve_is_a_fraction_or_a_count() -> None:
    assert reserve_calls(0.1, 15_000) == 1500
    assert reserve_calls(0.25, 10) == 3
    assert reserve_calls(250, 15_000) == 250
    assert reserve_calls(0, 15_000) == 0


def test_crossing_the_reserve_raises_a_clear_error_before_any_call() -> None:
    t = FakeTime()
    b = budget(t, window=None, daily=100, reserve=0.1)
    for _ in range(90):
        b.acquire().release()
    with pytest.raises(BudgetExhaustedError) as caught:
        b.acquire()
    error = caught.value
    assert isinstance(error, QuotaExhaustedError)
    assert isinstance(error, RetriableError)  # the runner stops cleanly, the next run resumes
    text = str(error)
    assert "90 of 100 daily calls used" in text
    assert "10 kept in reserve" in text
    assert "budget.test_reserve" in text
    assert b.state().daily_used == 90  # the refused call was not counted


def test_the_reserve_counts_usage_reported_by_the_crm() -> None:
    t = FakeTime()
    b = budget(t, window=None, reserve=50)  # allocation unknown until a response says
    b.acquire().release(daily_used=949, daily_limit=1000)
    b.acquire().release()  # the 950th: the last one before the reserve
    with pytest.raises(BudgetExhaustedError):
        b.acquire()


def test_a_daily_cap_wins_over_a_larger_reported_allocation() -> None:
    t = FakeTime()
    b = budget(t, window=None, cap=10)
    b.acquire().release(daily_used=1, daily_limit=625_000)
    assert b.state().daily_limit == 10
    assert b.state().available == 9


def test_usage_restarts_on_a_new_day() -> None:
    t = FakeTime()
    b = budget(t, window=None, daily=2)
    b.acquire().release()
    b.acquire().release()
    with pytest.raises(BudgetExhaustedError):
        b.acquire()
    t.day += 1
    b.acquire().release()
    assert b.state().daily_used == 1


def test_a_429_closes_the_window_for_its_retry_after() -> None:
    t = FakeTime()
    b = budget(t, window=Window(100, 10.0))
    b.throttled("read", 2.5)
    b.acquire().release()
    assert t.now == pytest.approx(1002.5)


def test_threads_share_one_budget_without_crowding_the_window() -> None:
    window = Window(5, 0.2)
    b = Budget("test:threads", Limits(window=window, daily=10_000))
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            with b.call("read"):
                start = time.monotonic()
                time.sleep(0.002)
                end = time.monotonic()
            with lock:
                spans.append((start, end))

    threads = [threading.Thread(target=worker) for _ in range(5)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=30)
    assert len(spans) == 30
    assert b.state().daily_used == 30
    assert b.state().calls == 30
    # when any call started, at most 5 calls (itself included) had started and not yet
    # been over for a whole window
    for start, _end in spans:
        busy = [s for s, e in spans if s <= start < e + window.seconds]
        assert len(busy) <= window.limit
    # and the budget did not stall: 30 calls, 5 per 0.2 s, take about 1 s
    first = min(s for s, _ in spans)
    last = max(s for s, _ in spans)
    assert last - first < 3.0


def test_budgets_built_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMPULSE_BUDGET__HUBSPOT_TIER", "starter")
    monkeypatch.setenv("CRMPULSE_BUDGET__HUBSPOT_RESERVE", "5000")
    monkeypatch.setenv("CRMPULSE_BUDGET__SALESFORCE_DAILY_ALLOCATION", "15000")
    settings = load_settings()
    b = settings.budget
    hub = hubspot_budget(
        "hubspot:x",
        tier=b.hubspot_tier,
        burst_limit=settings.hubspot.burst_limit,
        daily_allocation=b.hubspot_daily_allocation,
        reserve=b.hubspot_reserve,
    )
    state = hub.state()
    assert (state.daily_limit, state.reserve) == (250_000, 5000)
    sf = salesforce_budget(
        "salesforce:x", daily_allocation=b.salesforce_daily_allocation, reserve=b.salesforce_reserve
    )
    assert (sf.state().daily_limit, sf.state().reserve) == (15_000, 1500)


def test_a_lower_burst_setting_narrows_the_tier_window() -> None:
    assert hubspot_budget("hubspot:x", tier="professional").state().window_limit == 190
    assert hubspot_budget("hubspot:x", tier="starter").state().window_limit == 100
    narrowed = hubspot_budget("hubspot:x", tier="professional", burst_limit=150)
    assert narrowed.state().window_limit == 150
