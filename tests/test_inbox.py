"""The webhook inbox on SQLite and PostgreSQL: durable, deduplicated, settled once."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from crmpulse.errors import StoreError
from crmpulse.events import ChangeEvent
from crmpulse.store import Store
from crmpulse.store.inbox import Accepted, GroupCommit

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def event(key: str, object_id: str = "1", *, ours: bool = False, **payload: object) -> ChangeEvent:
    return ChangeEvent(
        source="hubspot:1",
        entity="contacts",
        object_id=object_id,
        event_type="updated",
        occurred_at=AT,
        dedupe_key=key,
        ours=ours,
        payload=dict(payload),
    )


def test_new_events_are_stored_once_and_redeliveries_are_no_ops(any_store_url: str) -> None:
    with Store.open(any_store_url) as store:
        inbox = store.inbox
        first = inbox.accept([event("a"), event("b", "2", propertyName="x")], AT)
        assert (first.new, first.duplicates, first.ours) == (2, 0, 0)
        again = inbox.accept([event("b", "2"), event("c", "3"), event("c", "3")], AT)
        assert (again.new, again.duplicates) == (1, 2)
        pending = inbox.pending(10)
        assert [(p.dedupe_key, p.object_id) for p in pending] == [
            ("a", "1"),
            ("b", "2"),
            ("c", "3"),
        ]
        assert pending[1].payload == {"propertyName": "x"}
        assert pending[0].received_at == AT
        assert inbox.counts() == {"pending": 3, "done": 0, "ignored": 0, "failed": 0}


def test_our_own_echoes_are_recorded_as_ignored(any_store_url: str) -> None:
    with Store.open(any_store_url) as store:
        accepted = store.inbox.accept([event("mine", ours=True), event("theirs")])
        assert (accepted.new, accepted.ours) == (2, 1)
        assert [p.dedupe_key for p in store.inbox.pending(10)] == ["theirs"]
        assert store.inbox.counts()["ignored"] == 1


def test_settling_counts_attempts_and_never_reopens(any_store_url: str) -> None:
    with Store.open(any_store_url) as store:
        inbox = store.inbox
        inbox.accept([event(k, k) for k in "abcd"], AT)
        ids = {p.dedupe_key: p.id for p in inbox.pending(10)}
        assert inbox.retry_later([ids["a"]], "CRM unavailable") == 1
        assert inbox.finish([ids["b"], ids["c"]], "done") == 2
        assert inbox.finish([ids["b"]], "failed", "late") == 0  # settled rows stay settled
        assert inbox.finish([ids["d"]], "failed", "gave up") == 1
        left = inbox.pending(10)
        assert [(p.dedupe_key, p.attempts) for p in left] == [("a", 1)]
        assert inbox.counts() == {"pending": 1, "done": 2, "ignored": 0, "failed": 1}
        assert inbox.attempts() == {1: 3}
        oldest = inbox.oldest_pending()
        assert oldest is not None
        assert abs(oldest - AT) < timedelta(seconds=1)


def test_concurrent_deliveries_of_the_same_events_store_each_once(any_store_url: str) -> None:
    with Store.open(any_store_url) as store:
        batch = [event(f"k{i}", str(i)) for i in range(200)]
        results = []

        def deliver() -> None:
            results.append(store.inbox.accept(batch, AT))

        threads = [threading.Thread(target=deliver) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sum(r.new for r in results) == 200
        assert sum(r.duplicates for r in results) == 5 * 200
        assert store.inbox.counts()["pending"] == 200


def test_group_commit_writes_concurrent_callers_together_and_shares_errors() -> None:
    batches: list[list[int]] = []
    writing, gate = threading.Event(), threading.Event()

    def write(items: list[int]) -> list[int]:
        if not batches:
            writing.set()
            gate.wait(5)  # hold the first turn while the others queue up
        batches.append(items)
        if -1 in items:
            raise StoreError("disk full")
        return [i * 10 for i in items]

    group = GroupCommit(write)
    results: dict[int, int | str] = {}

    def call(i: int) -> None:
        try:
            results[i] = group.submit(i)
        except StoreError as exc:
            results[i] = str(exc)

    first = threading.Thread(target=call, args=(0,))
    first.start()
    assert writing.wait(5)
    others = [threading.Thread(target=call, args=(i,)) for i in range(1, 9)]
    for t in others:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in [first, *others]:
        t.join(5)
    assert results == {i: i * 10 for i in range(9)}
    assert batches[0] == [0]
    assert sorted(i for b in batches[1:] for i in b) == list(range(1, 9))
    assert len(batches) < 9  # the waiting callers were written together

    assert group.submit(7) == 70
    with pytest.raises(StoreError, match="disk full"):
        group.submit(-1)
    assert group.submit(8) == 80  # an error ends only its own batch


def test_concurrent_deliveries_of_the_same_events_are_stored_once(any_store_url: str) -> None:
    with Store.open(any_store_url) as store:
        deliveries = [[event(f"e{(d * 7 + k) % 40}") for k in range(10)] for d in range(24)]
        accepted: list[Accepted] = []
        lock = threading.Lock()

        def deliver(events: list[ChangeEvent]) -> None:
            got = store.inbox.accept(events)
            with lock:
                accepted.append(got)

        threads = [threading.Thread(target=deliver, args=(d,)) for d in deliveries]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        distinct = {e.dedupe_key for d in deliveries for e in d}
        assert sum(a.new for a in accepted) == len(distinct) == store.inbox.counts()["pending"]
        assert sum(a.duplicates for a in accepted) == 240 - len(distinct)


def test_on_sqlite_the_inbox_syncs_every_commit_and_the_store_does_not(tmp_path: Path) -> None:
    """An acknowledged event must survive a power loss; the rest can be synced again."""
    with Store.open(f"sqlite:///{tmp_path / 'crmpulse.db'}") as store:
        assert store.inbox.separate
        with store.inbox.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
