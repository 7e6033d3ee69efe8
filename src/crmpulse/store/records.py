"""Record-level SQL: dialect-aware bulk upserts, keyset-paged reads, soft deletes.

Records are written as their typed columns plus ``doc`` (the JSON dump of the whole record) and
read back from ``doc`` only, so a record round-trips exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from enum import Enum
from itertools import islice
from typing import Any, TypeVar, get_args

from pydantic import TypeAdapter
from sqlalchemy import (
    Connection,
    Select,
    Table,
    Text,
    cast,
    func,
    literal,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert

from crmpulse.model import ENTITY_TYPES, Record, entity_of
from crmpulse.store.schema import ENTITY_TABLES
from crmpulse.store.types import RawJson

T = TypeVar("T")
_UTC_JSON = TypeAdapter(datetime)
_TYPED_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c.name for c in table.columns if c.name != "doc")
    for name, table in ENTITY_TABLES.items()
}


def _is_enum(annotation: object) -> bool:
    if isinstance(annotation, type):
        return issubclass(annotation, Enum)
    return any(_is_enum(arg) for arg in get_args(annotation))


# Columns holding enum members, which are stored as their plain values.
_ENUM_COLUMNS: dict[str, tuple[str, ...]] = {
    name: tuple(c for c in columns if _is_enum(ENTITY_TYPES[name].model_fields[c].annotation))
    for name, columns in _TYPED_COLUMNS.items()
}


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Split an iterable into lists of at most ``size`` items."""
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def entity_table(entity: str) -> Table:
    """The table of a store entity, or ``KeyError`` naming the known entities."""
    try:
        return ENTITY_TABLES[entity]
    except KeyError:
        known = ", ".join(ENTITY_TABLES)
        raise KeyError(f"unknown entity {entity!r}; known: {known}") from None


def upsert_statement(
    conn: Connection,
    table: Table,
    update_columns: Sequence[str] | None = None,
    *,
    newer_only: bool = False,
) -> Insert:
    """``INSERT ... ON CONFLICT (primary key) DO UPDATE`` for SQLite and PostgreSQL.

    ``newer_only`` keeps the stored row when it has a strictly later ``updated_at``.
    """
    name = conn.dialect.name
    if name == "postgresql":
        stmt: postgresql.Insert | sqlite.Insert = postgresql.insert(table)
    elif name == "sqlite":
        stmt = sqlite.insert(table)
    else:  # pragma: no cover - open() only builds engines for the two
        raise NotImplementedError(f"upsert is not implemented for {name}")
    keys = [c.name for c in table.primary_key.columns]
    columns = update_columns or [c.name for c in table.columns if c.name not in keys]
    where = table.c.updated_at <= stmt.excluded.updated_at if newer_only else None
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in columns}, where=where
    )


def record_row(record: Record, entity: str) -> dict[str, Any]:
    """The row of one record: its typed columns and its JSON ``doc``."""
    row = {c: getattr(record, c) for c in _TYPED_COLUMNS[entity]}
    for column in _ENUM_COLUMNS[entity]:
        if row[column] is not None:
            row[column] = row[column].value
    row["doc"] = RawJson(record.model_dump_json())
    return row


def group_rows(records: Iterable[Record]) -> dict[str, list[dict[str, Any]]]:
    """Rows by entity; of several versions of one record, the newest (then the last) wins."""
    grouped: dict[str, dict[tuple[str, str], dict[str, Any]]] = {}
    for record in records:
        entity = entity_of(record)
        rows = grouped.setdefault(entity, {})
        key = (record.source, record.id)
        seen = rows.get(key)
        if seen is None or seen["updated_at"] <= record.updated_at:
            rows[key] = record_row(record, entity)
    return {entity: list(rows.values()) for entity, rows in grouped.items()}


def write_rows(conn: Connection, entity: str, rows: Sequence[Mapping[str, Any]], size: int) -> int:
    """Upsert rows of one entity in chunks; returns how many rows were inserted or updated.

    Rows skipped because the stored version is newer are not counted.
    """
    stmt = upsert_statement(conn, entity_table(entity), newer_only=True)
    options = {"preserve_rowcount": True}  # SQLAlchemy drops INSERT row counts otherwise
    written = 0
    for chunk in chunked(rows, size):
        result = conn.execute(stmt, chunk, execution_options=options)
        written += result.rowcount if result.rowcount >= 0 else len(chunk)
    return written


def _docs(table: Table) -> Select[str, str, str]:
    return select(table.c.source, table.c.id, cast(table.c.doc, Text))


def read_page(
    conn: Connection,
    entity: str,
    *,
    source: str | None,
    include_deleted: bool,
    after: tuple[str, str] | None,
    limit: int,
) -> list[tuple[str, str, str]]:
    """One keyset page of ``(source, id, doc JSON text)`` ordered by primary key."""
    table = entity_table(entity)
    query = _docs(table).order_by(table.c.source, table.c.id).limit(limit)
    if source is not None:
        query = query.where(table.c.source == source)
        if after is not None:
            query = query.where(table.c.id > after[1])
    elif after is not None:
        query = query.where(tuple_(table.c.source, table.c.id) > tuple_(*map(literal, after)))
    if not include_deleted:
        query = query.where(table.c.deleted_at.is_(None))
    return [(s, i, d) for s, i, d in conn.execute(query)]


def parse(entity: str, doc: str) -> Record:
    """Rebuild a record from its stored JSON."""
    return ENTITY_TYPES[entity].model_validate_json(doc)


def read_one(conn: Connection, entity: str, source: str, record_id: str) -> Record | None:
    """One record by key, deleted or not."""
    table = entity_table(entity)
    query = _docs(table).where(table.c.source == source, table.c.id == record_id)
    row = conn.execute(query).first()
    return None if row is None else parse(entity, row[2])


def read_many(
    conn: Connection, entity: str, source: str, record_ids: Iterable[str], *, size: int
) -> dict[str, Record]:
    """Records by key, deleted or not; ids not stored are absent from the answer."""
    table = entity_table(entity)
    out: dict[str, Record] = {}
    for chunk in chunked(record_ids, size):
        query = _docs(table).where(table.c.source == source, table.c.id.in_(chunk))
        for _source, record_id, doc in conn.execute(query):
            out[record_id] = parse(entity, doc)
    return out


def count_rows(conn: Connection, entity: str, source: str | None, include_deleted: bool) -> int:
    """How many records an entity holds."""
    table = entity_table(entity)
    query = select(func.count()).select_from(table)
    if source is not None:
        query = query.where(table.c.source == source)
    if not include_deleted:
        query = query.where(table.c.deleted_at.is_(None))
    return int(conn.execute(query).scalar_one())


def mark_rows_deleted(
    conn: Connection, entity: str, source: str, ids: Iterable[str], at: datetime, *, size: int
) -> int:
    """Set ``deleted_at`` (column and ``doc``) on records not already deleted."""
    table = entity_table(entity)
    stamp = _UTC_JSON.dump_python(at, mode="json")
    if conn.dialect.name == "postgresql":
        new_doc: Any = table.c.doc.op("||")(
            func.jsonb_build_object("deleted_at", cast(literal(stamp), Text))
        )
    else:
        new_doc = func.json_set(table.c.doc, "$.deleted_at", stamp)
    marked = 0
    for chunk in chunked(ids, size):
        stmt = (
            update(table)
            .where(table.c.source == source, table.c.id.in_(chunk), table.c.deleted_at.is_(None))
            .values(deleted_at=at, doc=new_doc)
        )
        marked += conn.execute(stmt).rowcount
    return marked
