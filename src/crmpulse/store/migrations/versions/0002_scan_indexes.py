"""Covering indexes for the KPI engine's column scans.

A full KPI pass reads a few typed columns of every live ticket, deal, activity and contact. With
an index holding exactly those columns (and ``deleted_at``, for the filter), SQLite answers the
scan from the index and never reads the rows' JSON documents — on a store of ten million records
that is most of the file.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 00:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from crmpulse.store.types import SCAN_INDEXES

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create the scan indexes."""
    for table, columns in SCAN_INDEXES.items():
        op.create_index(f"ix_{table}_scan", table, list(columns))


def downgrade() -> None:
    """Drop them."""
    for table in SCAN_INDEXES:
        op.drop_index(f"ix_{table}_scan", table_name=table)
