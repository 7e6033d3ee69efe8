"""KPI alerts and the webhook inbox.

``kpi_alerts`` records each target crossing or health-band change once per KPI, level, entity and
period. ``inbox`` holds every accepted webhook event durably before it is acknowledged; a unique
``(source, dedupe_key)`` makes a redelivered event a no-op.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from crmpulse.store.types import AutoId, JsonDoc, UtcDateTime

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create both tables."""
    op.create_table(
        "kpi_alerts",
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("kpi", sa.String(), nullable=False),
        sa.Column("level", sa.String(), nullable=False),
        sa.Column("entity_key", sa.String(), nullable=False),
        sa.Column("period", sa.String(), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("previous", sa.Float(), nullable=True),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("raised_at", UtcDateTime(), nullable=False),
        sa.Column("run_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint(
            "kind", "kpi", "level", "entity_key", "period", name="pk_kpi_alerts"
        ),
    )
    op.create_index("ix_kpi_alerts_raised_at", "kpi_alerts", ["raised_at"])
    op.create_table(
        "inbox",
        sa.Column("id", AutoId, autoincrement=True, nullable=False),
        sa.Column("source", sa.String(), nullable=False),
        sa.Column("dedupe_key", sa.String(), nullable=False),
        sa.Column("entity", sa.String(), nullable=False),
        sa.Column("object_id", sa.String(), nullable=False),
        sa.Column("event_type", sa.String(), nullable=False),
        sa.Column("occurred_at", UtcDateTime(), nullable=False),
        sa.Column("received_at", UtcDateTime(), nullable=False),
        sa.Column("payload", JsonDoc(), nullable=True),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("processed_at", UtcDateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_inbox"),
    )
    op.create_index("ix_inbox_source_dedupe_key", "inbox", ["source", "dedupe_key"], unique=True)
    op.create_index("ix_inbox_status_id", "inbox", ["status", "id"])


def downgrade() -> None:
    """Drop both tables."""
    op.drop_index("ix_inbox_status_id", table_name="inbox")
    op.drop_index("ix_inbox_source_dedupe_key", table_name="inbox")
    op.drop_table("inbox")
    op.drop_index("ix_kpi_alerts_raised_at", table_name="kpi_alerts")
    op.drop_table("kpi_alerts")
