"""``Store``: records, sync cursors, runs, KPI values, the write-back ledger and quarantine.

One object per process, safe to share between threads (it holds an engine and its pool). Every
method runs in its own transaction; writes on SQLite take the write lock up front
(``BEGIN IMMEDIATE``), so concurrent writers wait up to the busy timeout instead of failing.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.engine import URL

from crmpulse.errors import StoreError
from crmpulse.kpis.values import KpiValue
from crmpulse.model import Record
from crmpulse.ports import Cursor
from crmpulse.store import columns as columns_
from crmpulse.store import kpistore, records
from crmpulse.store.engine import (
    create_store_engine,
    read_transaction,
    translate_errors,
    upgrade,
    write_transaction,
)
from crmpulse.store.inbox import Inbox
from crmpulse.store.kpistore import KpiChange
from crmpulse.store.schema import quarantine, runs, sync_cursors, targets_ensured, writeback_ledger

if TYPE_CHECKING:
    from crmpulse.kpis.compare import Alert

_CHUNK = 2000
_TRANSACTION_ROWS = 500
"""Rows one write transaction takes at most where atomicity is not needed: on SQLite a
transaction holds the database's only write lock, and a webhook waiting to be stored should
wait for a few milliseconds of someone else's writing, not for a whole page of it."""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class RunInfo:
    """One sync / compute / write-back run as recorded in ``runs``."""

    id: str
    trigger: str
    source: str
    started_at: datetime
    finished_at: datetime | None
    status: str
    stats: dict[str, Any]


@dataclass(frozen=True)
class QuarantinedRecord:
    """A payload that could not be normalized or written, kept for a person to look at."""

    id: int
    source: str
    stream: str
    record_id: str | None
    error: str
    payload: Any
    seen_at: datetime


class Store:
    """The crmpulse store on SQLite or PostgreSQL. Open it with ``Store.open(url)``."""

    def __init__(self, engine: Engine, url: URL) -> None:
        """Wrap an engine built by ``create_store_engine``; prefer ``Store.open``."""
        self._engine = engine
        self._url = url
        self._inbox: Inbox | None = None
        self._inbox_guard = threading.Lock()

    @classmethod
    def open(cls, url: str, *, migrate: bool = True) -> Self:
        """Connect to ``url`` and, unless ``migrate`` is false, upgrade the schema to the newest.

        ``postgresql://`` and ``postgres://`` URLs use psycopg 3. A SQLite file's directory is
        created if missing. Raises ``StoreError`` when the database cannot be reached or migrated.
        """
        engine, parsed = create_store_engine(url)
        store = cls(engine, parsed)
        try:
            with translate_errors("migrating the store" if migrate else "connecting", parsed):
                if migrate:
                    upgrade(engine)
                else:
                    engine.connect().close()
        except BaseException:
            engine.dispose()
            raise
        return store

    @property
    def engine(self) -> Engine:
        """The SQLAlchemy engine, for read queries the store has no method for."""
        return self._engine

    def reopen(self) -> Store:
        """A second, independent connection to the same store (e.g. for a child process)."""
        return Store.open(self._url.render_as_string(hide_password=False), migrate=False)

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    def close(self) -> None:
        """Close every pooled connection."""
        if self._inbox is not None:
            self._inbox.close()
        self._engine.dispose()

    def __enter__(self) -> Self:
        """Use as a context manager; closes on exit."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Close the store."""
        self.close()

    def __repr__(self) -> str:
        """The store's URL without its password."""
        return f"Store({self._url.render_as_string(hide_password=True)!r})"

    @contextmanager
    def write(self, what: str) -> Iterator[Connection]:
        """A write transaction, committed on exit; errors become ``StoreError`` naming ``what``.

        For the store's own parts (the inbox); everything else goes through named methods.
        """
        with translate_errors(what, self._url), write_transaction(self._engine) as conn:
            yield conn

    @contextmanager
    def read(self, what: str) -> Iterator[Connection]:
        """A read transaction, rolled back on exit; errors become ``StoreError``."""
        with translate_errors(what, self._url), read_transaction(self._engine) as conn:
            yield conn

    @property
    def inbox(self) -> Inbox:
        """The webhook inbox (events accepted, waiting, processed), opened on first use."""
        with self._inbox_guard:
            if self._inbox is None:
                self._inbox = Inbox.open(self._engine, self._url)
        return self._inbox

    # -- records -----------------------------------------------------------------------------

    def upsert(self, records_: Sequence[Record]) -> int:
        """Insert or update records (any mix of entities), a few hundred per transaction.

        A stored record with a strictly later ``updated_at`` than the incoming one is kept, so a
        late, stale read never overwrites a newer version. Returns how many rows were written.
        (Each record is written whole; a page cut short by a crash is pulled again, since the
        cursor moves only after its stream is in.)
        """
        written = 0
        for entity, rows in records.group_rows(records_).items():
            for chunk in records.chunked(rows, _TRANSACTION_ROWS):
                with self.write(f"upserting {len(chunk)} {entity}") as conn:
                    written += records.write_rows(conn, entity, chunk, _CHUNK)
        return written

    def iter_records(
        self,
        entity: str,
        *,
        source: str | None = None,
        include_deleted: bool = False,
        batch: int = 5000,
    ) -> Iterator[Record]:
        """Stream an entity's records ordered by ``(source, id)``, ``batch`` rows per query.

        Each batch is its own short read, so no connection is held while the caller works.
        """
        if batch < 1:
            raise ValueError(f"batch must be at least 1, got {batch}")
        after: tuple[str, str] | None = None
        while True:
            with self.read(f"reading {entity}") as conn:
                page = records.read_page(
                    conn,
                    entity,
                    source=source,
                    include_deleted=include_deleted,
                    after=after,
                    limit=batch,
                )
            for _source, _id, doc in page:
                yield records.parse(entity, doc)
            if len(page) < batch:
                return
            after = (page[-1][0], page[-1][1])

    def scan(
        self,
        entity: str,
        columns: Sequence[str],
        *,
        where_in: tuple[str, Sequence[str]] | None = None,
        sources: Sequence[str] | None = None,
        chunk: int = 200_000,
    ) -> Iterator[list[columns_.Row]]:
        """Typed columns of live records in chunks, for columnar readers (see ``columns``)."""
        with self.read(f"scanning {entity}") as conn:
            yield from columns_.scan(
                conn, entity, columns, where_in=where_in, sources=sources, chunk=chunk
            )

    def sources(self, entity: str) -> list[str]:
        """The sources (portals, orgs) an entity has records from."""
        table = records.entity_table(entity)
        with self.read(f"listing sources of {entity}") as conn:
            return [row[0] for row in conn.execute(select(table.c.source).distinct())]

    def count(
        self, entity: str, source: str | None = None, *, include_deleted: bool = False
    ) -> int:
        """How many records of ``entity`` (from ``source``) are stored; deleted ones excluded."""
        with self.read(f"counting {entity}") as conn:
            return records.count_rows(conn, entity, source, include_deleted)

    def get(self, entity: str, source: str, id: str) -> Record | None:
        """One record by key (deleted or not), or ``None``."""
        with self.read(f"reading {entity} {id}") as conn:
            return records.read_one(conn, entity, source, id)

    def get_many(self, entity: str, source: str, ids: Iterable[str]) -> dict[str, Record]:
        """Records by key (deleted or not); ids the store lacks are absent."""
        with self.read(f"reading {entity} by id") as conn:
            return records.read_many(conn, entity, source, ids, size=_CHUNK)

    def mark_deleted(self, entity: str, source: str, ids: Iterable[str], at: datetime) -> int:
        """Mark records deleted at ``at``; returns how many were not deleted before."""
        with self.write(f"marking {entity} deleted") as conn:
            return records.mark_rows_deleted(conn, entity, source, ids, at, size=_CHUNK)

    # -- sync cursors --------------------------------------------------------------------------

    def get_cursor(self, source: str, stream: str) -> Cursor | None:
        """Where the next incremental pull of ``stream`` resumes, or ``None`` for a full pull."""
        query = select(sync_cursors).where(
            sync_cursors.c.source == source, sync_cursors.c.stream == stream
        )
        with self.read(f"reading the {stream} cursor") as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        return Cursor(
            updated_at=row.updated_at, record_id=row.record_id, visible_before=row.visible_before
        )

    def set_cursor(self, source: str, stream: str, cursor: Cursor) -> None:
        """Save the cursor of ``stream``."""
        row = {
            "source": source,
            "stream": stream,
            "updated_at": cursor.updated_at,
            "record_id": cursor.record_id,
            "visible_before": cursor.visible_before,
            "changed_at": _now(),
        }
        with self.write(f"saving the {stream} cursor") as conn:
            conn.execute(records.upsert_statement(conn, sync_cursors), [row])

    def clear_cursors(self, source: str) -> int:
        """Forget every cursor of ``source`` (the next sync is a full pull)."""
        with self.write("clearing cursors") as conn:
            stmt = delete(sync_cursors).where(sync_cursors.c.source == source)
            return conn.execute(stmt).rowcount

    # -- runs ------------------------------------------------------------------------------------

    def start_run(self, trigger: str, source: str) -> str:
        """Record a run as ``running``; returns its id."""
        run_id = str(uuid.uuid4())
        row = {
            "id": run_id,
            "trigger": trigger,
            "source": source,
            "started_at": _now(),
            "status": "running",
            "stats": {},
        }
        with self.write("starting a run") as conn:
            conn.execute(insert(runs), [row])
        return run_id

    def finish_run(self, run_id: str, status: str, stats: dict[str, Any]) -> None:
        """Record a run's outcome and its statistics."""
        stmt = (
            update(runs)
            .where(runs.c.id == run_id)
            .values(status=status, stats=stats, finished_at=_now())
        )
        with self.write(f"finishing run {run_id}") as conn:
            if conn.execute(stmt).rowcount == 0:
                raise StoreError(f"run {run_id} does not exist", hint="start it with start_run")

    def last_runs(self, limit: int = 10) -> list[RunInfo]:
        """The most recent runs, newest first."""
        query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id).limit(limit)
        with self.read("reading runs") as conn:
            rows = conn.execute(query).all()
        return [
            RunInfo(
                id=r.id,
                trigger=r.trigger,
                source=r.source,
                started_at=r.started_at,
                finished_at=r.finished_at,
                status=r.status,
                stats=r.stats or {},
            )
            for r in rows
        ]

    # -- KPI values ------------------------------------------------------------------------------

    def save_kpis(self, values: Iterable[KpiValue], run_id: str) -> int:
        """Store current KPI values; returns how many changed (only those go to the history).

        One short transaction per chunk, not one for all: other writers (the webhook inbox)
        wait for a chunk, never for a whole portfolio's values.
        """
        now = _now()
        changed = 0
        for chunk in records.chunked(values, _TRANSACTION_ROWS):
            with self.write("saving KPI values") as conn:
                changed += kpistore.save(conn, chunk, run_id, now)
        return changed

    def current_kpis(
        self, *, period: str | None = None, kpi: str | None = None, level: str | None = None
    ) -> list[KpiValue]:
        """Current KPI values, optionally filtered by period, KPI name and level."""
        with self.read("reading KPI values") as conn:
            return kpistore.current(conn, period=period, kpi=kpi, level=level)

    def kpi_history(
        self, kpi: str, level: str, entity_id: str | None, period: str
    ) -> list[KpiChange]:
        """Every value one KPI of one entity took in one period, oldest first."""
        with self.read("reading KPI history") as conn:
            return kpistore.history(conn, kpi, level, entity_id, period)

    def record_alerts(self, alerts: Iterable[Alert], run_id: str) -> list[Alert]:
        """Record KPI alerts; returns the ones not recorded before (each is raised once)."""
        with self.write("recording KPI alerts") as conn:
            return kpistore.save_alerts(conn, alerts, run_id, _now())

    def alerts(self, *, period: str | None = None) -> list[dict[str, Any]]:
        """Recorded KPI alerts, newest first."""
        with self.read("reading KPI alerts") as conn:
            return kpistore.recorded_alerts(conn, period=period)

    # -- write-back ledger -------------------------------------------------------------------------

    def ledger_values(
        self, source: str, level: str, object_ids: Iterable[str] | None = None
    ) -> dict[tuple[str, str], str | None]:
        """What we last wrote, keyed ``(object_id, property)``; all objects when ``None``."""
        table = writeback_ledger
        base = select(table.c.object_id, table.c.property, table.c.value).where(
            table.c.source == source, table.c.level == level
        )
        out: dict[tuple[str, str], str | None] = {}
        with self.read("reading the write-back ledger") as conn:
            if object_ids is None:
                out.update(((o, p), v) for o, p, v in conn.execute(base))
                return out
            for chunk in records.chunked(object_ids, _CHUNK):
                query = base.where(table.c.object_id.in_(chunk))
                out.update(((o, p), v) for o, p, v in conn.execute(query))
        return out

    def record_written(
        self, source: str, level: str, rows: Iterable[tuple[str, str, str | None]], run_id: str
    ) -> int:
        """Remember values written to the CRM: ``(object_id, property, value)`` rows."""
        now = _now()
        entries = {
            (object_id, prop): {
                "source": source,
                "level": level,
                "object_id": object_id,
                "property": prop,
                "value": value,
                "written_at": now,
                "run_id": run_id,
            }
            for object_id, prop, value in rows
        }
        if not entries:
            return 0
        for chunk in records.chunked(entries.values(), _TRANSACTION_ROWS):
            with self.write("recording written values") as conn:
                conn.execute(records.upsert_statement(conn, writeback_ledger), chunk)
        return len(entries)

    # -- quarantine and targets --------------------------------------------------------------------

    def quarantine(
        self, source: str, stream: str, record_id: str | None, error: str, payload: Any
    ) -> None:
        """Keep a payload that could not be processed, with the reason."""
        row = {
            "source": source,
            "stream": stream,
            "record_id": record_id,
            "error": error,
            "payload": payload,
            "seen_at": _now(),
        }
        with self.write("quarantining a record") as conn:
            conn.execute(insert(quarantine), [row])

    def quarantined(
        self, source: str | None = None, *, limit: int = 1000
    ) -> list[QuarantinedRecord]:
        """Quarantined payloads, newest first."""
        query = select(quarantine).order_by(quarantine.c.id.desc()).limit(limit)
        if source is not None:
            query = query.where(quarantine.c.source == source)
        with self.read("reading the quarantine") as conn:
            rows = conn.execute(query).all()
        return [
            QuarantinedRecord(
                id=r.id,
                source=r.source,
                stream=r.stream,
                record_id=r.record_id,
                error=r.error,
                payload=r.payload,
                seen_at=r.seen_at,
            )
            for r in rows
        ]

    def targets_ensured(self, source: str, spec_hash: str) -> bool:
        """Whether the targets of ``spec_hash`` were already created in ``source``."""
        query = select(targets_ensured.c.source).where(
            targets_ensured.c.source == source, targets_ensured.c.spec_hash == spec_hash
        )
        with self.read("reading ensured targets") as conn:
            return conn.execute(query).first() is not None

    def mark_targets_ensured(self, source: str, spec_hash: str) -> None:
        """Remember that the targets of ``spec_hash`` exist in ``source``."""
        row = {"source": source, "spec_hash": spec_hash, "ensured_at": _now()}
        with self.write("marking targets ensured") as conn:
            conn.execute(records.upsert_statement(conn, targets_ensured), [row])

    # -- reconciliation ---

    def live_ids(self, entity: str, source: str) -> set[str]:
        """Ids of the live (not deleted) records of ``entity`` from ``source``."""
        from crmpulse.store import reconcile

        with self.read(f"listing live {entity} ids") as conn:
            return reconcile.live_ids(conn, entity, source)

    def mark_absent(self, entity: str, source: str, live: set[str], at: datetime) -> list[str]:
        """Mark deleted at ``at`` every live record of ``entity`` from ``source`` whose id is not
        in ``live`` (the CRM's id set); returns the ids marked."""
        from crmpulse.store import reconcile

        with self.write(f"reconciling {entity} ids") as conn:
            return reconcile.mark_absent(conn, entity, source, live, at, size=_CHUNK)

    def links(self, entity: str, source: str, fields: Sequence[str]) -> dict[str, dict[str, Any]]:
        """Association fields of every live record: ``{id: {field: value}}`` (lists as tuples)."""
        from crmpulse.store import reconcile

        with self.read(f"reading {entity} links") as conn:
            return reconcile.links(conn, entity, source, fields)

    def set_links(self, entity: str, source: str, changes: dict[str, dict[str, Any]]) -> int:
        """Set association fields (``{id: {field: value}}``) on stored records; returns how many
        changed."""
        from crmpulse.store import reconcile

        with self.write(f"updating {entity} links") as conn:
            return reconcile.set_links(conn, entity, source, changes, size=_CHUNK)

    def follow_merges(self, entity: str, source: str, merged_into: dict[str, str]) -> int:
        """Point references to merged-away records of ``entity`` at their survivors; returns how
        many records changed."""
        from crmpulse.store import reconcile

        with self.write(f"following {entity} merges") as conn:
            return reconcile.follow_merges(conn, entity, source, merged_into, size=_CHUNK)
