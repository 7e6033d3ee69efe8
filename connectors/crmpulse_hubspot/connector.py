"""The HubSpot adapter of the connector port.

Full loads walk the v3 list endpoint (100 per call, associations inline, no 10,000-result cap).
Incremental pulls search on the last-modified property from the cursor, oldest first, 200 per call,
and batch-read the page's associations through v4 (one call per association type per page). When
a search walk reaches HubSpot's 10,000-result cap it starts a new window from the last timestamp
seen. Engagements (calls, e-mails, meetings, notes, tasks) are ordinary objects to these APIs: one
stream each, all landing in the store's activities.

Write-back batch-updates the KPI properties of companies and contacts, and upserts KPI snapshot
records into a custom object (``crmpulse_kpi_snapshot``) by their unique key. Custom objects need
an Enterprise portal; where HubSpot refuses to create one, the sync goes on without snapshots and
reports each snapshot row as failed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from crmpulse.errors import CrmPulseError, FatalError, InvalidRecordError, RetriableError
from crmpulse.model import Record
from crmpulse.ports import (
    CallStats,
    Cursor,
    Fetched,
    FieldSpec,
    LiveRecord,
    Page,
    PropertyChange,
    PushResult,
    Removed,
    RowFailure,
    SnapshotSpec,
    StreamSpec,
    TargetSpec,
)
from crmpulse.settings import HubSpotSettings, SyncSettings
from crmpulse_hubspot import mapper, reads
from crmpulse_hubspot.client import ForbiddenError, HubSpotClient, RawObject, RawSchema
from crmpulse_hubspot.schema import ENGAGEMENTS, READABLE, ObjectSchema

log = structlog.get_logger("crmpulse.hubspot")

SEARCH_CAP = 10_000
BATCH_SIZE = 100
READ_BATCH = 100
"""Ids per ``batch/read`` call (HubSpot's maximum)."""
MERGED = "hs_merged_object_ids"
"""Ids merged into a record, ``;``-separated (on the object types that can be merged)."""
MERGEABLE = frozenset({"companies", "contacts", "deals", "tickets"})
SNAPSHOT = "snapshot"
ASSOCIATION_BATCH = 1000
WRITE_OBJECT = {"account": "companies", "contact": "contacts"}
_HUBSPOT_TYPES = {
    "number": ("number", "number"),
    "string": ("string", "text"),
    "datetime": ("datetime", "date"),
    "date": ("date", "date"),
    "enumeration": ("enumeration", "select"),
}


@dataclass(frozen=True)
class HubSpotStream(StreamSpec):
    """A HubSpot stream: which object, which associations, which mapper."""

    associations: tuple[str, ...] = ()
    mapper: mapper.Mapper | None = None

    @property
    def schema(self) -> ObjectSchema:
        """The object's schema entry."""
        return READABLE[self.crm_object]


def _stream(
    name: str, entity: str, associations: tuple[str, ...], fn: mapper.Mapper
) -> HubSpotStream:
    schema = READABLE[name]
    return HubSpotStream(
        name=name,
        entity=entity,
        crm_object=name,
        cursor_field=schema.modified_property,
        associations=associations,
        mapper=fn,
    )


STREAMS: tuple[HubSpotStream, ...] = (
    _stream("companies", "accounts", (), mapper.company),
    _stream("contacts", "contacts", ("companies",), mapper.contact),
    _stream("deals", "deals", ("companies", "contacts"), mapper.deal),
    _stream("tickets", "tickets", ("companies", "contacts"), mapper.ticket),
    _stream("feedback_submissions", "surveys", ("contacts", "tickets"), mapper.feedback_submission),
    *(
        _stream(name, "activities", ("contacts", "companies"), mapper.engagement_mapper(name))
        for name in ENGAGEMENTS
    ),
)


@dataclass
class _Walk:
    """Where an incremental search walk stands: its window's lower bound and the cursor."""

    low: datetime
    current: Cursor
    strict: bool = False
    """Whether the window starts strictly after ``low`` (its millisecond was walked by id)."""
    seen: set[tuple[str, datetime]] = dataclasses.field(default_factory=set)
    """Versions already yielded by this walk: windows overlap at their edges."""


def _already_seen(obj: RawObject, cursor: Cursor) -> bool:
    """At or before the cursor, and old enough that it was searchable at the last pull."""
    at_or_before = (obj.updated_at, int(obj.id)) <= (cursor.updated_at, int(cursor.record_id))
    return at_or_before and obj.updated_at <= cursor.visible_before


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


def _properties(stream: HubSpotStream) -> list[str]:
    """What to read of a stream's objects: its schema's properties and, where records can be
    merged, the ids merged into each."""
    names = set(stream.schema.properties)
    if stream.crm_object in MERGEABLE:
        names.add(MERGED)
    return sorted(names)


def _merged_ids(obj: RawObject) -> list[str]:
    raw = obj.properties.get(MERGED) or ""
    return [part for part in raw.split(";") if part and part != obj.id]


def _merges(objects: Sequence[RawObject]) -> dict[str, str]:
    """Merged-away id -> the record that absorbed it, as the survivors say."""
    return {loser: obj.id for obj in objects for loser in _merged_ids(obj)}


class HubSpotConnector:
    """Pulls HubSpot objects into normalized records and writes KPI properties back."""

    name = "hubspot"

    def __init__(
        self,
        settings: HubSpotSettings,
        sync: SyncSettings,
        *,
        now: Any = None,
    ) -> None:
        token = settings.access_token.get_secret_value() if settings.access_token else ""
        self.calls = CallStats()
        self.client = HubSpotClient(
            base_url=settings.base_url,
            access_token=token,
            timeout=settings.timeout_seconds,
            max_retries=settings.max_retries,
            burst_limit=settings.burst_limit,
            calls=self.calls,
        )
        self.source = f"hubspot:{settings.portal_id}"
        self._sync = sync
        self._now = now or (lambda: datetime.now(UTC))
        self._snapshot_type: str | None = None
        """The snapshot object's ``objectTypeId`` once found or created."""
        self._snapshot_key: str | None = None
        self._snapshot_refused: str | None = None
        """Why HubSpot refused the snapshot object (no custom objects on this portal)."""

    def streams(self) -> Sequence[StreamSpec]:
        """Companies first, so contacts and tickets find their accounts; engagements last."""
        return STREAMS

    def close(self) -> None:
        """Nothing to release: the SDK's pools close with the process."""

    # -- pulling ---------------------------------------------------------------------------

    def pull(self, stream: StreamSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Full load when ``cursor`` is ``None``, else records modified since it.

        Pages also name the records merged into the ones they carry (``Page.merged_into``).
        """
        assert isinstance(stream, HubSpotStream)
        started = self._now()
        visible_before = started - timedelta(seconds=self._sync.overlap_seconds)
        if cursor is None:
            yield from self._full(stream, visible_before)
        else:
            yield from self._incremental(stream, cursor, visible_before)

    def _map(self, stream: HubSpotStream, objects: Sequence[RawObject]) -> Page:
        assert stream.mapper is not None
        records: list[Record] = []
        rejects: list[InvalidRecordError] = []
        for obj in objects:
            try:
                records.append(mapper.map_object(stream.mapper, obj, self.source, stream.name))
            except InvalidRecordError as exc:
                rejects.append(exc)
        merged = _merges(objects)
        return Page(
            records=records,
            cursor=None,
            rejects=rejects,
            removed=sorted(merged),
            merged_into=merged,
        )

    def _advance(
        self, cursor: Cursor | None, objects: Sequence[RawObject], visible_before: datetime
    ) -> Cursor | None:
        best = (cursor.updated_at, cursor.record_id) if cursor else None
        for obj in objects:
            key = (obj.updated_at, obj.id)
            if best is None or (key[0], int(key[1])) > (best[0], int(best[1])):
                best = key
        if best is None:
            return None
        return Cursor(updated_at=best[0], record_id=best[1], visible_before=visible_before)

    def _full(self, stream: HubSpotStream, visible_before: datetime) -> Iterator[Page]:
        after: str | None = None
        cursor: Cursor | None = None
        properties = _properties(stream)
        while True:
            objects, after = self.client.list_page(
                stream.crm_object,
                after=after,
                limit=self._sync.page_size,
                properties=properties,
                associations=stream.associations,
            )
            cursor = self._advance(cursor, objects, visible_before)
            page = self._map(stream, objects)
            yield replace(page, cursor=cursor)
            if not after:
                return

    def _search(
        self,
        stream: HubSpotStream,
        groups: list[list[dict[str, str]]],
        sort_by: str,
        offset: int,
    ) -> tuple[list[RawObject], int | None]:
        objects, _total, nxt = self.client.search_page(
            stream.crm_object,
            filter_groups=[{"filters": filters} for filters in groups],
            sort={"propertyName": sort_by, "direction": "ASCENDING"},
            properties=_properties(stream),
            limit=self._sync.search_page_size,
            after=offset,
        )
        return objects, nxt

    def _incremental(
        self, stream: HubSpotStream, cursor: Cursor, visible_before: datetime
    ) -> Iterator[Page]:
        """Search windows ordered by modification time, each within HubSpot's 10,000 results.

        A window that reaches the cap is closed at the newest millisecond it saw; that millisecond
        is walked in id order (``hs_object_id`` greater than the last id seen, so however many
        records share it), and the next window opens strictly after it. Versions already yielded
        by this pull are not yielded again.

        When the cursor's own millisecond was already searchable at the last pull, the first
        window starts after the cursor's ``(time, id)`` (two ORed filter groups), so records
        sharing the cursor's millisecond are not searched again on every sync.
        """
        prop = stream.cursor_field
        state = _Walk(
            low=cursor.resume_from, current=replace(cursor, visible_before=visible_before)
        )
        settled = cursor.updated_at <= cursor.visible_before and cursor.record_id.isdigit()
        offset = 0
        top: datetime | None = None
        while True:
            if settled:
                at = _ms(cursor.updated_at)
                groups = [
                    [
                        {"propertyName": prop, "operator": "EQ", "value": at},
                        {
                            "propertyName": "hs_object_id",
                            "operator": "GT",
                            "value": cursor.record_id,
                        },
                    ],
                    [{"propertyName": prop, "operator": "GT", "value": at}],
                ]
            else:
                op = "GT" if state.strict else "GTE"
                groups = [[{"propertyName": prop, "operator": op, "value": _ms(state.low)}]]
            objects, nxt = self._search(stream, groups, prop, offset)
            yield self._search_page(stream, cursor, objects, state, visible_before)
            for obj in objects:
                top = obj.updated_at if top is None or obj.updated_at > top else top
            if nxt is None:
                return
            if nxt + self._sync.search_page_size <= SEARCH_CAP:
                offset = nxt
                continue
            # The window is full: walk its newest millisecond by id (however many records share
            # it), then open the next window strictly after it.
            state.low = top or state.low
            yield from self._walk_millisecond(stream, cursor, state, visible_before)
            state.strict, settled = True, False
            offset, top = 0, None

    def _walk_millisecond(
        self, stream: HubSpotStream, cursor: Cursor, state: _Walk, visible_before: datetime
    ) -> Iterator[Page]:
        """Every record modified at exactly ``state.low``, in id order: each query asks for ids
        above the last one seen, so no query goes past the first page and none meets the cap."""
        log.info("hubspot.same_millisecond", stream=stream.name, at=state.low.isoformat())
        last_id = 0
        while True:
            filters = [
                {"propertyName": stream.cursor_field, "operator": "EQ", "value": _ms(state.low)},
                {"propertyName": "hs_object_id", "operator": "GT", "value": str(last_id)},
            ]
            objects, nxt = self._search(stream, [filters], "hs_object_id", 0)
            yield self._search_page(stream, cursor, objects, state, visible_before)
            if nxt is None or not objects:
                return
            last_id = max(last_id, *(int(o.id) for o in objects))

    def _search_page(
        self,
        stream: HubSpotStream,
        cursor: Cursor,
        objects: list[RawObject],
        state: _Walk,
        visible_before: datetime,
    ) -> Page:
        fresh = [
            o
            for o in objects
            if not _already_seen(o, cursor) and (o.id, o.updated_at) not in state.seen
        ]
        state.seen.update((o.id, o.updated_at) for o in fresh)
        self._attach_associations(stream, fresh)
        state.current = self._advance(state.current, objects, visible_before) or state.current
        return replace(self._map(stream, fresh), cursor=state.current)

    def _attach_associations(self, stream: HubSpotStream, objects: list[RawObject]) -> None:
        if not objects:
            return
        ids = list(dict.fromkeys(o.id for o in objects))
        for target in stream.associations:
            links: dict[str, list[str]] = {}
            for start in range(0, len(ids), ASSOCIATION_BATCH):
                links.update(
                    self.client.associations(
                        stream.crm_object, target, ids[start : start + ASSOCIATION_BATCH]
                    )
                )
            for obj in objects:
                obj.associations[target] = links.get(obj.id, [])

    def count_changed_since(self, stream: StreamSpec, since: datetime) -> int:
        """One search call: how many records were modified strictly after ``since``."""
        _objects, total, _next = self.client.search_page(
            stream.crm_object,
            filter_groups=[
                {
                    "filters": [
                        {"propertyName": stream.cursor_field, "operator": "GT", "value": _ms(since)}
                    ]
                }
            ],
            sort=None,
            properties=["hs_object_id"],
            limit=1,
            after=0,
        )
        return total

    # -- reading by id and reconciling -----------------------------------------------------

    def fetch(self, entity: str, ids: Sequence[str]) -> Fetched:
        """Read records by id: ``batch/read`` of 100 ids per call, then one v4 association read
        per association type and 1,000 ids.

        A merged-away id answers with its survivor (HubSpot resolves merged ids), which lands in
        ``records`` and ``merged_into``. Activities try each engagement type in turn with the
        ids still unresolved. Anything unresolved at the end is ``missing``.
        """
        streams = [s for s in STREAMS if s.entity == entity]
        if not streams:
            raise KeyError(f"HubSpot has no stream for entity {entity!r}")
        pending = list(dict.fromkeys(str(i) for i in ids))
        records: list[Record] = []
        rejects: list[InvalidRecordError] = []
        merged_into: dict[str, str] = {}
        for stream in streams:
            if not pending:
                break
            wanted = set(pending)
            found: dict[str, RawObject] = {}
            for start in range(0, len(pending), READ_BATCH):
                chunk = pending[start : start + READ_BATCH]
                for obj in self.client.batch_read(stream.crm_object, chunk, _properties(stream)):
                    found[obj.id] = obj
            resolved = {i for i in found if i in wanted}
            for obj in found.values():
                for loser in _merged_ids(obj):
                    if loser in wanted and loser not in resolved:
                        merged_into[loser] = obj.id
            objects = list(found.values())
            self._attach_associations(stream, objects)
            page = self._map(stream, objects)
            records.extend(page.records)
            rejects.extend(page.rejects)
            pending = [i for i in pending if i not in resolved and i not in merged_into]
        missing = [*pending, *merged_into]
        return Fetched(records=records, rejects=rejects, missing=missing, merged_into=merged_into)

    def removed(self, stream: StreamSpec) -> Removed:
        """Archived records of ``stream`` (the archived listing, 100 per call).

        Archiving does not change a record's modification date, so searches never see it; the
        listing holds what HubSpot keeps in its recycle bin (90 days).
        """
        assert isinstance(stream, HubSpotStream)
        out: dict[str, datetime] = {}
        after: str | None = None
        while True:
            objects, after = reads.archived_page(
                self.client,
                stream.crm_object,
                after=after,
                limit=self._sync.page_size,
                properties=["hs_object_id"],
            )
            for obj in objects:
                out[obj.id] = obj.archived_at or obj.updated_at
            if not after:
                return Removed(ids=out)

    def live_records(self, stream: StreamSpec) -> Iterator[list[LiveRecord]]:
        """Every live record of ``stream`` with its association fields: the list endpoint with
        ``hs_object_id`` (and the fallback link properties) and inline associations, 100 per
        call."""
        assert isinstance(stream, HubSpotStream)
        properties = ["hs_object_id", *mapper.LINK_PROPERTIES.get(stream.crm_object, ())]
        after: str | None = None
        while True:
            objects, after = self.client.list_page(
                stream.crm_object,
                after=after,
                limit=self._sync.page_size,
                properties=properties,
                associations=stream.associations,
            )
            yield [LiveRecord(o.id, mapper.links(stream.crm_object, o)) for o in objects]
            if not after:
                return

    def refetches_missing(self, stream: StreamSpec) -> bool:
        """Whether a live record the store lacks can be read by its id (always, here)."""
        return True

    # -- writing ---------------------------------------------------------------------------

    def ensure_targets(self, spec: TargetSpec) -> list[str]:
        """Create our property group and any missing properties on companies and contacts, and
        the KPI snapshot object (or its missing properties) when the spec has one."""
        created: list[str] = []
        for level, object_type in WRITE_OBJECT.items():
            fields = spec.fields_for(level)  # type: ignore[arg-type]
            if not fields:
                continue
            if spec.group not in self.client.group_names(object_type) and self.client.create_group(
                object_type, spec.group, spec.group_label
            ):
                created.append(f"{object_type} group {spec.group}")
            existing = self.client.property_names(object_type)
            for field in fields:
                if field.name in existing:
                    continue
                if self.client.create_property(object_type, _definition(field, spec.group)):
                    created.append(f"{object_type}.{field.name}")
        if spec.snapshot is not None:
            created.extend(self._ensure_snapshot(spec.snapshot, spec.group, spec.group_label))
        return created

    def _ensure_snapshot(
        self, snap: SnapshotSpec, group: str | None = None, group_label: str = ""
    ) -> list[str]:
        """Find or create the snapshot custom object; with ``group``, add missing properties.

        A 403 (no custom objects on this tier, or a missing scope) is remembered, not raised.
        """
        created: list[str] = []
        self._snapshot_refused = None
        try:
            schema = _named(self.client.schemas(), snap.name)
            if schema is None:
                schema = self.client.create_schema(_schema_definition(snap))
                if schema is None:  # created meanwhile by someone else
                    schema = _named(self.client.schemas(), snap.name)
                else:
                    created.append(f"custom object {snap.name}")
            if schema is None:
                raise CrmPulseError(f"HubSpot custom object {snap.name} cannot be found")
            missing = [f for f in snap.fields if f.name not in schema.properties]
            if missing and group is not None:
                created.extend(self._add_properties(schema, missing, group, group_label))
        except ForbiddenError as exc:
            self._snapshot_type = None
            self._snapshot_refused = exc.detail
            log.warning(
                "hubspot.snapshots_unavailable", object=snap.name, reason=exc.detail, hint=_NEEDS
            )
            return created
        self._snapshot_type = schema.object_type_id
        self._snapshot_key = snap.key_field
        return created

    def _add_properties(
        self, schema: RawSchema, fields: Sequence[FieldSpec], group: str, group_label: str
    ) -> list[str]:
        object_type = schema.object_type_id
        created: list[str] = []
        if group not in self.client.group_names(object_type) and self.client.create_group(
            object_type, group, group_label or group
        ):
            created.append(f"{schema.name} group {group}")
        for field in fields:
            if self.client.create_property(object_type, _definition(field, group)):
                created.append(f"{schema.name}.{field.name}")
        return created

    def push(self, changes: Sequence[PropertyChange]) -> PushResult:
        """Batch updates of up to 100 rows per object type, then snapshot upserts of up to 100
        rows; per-row outcomes."""
        result = PushResult()
        for level, object_type in WRITE_OBJECT.items():
            rows = [c for c in changes if c.level == level]
            for start in range(0, len(rows), BATCH_SIZE):
                batch = rows[start : start + BATCH_SIZE]
                by_id = {c.object_id: c for c in batch}
                try:
                    written, errors = self.client.batch_update(
                        object_type, [(c.object_id, c.values) for c in batch]
                    )
                except (FatalError, RetriableError):
                    raise
                except CrmPulseError as exc:  # HubSpot refused the whole batch (e.g. 400)
                    result.failed.extend(RowFailure(c, str(exc)) for c in batch)
                    continue
                for object_id, stamped in written.items():
                    if object_id in by_id:
                        result.written.append((by_id[object_id], stamped))
                failed_ids = {i for ids, _ in errors for i in ids}
                for ids, message in errors:
                    result.failed.extend(RowFailure(by_id[i], message) for i in ids if i in by_id)
                missing = set(by_id) - set(written) - failed_ids
                result.failed.extend(RowFailure(by_id[i], "not in the response") for i in missing)
        snapshots = [c for c in changes if c.level == SNAPSHOT]
        if snapshots:
            self._push_snapshots(snapshots, result)
        return result

    def _push_snapshots(self, rows: list[PropertyChange], result: PushResult) -> None:
        if self._snapshot_type is None and self._snapshot_refused is None:
            # Targets were ensured by an earlier run: find (or create) the object once.
            from crmpulse.writeback import snapshot_spec

            self._ensure_snapshot(snapshot_spec())
        object_type, key = self._snapshot_type, self._snapshot_key
        if object_type is None or key is None:
            message = f"{_NEEDS}: {self._snapshot_refused}; company and contact properties are "
            message += "written regardless"
            result.failed.extend(RowFailure(c, message) for c in rows)
            return
        for start in range(0, len(rows), BATCH_SIZE):
            batch = rows[start : start + BATCH_SIZE]
            by_key = {c.object_id: c for c in batch}
            try:
                written, errors = self.client.batch_upsert(
                    object_type, key, [(c.object_id, c.values) for c in batch]
                )
            except ForbiddenError as exc:  # e.g. the token lacks crm.objects.custom.write
                result.failed.extend(RowFailure(c, f"{_NEEDS}: {exc.detail}") for c in batch)
                continue
            except (FatalError, RetriableError):
                raise
            except CrmPulseError as exc:  # HubSpot refused the whole batch (e.g. 400)
                result.failed.extend(RowFailure(c, str(exc)) for c in batch)
                continue
            for snapshot_key, stamped in written.items():
                if snapshot_key in by_key:
                    result.written.append((by_key[snapshot_key], stamped))
            failed = {k for keys, _ in errors for k in keys}
            for keys, message in errors:
                result.failed.extend(RowFailure(by_key[k], message) for k in keys if k in by_key)
            missing = set(by_key) - set(written) - failed
            result.failed.extend(RowFailure(by_key[k], "not in the response") for k in missing)


_NEEDS = "KPI snapshots need a HubSpot custom object (Enterprise, scope crm.schemas.custom.write)"


def _named(schemas: Sequence[RawSchema], name: str) -> RawSchema | None:
    return next((s for s in schemas if s.name == name), None)


def _schema_definition(snap: SnapshotSpec) -> dict[str, Any]:
    """The ``ObjectSchemaEgg`` (snake case) of the snapshot object."""
    searchable = [n for n in (snap.key_field, "crmpulse_kpi", "crmpulse_period") if _has(snap, n)]
    secondary = [n for n in ("crmpulse_kpi_label", "crmpulse_period") if _has(snap, n)]
    properties = []
    for field in snap.fields:
        type_, field_type = _HUBSPOT_TYPES[field.type]
        prop: dict[str, Any] = {
            "name": field.name,
            "label": field.label,
            "type": type_,
            "field_type": field_type,
            "description": field.description,
        }
        if field.name == snap.key_field:
            prop["has_unique_value"] = True
        properties.append(prop)
    return {
        "name": snap.name,
        "labels": {"singular": snap.label, "plural": snap.plural_label},
        "description": "KPI values per period, level and segment, written by crmpulse.",
        "primary_display_property": snap.key_field,
        "secondary_display_properties": secondary,
        "searchable_properties": searchable,
        "required_properties": [snap.key_field],
        "associated_objects": [],
        "properties": properties,
    }


def _has(snap: SnapshotSpec, name: str) -> bool:
    return any(f.name == name for f in snap.fields)


def _definition(field: FieldSpec, group: str) -> dict[str, Any]:
    type_, field_type = _HUBSPOT_TYPES[field.type]
    return {
        "name": field.name,
        "label": field.label,
        "type": type_,
        "field_type": field_type,
        "group_name": group,
        "description": field.description,
        "display_order": -1,
        "form_field": False,
    }
