"""In-memory state of one emulated HubSpot portal.

Objects are plain slotted dataclasses holding HubSpot-shaped string properties, so that a portal of
100k objects loads in seconds and a page is served in O(page). Public methods take the portal lock;
the app serves requests on one event loop, the lock only guards direct use from other threads.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import errors
from .associations import AssociationStore
from .catalog import OBJECT_TYPES, ObjectType, known_type_ids, resolve
from .changes import Change
from .properties import PropertyRegistry
from .reporting import ChangeReporting
from .values import epoch_ms, iso

if TYPE_CHECKING:
    from crmpulse.model import Record

    from .schemas import CustomSchema
    from .search import SearchQuery

DEFAULT_PORTAL_ID = 4_242_424
"""The hub id an emulated portal reports unless told otherwise."""

_SEARCH_CACHE_SIZE = 64


@dataclass(slots=True)
class StoredObject:
    """One CRM object: its numeric id, string properties and lifecycle timestamps."""

    id: int
    props: dict[str, str | None]
    created: str
    created_ms: int
    updated: str
    updated_ms: int
    archived_at: str | None = None


class ObjectTable:
    """The objects of one type, with id order kept for O(page) listing."""

    def __init__(self, otype: ObjectType):
        self.otype = otype
        self.active: dict[int, StoredObject] = {}
        self.archived: dict[int, StoredObject] = {}
        self.version = 0
        self._sorted: dict[bool, list[int] | None] = {False: [], True: []}
        self._emails: dict[str, int] | None = None
        self.merged: dict[int, int] = {}
        """Ids merged away -> the id of the record they live on in."""
        self.recent: dict[int, float] = {}
        """Ids written while the portal has a search lag -> when (monotonic seconds)."""

    def ids(self, archived: bool) -> list[int]:
        """Ids in ascending order (rebuilt lazily after bulk changes)."""
        cached = self._sorted[archived]
        if cached is None:
            cached = sorted(self.archived if archived else self.active)
            self._sorted[archived] = cached
        return cached

    def put(self, obj: StoredObject, archived: bool = False) -> None:
        """Insert or replace an object."""
        store = self.archived if archived else self.active
        fresh = obj.id not in store
        store[obj.id] = obj
        ids = self._sorted[archived]
        if fresh and ids is not None:
            if not ids or ids[-1] < obj.id:
                ids.append(obj.id)  # new ids are always the largest: stays O(1)
            else:
                self._sorted[archived] = None
        self.touch()

    def drop(self, object_id: int, archived: bool = False) -> StoredObject | None:
        """Remove an object from the active (or archived) set."""
        store = self.archived if archived else self.active
        obj = store.pop(object_id, None)
        ids = self._sorted[archived]
        if obj is not None and ids is not None:
            at = bisect.bisect_left(ids, object_id)
            if at < len(ids) and ids[at] == object_id:
                del ids[at]
        self.touch()
        return obj

    def touch(self) -> None:
        """Mark a change: cached searches and the email index are stale."""
        self.version += 1
        self._emails = None

    def by_email(self, email: str) -> StoredObject | None:
        """The active contact with this email (case-insensitive)."""
        if self._emails is None:
            self._emails = {}
            for obj in self.active.values():
                value = obj.props.get("email")
                if value:
                    self._emails.setdefault(value.lower(), obj.id)
        found = self._emails.get(email.lower())
        return self.active.get(found) if found is not None else None


class Portal(ChangeReporting):
    """One HubSpot portal: objects, properties, associations; every write after loading is
    reported to ``on_change`` (see :class:`ChangeReporting`)."""

    def __init__(
        self,
        *,
        portal_id: int = DEFAULT_PORTAL_ID,
        now: Callable[[], datetime] | None = None,
        custom_objects: bool = True,
    ):
        self.portal_id = portal_id
        self.custom_objects = custom_objects
        """Whether the portal's tier allows custom objects (Enterprise); else schema writes 403."""
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self.created = iso(self.now())
        """When the portal was created (the stamp of its HubSpot-defined definitions)."""
        self.properties = PropertyRegistry(portal_id, self.now)
        self.associations = AssociationStore()
        self.types: dict[str, ObjectType] = dict(OBJECT_TYPES)
        """Every object type of the portal: the standard ones plus its custom objects."""
        self.tables: dict[str, ObjectTable] = {n: ObjectTable(t) for n, t in OBJECT_TYPES.items()}
        self.schemas: dict[str, CustomSchema] = {}
        """Custom object schemas by their object type name (the fully qualified name)."""
        self._custom_alias: dict[str, str] = {}
        self.lock = threading.RLock()
        self.on_change: Callable[[Change], None] | None = None
        """Called with every change made after loading (webhooks listen here)."""
        self.search_lag = 0.0
        """Seconds a written object stays invisible to search (HubSpot's indexing delay)."""
        self.world: Any = None
        """The synthetic world the portal was built from, when it was (for the scenario clock)."""
        self._next_id = 1
        self._search_cache: OrderedDict[tuple[Any, ...], tuple[tuple[int, int], list[int]]] = (
            OrderedDict()
        )

    @classmethod
    def from_records(
        cls,
        records: Iterable[Record],
        *,
        portal_id: int = DEFAULT_PORTAL_ID,
        now: Callable[[], datetime] | None = None,
        custom_objects: bool = True,
    ) -> Portal:
        """A portal holding a world of normalized records (see ``seed`` for the mapping)."""
        from .seed import load

        portal = cls(portal_id=portal_id, now=now, custom_objects=custom_objects)
        load(portal, records)
        return portal

    # ------------------------------------------------------------ lookups
    def find_type(self, name: str) -> ObjectType | None:
        """A path's object type: a standard name, singular or ``0-1`` id, or a custom object's
        ``2-<n>`` id or fully qualified name (``p<portal>_<name>``)."""
        otype = resolve(name)
        if otype is not None:
            return otype
        key = self._custom_alias.get(name) or self._custom_alias.get(name.lower())
        return self.types[key] if key else None

    def object_type(self, name: str) -> ObjectType:
        """Resolve a path's object type (see :meth:`find_type`); 400 if unknown."""
        otype = self.find_type(name)
        if otype is None:
            # [UNVERIFIED exact wording] HubSpot answers 400 for an unknown object type.
            raise errors.validation(f"Unable to infer object type from: {name}")
        return otype

    def table(self, object_type: str) -> ObjectTable:
        """The table of a resolved object type name."""
        return self.tables[object_type]

    def count(self, object_type: str, *, archived: bool = False) -> int:
        """How many objects of a type are active (or archived)."""
        table = self.tables[object_type]
        return len(table.archived if archived else table.active)

    def get(
        self,
        object_type: str,
        object_id: str | int,
        *,
        archived: bool = False,
        id_property: str | None = None,
    ) -> StoredObject | None:
        """One object by id (or by a unique property such as ``email``)."""
        table = self.tables[object_type]
        with self.lock:
            if id_property and id_property != "hs_object_id":
                if id_property == "email" and object_type == "contacts" and not archived:
                    return table.by_email(str(object_id))
                store = table.archived if archived else table.active
                return next(
                    (o for o in store.values() if o.props.get(id_property) == str(object_id)), None
                )
            oid = _as_id(object_id)
            if oid is None:
                return None
            if archived:
                return table.archived.get(oid)
            # A merged-away id keeps resolving to the record it was merged into.
            return table.active.get(table.merged.get(oid, oid))

    def page(
        self, object_type: str, after: int | None, limit: int, *, archived: bool = False
    ) -> tuple[list[StoredObject], int | None]:
        """Objects in id order starting at id ``after``; and the id the next page starts at."""
        table = self.tables[object_type]
        with self.lock:
            ids = table.ids(archived)
            start = bisect.bisect_left(ids, after) if after is not None else 0
            chunk = ids[start : start + limit + 1]
            store = table.archived if archived else table.active
            objs = [store[i] for i in chunk[:limit]]
            return objs, (chunk[limit] if len(chunk) > limit else None)

    def iter_objects(self, object_type: str) -> Iterator[StoredObject]:
        """Active objects in id order."""
        table = self.tables[object_type]
        for oid in list(table.ids(False)):
            obj = table.active.get(oid)
            if obj is not None:
                yield obj

    # ------------------------------------------------------------- writes
    def new_id(self) -> int:
        """A fresh object id, above every id seen so far."""
        oid = self._next_id
        self._next_id += 1
        return oid

    def reserve_id(self, object_id: int) -> None:
        """Make sure ids assigned later stay above ``object_id``."""
        if object_id >= self._next_id:
            self._next_id = object_id + 1

    def insert(
        self,
        object_type: str,
        object_id: int,
        props: dict[str, str | None],
        *,
        created: datetime,
        updated: datetime,
        archived_at: datetime | None = None,
    ) -> StoredObject:
        """Store an object as-is (no validation): the loader's entry point.

        Fills ``hs_object_id`` and the creation / last-modified properties.
        """
        otype = self.types[object_type]
        created_iso, updated_iso = iso(created), iso(updated)
        props["hs_object_id"] = str(object_id)
        props[otype.created_property] = created_iso
        props[otype.modified_property] = updated_iso
        obj = StoredObject(
            object_id,
            props,
            created_iso,
            epoch_ms(created),
            updated_iso,
            epoch_ms(updated),
            iso(archived_at) if archived_at else None,
        )
        with self.lock:
            self.reserve_id(object_id)
            self.tables[object_type].put(obj, archived=archived_at is not None)
        return obj

    def create(
        self,
        object_type: str,
        values: Mapping[str, Any],
        associations: Iterable[tuple[str, str, int]] = (),
        *,
        validate: bool = True,
        created: datetime | None = None,
        updated: datetime | None = None,
    ) -> StoredObject:
        """Create an object from written values; associations are ``(to_type, to_id, typeId)``.

        ``created``/``updated`` default to now (the scenario clock passes its own times).
        """
        with self.lock:
            clean = (
                self.properties.clean_values(object_type, values)
                if validate
                else {k: (None if v is None else str(v)) for k, v in values.items()}
            )
            links = [self._check_link(object_type, t, i, tid) for t, i, tid in associations]
            self._check_required(object_type, clean)
            self._check_unique(object_type, clean, None)
            if object_type == "contacts" and clean.get("email"):
                existing = self.tables["contacts"].by_email(str(clean["email"]))
                if existing is not None:
                    raise errors.error(
                        409, "CONFLICT", f"Contact already exists. Existing ID: {existing.id}"
                    )
            born = created or self.now()
            obj = self.insert(
                object_type, self.new_id(), dict(clean), created=born, updated=updated or born
            )
            self.mark_written(object_type, obj.id)
            self.emit("creation", object_type, obj.id, obj.created_ms, changeFlag="CREATED")
            # [UNVERIFIED] HubSpot is observed to follow a creation with propertyChange events
            # for the values set on it; subscribers filtering on a property rely on that.
            self.emit_properties(object_type, obj, {k: v for k, v in clean.items() if v})
            for to_type, to_id, type_id in links:
                self.associate(object_type, obj.id, to_type, to_id, type_id)
            return obj

    def _check_link(
        self, from_type: str, to_type: str, to_id: str, type_id: int
    ) -> tuple[str, int, int]:
        target = self.object_type(to_type).name
        if type_id not in known_type_ids(from_type, target):
            raise errors.validation(
                f"{type_id} is not a valid association type between {from_type} and {target}"
            )
        obj = self.get(target, to_id)
        if obj is None:
            raise errors.error(404, "OBJECT_NOT_FOUND", f"No {target} with id {to_id} exists.")
        return target, obj.id, type_id

    def update(
        self,
        object_type: str,
        object_id: str | int,
        values: Mapping[str, Any],
        *,
        id_property: str | None = None,
        validate: bool = True,
        at: datetime | None = None,
    ) -> StoredObject | None:
        """Apply written values; bump the last-modified property (to ``at``, default now).

        None if the id is unknown.
        """
        with self.lock:
            clean = (
                self.properties.clean_values(object_type, values)
                if validate
                else {k: (None if v is None else str(v)) for k, v in values.items()}
            )
            obj = self.get(object_type, object_id, id_property=id_property)
            if obj is None:
                return None
            self._check_unique(object_type, clean, obj.id)
            self._apply(object_type, obj, clean, at)
            return obj

    def _check_required(self, object_type: str, clean: Mapping[str, str | None]) -> None:
        schema = self.schemas.get(object_type)
        if schema is None:
            return
        missing = [p for p in schema.required if not clean.get(p)]
        if missing:
            # [UNVERIFIED exact wording]
            raise errors.validation(
                f"Missing required properties for {schema.name}: {', '.join(missing)}",
                context={"properties": missing},
            )

    def _check_unique(
        self, object_type: str, clean: Mapping[str, str | None], own_id: int | None
    ) -> None:
        """409 when a value of a ``hasUniqueValue`` property is already held by another object."""
        for name, value in clean.items():
            if not value or name == "hs_object_id":
                continue
            prop = self.properties.get(object_type, name)
            if prop is None or not prop.has_unique_value:
                continue
            holder = self.get(object_type, value, id_property=name)
            if holder is not None and holder.id != own_id:
                # [UNVERIFIED exact wording and category]
                raise errors.error(
                    409,
                    "CONFLICT",
                    f"A {self.types[object_type].singular} with {name} {value!r} already exists. "
                    f"Existing ID: {holder.id}",
                )

    # ---------------------------------------------------------- custom objects
    def add_schema(self, schema: CustomSchema, otype: ObjectType) -> None:
        """Register a custom object type (its properties are added by the caller)."""
        with self.lock:
            self.types[otype.name] = otype
            self.tables[otype.name] = ObjectTable(otype)
            self.schemas[otype.name] = schema
            self.properties.add_object_type(otype)
            for alias in (otype.name, otype.type_id):
                self._custom_alias[alias] = otype.name
                self._custom_alias[alias.lower()] = otype.name

    def _apply(
        self,
        object_type: str,
        obj: StoredObject,
        clean: Mapping[str, str | None],
        at: datetime | None = None,
    ) -> None:
        now = at or self.now()
        changed = {k: v for k, v in clean.items() if obj.props.get(k) != v}
        obj.props.update(clean)
        obj.updated, obj.updated_ms = iso(now), epoch_ms(now)
        obj.props[self.types[object_type].modified_property] = obj.updated
        self.tables[object_type].touch()
        self.mark_written(object_type, obj.id)
        self.emit_properties(object_type, obj, changed)

    def archive(self, object_type: str, object_id: str | int) -> bool:
        """Archive an object; False if it was not active."""
        oid = _as_id(object_id)
        if oid is None:
            return False
        with self.lock:
            table = self.tables[object_type]
            obj = table.drop(oid)
            if obj is None:
                return False
            now = self.now()
            obj.archived_at = iso(now)
            table.put(obj, archived=True)
            self.emit("deletion", object_type, oid, epoch_ms(now), changeFlag="DELETED")
            return True

    def restore(self, object_type: str, object_id: str | int) -> StoredObject | None:
        """Bring an archived object back (HubSpot's recycle bin); None if it is not archived."""
        oid = _as_id(object_id)
        if oid is None:
            return None
        with self.lock:
            table = self.tables[object_type]
            obj = table.drop(oid, archived=True)
            if obj is None:
                return None
            obj.archived_at = None
            table.put(obj)
            self.mark_written(object_type, oid)
            self.emit("restore", object_type, oid, epoch_ms(self.now()), changeFlag="RESTORED")
            return obj

    # ------------------------------------------------------------- search
    def search(self, object_type: str, query: SearchQuery) -> tuple[int, list[StoredObject]]:
        """Total matches and the requested page of a validated search.

        The ordered match list is cached per query until the table (or, for queries on
        ``associations.*``, the association store) changes, so paging through one query costs
        O(page) after its first page.
        """
        from .search import matching_ids

        with self.lock:
            table = self.tables[object_type]
            versions = (table.version, self.associations.version if query.uses_associations else 0)
            key = (object_type, query.cache_key)
            hit = self._search_cache.get(key)
            if hit is not None and hit[0] == versions:
                self._search_cache.move_to_end(key)
                ids = hit[1]
            else:
                ids = matching_ids(self, object_type, query)
                self._search_cache[key] = (versions, ids)
                if len(self._search_cache) > _SEARCH_CACHE_SIZE:
                    self._search_cache.popitem(last=False)
            ids = self._indexed(table, ids)
            window = ids[query.after : query.after + query.limit]
            return len(ids), [table.active[i] for i in window]

    def _indexed(self, table: ObjectTable, ids: list[int]) -> list[int]:
        """``ids`` without the objects written less than ``search_lag`` seconds ago."""
        if not table.recent:
            return ids
        cutoff = time.monotonic() - self.search_lag
        table.recent = {i: t for i, t in table.recent.items() if t > cutoff}
        if not table.recent:
            return ids
        return [i for i in ids if i not in table.recent]


def _as_id(value: str | int) -> int | None:
    if isinstance(value, int):
        return value
    text = value.strip()
    return int(text) if text.isdigit() else None
