"""Columnar scans: typed columns of live records in chunks of plain tuples, no record objects.

The KPI engine reads millions of rows; building a pydantic record per row would cost more time and
memory than the computation. A scan selects the typed columns it is asked for, in a form numpy
converts quickly:

- timestamps as the stored UTC text on SQLite (``YYYY-MM-DD HH:MM:SS.ffffff``; numpy parses a
  column of them faster than SQLite's date functions convert them), epoch seconds on PostgreSQL;
- numbers as floats, flags as 0/1, strings as they are;
- ``doc.<key>`` selects one top-level field of the stored JSON document (e.g. ``doc.comment``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Integer,
    Select,
    String,
    Text,
    cast,
    func,
    select,
    type_coerce,
)

from crmpulse.store.records import entity_table
from crmpulse.store.types import UtcDateTime

Row = Sequence[Any]


def _expression(conn: Connection, entity: str, name: str) -> ColumnElement[Any]:
    table = entity_table(entity)
    postgres = conn.dialect.name == "postgresql"
    if name.startswith("doc."):
        key = name.removeprefix("doc.")
        if postgres:
            return table.c.doc.op("->>")(key)
        return type_coerce(func.json_extract(table.c.doc, f"$.{key}"), Text)
    column = table.c[name]
    if isinstance(column.type, UtcDateTime):
        return func.extract("epoch", column) if postgres else type_coerce(column, String)
    if name in {"is_closed", "is_won", "higher_is_better"}:
        return cast(column, Integer)
    if name in {"amount", "score"}:
        return cast(column, Float)
    return column


def scan(
    conn: Connection,
    entity: str,
    columns: Sequence[str],
    *,
    where_in: tuple[str, Sequence[str]] | None = None,
    sources: Sequence[str] | None = None,
    chunk: int = 200_000,
) -> Iterator[list[Row]]:
    """Chunks of ``columns`` of the live (not deleted) records of ``entity``, in id order.

    ``where_in=(column, values)`` restricts the scan to rows whose column is one of ``values``;
    with ``sources`` as well, an ``id`` lookup uses the primary key ``(source, id)``.
    """
    table = entity_table(entity)
    # no ORDER BY: readers are order-independent, and without it SQLite may answer from a
    # covering index instead of reading every row's JSON document
    query = select(*(_expression(conn, entity, name) for name in columns)).where(
        table.c.deleted_at.is_(None)
    )
    if where_in is not None:
        name, values = where_in
        if not values:
            return
        query = query.where(table.c[name].in_(list(values)))
    if sources is not None:
        query = query.where(table.c.source.in_(list(sources)))
    if conn.dialect.name == "sqlite":
        yield from _sqlite_rows(conn, query, chunk)
        return
    result = conn.execute(query)
    while rows := result.fetchmany(chunk):
        yield list(rows)


def _sqlite_rows(conn: Connection, query: Select[Any], chunk: int) -> Iterator[list[Row]]:
    """The query on the driver's own cursor: plain tuples, no per-row result processing."""
    compiled = query.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    names = compiled.positiontup or []
    params = [compiled.params[name] for name in names]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(str(compiled), params)
        while rows := cursor.fetchmany(chunk):
            yield rows
    finally:
        cursor.close()
