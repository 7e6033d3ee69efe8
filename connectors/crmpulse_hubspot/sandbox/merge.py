"""Merging two records of one type, as ``POST /crm/v3/objects/{type}/merge`` does.

The primary record keeps its id and its values; properties it lacks are filled from the merged
record (``numberOfPropertiesMoved``), the merged id joins ``hs_merged_object_ids`` and the merged
record's associations move to the primary. The merged record leaves the table, but reading it by
id still answers the primary (HubSpot resolves merged ids). One ``merge`` event is fired on the
primary.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import errors
from .reporting import QUIET_PROPERTIES
from .values import epoch_ms

if TYPE_CHECKING:
    from .portal import Portal, StoredObject

_KEEP = QUIET_PROPERTIES | {"hs_merged_object_ids", "hs_additional_emails"}


def _ids(value: str | None) -> list[str]:
    return [part for part in (value or "").split(";") if part]


def merge(portal: Portal, object_type: str, primary_id: str, merged_id: str) -> StoredObject:
    """Merge ``merged_id`` into ``primary_id``; the updated primary record."""
    with portal.lock:
        table = portal.table(object_type)
        primary = portal.get(object_type, primary_id)
        merged = portal.get(object_type, merged_id)
        if primary is None or merged is None:
            missing = primary_id if primary is None else merged_id
            raise errors.not_found(missing)
        if primary.id == merged.id:
            # [UNVERIFIED exact wording]
            raise errors.validation(f"Cannot merge {object_type} {primary.id} with itself.")
        moved = {
            name: value
            for name, value in merged.props.items()
            if value not in (None, "") and not primary.props.get(name) and name not in _KEEP
        }
        if object_type == "contacts" and merged.props.get("email"):
            extra = _ids(primary.props.get("hs_additional_emails"))
            moved["hs_additional_emails"] = ";".join([*extra, str(merged.props["email"])])
        ids = _ids(primary.props.get("hs_merged_object_ids"))
        ids += [str(merged.id), *_ids(merged.props.get("hs_merged_object_ids"))]
        moved_count = len(moved) - ("hs_additional_emails" in moved)
        listener, portal.on_change = portal.on_change, None  # the merge event stands for these
        try:
            _move_associations(portal, object_type, merged.id, primary.id)
            portal.update(
                object_type,
                primary.id,
                {**moved, "hs_merged_object_ids": ";".join(ids)},
                validate=False,
            )
        finally:
            portal.on_change = listener
        table.drop(merged.id)
        for alias, target in list(table.merged.items()):
            if target == merged.id:
                table.merged[alias] = primary.id
        table.merged[merged.id] = primary.id
        portal.emit(
            "merge",
            object_type,
            primary.id,
            epoch_ms(portal.now()),
            primaryObjectId=primary.id,
            mergedObjectIds=[merged.id],
            newObjectId=primary.id,
            numberOfPropertiesMoved=moved_count,
        )
        return primary


def _move_associations(portal: Portal, object_type: str, from_id: int, to_id: int) -> None:
    for other in list(portal.types):
        for target, type_ids in list(
            portal.associations.targets(object_type, from_id, other).items()
        ):
            portal.associations.remove(object_type, from_id, other, target)
            if other == object_type and target == to_id:
                continue
            for type_id in type_ids:
                portal.associations.add(object_type, to_id, other, target, type_id)
