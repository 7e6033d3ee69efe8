"""An in-memory Salesforce org: sObject describes (field name -> type) and their rows.

Rows are plain dicts keyed by API field name. Every row carries ``Id`` (an 18-character,
case-safe id with the object's key prefix), ``IsDeleted``, ``CreatedDate``, ``LastModifiedDate``,
``SystemModstamp`` and the audit fields ``CreatedById`` / ``LastModifiedById`` (the acting User:
:data:`API_USER_ID` for API writes, :data:`AGENT_USER_ID` for everything else). Deleting a row
only flags it (``IsDeleted = true``), as the recycle bin does: ``query`` hides it, ``queryAll``
still returns it; :meth:`Org.purge` removes it for good.

Every create, update, delete, undelete and purge is reported as a :class:`Change` to the org's
``listeners`` (outbound messages hang off them); inside :meth:`Org.atomic` the changes wait for
the end of the block and vanish when the block is rolled back.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
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
    "AGENT_USER_ID",
    "API_USER_ID",
    "AUTO_NUMBERS",
    "DESCRIBES",
    "INTEGRATION_PERMISSION_SET",
    "KEY_PREFIXES",
    "ORG_ID",
    "TOOLING_DESCRIBES",
    "TOOLING_PREFIXES",
    "Change",
    "Org",
    "case_safe_id",
    "make_id",
]

ORG_ID = "00D000000000001AAA"
"""The emulated organization's id."""

API_USER_ID = "005000000000001AAA"
"""The integration (API) user: every session and OAuth token acts as this User."""
AGENT_USER_ID = "005000000000002AAA"
"""The User behind changes made inside the org (seeded data, ``/_sandbox`` writes, scenarios)."""

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


@dataclasses.dataclass(frozen=True)
class Change:
    """One committed change of a row: ``kind`` is created, updated, deleted, undeleted or
    purged; ``row`` is the live row (a copy for purges); ``user`` the acting User's id."""

    kind: str
    sobject: str
    row: dict[str, Any]
    user: str


Listener = Callable[[Change], None]
"""Called with each committed :class:`Change` (on the thread that made it)."""


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
        self.listeners: list[Listener] = []
        self.purged: dict[str, datetime] = {}
        """When rows of each sObject type were last purged from the recycle bin."""
        self._held: list[Change] | None = None
        if metadata:
            for number, username in enumerate(("integration", "agent"), start=1):
                self.insert(
                    "User",
                    {
                        "Username": f"{username}@crmpulse.sandbox",
                        "Name": username.capitalize() + " User",
                        "IsActive": True,
                    },
                    number=number,
                    by=API_USER_ID,
                )
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

    # -- change notification -----------------------------------------------------------------
    def _emit(self, kind: str, sobject: str, row: dict[str, Any], user: str) -> None:
        if self._held is None and not self.listeners:
            return
        change = Change(kind, sobject, row, user)
        if self._held is not None:
            self._held.append(change)
        else:
            self._dispatch(change)

    def _dispatch(self, change: Change) -> None:
        for listener in list(self.listeners):
            listener(change)

    @contextmanager
    def atomic(self) -> Iterator[Callable[[], None]]:
        """Hold change notifications until the block ends (one transaction). The block gets a
        function that discards them: call it when the transaction is rolled back."""
        outer = self._held
        held: list[Change] = []
        self._held = held
        discarded = False

        def discard() -> None:
            nonlocal discarded
            discarded = True

        try:
            yield discard
        finally:
            self._held = outer
            if not discarded:
                for change in held:
                    if outer is not None:
                        outer.append(change)
                    else:
                        self._dispatch(change)

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
        by: str = AGENT_USER_ID,
    ) -> str:
        """Add a row of type ``sobject`` (created by User ``by``) and return its new id.

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
        if number is None:
            record_id = make_id(prefix, next(self._counter))
            while record_id in self.rows[name]:  # a row seeded under a fixed number
                record_id = make_id(prefix, next(self._counter))
        else:
            record_id = make_id(prefix, number)
            if record_id in self.rows[name]:
                raise KeyError(f"duplicate id {record_id}")
        row: dict[str, Any] = {
            "Id": record_id,
            "IsDeleted": False,
            "CreatedDate": stamp,
            "LastModifiedDate": stamp,
            "SystemModstamp": stamp,
        }
        if "LastModifiedById" in self.describes[name]:
            row["CreatedById"] = row["LastModifiedById"] = by
        row.update(values)
        row["Id"] = record_id
        _compound_name(name, row)
        self._number_row(name, row)
        self.rows[name][record_id] = row
        for (owner, field), index in self._indexes.items():
            if owner == name:
                index.setdefault(row.get(field), []).append(record_id)
        self._emit("created", name, row, by)
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
        self,
        record_id: str,
        values: Mapping[str, Any],
        *,
        when: datetime | None = None,
        by: str = AGENT_USER_ID,
        notify: bool = True,
    ) -> None:
        """Change fields of a live row as User ``by`` and bump ``LastModifiedDate`` /
        ``SystemModstamp`` / ``LastModifiedById``. ``notify=False`` skips the change
        notification (system cascades that fire no triggers, such as merge re-parenting)."""
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
        if "LastModifiedById" in self.describes[name] and "LastModifiedById" not in values:
            row["LastModifiedById"] = by
        if notify:
            self._emit("updated", name, row, by)

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
        by: str = AGENT_USER_ID,
    ) -> tuple[str, bool]:
        """Update the row whose external id ``field`` equals ``value``, or insert one.

        Returns ``(id, created)``; raises ``LookupError`` when several rows match.
        """
        matches = self.find_by(sobject, field, value)
        if len(matches) > 1:
            raise LookupError(f"{len(matches)} {sobject} rows have {field} = {value!r}")
        if matches:
            self.update(matches[0], values, when=when, by=by)
            return matches[0], False
        return self.insert(sobject, {**values, field: value}, created=when, by=by), True

    def get(self, record_id: str) -> dict[str, Any] | None:
        """The row with ``record_id`` (deleted or not), or None."""
        sobject = self.sobject_for_id(record_id)
        return None if sobject is None else self.rows[sobject].get(record_id)

    def delete(
        self, record_id: str, *, when: datetime | None = None, by: str = AGENT_USER_ID
    ) -> None:
        """Move a row to the recycle bin as User ``by``: flag ``IsDeleted`` and bump
        ``SystemModstamp`` (the ``deletedDate`` getDeleted reports) and the last-modified
        fields, so ``queryAll`` tells who deleted it."""
        row = self.get(record_id)
        if row is None:
            raise KeyError(record_id)
        self._stamp_row(row, when, by, IsDeleted=True)
        self._emit("deleted", self._type_of(record_id), row, by)

    def undelete(
        self, record_id: str, *, when: datetime | None = None, by: str = AGENT_USER_ID
    ) -> None:
        """Restore a row from the recycle bin (``KeyError`` unless it is there)."""
        row = self.get(record_id)
        if row is None or not row["IsDeleted"]:
            raise KeyError(record_id)
        self._stamp_row(row, when, by, IsDeleted=False)
        if "MasterRecordId" in row:
            row["MasterRecordId"] = None
        self._emit("undeleted", self._type_of(record_id), row, by)

    def purge(self, record_id: str, *, by: str = AGENT_USER_ID) -> None:
        """Remove a row for good (hard delete, or emptied from the recycle bin): gone from
        ``queryAll`` and getDeleted, whose ``earliestDateAvailable`` moves to now."""
        sobject = self._type_of(record_id)
        row = self.rows[sobject].pop(record_id, None)
        if row is None:
            raise KeyError(record_id)
        self.invalidate(sobject)
        self.purged[sobject] = self._clock()
        self._emit("purged", sobject, dict(row), by)

    def _type_of(self, record_id: str) -> str:
        sobject = self.sobject_for_id(record_id)
        if sobject is None:
            raise KeyError(record_id)
        return sobject

    def _stamp_row(
        self, row: dict[str, Any], when: datetime | None, by: str, **values: Any
    ) -> None:
        row.update(values)
        row["LastModifiedDate"] = row["SystemModstamp"] = when or self._clock()
        if "LastModifiedById" in row:
            row["LastModifiedById"] = by

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
