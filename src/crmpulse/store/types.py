"""Column types shared by the schema and its migrations.

Migrations import these by name, so they are part of the migration history: change them only in a
way that keeps the stored representation the same.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["SCAN_INDEXES", "AutoId", "JsonDoc", "RawJson", "UtcDateTime"]


class _SqliteText(sqlite.DATETIME):
    """``DATETIME`` in DDL, but values pass through untouched (``UtcDateTime`` formats them)."""

    def bind_processor(self, dialect: Dialect) -> None:
        return None

    def result_processor(self, dialect: Dialect, coltype: object) -> None:
        return None


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored in UTC and always read back as aware UTC.

    PostgreSQL keeps it in a ``timestamptz``. SQLite has no zone support, so the value is stored as
    naive UTC text in SQLAlchemy's own format (``YYYY-MM-DD HH:MM:SS.ffffff``), which sorts and
    compares correctly. Naive datetimes are refused rather than guessed.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """Plain text on SQLite (formatted here, much faster than the generic processor)."""
        if dialect.name == "sqlite":
            return _SqliteText()  # type: ignore[no-untyped-call]
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        """Normalize to UTC (UTC text on SQLite); reject naive input."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value.isoformat()} cannot be stored; attach a zone")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(" ", "microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Return an aware UTC datetime."""
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"not a timestamp: {value!r}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class RawJson(str):
    """JSON text that is already serialized; ``JsonDoc`` stores it without encoding it again."""

    __slots__ = ()


class JsonDoc(TypeDecorator[Any]):
    """JSON text on SQLite, ``jsonb`` on PostgreSQL; accepts Python values or ``RawJson``."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        """``jsonb`` on PostgreSQL, JSON text elsewhere."""
        return dialect.type_descriptor(JSONB() if dialect.name == "postgresql" else JSON())

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """Encode Python values; pass ``RawJson`` through as it is."""
        inner = self.load_dialect_impl(dialect).bind_processor(dialect)
        if inner is None:
            return None
        encode = inner

        def process(value: Any) -> Any:
            return str(value) if isinstance(value, RawJson) else encode(value)

        return process


AutoId: TypeEngine[int] = BigInteger().with_variant(Integer(), "sqlite")
"""An auto-incrementing surrogate key (SQLite only auto-increments ``INTEGER PRIMARY KEY``)."""


SCAN_INDEXES: dict[str, tuple[str, ...]] = {
    # deleted_at last: a lookup by account or contact keeps using that column's own index
    "tickets": (
        "created_at",
        "first_response_at",
        "closed_at",
        "account_id",
        "contact_id",
        "deleted_at",
    ),
    "deals": (
        "created_at",
        "closed_at",
        "amount",
        "is_closed",
        "is_won",
        "account_id",
        "deleted_at",
    ),
    "activities": (
        "activity_kind",
        "occurred_at",
        "direction",
        "account_id",
        "contact_id",
        "deleted_at",
    ),
    "contacts": ("id", "account_id", "became_lead_at", "became_customer_at", "deleted_at"),
}
"""Covering indexes the KPI engine's column scans are answered from (migration 0002; a change
needs a new revision)."""
