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

import functools
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
from sqlalchemy.dialects import sqlite

from crmpulse.store.records import entity_table
from crmpulse.store.types import UtcDateTime

Row = Sequence[Any]


def _expression(postgres: bool, entity: str, name: str) -> ColumnElement[Any]:
    table = entity_table(entity)
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


def _query(
    postgres: bool,
    entity: str,
    columns: Sequence[str],
    where_in: tuple[str, Sequence[Any]] | None,
    sources: Sequence[Any] | None,
) -> Select[Any]:
    table = entity_table(entity)
    # no ORDER BY: readers are order-independent, and without it SQLite may answer from a
    # covering index instead of reading every row's JSON document
    query = select(*(_expression(postgres, entity, name) for name in columns)).where(
        table.c.deleted_at.is_(None)
    )
    if where_in is not None:
        name, values = where_in
        query = query.where(table.c[name].in_(list(values)))
    if sources is not None:
        query = query.where(table.c.source.in_(list(sources)))
    return query


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
    if where_in is not None and not where_in[1]:
        return
    if conn.dialect.name == "sqlite":
        yield from _sqlite_rows(conn, entity, columns, where_in, sources, chunk)
        return
    result = conn.execute(_query(True, entity, columns, where_in, sources))
    while rows := result.fetchmany(chunk):
        yield list(rows)


def _sqlite_rows(
    conn: Connection,
    entity: str,
    columns: Sequence[str],
    where_in: tuple[str, Sequence[str]] | None,
    sources: Sequence[str] | None,
    chunk: int,
) -> Iterator[list[Row]]:
    """The query on the driver's own cursor: plain tuples, no per-row result processing."""
    values = [] if where_in is None else list(where_in[1])
    if values:
        # IN lists are padded with their last value (same rows) to a power of two, at least 8,
        # so a few statement shapes serve every length
        values += values[-1:] * (max(8, 1 << (len(values) - 1).bit_length()) - len(values))
    named = None if sources is None else list(sources)
    sql, plan = _sqlite_plan(
        entity,
        tuple(columns),
        None if where_in is None else where_in[0],
        len(values),
        None if named is None else len(named),
    )
    inputs = {"value": values, "source": named or []}
    params = [inputs[kind][at] if kind in inputs else at for kind, at in plan]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk):
            yield rows
    finally:
        cursor.close()


@functools.lru_cache(maxsize=1024)
def _sqlite_plan(
    entity: str, columns: tuple[str, ...], where: str | None, values: int, sources: int | None
) -> tuple[str, tuple[tuple[str, Any], ...]]:
    """The SQL of one shape of scan, and where each of its parameters comes from.

    Building and compiling the statement costs more than running an indexed lookup, and a
    one-account read runs ten of them; a shape (entity, columns, how many values) is compiled
    once. Placeholders are traced back through marker values: ``("value", i)`` is the i-th
    value of ``where_in``, ``("source", i)`` the i-th source, anything else a constant.
    """
    markers = {f"\0value{i}": ("value", i) for i in range(values)}
    markers |= {f"\0source{i}": ("source", i) for i in range(sources or 0)}
    query = _query(
        False,
        entity,
        columns,
        None if where is None else (where, [f"\0value{i}" for i in range(values)]),
        None if sources is None else [f"\0source{i}" for i in range(sources)],
    )
    compiled = query.compile(dialect=_SQLITE, compile_kwargs={"render_postcompile": True})
    plan = []
    for name in compiled.positiontup or []:
        value = compiled.params[name]
        plan.append(
            markers.get(value, ("constant", value))
            if isinstance(value, str)
            else ("constant", value)
        )
    return str(compiled), tuple(plan)


_SQLITE = sqlite.dialect()
