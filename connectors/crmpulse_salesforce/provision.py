"""Creating what crmpulse writes to: custom fields, the KPI snapshot object, their permissions.

Fields and objects are created through the Tooling API. Salesforce gives a field created that way
no field-level security at all, so it stays invisible to the integration user until a permission
set grants it: crmpulse keeps one permission set (``permission_set`` in the settings) holding
read and edit on every field it created, and read/create/edit on its snapshot object. A field
missing from the describe may exist but be hidden from the integration user: creating it then
fails with ``DUPLICATE_DEVELOPER_NAME``, and crmpulse grants it instead.
"""

from __future__ import annotations

import time
from typing import Any

from crmpulse.errors import CrmPulseError
from crmpulse.ports import FieldSpec, TargetSpec
from crmpulse_salesforce import schema, soql
from crmpulse_salesforce.client import COLLECTION_SIZE, SalesforceClient


class Provisioner:
    """Ensures one :class:`TargetSpec` exists in an org; idempotent."""

    def __init__(self, client: SalesforceClient, permission_set: str) -> None:
        self.client = client
        self.permission_set = permission_set
        self.created: list[str] = []
        self._new_fields: list[tuple[str, str]] = []  # (sObject, field API name)
        self._new_objects: list[str] = []

    def ensure(self, spec: TargetSpec) -> list[str]:
        """Create what is missing; return a line per thing created."""
        for level, sobject in schema.WRITE_OBJECT.items():
            fields = spec.fields_for(level)  # type: ignore[arg-type]
            if fields:
                self._fields(sobject, fields, key=None)
        if spec.snapshot is not None:
            sobject = schema.api_name(spec.snapshot.name)
            describe = self.client.describe(sobject)
            if describe is None:
                self._object(sobject, spec.snapshot.label, spec.snapshot.plural_label)
                describe = {}  # a new object has none of our fields yet
            self._fields(
                sobject, spec.snapshot.fields, key=spec.snapshot.key_field, describe=describe
            )
        if self._new_fields or self._new_objects:
            self._grant()
        return self.created

    def _fields(
        self,
        sobject: str,
        fields: tuple[FieldSpec, ...],
        key: str | None,
        describe: dict[str, Any] | None = None,
    ) -> None:
        if describe is None:
            describe = self.client.describe(sobject) or {}
        existing = {str(f.get("name", "")).lower() for f in describe.get("fields", [])}
        for field in fields:
            api = schema.api_name(field.name)
            if api.lower() in existing:
                continue
            body = {
                "FullName": f"{sobject}.{api}",
                "Metadata": schema.field_metadata(field, external_id=field.name == key),
            }
            try:
                self.client.tooling_create("CustomField", body)
            except CrmPulseError as exc:
                if "DUPLICATE_DEVELOPER_NAME" not in str(exc):
                    raise
            else:
                self.created.append(f"{sobject}.{api}")
            self._new_fields.append((sobject, api))

    def _object(self, sobject: str, label: str, plural: str) -> None:
        body = {
            "FullName": sobject,
            "Metadata": {
                "label": label,
                "pluralLabel": plural,
                "nameField": {"type": "Text", "label": f"{label} name"},
                "deploymentStatus": "Deployed",
                "sharingModel": "ReadWrite",
                "description": "KPI values per period, level and segment, written by crmpulse.",
            },
        }
        self.client.tooling_create("CustomObject", body)
        self._new_objects.append(sobject)
        self.created.append(sobject)

    def _permission_set_id(self) -> str:
        text = soql.select(["Id"], "PermissionSet", f"Name = {soql.quote(self.permission_set)}")
        for rows in self.client.query_pages(text):
            for row in rows:
                if row.get("Id"):
                    return str(row["Id"])
        new_id = self.client.create(
            "PermissionSet",
            {"Name": self.permission_set, "Label": self.permission_set.replace("_", " ")},
        )
        self.created.append(f"PermissionSet {self.permission_set}")
        return new_id

    def _grant(self) -> None:
        parent = self._permission_set_id()
        records: list[dict[str, Any]] = [
            {
                "attributes": {"type": "ObjectPermissions"},
                "ParentId": parent,
                "SobjectType": sobject,
                "PermissionsRead": True,
                "PermissionsCreate": True,
                "PermissionsEdit": True,
            }
            for sobject in self._new_objects
        ]
        records += [
            {
                "attributes": {"type": "FieldPermissions"},
                "ParentId": parent,
                "SobjectType": sobject,
                "Field": f"{sobject}.{field}",
                "PermissionsRead": True,
                "PermissionsEdit": True,
            }
            for sobject, field in self._new_fields
        ]
        problems: list[str] = []
        for start in range(0, len(records), COLLECTION_SIZE):
            pending = records[start : start + COLLECTION_SIZE]
            for attempt in range(4):
                outcomes = self.client.collection_create(pending)
                locked = []
                for record, outcome in zip(pending, outcomes, strict=False):
                    if outcome.get("success"):
                        continue
                    errors = outcome.get("errors") or []
                    codes = {e.get("statusCode") for e in errors}
                    if "DUPLICATE_VALUE" in codes:
                        continue  # granted before
                    if "UNABLE_TO_LOCK_ROW" in codes and attempt < 3:
                        locked.append(record)
                        continue
                    what = record.get("Field") or record.get("SobjectType")
                    problems.append(f"{what}: " + "; ".join(str(e.get("message")) for e in errors))
                if not locked:
                    break
                time.sleep(0.2 * 2**attempt)
                pending = locked
        if problems:
            raise CrmPulseError(
                f"could not grant {self.permission_set} access to " + "; ".join(problems[:5]),
                hint="the integration user needs Manage Profiles and Permission Sets; "
                "the next run tries again",
            )
