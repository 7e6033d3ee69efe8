"""The crmpulse store: SQLAlchemy Core on SQLite (default) or PostgreSQL, migrated by Alembic.

It caches normalized records and keeps what cannot be rebuilt from the CRM: sync cursors, the
ledger of values written back, KPI history, runs and quarantined payloads.
"""

from crmpulse.store.kpistore import KpiChange
from crmpulse.store.store import QuarantinedRecord, RunInfo, Store

__all__ = ["KpiChange", "QuarantinedRecord", "RunInfo", "Store"]
