"""How a portal reports its changes: the part of :class:`~.portal.Portal` that fires events.

Kept apart from the storage so that the portal module stays about objects. Writes call these
methods; with no listener attached (while a world is loaded, or when nobody subscribed) they cost
one attribute check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .catalog import PRIMARY, ObjectType
from .changes import Change, ChangeKind, actor
from .values import epoch_ms

if TYPE_CHECKING:
    from .associations import AssociationStore
    from .portal import ObjectTable, StoredObject

QUIET_PROPERTIES = frozenset(
    {"hs_object_id", "createdate", "hs_createdate", "lastmodifieddate", "hs_lastmodifieddate"}
)
"""Properties HubSpot maintains itself and sends no ``propertyChange`` events for."""


class ChangeReporting:
    """Mixin: change events and event-firing association writes for the portal."""

    types: dict[str, ObjectType]
    tables: dict[str, ObjectTable]
    associations: AssociationStore
    lock: threading.RLock
    now: Callable[[], datetime]
    on_change: Callable[[Change], None] | None
    search_lag: float

    def emit(
        self, kind: ChangeKind, object_type: str, object_id: int, occurred_ms: int, **fields: Any
    ) -> None:
        """Report one change to the listener, attributed to the current actor."""
        listener = self.on_change
        if listener is None:
            return
        source, source_id = actor()
        type_id = self.types[object_type].type_id
        listener(
            Change(kind, object_type, type_id, object_id, occurred_ms, source, source_id, fields)
        )

    def emit_properties(
        self, object_type: str, obj: StoredObject, values: Mapping[str, str | None]
    ) -> None:
        """One ``propertyChange`` per value (HubSpot-maintained properties excepted)."""
        if self.on_change is None:
            return
        for name, value in values.items():
            if name not in QUIET_PROPERTIES:
                self.emit(
                    "propertyChange",
                    object_type,
                    obj.id,
                    obj.updated_ms,
                    propertyName=name,
                    propertyValue="" if value is None else value,
                )

    def mark_written(self, object_type: str, object_id: int) -> None:
        """Note a write for the search lag (only while there is one)."""
        if self.search_lag > 0:
            self.tables[object_type].recent[object_id] = time.monotonic()

    def associate(
        self, from_type: str, from_id: int, to_type: str, to_id: int, type_id: int
    ) -> None:
        """Add one association type between two objects (both directions), with events."""
        with self.lock:
            known = self.associations.targets(from_type, from_id, to_type).get(to_id, [])
            fresh = type_id not in known
            self.associations.add(from_type, from_id, to_type, to_id, type_id)
            if fresh:
                self._emit_association(from_type, from_id, to_type, to_id, [type_id], False)

    def dissociate(self, from_type: str, from_id: int, to_type: str, to_id: int) -> None:
        """Remove every association between two objects, with events."""
        with self.lock:
            known = list(self.associations.targets(from_type, from_id, to_type).get(to_id, []))
            self.associations.remove(from_type, from_id, to_type, to_id)
            if known:
                self._emit_association(from_type, from_id, to_type, to_id, known, True)

    def _emit_association(
        self,
        from_type: str,
        from_id: int,
        to_type: str,
        to_id: int,
        type_ids: list[int],
        removed: bool,
    ) -> None:
        """One ``associationChange`` per direction, as HubSpot keeps both."""
        if self.on_change is None:
            return
        at = epoch_ms(self.now())
        primary_ids = {PRIMARY.get((from_type, to_type)), PRIMARY.get((to_type, from_type))}
        is_primary = any(t in primary_ids for t in type_ids)
        for a, a_id, b, b_id in (
            (from_type, from_id, to_type, to_id),
            (to_type, to_id, from_type, from_id),
        ):
            self.emit(
                "associationChange",
                a,
                a_id,
                at,
                associationType=f"{self.types[a].singular}_TO_{self.types[b].singular}".upper(),
                fromObjectId=a_id,
                toObjectId=b_id,
                associationRemoved=removed,
                isPrimaryAssociation=is_primary,
            )
