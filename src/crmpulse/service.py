"""Use cases: sync a CRM into the store, compute KPIs, plan and apply write-back.

Entrypoints (CLI, server, workers) call these functions; they hold no business logic themselves.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from crmpulse import writeback
from crmpulse.errors import CrmPulseError, RetriableError
from crmpulse.kpireport import default_period, period_kpis
from crmpulse.kpis.compare import Alert
from crmpulse.kpis.periods import Period
from crmpulse.kpis.values import KpiValue
from crmpulse.ports import (
    Connector,
    Cursor,
    PropertyChange,
    PushResult,
    StreamSpec,
    TargetLevel,
)
from crmpulse.pulling import pull_all
from crmpulse.settings import Settings
from crmpulse.store import Store

log = structlog.get_logger("crmpulse")

LEVEL_ENTITY = {"account": "accounts", "contact": "contacts"}

ProgressHook = Callable[[str, int], None]
"""Called with (stream name, records in the page) after each page is stored."""


@dataclass
class SyncReport:
    """What one sync run did, for the terminal summary and ``--json``."""

    run_id: str
    source: str
    period: str
    dry_run: bool
    pulled: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    full_load: dict[str, bool] = field(default_factory=dict)
    kpi_values: int = 0
    kpis_changed: int = 0
    alerts: list[str] = field(default_factory=list)
    targets_created: list[str] = field(default_factory=list)
    plan: list[PropertyChange] = field(default_factory=list)
    values_written: int = 0
    rows_written: int = 0
    rows_failed: int = 0
    calls_read: int = 0
    calls_write: int = 0
    calls_by_operation: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    status: str = "ok"
    seconds: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        return {
            "run_id": self.run_id,
            "source": self.source,
            "status": self.status,
            "period": self.period,
            "dry_run": self.dry_run,
            "records_pulled": self.pulled,
            "records_rejected": self.rejected,
            "full_load": self.full_load,
            "api_calls": {
                "read": self.calls_read,
                "write": self.calls_write,
                "by_operation": self.calls_by_operation,
            },
            "kpi_values": self.kpi_values,
            "kpis_changed": self.kpis_changed,
            "alerts": self.alerts,
            "targets_created": self.targets_created,
            "planned_changes": len(self.plan),
            "values_written": self.values_written,
            "rows_written": self.rows_written,
            "rows_failed": self.rows_failed,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
        }


def plan_writeback(
    store: Store,
    source: str,
    values: list[KpiValue],
    period: Period,
    group: str,
    *,
    snapshots: bool = True,
    alerts: Mapping[str, str] | None = None,
    only_listed: bool = False,
) -> list[PropertyChange]:
    """Changes to send for ``period``: the diff of the KPI values against the write-back ledger.

    With ``snapshots``, the portfolio and segment values also become KPI snapshot records;
    ``alerts`` (account id -> latest alert message, when alerts are written) fill the alert
    property. ``values`` are every value of the period unless ``only_listed``: then they are the
    values of some records and aggregates only (a targeted recompute), and nothing else is
    compared, cleared or read.
    """
    spec = writeback.target_spec(group, alerts=alerts is not None)
    levels: list[TargetLevel] = list(writeback.LEVELS)
    properties: dict[TargetLevel, list[str]] = {
        lvl: [f.name for f in spec.fields_for(lvl)] for lvl in writeback.LEVELS
    }
    desired = writeback.desired_values(values, str(period), alerts)
    if snapshots and spec.snapshot is not None:
        levels.append(writeback.SNAPSHOT)
        properties[writeback.SNAPSHOT] = [
            f.name for f in spec.snapshot.fields if f.name != spec.snapshot.key_field
        ]
        desired.update(
            writeback.desired_snapshots(values, str(period), period.start_date.isoformat())
        )
    listed: dict[TargetLevel, list[str]] = {lvl: [] for lvl in levels}
    for lvl, object_id in desired:
        listed[lvl].append(object_id)
    ledger: dict[Any, dict[str, str | None]] = {}
    for lvl in levels:
        ids = listed[lvl] if only_listed else None
        for (object_id, prop), value in store.ledger_values(source, lvl, ids).items():
            ledger.setdefault((lvl, object_id), {})[prop] = value
    exists: dict[TargetLevel, set[str]] = {}
    for lvl in writeback.LEVELS:
        entity = LEVEL_ENTITY[lvl]
        if only_listed:
            found = store.get_many(entity, source, listed[lvl]).values()
            exists[lvl] = {r.id for r in found if not r.deleted}
        else:
            exists[lvl] = {r.id for r in store.iter_records(entity, source=source)}
    return writeback.plan(desired, ledger, properties, exists)


def apply_writeback(
    connector: Connector,
    store: Store,
    settings: Settings,
    changes: list[PropertyChange],
    report: SyncReport,
) -> PushResult:
    """Ensure our properties exist, push the changes, record what landed in the ledger."""
    spec = writeback.target_spec(
        settings.writeback.property_group, alerts=settings.writeback.alerts
    )
    digest = writeback.spec_hash(spec)
    if changes and not store.targets_ensured(connector.source, digest):
        report.targets_created = connector.ensure_targets(spec)
        store.mark_targets_ensured(connector.source, digest)
    result = connector.push(changes)
    for level in (*writeback.LEVELS, writeback.SNAPSHOT):
        rows = [
            (change.object_id, prop, value)
            for change, _stamp in result.written
            if change.level == level
            for prop, value in change.values.items()
        ]
        if rows:
            store.record_written(connector.source, level, rows, report.run_id)
    report.rows_written = len(result.written)
    report.values_written = sum(len(c.values) for c, _ in result.written)
    report.rows_failed = len(result.failed)
    report.errors.extend(
        f"{f.change.level} {f.change.object_id}: {f.message}" for f in result.failed
    )
    return result


def fence_own_writes(
    connector: Connector,
    store: Store,
    settings: Settings,
    result: PushResult,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Move cursors past our own write-back so the next run does not pull it back.

    Our batch updates bump the records' last-modified time. If, after the search index has caught
    up, the number of records modified since the cursor equals the number we wrote, nobody else
    changed anything in between and the cursor can jump to our newest write. Otherwise the next
    run re-reads them, which is always correct, only dearer.
    """
    overlap = settings.sync.overlap_seconds
    for stream in connector.streams():
        level = next((lvl for lvl, ent in LEVEL_ENTITY.items() if ent == stream.entity), None)
        stamps = {c.object_id: s for c, s in result.written if c.level == level and s is not None}
        cursor = store.get_cursor(connector.source, stream.name)
        if not stamps or cursor is None:
            continue
        ours = {i: s for i, s in stamps.items() if s > cursor.updated_at}
        if not ours:
            continue
        newest_id, newest = max(ours.items(), key=lambda kv: (kv[1], int_or_zero(kv[0])))
        wait = (newest + timedelta(seconds=overlap) - datetime.now(UTC)).total_seconds()
        if wait > 0:
            sleep(wait)
        _fence_stream(
            connector=connector,
            store=store,
            stream=stream,
            cursor=cursor,
            ours=ours,
            newest_id=newest_id,
            newest=newest,
            overlap=overlap,
        )


def _fence_stream(
    *,
    connector: Connector,
    store: Store,
    stream: StreamSpec,
    cursor: Cursor,
    ours: dict[str, datetime],
    newest_id: str,
    newest: datetime,
    overlap: float,
) -> None:
    if connector.count_changed_since(stream, cursor.updated_at) != len(ours):
        log.info("fence.skipped", stream=stream.name, reason="other changes since the pull")
        return
    visible_before = datetime.now(UTC) - timedelta(seconds=overlap)
    store.set_cursor(
        connector.source,
        stream.name,
        Cursor(updated_at=newest, record_id=newest_id, visible_before=visible_before),
    )


def _alert_line(alert: Alert) -> str:
    where = "portfolio" if alert.entity_id is None else f"{alert.level} {alert.entity_id}"
    return f"{where}: {alert.message}"


def _account_alerts(alerts: list[Alert]) -> dict[str, str]:
    """The alert each company shows: band changes first, then target crossings, by KPI."""
    out: dict[str, str] = {}
    ranked = sorted(alerts, key=lambda a: (a.kind != "band", a.kpi))
    for alert in ranked:
        if alert.level == "account" and alert.entity_id is not None:
            out.setdefault(alert.entity_id, f"{alert.period}: {alert.message}")
    return out


def int_or_zero(value: str) -> int:
    """Numeric ids sort numerically; others sort first."""
    return int(value) if value.isdigit() else 0


def run_sync(
    connector: Connector,
    store: Store,
    settings: Settings,
    *,
    dry_run: bool = False,
    trigger: str = "cli",
    progress: ProgressHook | None = None,
    period: Period | None = None,
) -> SyncReport:
    """Pull, compute, write back: one whole sync run, recorded in the store's run log."""
    started = time.perf_counter()
    month = period or default_period(settings)
    run_id = store.start_run(trigger, connector.source)
    bound = log.bind(run_id=run_id, trigger=trigger, source=connector.source)
    report = SyncReport(run_id=run_id, source=connector.source, period=str(month), dry_run=dry_run)
    # a long-lived connector (``crmpulse serve``) counts across runs: report this run's share
    calls_before = (connector.calls.reads, connector.calls.writes)
    operations_before = Counter(connector.calls.by_operation)
    try:
        pull_all(connector, store, report, progress)
        computed = period_kpis(store, settings, month)
        values = computed.values
        report.kpi_values = len(values)
        report.kpis_changed = store.save_kpis(values, run_id)
        raised = store.record_alerts(computed.alerts, run_id)
        report.alerts = [_alert_line(a) for a in raised]
        if settings.writeback.enabled:
            report.plan = plan_writeback(
                store,
                connector.source,
                values,
                month,
                settings.writeback.property_group,
                snapshots=settings.writeback.snapshots,
                alerts=_account_alerts(computed.alerts) if settings.writeback.alerts else None,
            )
            if report.plan and not dry_run:
                result = apply_writeback(connector, store, settings, report.plan, report)
                fence_own_writes(connector, store, settings, result)
    except RetriableError as exc:
        report.status = "interrupted"
        report.errors.append(str(exc))
    except CrmPulseError as exc:
        report.status = "failed"
        report.errors.append(str(exc))
        raise
    finally:
        report.calls_read = connector.calls.reads - calls_before[0]
        report.calls_write = connector.calls.writes - calls_before[1]
        report.calls_by_operation = dict(Counter(connector.calls.by_operation) - operations_before)
        report.seconds = time.perf_counter() - started
        if report.status == "ok" and report.rows_failed:
            report.status = "partial"
        store.finish_run(run_id, report.status, report.as_json())
        bound.info("sync.finished", **{k: v for k, v in report.as_json().items() if k != "run_id"})
    return report
