"""The scenario clock applied to a portal: the synthetic world's future, written as CRM edits.

:class:`ScenarioRunner` advances a :class:`crmpulse.synth.Scenario` over the world the portal was
built from and writes each record it returns: existing objects are updated (their last-modified
date becomes the record's ``updated_at``), new ones are created with fresh portal ids and their
associations. The writes go through the portal like any other, so they fire webhook events, made
(like everything on ``/_sandbox``) by a person in the CRM.
"""

from __future__ import annotations

import threading
from collections import Counter
from typing import TYPE_CHECKING, Any

from crmpulse.model import Record, entity_of

from .catalog import PRIMARY, UNLABELED
from .seed import object_type_of, to_properties
from .values import iso

if TYPE_CHECKING:
    from crmpulse.synth import World

    from .portal import Portal, StoredObject

_ORDER = ("accounts", "contacts", "deals", "tickets", "activities", "surveys", "conversions")


class ScenarioRunner:
    """One scenario clock per emulator, writing into its portal."""

    def __init__(self, portal: Portal, world: World, *, seed: int | None = None) -> None:
        from crmpulse.synth.scenario import Scenario

        self.portal = portal
        self.scenario = Scenario(world, seed=seed)
        self._ids: dict[tuple[str, str], int] = {}
        self._lock = threading.Lock()

    def advance(self, hours: float) -> dict[str, Any]:
        """Advance the clock and apply what happened; a summary of the writes."""
        with self._lock:
            records = self.scenario.advance(hours)
            records.sort(key=lambda r: _ORDER.index(entity_of(r)))
            created: Counter[str] = Counter()
            updated: Counter[str] = Counter()
            ids: dict[str, str] = {}
            with self.portal.lock:
                for record in records:
                    otype = object_type_of(record)
                    if otype is None:
                        continue
                    obj, fresh = self._apply(otype, record)
                    (created if fresh else updated)[otype] += 1
                    ids[record.id] = str(obj.id)
            return {
                "now": iso(self.scenario.now),
                "records": len(records),
                "created": dict(created),
                "updated": dict(updated),
                "ids": ids,
            }

    def portal_id(self, object_type: str, record_id: str) -> int | None:
        """The portal id of a world or scenario record, if it is in the portal."""
        mapped = self._ids.get((object_type, record_id))
        if mapped is not None:
            return mapped
        obj = self.portal.get(object_type, record_id) if record_id.isdigit() else None
        return obj.id if obj is not None else None

    def _apply(self, otype: str, record: Record) -> tuple[StoredObject, bool]:
        portal = self.portal
        props, links = to_properties(record)
        oid = self.portal_id(otype, record.id)
        if oid is not None:
            obj = portal.update(otype, oid, props, validate=False, at=record.updated_at)
            if obj is not None:
                return obj, False
        resolved: list[tuple[str, str, int]] = []
        for to_type, ref in links:
            to_id = self.portal_id(to_type, ref)
            if to_id is None:
                continue
            resolved.append((to_type, str(to_id), UNLABELED[(otype, to_type)]))
            primary = PRIMARY.get((otype, to_type))
            if primary is not None:
                resolved.append((to_type, str(to_id), primary))
        if otype == "feedback_submissions" and props.get("hs_contact_id"):
            contact = self.portal_id("contacts", str(props["hs_contact_id"]))
            props["hs_contact_id"] = None if contact is None else str(contact)
        obj = portal.create(
            otype,
            {k: v for k, v in props.items() if v is not None},
            resolved,
            validate=False,
            created=record.created_at,
            updated=record.updated_at,
        )
        self._ids[(otype, record.id)] = obj.id
        return obj, True
