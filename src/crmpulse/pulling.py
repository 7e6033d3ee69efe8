"""Pulling a CRM into the store so that nothing is missed.

Each sync pulls every stream from its ``(timestamp, id)`` cursor (re-reading the overlap window,
where the CRM's search index may still be catching up), applies what the pages reveal about
merges, and asks the connector for records removed without a modification-date change (HubSpot's
archive). Every so often (``ReconcilePolicy``) a reconciliation lists each stream's live ids and
association fields cheaply and brings the store in line: stored records the CRM no longer has
(hard deletes, merges) are marked deleted, records the store lacks or holds with other
associations are read again by id. ``refresh`` does the same for ids named by webhook events.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from crmpulse.ports import Connector, Cursor, Fetched, Reconciling, StreamSpec
from crmpulse.store import Store

if TYPE_CHECKING:
    from crmpulse.service import ProgressHook, SyncReport

log = structlog.get_logger("crmpulse.pulling")

RECONCILE_MARK = "~reconcile"
"""The cursor-table row that remembers the last reconciliation of a source: ``updated_at`` is
when it ran, ``record_id`` how many syncs ran since."""


@dataclass(frozen=True)
class ReconcilePolicy:
    """When a sync also reconciles id sets and associations: every ``every_syncs`` syncs or
    once ``interval`` has passed since the last reconciliation, whichever comes first."""

    every_syncs: int = 24
    interval: timedelta = timedelta(hours=24)


@dataclass
class ReconcileSummary:
    """What a reconciliation (or a refresh) changed, per entity."""

    deleted: dict[str, int] = field(default_factory=dict)
    """Records marked deleted (absent from the CRM, archived, merged away)."""
    refetched: dict[str, int] = field(default_factory=dict)
    """Records read again by id (lacking, or with other associations)."""
    relinked: dict[str, int] = field(default_factory=dict)
    """Records whose references followed a merge."""

    def add(self, bucket: dict[str, int], entity: str, n: int) -> None:
        """Count ``n`` more for ``entity``."""
        if n:
            bucket[entity] = bucket.get(entity, 0) + n


@dataclass
class PullSummary:
    """What ``pull_all`` did besides pulling pages."""

    reconciled: bool = False
    changes: ReconcileSummary = field(default_factory=ReconcileSummary)


def pull_all(
    connector: Connector,
    store: Store,
    report: SyncReport,
    progress: ProgressHook | None = None,
    *,
    policy: ReconcilePolicy | None = None,
    now: Callable[[], datetime] | None = None,
) -> PullSummary:
    """Pull every stream from its cursor into the store; quarantine rejected records; mark
    removals; reconcile when ``policy`` says it is due."""
    clock = now or (lambda: datetime.now(UTC))
    summary = PullSummary()
    source = connector.source
    for stream in connector.streams():
        cursor = store.get_cursor(source, stream.name)
        report.full_load[stream.name] = cursor is None
        pulled = rejected = 0
        last: Cursor | None = None
        for page in connector.pull(stream, cursor):
            store.upsert(page.records)
            for reject in page.rejects:
                store.quarantine(source, stream.name, reject.record_id, str(reject), {})
            if page.removed or page.merged_into:
                _remove(store, source, stream.entity, page.removed, page.merged_into, clock())
                summary.changes.add(summary.changes.deleted, stream.entity, len(page.removed))
            pulled += len(page.records)
            rejected += len(page.rejects)
            last = page.cursor or last
            if progress:
                progress(stream.name, len(page.records))
        if cursor is not None and isinstance(connector, Reconciling):
            gone = connector.removed(stream)
            for at, ids in _by_time(gone.ids).items():
                n = store.mark_deleted(stream.entity, source, ids, at)
                summary.changes.add(summary.changes.deleted, stream.entity, n)
            if gone.merged_into:
                _remove(store, source, stream.entity, [], gone.merged_into, clock())
        # The cursor moves only once the whole stream is in: a full load walks ids, not times.
        if last is not None:
            store.set_cursor(source, stream.name, last)
        report.pulled[stream.name] = pulled
        report.rejected[stream.name] = rejected
    due = isinstance(connector, Reconciling) and _due(
        store, source, policy or ReconcilePolicy(), clock
    )
    if due:
        reconcile(connector, store, summary=summary.changes, now=clock)
        summary.reconciled = True
        store.set_cursor(source, RECONCILE_MARK, _mark(clock(), 0))
    log.info(
        "pull.finished",
        source=source,
        reconciled=summary.reconciled,
        deleted=summary.changes.deleted,
        refetched=summary.changes.refetched,
        relinked=summary.changes.relinked,
    )
    return summary


def _by_time(ids: dict[str, datetime]) -> dict[datetime, list[str]]:
    out: dict[datetime, list[str]] = {}
    for record_id, at in ids.items():
        out.setdefault(at, []).append(record_id)
    return out


def _mark(at: datetime, syncs: int) -> Cursor:
    return Cursor(updated_at=at, record_id=str(syncs), visible_before=at)


def _due(store: Store, source: str, policy: ReconcilePolicy, clock: Callable[[], datetime]) -> bool:
    """Whether this sync reconciles; counts the sync otherwise. A source's first sync (a full
    load) only starts the count."""
    mark = store.get_cursor(source, RECONCILE_MARK)
    now = clock()
    if mark is None:
        store.set_cursor(source, RECONCILE_MARK, _mark(now, 0))
        return False
    syncs = int(mark.record_id) + 1 if mark.record_id.isdigit() else 1
    if syncs >= policy.every_syncs or now - mark.updated_at >= policy.interval:
        return True
    store.set_cursor(source, RECONCILE_MARK, _mark(mark.updated_at, syncs))
    return False


def _remove(
    store: Store,
    source: str,
    entity: str,
    removed: Iterable[str],
    merged_into: Mapping[str, str],
    at: datetime,
) -> int:
    """Mark removed records deleted; point references to merged-away ones at their survivors."""
    gone = set(removed) | set(merged_into)
    if gone:
        store.mark_deleted(entity, source, sorted(gone), at)
    return store.follow_merges(entity, source, dict(merged_into)) if merged_into else 0


def refresh(
    connector: Connector,
    store: Store,
    entity: str,
    ids: Iterable[str],
    *,
    summary: ReconcileSummary | None = None,
    now: Callable[[], datetime] | None = None,
) -> Fetched:
    """Read ``ids`` of ``entity`` again and store what the CRM says now: records upserted (their
    associations included), missing ones marked deleted, merges followed.

    For webhook events that change no modification date (association changes, merges,
    restores); ``fetch`` batches the ids.
    """
    wanted = sorted(set(ids))
    summary = summary if summary is not None else ReconcileSummary()
    if not wanted:
        return Fetched(records=[], rejects=[], missing=[], merged_into={})
    clock = now or (lambda: datetime.now(UTC))
    got = connector.fetch(entity, wanted)
    store.upsert(got.records)
    for reject in got.rejects:
        store.quarantine(connector.source, entity, reject.record_id, str(reject), {})
    summary.add(summary.refetched, entity, len(got.records))
    if got.missing or got.merged_into:
        marked = _remove(store, connector.source, entity, got.missing, got.merged_into, clock())
        summary.add(summary.deleted, entity, len(got.missing))
        summary.add(summary.relinked, entity, marked)
    return got


def reconcile(
    connector: Connector,
    store: Store,
    *,
    entities: Iterable[str] | None = None,
    summary: ReconcileSummary | None = None,
    now: Callable[[], datetime] | None = None,
) -> ReconcileSummary:
    """Bring the store's id sets and association fields in line with the CRM's.

    Per entity, the live records of its streams are listed; stored records absent from the list
    are marked deleted, listed records the store lacks or holds with other association fields
    are read again by id (``refresh``).
    """
    if not isinstance(connector, Reconciling):
        raise TypeError(f"{connector.name} cannot list live records")
    summary = summary if summary is not None else ReconcileSummary()
    clock = now or (lambda: datetime.now(UTC))
    by_entity: dict[str, list[StreamSpec]] = {}
    for stream in connector.streams():
        by_entity.setdefault(stream.entity, []).append(stream)
    chosen = set(entities) if entities is not None else set(by_entity)
    for entity, streams in by_entity.items():
        if entity not in chosen:
            continue
        live: dict[str, dict[str, Any]] = {}
        fetchable: set[str] = set()
        for stream in streams:
            complete = connector.refetches_missing(stream)
            for batch in connector.live_records(stream):
                for item in batch:
                    live[item.id] = dict(item.links)
                    if complete:
                        fetchable.add(item.id)
        fields = sorted({f for links in live.values() for f in links})
        stored = store.links(entity, connector.source, fields)
        extra = store.mark_absent(entity, connector.source, set(live), clock())
        summary.add(summary.deleted, entity, len(extra))
        lacking = (set(live) - set(stored)) & fetchable
        stale = {
            i
            for i, links in live.items()
            if i in stored and any(not _same(stored[i].get(k), v) for k, v in links.items())
        }
        log.info(
            "reconcile.entity",
            entity=entity,
            live=len(live),
            absent=len(extra),
            lacking=len(lacking),
            stale_links=len(stale),
        )
        refresh(connector, store, entity, lacking | stale, summary=summary, now=clock)
    return summary


def _same(stored: Any, listed: Any) -> bool:
    """Association values compared as the CRMs order them: id lists as sets."""
    if isinstance(stored, list | tuple) or isinstance(listed, list | tuple):
        return set(stored or ()) == set(listed or ())
    return bool(stored == listed)
