"""Store-side reconciliation: live ids, deletions by id-set difference, association fields.

Functions take an open connection; ``Store`` wraps each in a transaction. Association fields are
changed on the typed column and in ``doc`` alike (the record is rebuilt, changed and written
back), so records keep round-tripping exactly.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Text, cast, select

from crmpulse.model import ENTITY_TYPES, Record
from crmpulse.store import records

LinkValue = str | tuple[str, ...] | None

REFERENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "accounts": (
        ("contacts", "account_id"),
        ("deals", "account_id"),
        ("tickets", "account_id"),
        ("activities", "account_id"),
        ("surveys", "account_id"),
        ("conversions", "account_id"),
    ),
    "contacts": (
        ("deals", "contact_ids"),
        ("tickets", "contact_id"),
        ("activities", "contact_id"),
        ("surveys", "contact_id"),
        ("conversions", "contact_id"),
    ),
    "tickets": (("surveys", "ticket_id"),),
}
"""Entity -> the (entity, field) pairs that point at its records."""


def live_ids(conn: Connection, entity: str, source: str) -> set[str]:
    """Ids of the records of ``entity`` from ``source`` that are not deleted."""
    table = records.entity_table(entity)
    query = select(table.c.id).where(table.c.source == source, table.c.deleted_at.is_(None))
    return {row[0] for row in conn.execute(query)}


def mark_deleted(
    conn: Connection, entity: str, source: str, ids: Iterable[str], at: datetime, *, size: int
) -> int:
    """Mark records deleted at ``at``; returns how many were live before."""
    return records.mark_rows_deleted(conn, entity, source, ids, at, size=size)


def mark_absent(
    conn: Connection, entity: str, source: str, live: set[str], at: datetime, *, size: int
) -> list[str]:
    """Mark deleted every live stored record whose id is not in ``live``; returns those ids."""
    extra = sorted(live_ids(conn, entity, source) - live)
    records.mark_rows_deleted(conn, entity, source, extra, at, size=size)
    return extra


def _is_column(entity: str, field: str) -> bool:
    return field in records.entity_table(entity).c


def links(
    conn: Connection, entity: str, source: str, fields: Sequence[str]
) -> dict[str, dict[str, LinkValue]]:
    """Association fields of every live record: ``{id: {field: value}}``.

    Fields with a typed column are read from it; the others (``contact_ids``) from ``doc``.
    """
    table = records.entity_table(entity)
    columns = [f for f in fields if _is_column(entity, f)]
    from_doc = [f for f in fields if not _is_column(entity, f)]
    selected: list[Any] = [table.c.id, *(table.c[f] for f in columns)]
    if from_doc:
        selected.append(cast(table.c.doc, Text))
    query = select(*selected).where(table.c.source == source, table.c.deleted_at.is_(None))
    out: dict[str, dict[str, LinkValue]] = {}
    for row in conn.execute(query):
        values: dict[str, LinkValue] = dict(zip(columns, row[1 : 1 + len(columns)], strict=True))
        if from_doc:
            record = records.parse(entity, row[-1])
            for f in from_doc:
                value = getattr(record, f)
                values[f] = tuple(value) if isinstance(value, list | tuple) else value
        out[row[0]] = values
    return out


def set_links(
    conn: Connection,
    entity: str,
    source: str,
    changes: Mapping[str, Mapping[str, LinkValue]],
    *,
    size: int,
) -> int:
    """Set association fields on stored records (``{id: {field: value}}``); returns how many
    records changed. Records not stored are skipped."""
    table = records.entity_table(entity)
    changed: list[Record] = []
    for chunk in records.chunked(changes, size):
        query = select(cast(table.c.doc, Text)).where(
            table.c.source == source, table.c.id.in_(chunk)
        )
        for (doc,) in conn.execute(query):
            record = records.parse(entity, doc)
            update = dict(changes[record.id])
            if any(getattr(record, k) != v for k, v in update.items()):
                changed.append(record.model_copy(update=update))
    rows = [records.record_row(r, entity) for r in changed]
    if rows:
        records.write_rows(conn, entity, rows, size)
    return len(rows)


def follow_merges(
    conn: Connection, entity: str, source: str, merged_into: Mapping[str, str], *, size: int
) -> int:
    """Point every reference to a merged-away record of ``entity`` at its survivor; returns how
    many records changed."""
    if not merged_into:
        return 0
    changed = 0
    for child, field in REFERENCES.get(entity, ()):
        if field not in ENTITY_TYPES[child].model_fields:
            continue
        table = records.entity_table(child)
        updates: dict[str, dict[str, LinkValue]] = {}
        if _is_column(child, field):
            for chunk in records.chunked(merged_into, size):
                query = select(table.c.id, table.c[field]).where(
                    table.c.source == source, table.c[field].in_(chunk)
                )
                for child_id, old in conn.execute(query):
                    updates[child_id] = {field: merged_into[old]}
        else:
            for loser in merged_into:
                text = cast(table.c.doc, Text)
                query = select(table.c.id, text).where(
                    table.c.source == source, text.like(f'%"{loser}"%')
                )
                for child_id, doc in conn.execute(query):
                    current = updates.get(child_id, {}).get(field)
                    ids = current if isinstance(current, tuple) else None
                    if ids is None:
                        ids = tuple(getattr(records.parse(child, doc), field))
                    survivor = merged_into[loser]
                    moved = tuple(dict.fromkeys(survivor if i == loser else i for i in ids))
                    updates[child_id] = {field: moved}
        changed += set_links(conn, child, source, updates, size=size)
    return changed
