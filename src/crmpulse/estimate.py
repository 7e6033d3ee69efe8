"""What a sync would cost in API calls, before running it (``crmpulse sync --estimate``).

Per stream, the store's cursor says whether the next pull is a full load or incremental and from
when; one cheap count call per stream (the connector's ``count_changed_since``) says how many
records that is; the connector's call costs turn records into calls (pages, and the lookups each
page needs). Write-back is planned exactly as a sync plans it, from the KPIs of the records the
store already holds; on a first run (an empty store) there are no KPIs yet, and the estimate
bounds it instead (every company and contact written once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, runtime_checkable

from crmpulse import writeback
from crmpulse.errors import ConfigError
from crmpulse.kpireport import compute_kpis
from crmpulse.kpis.periods import Period
from crmpulse.ports import Connector, PropertyChange, StreamSpec, TargetSpec
from crmpulse.service import LEVEL_ENTITY, plan_writeback
from crmpulse.settings import Settings
from crmpulse.store import Store

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""``count_changed_since(stream, EPOCH)`` counts every record of a stream."""


@runtime_checkable
class CallCosts(Protocol):
    """How many calls a connector makes for a given amount of work."""

    def pull(self, stream: StreamSpec, records: int, since: datetime | None) -> int:
        """Calls to pull ``records`` records of ``stream`` (``since`` ``None``: a full load)."""
        ...

    def removed(self, stream: StreamSpec) -> int:
        """Calls an incremental pull of ``stream`` makes to learn of records removed without a
        modification-date change."""
        ...

    def push(self, changes: Sequence[PropertyChange]) -> int:
        """Calls to write ``changes``."""
        ...

    def targets(self, spec: TargetSpec) -> int:
        """Calls to create everything ``spec`` needs, on a CRM that has none of it yet."""
        ...

    def available(self) -> int | None:
        """Calls the source's budget has left today before the reserve (``None``: unknown)."""
        ...


@dataclass(frozen=True)
class StreamEstimate:
    """One stream's share of the next pull."""

    stream: str
    full_load: bool
    records: int
    calls: int


@dataclass
class SyncEstimate:
    """The calls the next sync would make, and what the budget has left."""

    source: str
    streams: list[StreamEstimate] = field(default_factory=list)
    writeback_known: bool = True
    """``False`` on a first run: the KPIs (hence the plan) need the records first, and the
    write-back figure is an upper bound."""
    planned_changes: int = 0
    writeback_calls: int = 0
    """Target creation, the writes, and the counts that fence our own writes."""
    spent: int = 0
    """Calls this estimate itself made (the counts)."""
    available: int | None = None
    """Calls the budget has left today before the reserve (``None``: not known yet)."""

    @property
    def pull_calls(self) -> int:
        """Calls of the pull."""
        return sum(s.calls for s in self.streams)

    @property
    def total(self) -> int:
        """Calls of the whole sync."""
        return self.pull_calls + self.writeback_calls

    @property
    def fits(self) -> bool | None:
        """Whether the sync fits in what the budget has left (``None``: not known)."""
        return None if self.available is None else self.total <= self.available

    def as_json(self) -> dict[str, Any]:
        """The ``--estimate --json`` document."""
        return {
            "source": self.source,
            "total_calls": self.total,
            "pull_calls": self.pull_calls,
            "streams": [
                {
                    "stream": s.stream,
                    "full_load": s.full_load,
                    "records": s.records,
                    "calls": s.calls,
                }
                for s in self.streams
            ],
            "writeback_known": self.writeback_known,
            "planned_changes": self.planned_changes,
            "writeback_calls": self.writeback_calls,
            "estimate_spent_calls": self.spent,
            "budget_available": self.available,
            "fits_budget": self.fits,
        }


def estimate_sync(
    connector: Connector,
    store: Store,
    settings: Settings,
    costs: CallCosts,
    period: Period,
    *,
    dry_run: bool = False,
) -> SyncEstimate:
    """Estimate the calls of ``run_sync(connector, store, settings, period=period)``."""
    before = connector.calls.reads + connector.calls.writes
    result = SyncEstimate(source=connector.source)
    for stream in connector.streams():
        cursor = store.get_cursor(connector.source, stream.name)
        since = cursor.resume_from if cursor is not None else None
        records = connector.count_changed_since(stream, since or EPOCH)
        result.streams.append(
            StreamEstimate(
                stream=stream.name,
                full_load=cursor is None,
                records=records,
                calls=costs.pull(stream, records, since)
                + (costs.removed(stream) if since is not None else 0),
            )
        )
    if settings.writeback.enabled and not dry_run:
        _estimate_writeback(connector, store, settings, costs, period, result)
    result.spent = connector.calls.reads + connector.calls.writes - before
    result.available = costs.available()  # after the counts, which spend it too
    return result


def _estimate_writeback(
    connector: Connector,
    store: Store,
    settings: Settings,
    costs: CallCosts,
    period: Period,
    result: SyncEstimate,
) -> None:
    group = settings.writeback.property_group
    held = sum(store.count(entity, source=connector.source) for entity in LEVEL_ENTITY.values())
    if held:
        values = compute_kpis(store, settings, period)
        plan = plan_writeback(
            store, connector.source, values, period, group, snapshots=settings.writeback.snapshots
        )
        result.planned_changes = len(plan)
    else:
        # A first run: no KPIs yet, so no plan. Bound it: every company and contact pulled
        # gets values, and the snapshots take one batch.
        result.writeback_known = False
        plan = _first_run_bound(connector, result, snapshots=settings.writeback.snapshots)
    if not plan:
        return
    spec = writeback.target_spec(group)
    calls = costs.push(plan)
    if not store.targets_ensured(connector.source, writeback.spec_hash(spec)):
        calls += costs.targets(spec)
    # fence_own_writes counts, once per stream whose records we wrote
    levels = {c.level for c in plan}
    calls += sum(
        1
        for stream in connector.streams()
        if any(LEVEL_ENTITY.get(level) == stream.entity for level in levels)
    )
    result.writeback_calls = calls


def _first_run_bound(
    connector: Connector, result: SyncEstimate, *, snapshots: bool
) -> list[PropertyChange]:
    entities = {stream.name: stream.entity for stream in connector.streams()}
    plan: list[PropertyChange] = []
    for level, entity in LEVEL_ENTITY.items():
        records = sum(s.records for s in result.streams if entities.get(s.stream) == entity)
        plan.extend(PropertyChange(level, str(i), {}) for i in range(records))  # type: ignore[arg-type]
    if snapshots and plan:
        plan.append(PropertyChange(writeback.SNAPSHOT, "", {}))
    return plan


def estimate_for(
    plugin: object,
    connector: Connector,
    store: Store,
    settings: Settings,
    period: Period,
    *,
    dry_run: bool = False,
) -> SyncEstimate:
    """``estimate_sync`` with the call costs of ``plugin``'s connector."""
    make = getattr(plugin, "call_costs", None)
    if make is None:
        raise ConfigError(f"the {connector.name} connector cannot estimate its API calls")
    costs = make(connector, settings)
    assert isinstance(costs, CallCosts)
    return estimate_sync(connector, store, settings, costs, period, dry_run=dry_run)


def render(estimate: SyncEstimate) -> list[str]:
    """The estimate as lines of text for the terminal."""
    lines = [f"API calls the next sync of {estimate.source} would make:"]
    for s in estimate.streams:
        kind = "full load" if s.full_load else "incremental"
        lines.append(f"  {s.stream:<22} {kind:<12} {s.records:>9,} records {s.calls:>7,} calls")
    lines.append(f"  {'pull':<22} {'':<12} {'':>17} {estimate.pull_calls:>7,} calls")
    if estimate.writeback_known:
        lines.append(
            f"  {'write-back':<22} {estimate.planned_changes:>22,} changes "
            f"{estimate.writeback_calls:>7,} calls"
        )
    else:
        lines.append(
            f"  {'write-back':<22} {'first run, at most':>30} {estimate.writeback_calls:>7,} calls"
        )
    lines.append(f"  {'total':<22} {'':<12} {'':>17} {estimate.total:>7,} calls")
    lines.append(f"This estimate itself made {estimate.spent} count calls.")
    if estimate.available is not None:
        verdict = "fits" if estimate.fits else "does NOT fit"
        lines.append(
            f"Budget left today before the reserve: {estimate.available:,} calls; "
            f"the sync {verdict}."
        )
    return lines
