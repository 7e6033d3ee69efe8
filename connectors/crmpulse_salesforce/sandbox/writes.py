"""DML as the REST API performs it: deserialize a JSON body against an sObject's fields, check
it, and create, update, upsert or delete rows of an :class:`~.org.Org`, with a journal that can
undo a batch (sObject Collections' ``allOrNone``).

Deserializing fails for the whole request (unknown or hidden field: 400 INVALID_FIELD; value
that does not fit the type: 400 JSON_PARSER_ERROR); checks fail per record (:class:`RecordError`:
read-only field, missing required field, value too long, deleted or unknown record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import ApiError, RecordError, no_such_column, not_found
from .org import Org
from .schema import ConversionError, convert
from .state import USER_ID

_TEXT = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist"})


def is_id(value: Any) -> bool:
    """Whether ``value`` looks like a 15- or 18-character record id."""
    return isinstance(value, str) and len(value) in (15, 18) and value.isalnum()


class Journal:
    """Before-images of the rows a batch touched, so it can be undone."""

    def __init__(self, org: Org) -> None:
        self.org = org
        self._before: dict[str, tuple[str, dict[str, Any] | None]] = {}

    def touch(self, sobject: str, record_id: str) -> None:
        """Remember ``record_id`` as it is now (once per batch)."""
        if record_id not in self._before:
            row = self.org.rows[sobject].get(record_id)
            self._before[record_id] = (sobject, None if row is None else dict(row))

    def created(self, sobject: str, record_id: str) -> None:
        """Remember that the batch created ``record_id``."""
        self._before.setdefault(record_id, (sobject, None))

    def rollback(self) -> None:
        """Put every touched row back as it was; rows the batch created disappear."""
        for sobject in {s for s, _ in self._before.values()}:
            self.org.invalidate(sobject)
        for record_id, (sobject, before) in self._before.items():
            if before is None:
                self.org.rows[sobject].pop(record_id, None)
            else:
                row = self.org.rows[sobject][record_id]
                row.clear()
                row.update(before)
        self._before.clear()


class Writer:
    """Validating DML over an org for the API user (field security applied)."""

    def __init__(self, org: Org, journal: Journal | None = None) -> None:
        self.org = org
        self.journal = journal

    # -- deserialization ---------------------------------------------------------------------
    def sobject(self, name: str) -> str:
        """The canonical type name, or 404 NOT_FOUND as the REST paths answer."""
        canonical = self.org.sobject_name(name)
        if canonical is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        return canonical

    def parse(self, sobject: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """JSON field values -> stored values under canonical names (``attributes`` dropped)."""
        hidden, _ = self.org.field_access(sobject)
        values: dict[str, Any] = {}
        for key, raw in body.items():
            if key == "attributes":
                continue
            name = self.org.field_name(sobject, key)
            if name is None or name in hidden:
                raise no_such_column(key, sobject)
            ftype = self.org.describes[sobject][name]
            try:
                values[name] = convert(ftype, raw)
            except ConversionError as exc:
                raise ApiError(400, "JSON_PARSER_ERROR", str(exc)) from None
        return values

    def external_field(self, sobject: str, field: str) -> str:
        """The canonical name of an upsert key field: ``Id`` or a field flagged externalId."""
        hidden, _ = self.org.field_access(sobject)
        name = self.org.field_name(sobject, field)
        if name is None or name in hidden:
            raise ApiError(
                404,
                "NOT_FOUND",
                f"Provided external ID field does not exist or is not accessible: {field}",
            )
        if name != "Id" and not self.org.field(sobject, name).external_id:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"Field {name} is not an External ID or indexed field for {sobject}",
                [name],
            )
        return name

    # -- checks ------------------------------------------------------------------------------
    def check(self, sobject: str, values: Mapping[str, Any], *, creating: bool) -> None:
        """Per-record checks: object writable, fields writable, required fields, lengths."""
        info = self.org.object(sobject)
        if not (info.createable if creating else info.updateable):
            verb = "insert" if creating else "update"
            raise RecordError(
                "INVALID_TYPE_FOR_OPERATION", f"entity type {sobject} does not support {verb}"
            )
        _, read_only = self.org.field_access(sobject)
        blocked = [
            name
            for name in values
            if name in read_only
            or not (
                self.org.field(sobject, name).createable
                if creating
                else self.org.field(sobject, name).updateable
            )
        ]
        if blocked:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE",
                f"Unable to create/update fields: {', '.join(blocked)}. Please check the security "
                "settings of this field and verify that it is read/write for your profile or "
                "permission set.",
                blocked,
            )
        missing = [
            name
            for name in self.org.describes[sobject]
            if self.org.field(sobject, name).required
            and (values.get(name) is None if creating or name in values else False)
        ]
        if missing:
            raise RecordError(
                "REQUIRED_FIELD_MISSING",
                f"Required fields are missing: [{', '.join(missing)}]",
                missing,
            )
        for name, value in values.items():
            field = self.org.field(sobject, name)
            if field.type in _TEXT and isinstance(value, str) and len(value) > field.length > 0:
                raise RecordError(
                    "STRING_TOO_LONG",
                    f"{field.label}: data value too large: {value[:30]} "
                    f"(max length={field.length})",
                    [name],
                )
        if sobject == "FieldPermissions" and "Field" in values:
            self._check_field_permission(values)

    def _check_field_permission(self, values: Mapping[str, Any]) -> None:
        target = str(values.get("Field") or "")
        owner, _, field = target.partition(".")
        owner_name = self.org.sobject_name(owner) if owner else None
        if owner_name is None or self.org.field_name(owner_name, field) is None:
            raise RecordError(
                "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                f"Field Name: bad value for restricted picklist field: {target}",
                ["Field"],
            )
        for grant in self.org.scan("FieldPermissions"):
            if grant.get("ParentId") == values.get("ParentId") and grant.get("Field") == target:
                raise RecordError(
                    "DUPLICATE_VALUE",
                    "duplicate value found: <unknown> duplicates value on record with id: "
                    f"{grant['Id']}",
                )

    # -- DML ---------------------------------------------------------------------------------
    def create(self, sobject: str, values: Mapping[str, Any]) -> str:
        """Check and insert a row; returns its id."""
        if "Id" in values:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
            )
        self.check(sobject, values, creating=True)
        row = dict(values)
        if "OwnerId" in self.org.describes[sobject] and row.get("OwnerId") is None:
            row["OwnerId"] = USER_ID
        _derive(self.org, sobject, row, None)
        record_id = self.org.insert(sobject, row, by=USER_ID)
        if self.journal is not None:
            self.journal.created(sobject, record_id)
        return record_id

    def live_row(self, sobject: str | None, record_id: str) -> dict[str, Any]:
        """The live row ``record_id`` (of type ``sobject`` when given) or a RecordError."""
        if not is_id(record_id):
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", ["Id"])
        found = self.org.sobject_for_id(record_id)
        row = self.org.get(record_id) if found else None
        if row is None or (sobject is not None and found != sobject):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id")
        if row["IsDeleted"]:
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted")
        return row

    def update(self, sobject: str, record_id: str, values: Mapping[str, Any]) -> None:
        """Check and update a live row."""
        row = self.live_row(sobject, record_id)
        self.check(sobject, values, creating=False)
        change = dict(values)
        _derive(self.org, sobject, change, row)
        if self.journal is not None:
            self.journal.touch(sobject, record_id)
        self.org.update(record_id, change, by=USER_ID)

    def upsert(
        self, sobject: str, field: str, key: Any, values: Mapping[str, Any]
    ) -> tuple[str, bool]:
        """Update the row whose ``field`` equals ``key`` or create one; ``(id, created)``.

        Raises :class:`LookupError` (with the matching ids as args[0]) on several matches.
        """
        body = {k: v for k, v in values.items() if k != field}
        if field == "Id":
            if key in (None, ""):
                return self.create(sobject, body), True
            self.update(sobject, str(key), body)
            return str(key), False
        if key in (None, ""):
            raise RecordError("MISSING_ARGUMENT", f"{field} not specified", [field])
        matches = self.org.find_by(sobject, field, key)
        if len(matches) > 1:
            raise LookupError(matches)
        if matches:
            self.update(sobject, matches[0], body)
            return matches[0], False
        return self.create(sobject, {**body, field: key}), True

    def delete(self, record_id: str, sobject: str | None = None) -> None:
        """Move a live row to the recycle bin."""
        row = self.live_row(sobject, record_id)
        name = self.org.sobject_for_id(row["Id"])
        assert name is not None
        if self.journal is not None:
            self.journal.touch(name, record_id)
        self.org.delete(record_id, by=USER_ID)


def single(error: RecordError) -> ApiError:
    """A per-record failure as a single-record REST call reports it."""
    if error.code in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID"):
        return not_found()
    if error.code == "ENTITY_IS_DELETED":
        return error.as_api(404)
    return error.as_api(400)


def _derive(org: Org, sobject: str, change: dict[str, Any], row: Mapping[str, Any] | None) -> None:
    """Fields the platform computes from others: an Opportunity's IsClosed/IsWon from its
    stage, a Case's IsClosed/ClosedDate from its status."""
    if sobject == "Opportunity" and "StageName" in change:
        stage = str(change["StageName"] or "")
        change["IsClosed"] = stage.startswith("Closed")
        change["IsWon"] = stage == "Closed Won"
    if sobject == "Case" and "Status" in change:
        closed = change["Status"] == "Closed"
        change["IsClosed"] = closed
        if closed and (row is None or not row.get("IsClosed")):
            change.setdefault("ClosedDate", org.now())
        elif not closed:
            change["ClosedDate"] = None
