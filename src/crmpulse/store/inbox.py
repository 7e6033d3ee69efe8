"""The webhook inbox: every accepted event, durable before the CRM hears 2xx.

A webhook is acknowledged only once its events are committed here, so a crash between the answer
and the processing loses nothing: pending rows are picked up by the next worker that runs. The
unique ``(source, dedupe_key)`` makes a redelivered event a no-op, however many times the CRM
retries it. Rows move from ``pending`` to ``done`` (applied), ``ignored`` (our own write-back's
echo: recorded, never recomputed on) or ``failed`` (gave up after ``max_attempts``; the periodic
sync still brings the object in line).

On PostgreSQL the inbox is a table of the store. On SQLite it is a database file of its own
beside the store's (``crmpulse.db`` → ``crmpulse.inbox.db``): SQLite lets one writer at a time
into a file, and storing a webhook must not wait for the worker writing records and KPI values.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, cast

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL

from crmpulse.events import ChangeEvent
from crmpulse.store.engine import (
    create_store_engine,
    read_transaction,
    translate_errors,
    write_transaction,
)
from crmpulse.store.schema import inbox

Status = Literal["pending", "done", "ignored", "failed"]
STATUSES: tuple[Status, ...] = ("pending", "done", "ignored", "failed")

In = TypeVar("In")
Out = TypeVar("Out")


@dataclass(frozen=True)
class InboxItem:
    """One stored event."""

    id: int
    source: str
    dedupe_key: str
    entity: str
    object_id: str
    event_type: str
    occurred_at: datetime
    received_at: datetime
    payload: dict[str, Any]
    attempts: int


@dataclass(frozen=True)
class Accepted:
    """What one delivery added to the inbox."""

    new: int
    """Events stored for the first time (``ours`` included, stored as ``ignored``)."""
    duplicates: int
    """Events already in the inbox (a redelivery): nothing was written for them."""
    ours: int
    """New events caused by crmpulse's own write-back."""


class _Pending(Generic[In, Out]):
    """One thread's work in a :class:`GroupCommit`."""

    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: In) -> None:
        self.item = item
        self.done = False
        self.result: Out | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[In, Out]):
    """Run ``write`` over the items of concurrent callers together, one call at a time.

    A caller queues its item and waits for the writer's turn; whoever gets the turn first writes
    everything queued so far (its own item and those of the callers waiting behind it), and the
    others find theirs already written. Under load one commit serves many callers; alone, a
    caller writes at once. ``write`` gets the items in order and returns one result per item; if
    it raises, every caller of that batch gets the error.
    """

    def __init__(self, write: Callable[[list[In]], list[Out]]) -> None:
        self._write = write
        self._queue: list[_Pending[In, Out]] = []
        self._queue_lock = threading.Lock()
        self._turn = threading.Lock()

    def submit(self, item: In) -> Out:
        """Write ``item`` (with whatever else is queued); its result once committed."""
        pending: _Pending[In, Out] = _Pending(item)
        with self._queue_lock:
            self._queue.append(pending)
        with self._turn:
            if not pending.done:
                with self._queue_lock:
                    batch, self._queue = self._queue, []
                try:
                    results = self._write([p.item for p in batch])
                except BaseException as exc:
                    for p in batch:
                        p.error, p.done = exc, True
                else:
                    for p, result in zip(batch, results, strict=True):
                        p.result, p.done = result, True
        if pending.error is not None:
            raise pending.error
        return cast(Out, pending.result)


def _insert(conn: Connection) -> Any:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(inbox)
    return sqlite.insert(inbox)


def _row(event: ChangeEvent, received_at: datetime) -> dict[str, Any]:
    payload = dict(event.payload)
    if event.related_ids:
        payload["_related_ids"] = list(event.related_ids)
    return {
        "source": event.source,
        "dedupe_key": event.dedupe_key,
        "entity": event.entity,
        "object_id": event.object_id,
        "event_type": event.event_type,
        "occurred_at": event.occurred_at,
        "received_at": received_at,
        "payload": payload,
        "status": "ignored" if event.ours else "pending",
        "attempts": 0,
        "processed_at": received_at if event.ours else None,
    }


def own_file(url: URL) -> str | None:
    """The URL of the inbox's own SQLite file for a SQLite file store (else ``None``)."""
    database = url.database or ""
    in_memory = database in ("", ":memory:") or "mode=memory" in database
    if url.get_backend_name() != "sqlite" or in_memory:
        return None
    path = Path(database)
    beside = path.with_name(f"{path.stem}.inbox{path.suffix or '.db'}")
    return url.set(database=str(beside)).render_as_string(hide_password=False)


class Inbox:
    """The inbox of one store; every method is one short transaction."""

    def __init__(self, engine: Engine, url: URL, *, separate: bool = False) -> None:
        self._engine = engine
        self._url = url
        self._group = GroupCommit(self._insert_deliveries)
        self.separate = separate
        """Whether the inbox has a database of its own (closed with it)."""

    @classmethod
    def open(cls, store_engine: Engine, store_url: URL) -> Inbox:
        """The inbox of a store: its own SQLite file (created if missing), or the store's own
        database (where the migrations made the table)."""
        separate = own_file(store_url)
        if separate is None:
            return cls(store_engine, store_url)
        # an acknowledged event must survive a power loss too: every commit is synced
        engine, url = create_store_engine(separate, synchronous="FULL")
        with translate_errors("creating the webhook inbox", url), write_transaction(engine) as conn:
            inbox.create(conn, checkfirst=True)
        return cls(engine, url, separate=True)

    @property
    def engine(self) -> Engine:
        """The inbox's SQLAlchemy engine (the store's own when it has no file of its own)."""
        return self._engine

    def close(self) -> None:
        """Release the inbox's own connections (a no-op when it shares the store's)."""
        if self.separate:
            self._engine.dispose()

    @contextmanager
    def _write(self, what: str) -> Iterator[Connection]:
        with translate_errors(what, self._url), write_transaction(self._engine) as conn:
            yield conn

    @contextmanager
    def _read(self, what: str) -> Iterator[Connection]:
        with translate_errors(what, self._url), read_transaction(self._engine) as conn:
            yield conn

    def accept(
        self, events: Sequence[ChangeEvent], received_at: datetime | None = None
    ) -> Accepted:
        """Store new events (committed on return); skip known ones.

        Deliveries accepted by several threads at once share one transaction (group commit):
        each waits for the commit that holds its rows, so the disk is synced once for all of them.
        """
        if not events:
            return Accepted(0, 0, 0)
        at = received_at or datetime.now(UTC)
        rows = [_row(e, at) for e in events]
        statuses = self._group.submit(rows)
        ours = sum(1 for s in statuses if s == "ignored")
        return Accepted(new=len(statuses), duplicates=len(rows) - len(statuses), ours=ours)

    def _insert_deliveries(self, deliveries: list[list[dict[str, Any]]]) -> list[list[str]]:
        """Insert several deliveries' rows in one transaction; each one's new rows' statuses."""
        size = sum(len(rows) for rows in deliveries)
        with self._write(f"accepting {size} webhook events") as conn:
            stmt = (
                _insert(conn)
                .on_conflict_do_nothing(index_elements=["source", "dedupe_key"])
                .returning(inbox.c.status)
            )
            return [[row[0] for row in conn.execute(stmt, rows)] for rows in deliveries]

    def pending(self, limit: int, *, source: str | None = None) -> list[InboxItem]:
        """The oldest pending events, at most ``limit``."""
        query = select(inbox).where(inbox.c.status == "pending")
        if source is not None:
            query = query.where(inbox.c.source == source)
        query = query.order_by(inbox.c.id).limit(limit)
        with self._read("reading pending webhook events") as conn:
            rows = conn.execute(query).all()
        return [
            InboxItem(
                id=r.id,
                source=r.source,
                dedupe_key=r.dedupe_key,
                entity=r.entity,
                object_id=r.object_id,
                event_type=r.event_type,
                occurred_at=r.occurred_at,
                received_at=r.received_at,
                payload=r.payload or {},
                attempts=r.attempts,
            )
            for r in rows
        ]

    def finish(self, ids: Iterable[int], status: Status, error: str | None = None) -> int:
        """Close events as ``done``, ``ignored`` or ``failed``; returns how many moved."""
        return self._settle(list(ids), status=status, error=error)

    def retry_later(self, ids: Iterable[int], error: str) -> int:
        """Count a failed attempt and leave the events pending."""
        return self._settle(list(ids), status=None, error=error)

    def _settle(self, ids: list[int], *, status: Status | None, error: str | None) -> int:
        if not ids:
            return 0
        values: dict[str, Any] = {"attempts": inbox.c.attempts + 1, "error": error}
        if status is not None:
            values["status"] = status
            values["processed_at"] = datetime.now(UTC)
        moved = 0
        with self._write(f"settling {len(ids)} webhook events") as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                stmt = (
                    update(inbox)
                    .where(inbox.c.id.in_(chunk), inbox.c.status == "pending")
                    .values(**values)
                )
                moved += conn.execute(stmt).rowcount
        return moved

    def counts(self) -> dict[str, int]:
        """Events per status (every status present, zero when none)."""
        query = select(inbox.c.status, func.count()).group_by(inbox.c.status)
        with self._read("counting webhook events") as conn:
            found = {status: int(n) for status, n in conn.execute(query)}
        return {s: found.get(s, 0) for s in STATUSES}

    def oldest_pending(self) -> datetime | None:
        """When the oldest pending event was received, or ``None``."""
        query = select(func.min(inbox.c.received_at)).where(inbox.c.status == "pending")
        with self._read("reading the inbox backlog") as conn:
            value: datetime | None = conn.execute(query).scalar()
        return value

    def attempts(self) -> dict[int, int]:
        """How many times each settled event was processed: ``{attempts: events}``."""
        query = (
            select(inbox.c.attempts, func.count())
            .where(inbox.c.status != "pending")
            .group_by(inbox.c.attempts)
        )
        with self._read("reading inbox attempts") as conn:
            return {int(a): int(n) for a, n in conn.execute(query)}
