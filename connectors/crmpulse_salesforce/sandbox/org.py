"""An in-memory Salesforce org: sObject describes (field name -> type) and their rows.

Rows are plain dicts keyed by API field name. Every row carries ``Id`` (an 18-character,
case-safe id with the object's key prefix), ``IsDeleted``, ``CreatedDate``, ``LastModifiedDate``
and ``SystemModstamp``. Deleting a row only flags it (``IsDeleted = true``), as the recycle bin
does: ``query`` hides it, ``queryAll`` still returns it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

_SYSTEM_FIELDS: dict[str, str] = {
    "Id": "id",
    "IsDeleted": "boolean",
    "CreatedDate": "datetime",
    "LastModifiedDate": "datetime",
    "SystemModstamp": "datetime",
}

DESCRIBES: dict[str, dict[str, str]] = {
    "Account": {
        **_SYSTEM_FIELDS,
        "Name": "string",
        "Industry": "picklist",
        "Type": "picklist",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "Website": "url",
        "ParentId": "reference",
    },
    "Contact": {
        **_SYSTEM_FIELDS,
        "FirstName": "string",
        "LastName": "string",
        "Name": "string",
        "Email": "email",
        "Phone": "phone",
        "AccountId": "reference",
    },
    "Case": {
        **_SYSTEM_FIELDS,
        "CaseNumber": "string",
        "Subject": "string",
        "Status": "picklist",
        "Priority": "picklist",
        "Origin": "picklist",
        "IsClosed": "boolean",
        "ClosedDate": "datetime",
        "AccountId": "reference",
        "ContactId": "reference",
        "First_Response__c": "datetime",
    },
}
"""Field describe (API name -> Salesforce field type) per supported sObject type."""

KEY_PREFIXES: dict[str, str] = {"Account": "001", "Contact": "003", "Case": "500"}
"""The three-character id prefix of each sObject type."""

ORG_ID = "00D000000000001AAA"
"""The emulated organization's id."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"


def case_safe_id(id15: str) -> str:
    """Append Salesforce's three-character case-safety checksum to a 15-character id."""
    if len(id15) != 15:
        raise ValueError(f"expected a 15-character id, got {id15!r}")
    suffix = ""
    for chunk in range(3):
        flags = 0
        for bit, char in enumerate(id15[chunk * 5 : chunk * 5 + 5]):
            if "A" <= char <= "Z":
                flags |= 1 << bit
        suffix += _SUFFIX[flags]
    return id15 + suffix


def make_id(prefix: str, number: int) -> str:
    """The 18-character id numbered ``number`` for key prefix ``prefix``."""
    digits = ""
    while True:
        number, rem = divmod(number, 62)
        digits = _BASE62[rem] + digits
        if number == 0:
            break
    if len(digits) > 9:
        raise ValueError("id counter overflow")
    return case_safe_id(prefix + "000" + digits.rjust(9, "0"))


class Org:
    """Rows of Account, Contact and Case held in memory, in insertion order."""

    def __init__(
        self, *, org_id: str = ORG_ID, clock: Callable[[], datetime] | None = None
    ) -> None:
        self.org_id = org_id
        self.describes = {name: dict(fields) for name, fields in DESCRIBES.items()}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in DESCRIBES}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counter = itertools.count(1)
        self._by_prefix = {prefix: name for name, prefix in KEY_PREFIXES.items()}

    def sobject_name(self, name: str) -> str | None:
        """The canonical spelling of sObject type ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((n for n in self.describes if n.lower() == low), None)

    def sobject_for_id(self, record_id: str) -> str | None:
        """The sObject type an id belongs to, from its key prefix."""
        return self._by_prefix.get(record_id[:3])

    def insert(
        self, sobject: str, values: Mapping[str, Any], *, created: datetime | None = None
    ) -> str:
        """Add a row of type ``sobject`` and return its new id.

        ``created`` sets ``CreatedDate`` (defaults to now); ``LastModifiedDate`` and
        ``SystemModstamp`` default to it unless ``values`` gives them.
        """
        name = self.sobject_name(sobject)
        if name is None:
            raise KeyError(f"unsupported sObject type {sobject!r}")
        unknown = [f for f in values if f not in self.describes[name]]
        if unknown:
            raise KeyError(f"no such field(s) on {name}: {', '.join(unknown)}")
        stamp = created or self._clock()
        record_id = make_id(KEY_PREFIXES[name], next(self._counter))
        row: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        row.update(values)
        row["Id"] = record_id
        self.rows[name][record_id] = row
        return record_id

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The row with ``record_id`` (deleted or not), or None."""
        sobject = self.sobject_for_id(record_id)
        return None if sobject is None else self.rows[sobject].get(record_id)

    def delete(self, record_id: str, *, when: datetime | None = None) -> None:
        """Move a row to the recycle bin: flag ``IsDeleted`` and bump ``SystemModstamp``."""
        row = self.get(record_id)
        if row is None:
            raise KeyError(record_id)
        stamp = when or self._clock()
        row["IsDeleted"] = True
        row["LastModifiedDate"] = row["SystemModstamp"] = stamp

    def scan(self, sobject: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Rows of ``sobject`` in insertion order; deleted rows only with ``include_deleted``."""
        for row in self.rows[sobject].values():
            if include_deleted or not row["IsDeleted"]:
                yield row

    def resolve_parent(self, relationship: str, record_id: str) -> dict[str, Any] | None:
        """The parent row behind a relationship id (SOQL dotted paths); None when unknown."""
        del relationship  # the id's key prefix tells the type
        return self.get(record_id)
