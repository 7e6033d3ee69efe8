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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from crmpulse.errors import CrmPulseError, FatalError, InvalidRecordError, RetriableError
from crmpulse.model import Record
from crmpulse.ports import (
    CallStats,
    Cursor,
    FieldSpec,
    Page,
    PropertyChange,
    PushResult,
    RowFailure,
    SnapshotSpec,
    StreamSpec,
    TargetSpec,
)
from crmpulse.settings import HubSpotSettings, SyncSettings
from crmpulse_hubspot import mapper
from crmpulse_hubspot.client import ForbiddenError, HubSpotClient, RawObject, RawSchema
from crmpulse_hubspot.schema import ENGAGEMENTS, READABLE, ObjectSchema

log = structlog.get_logger("crmpulse.hubspot")

SEARCH_CAP = 10_000
BATCH_SIZE = 100
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


def _already_seen(obj: RawObject, cursor: Cursor) -> bool:
    """At or before the cursor, and old enough that it was searchable at the last pull."""
    at_or_before = (obj.updated_at, int(obj.id)) <= (cursor.updated_at, int(cursor.record_id))
    return at_or_before and obj.updated_at <= cursor.visible_before


def _ms(value: datetime) -> str:
    return str(int(value.timestamp() * 1000))


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
        """Full load when ``cursor`` is ``None``, else records modified since it."""
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
        return Page(records=records, cursor=None, rejects=rejects)

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
        properties = sorted(stream.schema.properties)
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
            yield Page(records=page.records, cursor=cursor, rejects=page.rejects)
            if not after:
                return

    def _incremental(
        self, stream: HubSpotStream, cursor: Cursor, visible_before: datetime
    ) -> Iterator[Page]:
        prop = stream.cursor_field
        properties = sorted(stream.schema.properties)
        low = cursor.resume_from
        current = Cursor(cursor.updated_at, cursor.record_id, visible_before)
        offset = 0
        while True:
            objects, _total, nxt = self.client.search_page(
                stream.crm_object,
                filter_groups=[
                    {"filters": [{"propertyName": prop, "operator": "GTE", "value": _ms(low)}]}
                ],
                sort={"propertyName": prop, "direction": "ASCENDING"},
                properties=properties,
                limit=self._sync.search_page_size,
                after=offset,
            )
            fresh = [o for o in objects if not _already_seen(o, cursor)]
            self._attach_associations(stream, fresh)
            advanced = self._advance(current, objects, visible_before)
            current = advanced or current
            page = self._map(stream, fresh)
            yield Page(records=page.records, cursor=current, rejects=page.rejects)
            if nxt is None:
                return
            if nxt + self._sync.search_page_size > SEARCH_CAP:
                # HubSpot refuses to page past 10,000 results: open a new window at the last
                # timestamp seen (records sharing it are read again and deduplicated).
                if current.updated_at <= low:
                    raise InvalidRecordError(
                        f"more than {SEARCH_CAP} records share modification time {low.isoformat()}",
                        stream=stream.name,
                        record_id=None,
                    )
                low, offset = current.updated_at, 0
            else:
                offset = nxt

    def _attach_associations(self, stream: HubSpotStream, objects: list[RawObject]) -> None:
        if not objects:
            return
        ids = [o.id for o in objects]
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
