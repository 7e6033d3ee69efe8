"""The initial schema: entity tables, sync cursors, runs, KPI values and history, ledger.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crmpulse.store.types import AutoId, JsonDoc, UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _entities() -> dict[str, tuple[list[sa.Column[object]], tuple[str, ...]]]:
    # Built on demand: a Column object can belong to only one table.
    s, dt, b = sa.String, UtcDateTime, sa.Boolean
    return {
        "accounts": (
            [
                sa.Column("name", s()),
                sa.Column("domain", s()),
                sa.Column("segment", s()),
                sa.Column("industry", s()),
                sa.Column("became_customer_at", dt()),
                sa.Column("churned_at", dt()),
            ],
            ("segment",),
        ),
        "contacts": (
            [
                sa.Column("email", s()),
                sa.Column("lifecycle_stage", s()),
                sa.Column("account_id", s()),
                sa.Column("became_lead_at", dt()),
                sa.Column("became_customer_at", dt()),
                sa.Column("churned_at", dt()),
            ],
            ("account_id",),
        ),
        "deals": (
            [
                sa.Column("name", s()),
                sa.Column("amount", sa.Numeric()),
                sa.Column("currency", s()),
                sa.Column("stage", s()),
                sa.Column("is_closed", b(), nullable=False),
                sa.Column("is_won", b(), nullable=False),
                sa.Column("closed_at", dt()),
                sa.Column("account_id", s()),
            ],
            ("account_id", "closed_at"),
        ),
        "tickets": (
            [
                sa.Column("priority", s()),
                sa.Column("channel", s()),
                sa.Column("account_id", s()),
                sa.Column("contact_id", s()),
                sa.Column("first_response_at", dt()),
                sa.Column("closed_at", dt()),
            ],
            ("created_at", "account_id", "contact_id"),
        ),
        "activities": (
            [
                sa.Column("activity_kind", s(), nullable=False),
                sa.Column("occurred_at", dt(), nullable=False),
                sa.Column("direction", s()),
                sa.Column("account_id", s()),
                sa.Column("contact_id", s()),
            ],
            ("occurred_at", "account_id", "contact_id"),
        ),
        "surveys": (
            [
                sa.Column("survey_kind", s(), nullable=False),
                sa.Column("score", sa.Float(), nullable=False),
                sa.Column("scale_min", sa.Integer(), nullable=False),
                sa.Column("scale_max", sa.Integer(), nullable=False),
                sa.Column("higher_is_better", b(), nullable=False),
                sa.Column("answered_at", dt(), nullable=False),
                sa.Column("contact_id", s()),
                sa.Column("account_id", s()),
                sa.Column("ticket_id", s()),
            ],
            ("answered_at", "account_id", "contact_id"),
        ),
        "conversions": (
            [
                sa.Column("contact_id", s(), nullable=False),
                sa.Column("account_id", s()),
                sa.Column("became_lead_at", dt(), nullable=False),
                sa.Column("converted_at", dt()),
            ],
            ("became_lead_at", "converted_at", "contact_id"),
        ),
    }


def _kpi_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("formula_version", sa.Integer(), nullable=False),
        sa.Column("margin_of_error", sa.Float(), nullable=True),
        sa.Column("computed_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
    ]


def upgrade() -> None:
    """Create every table and index."""
    for name, (columns, indexes) in _entities().items():
        op.create_table(
            name,
            sa.Column("source", sa.String(), nullable=False),
            sa.Column("id", sa.String(), nullable=False),
            sa.Column("created_at", UtcDateTime(), nullable=False),
            sa.Column("updated_at", UtcDateTime(), nullable=False),
            sa.Column("deleted_at", UtcDateTime(), nullable=True),
            *columns,
            sa.Column("doc", JsonDoc(), nullable=False),
            sa.PrimaryKeyConstraint("source", "id", name=f"pk_{name}"),
        )
        for column in indexes:
            op.create_index(f"ix_{name}_{column}", name, [column])

    op.create_table(
        "sync_cursors",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=False),
        sa.Column("visible_before", UtcDateTime(), nullable=False),
        sa.Column("changed_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "stream", name="pk_sync_cursors"),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("started_at", UtcDateTime(), nullable=False),
        sa.Column("finished_at", UtcDateTime(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("stats", JsonDoc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
    )
    op.create_index("ix_runs_started_at", "runs", ["started_at"])
    op.create_table(
        "kpi_values",
        sa.Column("kpi", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("entity_key", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        *_kpi_columns(),
        sa.PrimaryKeyConstraint("kpi", "level", "entity_key", "period", name="pk_kpi_values"),
    )
    op.create_index("ix_kpi_values_period_level", "kpi_values", ["period", "level"])
    op.create_table(
        "kpi_history",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("kpi", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("entity_key", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        *_kpi_columns(),
        sa.PrimaryKeyConstraint("id", name="pk_kpi_history"),
    )
    op.create_index(
        "ix_kpi_history_kpi_level_entity_key_period",
        "kpi_history",
        ["kpi", "level", "entity_key", "period"],
    )
    op.create_index("ix_kpi_history_run_id", "kpi_history", ["run_id"])
    op.create_table(
        "writeback_ledger",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("property", sa.String(), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("written_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint(
            "source", "level", "object_id", "property", name="pk_writeback_ledger"
        ),
    )
    op.create_table(
        "quarantine",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("stream", sa.String(), nullable=False),
        sa.Column("record_id", sa.String(), nullable=True),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("payload", JsonDoc(), nullable=True),
        sa.Column("seen_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantine"),
    )
    op.create_index("ix_quarantine_source_seen_at", "quarantine", ["source", "seen_at"])
    op.create_table(
        "targets_ensured",
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("spec_hash", sa.String(), nullable=False),
        sa.Column("ensured_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source", "spec_hash", name="pk_targets_ensured"),
    )


def downgrade() -> None:
    """Drop everything this revision created."""
    for name in (
        "targets_ensured",
        "quarantine",
        "writeback_ledger",
        "kpi_history",
        "kpi_values",
        "runs",
        "sync_cursors",
        *reversed(list(_entities())),
    ):
        op.drop_table(name)
