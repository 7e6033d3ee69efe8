"""The store schema: one ``MetaData`` for records, sync state, runs, KPIs and the write-back ledger.

Every entity table (one per key of ``crmpulse.model.ENTITY_TYPES``) has the primary key
``(source, id)``, typed columns for the fields queries filter or aggregate on, ``deleted_at``, and
``doc``: the whole record as ``model_dump(mode="json")``, which is what records are rebuilt from, so
they round-trip exactly whatever the typed columns hold.

The Alembic revisions under ``migrations/versions`` create this schema; a test compares the two.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
)

from crmpulse.model import ENTITY_TYPES
from crmpulse.store.types import SCAN_INDEXES, AutoId, JsonDoc, UtcDateTime

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)
"""All crmpulse tables."""


def _entity(name: str, *columns: Column[object], indexes: tuple[str, ...] = ()) -> Table:
    table = Table(
        name,
        metadata,
        Column("source", String, primary_key=True),
        Column("id", String, primary_key=True),
        Column("created_at", UtcDateTime, nullable=False),
        Column("updated_at", UtcDateTime, nullable=False),
        Column("deleted_at", UtcDateTime, nullable=True),
        *columns,
        Column("doc", JsonDoc(), nullable=False),
    )
    for column in indexes:
        Index(None, table.c[column])
    return table


accounts = _entity(
    "accounts",
    Column("name", String),
    Column("domain", String),
    Column("segment", String),
    Column("industry", String),
    Column("became_customer_at", UtcDateTime),
    Column("churned_at", UtcDateTime),
    indexes=("segment",),
)
contacts = _entity(
    "contacts",
    Column("email", String),
    Column("lifecycle_stage", String),
    Column("account_id", String),
    Column("became_lead_at", UtcDateTime),
    Column("became_customer_at", UtcDateTime),
    Column("churned_at", UtcDateTime),
    indexes=("account_id",),
)
deals = _entity(
    "deals",
    Column("name", String),
    Column("amount", Numeric),
    Column("currency", String),
    Column("stage", String),
    Column("is_closed", Boolean, nullable=False),
    Column("is_won", Boolean, nullable=False),
    Column("closed_at", UtcDateTime),
    Column("account_id", String),
    indexes=("account_id", "closed_at"),
)
tickets = _entity(
    "tickets",
    Column("priority", String),
    Column("channel", String),
    Column("account_id", String),
    Column("contact_id", String),
    Column("first_response_at", UtcDateTime),
    Column("closed_at", UtcDateTime),
    indexes=("created_at", "account_id", "contact_id"),
)
activities = _entity(
    "activities",
    Column("activity_kind", String, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("direction", String),
    Column("account_id", String),
    Column("contact_id", String),
    indexes=("occurred_at", "account_id", "contact_id"),
)
surveys = _entity(
    "surveys",
    Column("survey_kind", String, nullable=False),
    Column("score", Float, nullable=False),
    Column("scale_min", Integer, nullable=False),
    Column("scale_max", Integer, nullable=False),
    Column("higher_is_better", Boolean, nullable=False),
    Column("answered_at", UtcDateTime, nullable=False),
    Column("contact_id", String),
    Column("account_id", String),
    Column("ticket_id", String),
    indexes=("answered_at", "account_id", "contact_id"),
)
conversions = _entity(
    "conversions",
    Column("contact_id", String, nullable=False),
    Column("account_id", String),
    Column("became_lead_at", UtcDateTime, nullable=False),
    Column("converted_at", UtcDateTime),
    indexes=("became_lead_at", "converted_at", "contact_id"),
)


for _name, _columns in SCAN_INDEXES.items():
    Index(f"ix_{_name}_scan", *(metadata.tables[_name].c[c] for c in _columns))

ENTITY_TABLES: dict[str, Table] = {name: metadata.tables[name] for name in ENTITY_TYPES}
"""Store entity name -> its table."""

sync_cursors = Table(
    "sync_cursors",
    metadata,
    Column("source", String, primary_key=True),
    Column("stream", String, primary_key=True),
    Column("updated_at", UtcDateTime, nullable=False),
    Column("record_id", String, nullable=False),
    Column("visible_before", UtcDateTime, nullable=False),
    Column("changed_at", UtcDateTime, nullable=False),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("trigger", String, nullable=False),
    Column("source", String, nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("finished_at", UtcDateTime),
    Column("status", String, nullable=False),
    Column("stats", JsonDoc()),
    Index(None, "started_at"),
)

_KPI_COLUMNS = (
    ("value", Float, True),
    ("n", Integer, False),
    ("formula_version", Integer, False),
    ("margin_of_error", Float, True),
    ("computed_at", UtcDateTime, False),
    ("run_id", String(36), False),
)

kpi_values = Table(
    "kpi_values",
    metadata,
    Column("kpi", String, primary_key=True),
    Column("level", String, primary_key=True),
    Column("entity_key", String, primary_key=True),  # '' at portfolio level: PKs cannot be NULL
    Column("period", String, primary_key=True),
    *(Column(name, type_, nullable=nullable) for name, type_, nullable in _KPI_COLUMNS),
    Index(None, "period", "level"),
)

kpi_history = Table(
    "kpi_history",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("kpi", String, nullable=False),
    Column("level", String, nullable=False),
    Column("entity_key", String, nullable=False),
    Column("period", String, nullable=False),
    *(Column(name, type_, nullable=nullable) for name, type_, nullable in _KPI_COLUMNS),
    Index(None, "kpi", "level", "entity_key", "period"),
    Index(None, "run_id"),
)

writeback_ledger = Table(
    "writeback_ledger",
    metadata,
    Column("source", String, primary_key=True),
    Column("level", String, primary_key=True),
    Column("object_id", String, primary_key=True),
    Column("property", String, primary_key=True),
    Column("value", Text),
    Column("written_at", UtcDateTime, nullable=False),
    Column("run_id", String(36), nullable=False),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("source", String, nullable=False),
    Column("stream", String, nullable=False),
    Column("record_id", String),
    Column("error", Text, nullable=False),
    Column("payload", JsonDoc()),
    Column("seen_at", UtcDateTime, nullable=False),
    Index(None, "source", "seen_at"),
)

targets_ensured = Table(
    "targets_ensured",
    metadata,
    Column("source", String, primary_key=True),
    Column("spec_hash", String, primary_key=True),
    Column("ensured_at", UtcDateTime, nullable=False),
)

kpi_alerts = Table(
    "kpi_alerts",
    metadata,
    Column("kind", String, primary_key=True),  # "target" or "band"
    Column("kpi", String, primary_key=True),
    Column("level", String, primary_key=True),
    Column("entity_key", String, primary_key=True),
    Column("period", String, primary_key=True),
    Column("value", Float),
    Column("previous", Float),
    Column("message", Text, nullable=False),
    Column("raised_at", UtcDateTime, nullable=False),
    Column("run_id", String(36), nullable=False),
    Index(None, "raised_at"),
)

inbox = Table(
    "inbox",
    metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("source", String, nullable=False),
    Column("dedupe_key", String, nullable=False),
    Column("entity", String, nullable=False),  # a key of crmpulse.model.ENTITY_TYPES
    Column("object_id", String, nullable=False),
    Column("event_type", String, nullable=False),
    Column("occurred_at", UtcDateTime, nullable=False),
    Column("received_at", UtcDateTime, nullable=False),
    Column("payload", JsonDoc()),
    Column("status", String, nullable=False),  # pending, done, ignored, failed
    Column("attempts", Integer, nullable=False),
    Column("processed_at", UtcDateTime),
    Column("error", Text),
    Index(None, "source", "dedupe_key", unique=True),
    Index(None, "status", "id"),
)
