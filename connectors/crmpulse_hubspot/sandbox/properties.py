"""Property and property-group definitions of a portal, and validation of written values."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from crmpulse_hubspot import schema

from . import errors
from .catalog import OBJECT_TYPES, ObjectType
from .values import from_epoch_ms, iso, parse_instant_ms, parse_number

TYPES = ("bool", "date", "datetime", "enumeration", "number", "phone_number", "string")
FIELD_TYPES = (
    "booleancheckbox",
    "calculation_equation",
    "checkbox",
    "date",
    "file",
    "html",
    "number",
    "phonenumber",
    "radio",
    "select",
    "text",
    "textarea",
)
_FIELD_FOR = {
    "string": "text",
    "number": "number",
    "datetime": "date",
    "date": "date",
    "enumeration": "select",
    "bool": "booleancheckbox",
    "phone_number": "phonenumber",
}
# Lowercase letters, digits and underscores, starting with a letter. [UNVERIFIED exact rule]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_CUSTOM = {"customer_segment", "churn_date"}
_READ_ONLY_VALUES = {
    "hs_object_id",
    "hs_createdate",
    "lastmodifieddate",
    "hs_lastmodifieddate",
    "time_to_close",
    "time_to_first_agent_reply",
    "hs_is_closed",
    "hs_is_closed_won",
}
_BOOL_OPTIONS = [
    {"label": "Yes", "value": "true", "displayOrder": 0, "hidden": False, "description": ""},
    {"label": "No", "value": "false", "displayOrder": 1, "hidden": False, "description": ""},
]


def _options(values: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "label": v.replace("_", " ").title(),
            "value": v,
            "displayOrder": i,
            "hidden": False,
            "description": "",
        }
        for i, v in enumerate(values)
    ]


_KNOWN_OPTIONS: dict[str, list[str]] = {
    "lifecyclestage": [
        "subscriber",
        "lead",
        "marketingqualifiedlead",
        "salesqualifiedlead",
        "opportunity",
        "customer",
        "evangelist",
        "other",
    ],
    "hs_survey_type": ["NPS", "CSAT", "CES", "CUSTOM"],
    "hs_response_group": ["PROMOTER", "PASSIVE", "DETRACTOR"],
    "hs_pipeline": [schema.TICKET_PIPELINE],
    "hs_pipeline_stage": list(schema.TICKET_STAGES),
}


@dataclass
class PropertyDef:
    """One property definition (HubSpot ``Property``)."""

    name: str
    label: str
    type: str
    field_type: str
    group_name: str
    created_at: str
    updated_at: str
    description: str = ""
    options: list[dict[str, Any]] = field(default_factory=list)
    display_order: int = -1
    calculated: bool = False
    external_options: bool = False
    has_unique_value: bool = False
    hidden: bool = False
    hubspot_defined: bool = False
    form_field: bool = True
    read_only_value: bool = False
    archived: bool = False
    archived_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The HubSpot ``Property`` JSON shape."""
        body: dict[str, Any] = {
            "updatedAt": self.updated_at,
            "createdAt": self.created_at,
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "fieldType": self.field_type,
            "description": self.description,
            "groupName": self.group_name,
            "options": self.options,
            "displayOrder": self.display_order,
            "calculated": self.calculated,
            "externalOptions": self.external_options,
            "hasUniqueValue": self.has_unique_value,
            "hidden": self.hidden,
            "hubspotDefined": self.hubspot_defined,
            "modificationMetadata": {
                "archivable": not self.hubspot_defined,
                "readOnlyDefinition": self.hubspot_defined,
                "readOnlyValue": self.read_only_value,
            },
            "formField": self.form_field,
            "archived": self.archived,
        }
        if self.archived_at:
            body["archivedAt"] = self.archived_at
        return body


@dataclass
class PropertyGroup:
    """One property group (HubSpot ``PropertyGroup``)."""

    name: str
    label: str
    display_order: int = -1
    archived: bool = False

    def to_json(self) -> dict[str, Any]:
        """The HubSpot ``PropertyGroup`` JSON shape."""
        return {
            "name": self.name,
            "label": self.label,
            "displayOrder": self.display_order,
            "archived": self.archived,
        }


def _label(name: str) -> str:
    return name.removeprefix("hs_").replace("_", " ").capitalize()


class PropertyRegistry:
    """Property definitions and groups per object type."""

    def __init__(self, portal_id: int, now: Callable[[], datetime]):
        self.portal_id = portal_id
        self._now = now
        self._props: dict[str, dict[str, PropertyDef]] = {}
        self._archived: dict[str, dict[str, PropertyDef]] = {}
        self._groups: dict[str, dict[str, PropertyGroup]] = {}
        stamp = iso(now())
        for otype in OBJECT_TYPES.values():
            self._seed(otype, stamp)

    def add_object_type(self, otype: ObjectType) -> None:
        """Define a new (custom) object type's HubSpot-defined properties and its group."""
        self._seed(otype, iso(self._now()))

    def _seed(self, otype: ObjectType, stamp: str) -> None:
        group = PropertyGroup(otype.group, otype.group.replace("_", " ").title(), 0)
        self._groups[otype.name] = {group.name: group}
        self._archived[otype.name] = {}
        props: dict[str, PropertyDef] = {}
        for order, (name, ptype) in enumerate(otype.properties.items()):
            custom = name in _CUSTOM
            opts = _BOOL_OPTIONS if ptype == "bool" else _options(_KNOWN_OPTIONS.get(name, []))
            read_only = (
                name in _READ_ONLY_VALUES
                or name.startswith("hs_lifecyclestage_")
                or otype.read_only
            )
            props[name] = PropertyDef(
                name=name,
                label=_label(name),
                type=ptype,
                field_type=_FIELD_FOR[ptype],
                group_name=otype.group,
                created_at=stamp,
                updated_at=stamp,
                options=opts if ptype in ("enumeration", "bool") else [],
                display_order=order if custom else -1,
                calculated=read_only and not otype.read_only,
                hubspot_defined=not custom,
                read_only_value=read_only and not custom,
                has_unique_value=name == "hs_object_id",
            )
        self._props[otype.name] = props

    # ------------------------------------------------------------------ reads
    def get(self, object_type: str, name: str) -> PropertyDef | None:
        """An active property definition."""
        return self._props[object_type].get(name)

    def all(self, object_type: str, *, archived: bool = False) -> list[PropertyDef]:
        """Active (or archived) properties of an object type."""
        table = self._archived if archived else self._props
        return list(table[object_type].values())

    def names(self, object_type: str) -> Mapping[str, PropertyDef]:
        """Active properties by name (a live view; do not mutate)."""
        return self._props[object_type]

    def groups(self, object_type: str) -> list[PropertyGroup]:
        """Active groups of an object type."""
        return [g for g in self._groups[object_type].values() if not g.archived]

    def group(self, object_type: str, name: str) -> PropertyGroup:
        """One group, or 404."""
        g = self._groups[object_type].get(name)
        if g is None or g.archived:
            raise errors.error(
                404, "OBJECT_NOT_FOUND", f"Unable to find property group {name} for {object_type}"
            )
        return g

    def property(self, object_type: str, name: str) -> PropertyDef:
        """One property, or 404."""
        p = self._props[object_type].get(name)
        if p is None:
            raise errors.error(
                404,
                "OBJECT_NOT_FOUND",
                f"Unable to find property {name} for object type {object_type}",
                context={"name": [name]},
            )
        return p

    # ---------------------------------------------------------------- writes
    def create(self, object_type: str, body: Mapping[str, Any]) -> PropertyDef:
        """POST /crm/v3/properties/{t}: validate and add a custom property."""
        missing = [
            k for k in ("name", "label", "type", "fieldType", "groupName") if not body.get(k)
        ]
        if missing:
            raise errors.validation(f"Missing required fields: {', '.join(missing)}")
        name = str(body["name"])
        if not _NAME.match(name) or name.startswith("hs_"):
            raise errors.validation(
                f"Property name '{name}' is invalid: names use lowercase letters, digits and "
                "underscores, start with a letter and may not use the reserved hs_ prefix."
            )
        self._check_kind(body)
        if str(body["groupName"]) not in self._groups[object_type]:
            raise errors.validation(f"Property group {body['groupName']} does not exist.")
        if name in self._props[object_type]:
            raise errors.already_exists(f"Property named '{name}' already exists.")
        stamp = iso(self._now())
        prop = PropertyDef(
            name=name,
            label=str(body["label"]),
            type=str(body["type"]),
            field_type=str(body["fieldType"]),
            group_name=str(body["groupName"]),
            created_at=stamp,
            updated_at=stamp,
            description=str(body.get("description") or ""),
            options=self._clean_options(body.get("options"), str(body["type"])),
            display_order=int(body.get("displayOrder", -1)),
            external_options=bool(body.get("externalOptions", False)),
            has_unique_value=bool(body.get("hasUniqueValue", False)),
            hidden=bool(body.get("hidden", False)),
            form_field=bool(body.get("formField", False)),
        )
        self._archived[object_type].pop(name, None)
        self._props[object_type][name] = prop
        return prop

    def update(self, object_type: str, name: str, body: Mapping[str, Any]) -> PropertyDef:
        """PATCH /crm/v3/properties/{t}/{name}."""
        prop = self.property(object_type, name)
        if prop.hubspot_defined:
            raise errors.validation(
                f"Property {name} is HubSpot-defined; its definition is read-only."
            )
        merged = {"type": prop.type, "fieldType": prop.field_type, **body}
        self._check_kind(merged)
        if "groupName" in body and str(body["groupName"]) not in self._groups[object_type]:
            raise errors.validation(f"Property group {body['groupName']} does not exist.")
        changes: dict[str, Any] = {"updated_at": iso(self._now())}
        for key, attr in (
            ("label", "label"),
            ("type", "type"),
            ("fieldType", "field_type"),
            ("groupName", "group_name"),
            ("description", "description"),
        ):
            if key in body:
                changes[attr] = str(body[key])
        for key, attr in (("hidden", "hidden"), ("formField", "form_field")):
            if key in body:
                changes[attr] = bool(body[key])
        if "displayOrder" in body:
            changes["display_order"] = int(body["displayOrder"])
        if "options" in body:
            changes["options"] = self._clean_options(body["options"], str(merged["type"]))
        updated = replace(prop, **changes)
        self._props[object_type][name] = updated
        return updated

    def archive(self, object_type: str, name: str) -> None:
        """DELETE /crm/v3/properties/{t}/{name}."""
        prop = self.property(object_type, name)
        if prop.hubspot_defined:
            raise errors.validation(f"Property {name} is HubSpot-defined and cannot be archived.")
        del self._props[object_type][name]
        stamp = iso(self._now())
        self._archived[object_type][name] = replace(prop, archived=True, archived_at=stamp)

    def create_group(self, object_type: str, body: Mapping[str, Any]) -> PropertyGroup:
        """POST /crm/v3/properties/{t}/groups."""
        name, label = body.get("name"), body.get("label")
        if not name or not label:
            raise errors.validation("Property group needs a name and a label.")
        if not _NAME.match(str(name)):
            raise errors.validation(f"Property group name '{name}' is invalid.")
        existing = self._groups[object_type].get(str(name))
        if existing is not None and not existing.archived:
            raise errors.already_exists(f"Property group named '{name}' already exists.")
        group = PropertyGroup(str(name), str(label), int(body.get("displayOrder", -1)))
        self._groups[object_type][group.name] = group
        return group

    def update_group(self, object_type: str, name: str, body: Mapping[str, Any]) -> PropertyGroup:
        """PATCH /crm/v3/properties/{t}/groups/{name}."""
        group = self.group(object_type, name)
        if "label" in body:
            group.label = str(body["label"])
        if "displayOrder" in body:
            group.display_order = int(body["displayOrder"])
        return group

    def archive_group(self, object_type: str, name: str) -> None:
        """DELETE /crm/v3/properties/{t}/groups/{name}."""
        self.group(object_type, name).archived = True

    @staticmethod
    def _check_kind(body: Mapping[str, Any]) -> None:
        if body["type"] not in TYPES:
            raise errors.validation(
                f"{body['type']} is not a valid property type; use one of {', '.join(TYPES)}."
            )
        if body["fieldType"] not in FIELD_TYPES:
            raise errors.validation(
                f"{body['fieldType']} is not a valid field type; use one of "
                f"{', '.join(FIELD_TYPES)}."
            )

    @staticmethod
    def _clean_options(raw: Any, ptype: str) -> list[dict[str, Any]]:
        if ptype == "bool" and not raw:
            return list(_BOOL_OPTIONS)
        if not raw:
            return []
        if not isinstance(raw, list) or not all(isinstance(o, dict) for o in raw):
            raise errors.validation("options must be a list of {label, value} objects.")
        out = []
        for i, o in enumerate(raw):
            if "label" not in o or "value" not in o:
                raise errors.validation("Every option needs a label and a value.")
            out.append(
                {
                    "label": str(o["label"]),
                    "value": str(o["value"]),
                    "displayOrder": int(o.get("displayOrder", i)),
                    "hidden": bool(o.get("hidden", False)),
                    "description": str(o.get("description") or ""),
                }
            )
        return out

    # ------------------------------------------------------------- values
    def clean_values(self, object_type: str, values: Any) -> dict[str, str | None]:
        """Validate written property values and normalize them; 400 on any problem.

        Datetimes may be written as ISO strings or epoch ms and are stored as ISO with ms.
        """
        if not isinstance(values, dict):
            raise errors.validation("properties must be an object of property name to value.")
        props = self._props[object_type]
        clean: dict[str, str | None] = {}
        problems: list[dict[str, Any]] = []
        for name, value in values.items():
            prop = props.get(name)
            if prop is None:
                problems.append(
                    {
                        "name": name,
                        "error": "PROPERTY_DOESNT_EXIST",
                        "message": f'Property "{name}" does not exist',
                    }
                )
                continue
            if prop.read_only_value:
                problems.append(
                    {
                        "name": name,
                        "error": "READ_ONLY_VALUE",
                        "message": f'"{name}" is a read only property; its value cannot be set.',
                    }
                )
                continue
            if value is None or value == "":
                clean[name] = value
                continue
            if not isinstance(value, str):
                # The SDK types every value as str; HubSpot wants strings. [UNVERIFIED code]
                problems.append(
                    {
                        "name": name,
                        "error": "INVALID_PROPERTY_VALUE_TYPE",
                        "message": f"{value!r} is not a string.",
                    }
                )
                continue
            normalized, problem = _normalize(prop, value)
            if problem:
                problems.append({"name": name, **problem})
            else:
                clean[name] = normalized
        if problems:
            raise errors.invalid_property_values(problems, self.portal_id)
        return clean


def _normalize(prop: PropertyDef, value: str) -> tuple[str | None, dict[str, str] | None]:
    if prop.type == "number":
        if parse_number(value) is None:
            return None, {"error": "INVALID_FLOAT", "message": f"{value} was not a valid number."}
        return value.strip(), None
    if prop.type in ("datetime", "date"):
        ms = parse_instant_ms(value)
        if ms is None:
            return None, {
                "error": "INVALID_DATE",
                "message": f"{value} was not a valid date or epoch millisecond value.",
            }
        text = iso(from_epoch_ms(ms))
        return (text[:10] if prop.type == "date" else text), None
    if prop.type == "bool":
        low = value.strip().lower()
        if low not in ("true", "false"):
            return None, {"error": "INVALID_BOOLEAN", "message": f"{value} was not a boolean."}
        return low, None
    if prop.type == "enumeration" and prop.options:
        allowed = {o["value"] for o in prop.options}
        # Multi-select values are ';'-separated.
        if any(part not in allowed for part in value.split(";")):
            return None, {
                "error": "INVALID_OPTION",
                "message": f"{value} was not one of the allowed options: "
                f"[{', '.join(sorted(allowed))}]",
            }
    return value, None
