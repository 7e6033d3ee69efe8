"""Merging duplicate Accounts, Contacts or Leads, as the SOAP ``merge()`` call and Apex do.

The losing records go to the recycle bin with ``MasterRecordId`` set to the winner (``queryAll``
finds them with ``IsDeleted = true AND MasterRecordId != null``). Their child records are
re-parented to the master: a system cascade that fires no triggers or workflow rules but does
stamp the children as modified, so an incremental sync sees them (child Accounts of a losing
parent stay orphaned, as in Salesforce). The master gets one ordinary
update (which fires workflow rules, and outbound messages with them).
"""

from __future__ import annotations

from collections.abc import Sequence

from .org import AGENT_USER_ID, Org

MERGEABLE = frozenset({"Account", "Contact", "Lead"})
"""sObject types that can be merged."""
MAX_MERGED = 2
"""Records merged into the master per request (three records in all)."""
_NOT_PARENTS = frozenset({"OwnerId", "CreatedById", "LastModifiedById", "MasterRecordId"})


class MergeError(ValueError):
    """A merge request Salesforce would refuse; ``code`` is its status code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def merge(
    org: Org, sobject: str, master_id: str, merged_ids: Sequence[str], *, by: str = AGENT_USER_ID
) -> list[str]:
    """Merge ``merged_ids`` into ``master_id``; returns the ids of the re-parented children."""
    name = org.sobject_name(sobject)
    if name not in MERGEABLE:
        raise MergeError("INVALID_TYPE", f"merge is not supported for {sobject}")
    losers = list(dict.fromkeys(merged_ids))
    if not 1 <= len(losers) <= MAX_MERGED:
        raise MergeError(
            "INVALID_ARGUMENT", f"merge takes 1 to {MAX_MERGED} records besides the master"
        )
    if master_id in losers:
        raise MergeError("INVALID_ARGUMENT", "the master record cannot be merged into itself")
    for record_id in (master_id, *losers):
        row = org.get(record_id)
        if row is None or org.sobject_for_id(record_id) != name:
            raise MergeError(
                "INVALID_CROSS_REFERENCE_KEY", f"invalid cross reference id {record_id}"
            )
        if row["IsDeleted"]:
            raise MergeError("ENTITY_IS_DELETED", f"entity is deleted: {record_id}")
    now = org.now()
    with org.atomic():
        for loser in losers:
            org.rows[name][loser]["MasterRecordId"] = master_id
            org.delete(loser, when=now, by=by)
        org.invalidate(name)
        moved = _reparent(org, set(losers), master_id, by)
        org.update(master_id, {}, when=now, by=by)
    return moved


def _reparent(org: Org, losers: set[str], master_id: str, by: str) -> list[str]:
    moved: list[str] = []
    for sobject, fields in org.describes.items():
        references = [
            f
            for f, t in fields.items()
            if t == "reference"
            and f not in _NOT_PARENTS
            # Salesforce leaves child accounts of a losing parent orphaned, not re-parented.
            and not (sobject == "Account" and f == "ParentId")
        ]
        if not references:
            continue
        for row in list(org.scan(sobject)):
            change = {f: master_id for f in references if row.get(f) in losers}
            if change and row["Id"] != master_id:
                org.update(row["Id"], change, by=by, notify=False)
                moved.append(row["Id"])
    return moved
