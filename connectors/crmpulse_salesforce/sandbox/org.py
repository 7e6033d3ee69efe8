"""An in-memory Salesforce org: sObject describes (field name -> type) and their rows.

Rows are plain dicts keyed by API field name. Every row carries ``Id`` (an 18-character,
case-safe id with the object's key prefix), ``IsDeleted``, ``CreatedDate``, ``LastModifiedDate``
and ``SystemModstamp``. Deleting a row only flags it (``IsDeleted = true``), as the recycle bin
does: ``query`` hides it, ``queryAll`` still returns it.
"""

from __future__ import annotations

import copy
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from .catalog import (
    AUTO_NUMBERS,
    DESCRIBES,
    KEY_PREFIXES,
    OWNED_FIELDS,
    TOOLING_DESCRIBES,
    TOOLING_PREFIXES,
)
from .schema import FieldInfo, ObjectInfo, standard_field, standard_object

__all__ = [
    "AUTO_NUMBERS",
    "DESCRIBES",
    "INTEGRATION_PERMISSION_SET",
    "KEY_PREFIXES",
    "ORG_ID",
    "TOOLING_DESCRIBES",
    "TOOLING_PREFIXES",
    "Org",
    "case_safe_id",
    "make_id",
]

ORG_ID = "00D000000000001AAA"
"""The emulated organization's id."""

INTEGRATION_PERMISSION_SET = "CrmPulse_Integration"
"""Name of the permission set assigned to the API user (field permissions hang off it)."""

# A number no counter-issued id reaches in practice, so the seeded permission set never collides.
_PERMISSION_SET_NUMBER = 62**8
_AUTO_DIGITS = re.compile(r"\{(0+)\}")

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
    """The rows of every sObject type held in memory, in insertion order, plus the metadata the
    describe and Tooling API calls report (custom fields and objects created at run time)."""

    def __init__(
        self,
        *,
        org_id: str = ORG_ID,
        clock: Callable[[], datetime] | None = None,
        describes: Mapping[str, Mapping[str, str]] | None = None,
        key_prefixes: Mapping[str, str] | None = None,
        enforce_field_security: bool = True,
        metadata: bool = True,
    ) -> None:
        """``describes``/``key_prefixes`` default to the standard objects; ``metadata=False``
        builds a bare table (no permission set, no Tooling rows), as used for the Tooling API's
        own sObjects. ``enforce_field_security`` hides custom fields created at run time from
        the API user until a ``FieldPermissions`` row grants them."""
        self.org_id = org_id
        source = DESCRIBES if describes is None else describes
        self.describes = {name: dict(fields) for name, fields in source.items()}
        self.rows: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in self.describes}
        self.key_prefixes = dict(KEY_PREFIXES if key_prefixes is None else key_prefixes)
        self.enforce_field_security = enforce_field_security
        self.field_info: dict[str, dict[str, FieldInfo]] = {}
        """Explicit describe facts (custom fields and objects created at run time)."""
        self.object_info: dict[str, ObjectInfo] = {}
        self.secured: dict[str, set[str]] = {}
        """Fields per sObject that need a FieldPermissions grant to be visible."""
        self.tooling_metadata: dict[str, dict[str, Any]] = {}
        """Tooling API ``Metadata`` of each CustomField / CustomObject row, by its id."""
        self.auto_numbers = dict(AUTO_NUMBERS) if describes is None else {}
        self._auto_next: dict[tuple[str, str], int] = {}
        self._indexes: dict[tuple[str, str], dict[Any, list[str]]] = {}
        self._clock = clock or (lambda: datetime.now(UTC))
        self._counter = itertools.count(1)
        self._by_prefix = {prefix: name for name, prefix in self.key_prefixes.items()}
        self.tooling: Org | None = None
        self.permission_set_id: str | None = None
        if metadata:
            self.tooling = Org(
                org_id=org_id,
                clock=self._clock,
                describes=TOOLING_DESCRIBES,
                key_prefixes=TOOLING_PREFIXES,
                metadata=False,
            )
            for sobject, fields in self.describes.items():
                for field in fields:
                    if field.endswith("__c"):
                        self._tooling_field_row(sobject, field)
            self.permission_set_id = self.insert(
                "PermissionSet",
                {"Name": INTEGRATION_PERMISSION_SET, "Label": "CrmPulse Integration"},
                number=_PERMISSION_SET_NUMBER,
            )

    def now(self) -> datetime:
        """The org's clock."""
        return self._clock()

    def field(self, sobject: str, name: str) -> FieldInfo:
        """Describe facts of field ``name`` (canonical spelling) on ``sobject``."""
        explicit = self.field_info.get(sobject, {}).get(name)
        if explicit is not None:
            return explicit
        return standard_field(sobject, name, self.describes[sobject][name])

    def object(self, sobject: str) -> ObjectInfo:
        """Describe facts of sObject type ``sobject`` (canonical spelling)."""
        return self.object_info.get(sobject) or standard_object(sobject)

    def field_name(self, sobject: str, name: str) -> str | None:
        """The canonical spelling of field ``name`` on ``sobject`` (case-insensitive), or None."""
        fields = self.describes[sobject]
        if name in fields:
            return name
        low = name.lower()
        return next((f for f in fields if f.lower() == low), None)

    def add_custom_field(
        self, sobject: str, info: FieldInfo, metadata: Mapping[str, Any] | None = None
    ) -> str:
        """Create custom field ``info`` on ``sobject`` and its Tooling ``CustomField`` row.

        The field is secured (see ``enforce_field_security``). Returns the CustomField id;
        raises ``ValueError`` when the field already exists.
        """
        if self.field_name(sobject, info.name) is not None:
            raise ValueError(f"There is already a field named {info.name[:-3]} on {sobject}.")
        self.describes[sobject][info.name] = info.type
        self.field_info.setdefault(sobject, {})[info.name] = info
        self.secured.setdefault(sobject, set()).add(info.name)
        if info.auto_number is not None:
            self.auto_numbers[(sobject, info.name)] = info.auto_number
        return self._tooling_field_row(sobject, info, metadata)

    def add_custom_object(
        self,
        info: ObjectInfo,
        name_field: FieldInfo,
        metadata: Mapping[str, Any] | None = None,
    ) -> str:
        """Create custom sObject type ``info`` with the standard fields, an owner and
        ``name_field``; returns its Tooling ``CustomObject`` id (``ValueError`` if it exists)."""
        if self.sobject_name(info.name) is not None:
            raise ValueError(f"There is already an object named {info.name[:-3]}.")
        number = sum(1 for n in self.describes if n.endswith("__c"))
        prefix = "a0" + _BASE62[number % 62]
        while prefix in self._by_prefix:
            number += 1
            prefix = "a" + _BASE62[(number // 62) % 62] + _BASE62[number % 62]
        self.describes[info.name] = {**OWNED_FIELDS, "Name": "string"}
        self.rows[info.name] = {}
        self.key_prefixes[info.name] = prefix
        self._by_prefix[prefix] = info.name
        self.object_info[info.name] = info
        self.field_info[info.name] = {"Name": name_field}
        if name_field.auto_number is not None:
            self.auto_numbers[(info.name, "Name")] = name_field.auto_number
        meta = dict(metadata or {})
        assert self.tooling is not None
        object_id = self.tooling.insert(
            "CustomObject",
            {
                "DeveloperName": info.name[:-3],
                "FullName": info.name,
                "NamespacePrefix": None,
                "Description": meta.get("description"),
                "SharingModel": meta.get("sharingModel") or "ReadWrite",
                "ExternalSharingModel": meta.get("externalSharingModel") or "Private",
            },
        )
        self.tooling_metadata[object_id] = meta
        return object_id

    def _tooling_field_row(
        self, sobject: str, field: str | FieldInfo, metadata: Mapping[str, Any] | None = None
    ) -> str:
        if self.tooling is None:
            return ""
        info = self.field(sobject, field) if isinstance(field, str) else field
        table: str = sobject
        if sobject in self.object_info and self.object_info[sobject].custom:
            table = next(
                r["Id"] for r in self.tooling.scan("CustomObject") if r["FullName"] == sobject
            )
        meta = dict(metadata or {"label": info.label})
        field_id = self.tooling.insert(
            "CustomField",
            {
                "DeveloperName": info.name[:-3],
                "TableEnumOrId": table,
                "EntityDefinitionId": table,
                "FullName": f"{sobject}.{info.name}",
                "NamespacePrefix": None,
                "Description": meta.get("description"),
                "InlineHelpText": meta.get("inlineHelpText"),
                "Length": info.length,
                "Precision": info.precision,
                "Scale": info.scale,
            },
        )
        self.tooling_metadata[field_id] = meta
        return field_id

    def field_access(self, sobject: str) -> tuple[frozenset[str], frozenset[str]]:
        """``(hidden, read_only)`` secured fields of ``sobject`` for the API user.

        A secured field is readable when a ``FieldPermissions`` row of a permission set grants
        ``PermissionsRead`` (or ``PermissionsEdit``) on it and writable when it grants
        ``PermissionsEdit``. Nothing is hidden when field security is not enforced.
        """
        secured = self.secured.get(sobject)
        if not secured or not self.enforce_field_security:
            return frozenset(), frozenset()
        sets = {r["Id"] for r in self.scan("PermissionSet")}
        readable: set[str] = set()
        editable: set[str] = set()
        for grant in self.scan("FieldPermissions"):
            if grant.get("ParentId") not in sets:
                continue
            owner, _, field = str(grant.get("Field") or "").partition(".")
            if owner.lower() != sobject.lower():
                continue
            name = self.field_name(sobject, field)
            if name is None:
                continue
            if grant.get("PermissionsEdit"):
                editable.add(name)
                readable.add(name)
            elif grant.get("PermissionsRead"):
                readable.add(name)
        return frozenset(secured - readable), frozenset((secured & readable) - editable)

    def api_view(self) -> Org:
        """This org as the API user sees it: secured fields without a grant left out of the
        describes (so SOQL reports them as INVALID_FIELD). Rows are shared, not copied."""
        hidden = {name: self.field_access(name)[0] for name in self.secured}
        if not any(hidden.values()):
            return self
        view = copy.copy(self)
        view.describes = {
            name: {f: t for f, t in fields.items() if f not in hidden.get(name, ())}
            for name, fields in self.describes.items()
        }
        return view

    def sobject_name(self, name: str) -> str | None:
        """The canonical spelling of sObject type ``name`` (case-insensitive), or None."""
        low = name.lower()
        return next((n for n in self.describes if n.lower() == low), None)

    def sobject_for_id(self, record_id: str) -> str | None:
        """The sObject type an id belongs to, from its key prefix."""
        return self._by_prefix.get(record_id[:3])

    def insert(
        self,
        sobject: str,
        values: Mapping[str, Any],
        *,
        created: datetime | None = None,
        number: int | None = None,
    ) -> str:
        """Add a row of type ``sobject`` and return its new id.

        ``created`` sets ``CreatedDate`` (defaults to now); ``LastModifiedDate`` and
        ``SystemModstamp`` default to it unless ``values`` gives them. ``number`` fixes the id's
        numeric part (seeding a world under stable ids); otherwise the org's counter picks it.
        """
        name = self.sobject_name(sobject)
        if name is None:
            raise KeyError(f"unsupported sObject type {sobject!r}")
        unknown = [f for f in values if f not in self.describes[name]]
        if unknown:
            raise KeyError(f"no such field(s) on {name}: {', '.join(unknown)}")
        stamp = created or self._clock()
        prefix = self.key_prefixes[name]
        record_id = make_id(prefix, next(self._counter) if number is None else number)
        if record_id in self.rows[name]:
            raise KeyError(f"duplicate id {record_id}")
        row: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        row.update(values)
        row["Id"] = record_id
        _compound_name(name, row)
        self._number_row(name, row)
        self.rows[name][record_id] = row
        for (owner, field), index in self._indexes.items():
            if owner == name:
                index.setdefault(row.get(field), []).append(record_id)
        return record_id

    def _number_row(self, sobject: str, row: dict[str, Any]) -> None:
        """Fill auto-number fields the caller left empty; given values move the counter on."""
        for (owner, field), fmt in self.auto_numbers.items():
            if owner != sobject:
                continue
            key = (owner, field)
            value = row.get(field)
            if value is None:
                number = self._auto_next.get(key, 1)
                row[field] = _format_auto_number(fmt, number)
                self._auto_next[key] = number + 1
            else:
                digits = re.findall(r"\d+", str(value))
                if digits:
                    self._auto_next[key] = max(self._auto_next.get(key, 1), int(digits[-1]) + 1)

    def update(
        self, record_id: str, values: Mapping[str, Any], *, when: datetime | None = None
    ) -> None:
        """Change fields of a live row and bump ``LastModifiedDate`` / ``SystemModstamp``."""
        row = self.get(record_id)
        if row is None or row["IsDeleted"]:
            raise KeyError(record_id)
        name = self.sobject_for_id(record_id)
        assert name is not None
        unknown = [f for f in values if f not in self.describes[name]]
        if unknown:
            raise KeyError(f"no such field(s) on {name}: {', '.join(unknown)}")
        for (owner, field), index in self._indexes.items():
            if owner == name and field in values:
                _unindex(index, row.get(field), record_id)
                index.setdefault(values[field], []).append(record_id)
        row.update(values)
        _compound_name(name, row)
        row["LastModifiedDate"] = row["SystemModstamp"] = when or self._clock()

    def find_by(self, sobject: str, field: str, value: Any) -> list[str]:
        """Ids of live rows of ``sobject`` whose ``field`` equals ``value`` (external-id lookup).

        Served from an index built on first use and kept up to date by :meth:`insert` and
        :meth:`update`; code that changes row dicts in place calls :meth:`invalidate`.
        """
        name = self.sobject_name(sobject)
        if name is None:
            raise KeyError(f"unsupported sObject type {sobject!r}")
        index = self._indexes.get((name, field))
        if index is None:
            index = {}
            for row in self.rows[name].values():
                index.setdefault(row.get(field), []).append(row["Id"])
            self._indexes[(name, field)] = index
        rows = self.rows[name]
        return [
            i
            for i in index.get(value, ())
            if i in rows and not rows[i]["IsDeleted"] and rows[i].get(field) == value
        ]

    def invalidate(self, sobject: str) -> None:
        """Forget the lookup indexes of ``sobject`` (after rows were changed in place)."""
        for key in [k for k in self._indexes if k[0] == sobject]:
            del self._indexes[key]

    def upsert(
        self,
        sobject: str,
        field: str,
        value: Any,
        values: Mapping[str, Any],
        *,
        when: datetime | None = None,
    ) -> tuple[str, bool]:
        """Update the row whose external id ``field`` equals ``value``, or insert one.

        Returns ``(id, created)``; raises ``LookupError`` when several rows match.
        """
        matches = self.find_by(sobject, field, value)
        if len(matches) > 1:
            raise LookupError(f"{len(matches)} {sobject} rows have {field} = {value!r}")
        if matches:
            self.update(matches[0], values, when=when)
            return matches[0], False
        return self.insert(sobject, {**values, field: value}, created=when), True

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


def _unindex(index: dict[Any, list[str]], value: Any, record_id: str) -> None:
    ids = index.get(value)
    if ids is not None and record_id in ids:
        ids.remove(record_id)
        if not ids:
            del index[value]


def _format_auto_number(fmt: str, number: int) -> str:
    """``KPI-{0000}`` with 7 -> ``KPI-0007``."""
    return _AUTO_DIGITS.sub(lambda m: str(number).zfill(len(m[1])), fmt)


def _compound_name(sobject: str, row: dict[str, Any]) -> None:
    """Contact and Lead ``Name`` is derived from first and last name, as Salesforce does."""
    if sobject in ("Contact", "Lead"):
        parts = [row.get("FirstName"), row.get("LastName")]
        row["Name"] = " ".join(p for p in parts if p) or None
