"""Custom object schemas (``/crm/v3/schemas``): definition, validation and JSON shapes.

A created schema becomes an object type of the portal, addressed in object paths by its
``objectTypeId`` (``2-<n>``) or its fully qualified name (``p<portalId>_<name>``). Its records
live in an ordinary table and its properties in the portal's property registry, so the objects,
search and properties APIs serve them like any standard object. Only creating a schema checks the
portal tier: without custom objects (below Enterprise) it answers 403 ``MISSING_SCOPES``.

The association definitions a schema declares (``associatedObjects``) are reported in its JSON
but are not usable through the associations APIs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from . import errors
from .catalog import ObjectType, resolve
from .properties import _FIELD_FOR, FIELD_TYPES, TYPES
from .values import iso

if TYPE_CHECKING:
    from .portal import Portal

SCHEMA_WRITE_SCOPE = "crm.schemas.custom.write"
FIRST_TYPE_NUMBER = 1_234_567
_SCHEMA_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_PROPERTY_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_BUILT_IN = {
    "hs_object_id": "number",
    "hs_createdate": "datetime",
    "hs_lastmodifieddate": "datetime",
}


@dataclass
class CustomSchema:
    """One custom object type definition (HubSpot ``ObjectSchema``, without its properties)."""

    id: str
    object_type_id: str
    name: str
    fully_qualified_name: str
    singular: str
    plural: str
    primary_display: str | None
    secondary_display: list[str]
    searchable: list[str]
    required: list[str]
    associations: list[dict[str, Any]]
    description: str
    created_at: str
    updated_at: str
    archived: bool = False

    def to_json(self, portal: Portal) -> dict[str, Any]:
        """The ``ObjectSchema`` JSON, with every active property of the object."""
        body: dict[str, Any] = {
            "id": self.id,
            "objectTypeId": self.object_type_id,
            "fullyQualifiedName": self.fully_qualified_name,
            "name": self.name,
            "labels": {"singular": self.singular, "plural": self.plural},
            "description": self.description,
            "requiredProperties": list(self.required),
            "searchableProperties": list(self.searchable),
            "secondaryDisplayProperties": list(self.secondary_display),
            "properties": [p.to_json() for p in portal.properties.all(self.fully_qualified_name)],
            "associations": list(self.associations),
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived,
            "portalId": portal.portal_id,
        }
        if self.primary_display:
            body["primaryDisplayProperty"] = self.primary_display
        return body


def _strings(body: Mapping[str, Any], key: str, *, required: bool = False) -> list[str]:
    raw = body.get(key)
    if raw is None:
        if required:
            raise errors.validation(f"Missing required field: {key}")
        return []
    if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
        raise errors.validation(f"{key} must be a list of strings.")
    return list(raw)


def _labels(raw: Any) -> tuple[str, str]:
    if not isinstance(raw, dict) or not raw.get("singular") or not raw.get("plural"):
        raise errors.validation("labels must have a singular and a plural label.")
    return str(raw["singular"]), str(raw["plural"])


def _property_bodies(raw: Any, group: str) -> list[dict[str, Any]]:
    """Validated property definitions of a schema egg, ready for the property registry."""
    if not isinstance(raw, list) or not all(isinstance(p, dict) for p in raw):
        raise errors.validation("properties must be a list of property definitions.")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for item in raw:
        name, label, ptype = item.get("name"), item.get("label"), item.get("type")
        if not name or not label or not ptype:
            raise errors.validation("Every property needs a name, a label and a type.")
        name = str(name)
        if not _PROPERTY_NAME.match(name) or name.startswith("hs_"):
            raise errors.validation(
                f"Property name '{name}' is invalid: names use lowercase letters, digits and "
                "underscores, start with a letter and may not use the reserved hs_ prefix."
            )
        if name in seen:
            raise errors.validation(f"Duplicate property name in schema: {name}")
        seen.add(name)
        if ptype not in TYPES or ptype == "phone_number":
            raise errors.validation(f"{ptype} is not a valid property type.")
        field_type = str(item.get("fieldType") or _FIELD_FOR[str(ptype)])
        if field_type not in FIELD_TYPES:
            raise errors.validation(f"{field_type} is not a valid field type.")
        out.append({**item, "fieldType": field_type, "groupName": item.get("groupName") or group})
    return out


def _association_targets(names: list[str]) -> list[ObjectType]:
    targets: list[ObjectType] = []
    for name in names:
        otype = resolve(name) or resolve(name.lower()) or resolve(f"{name.lower()}s")
        if otype is None:
            raise errors.validation(f"Unknown associated object type: {name}")
        targets.append(otype)
    return targets


def create(portal: Portal, body: Any) -> CustomSchema:
    """POST /crm/v3/schemas: validate an ``ObjectSchemaEgg`` and define the object type."""
    if not portal.custom_objects:
        raise errors.missing_scopes(SCHEMA_WRITE_SCOPE)
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: expected an object.")
    name = str(body.get("name") or "")
    if not _SCHEMA_NAME.match(name):
        raise errors.validation(
            f"Object name '{name}' is invalid: use letters, digits and underscores, starting "
            "with a letter."
        )
    singular, plural = _labels(body.get("labels"))
    group = f"{name.lower()}_information"
    props = _property_bodies(body.get("properties"), group)
    defined = {p["name"] for p in props} | set(_BUILT_IN)
    required = _strings(body, "requiredProperties", required=True)
    searchable = _strings(body, "searchableProperties")
    secondary = _strings(body, "secondaryDisplayProperties")
    primary = body.get("primaryDisplayProperty")
    named = [*required, *searchable, *secondary, *([str(primary)] if primary else [])]
    unknown = sorted({n for n in named if n not in defined})
    if unknown:
        raise errors.validation(f"Properties referenced but not defined: {', '.join(unknown)}")
    targets = _association_targets(_strings(body, "associatedObjects", required=True))
    with portal.lock:
        if any(s.name.lower() == name.lower() for s in portal.schemas.values()):
            # [UNVERIFIED exact wording]
            raise errors.already_exists(f"Object type with name {name} already exists.")
        number = FIRST_TYPE_NUMBER + len(portal.schemas)
        type_id = f"2-{number}"
        fqn = f"p{portal.portal_id}_{name.lower()}"
        stamp = iso(portal.now())
        schema = CustomSchema(
            id=str(number),
            object_type_id=type_id,
            name=name,
            fully_qualified_name=fqn,
            singular=singular,
            plural=plural,
            primary_display=str(primary) if primary else None,
            secondary_display=secondary,
            searchable=searchable,
            required=required,
            associations=[
                {
                    "id": str(number * 10 + i),
                    "fromObjectTypeId": type_id,
                    "toObjectTypeId": t.type_id,
                    "name": f"{name.lower()}_to_{t.singular}",
                    "createdAt": stamp,
                    "updatedAt": stamp,
                }
                for i, t in enumerate(targets, start=1)
            ],
            description=str(body.get("description") or ""),
            created_at=stamp,
            updated_at=stamp,
        )
        otype = ObjectType(
            name=fqn,
            type_id=type_id,
            singular=name.lower(),
            created_property="hs_createdate",
            modified_property="hs_lastmodifieddate",
            properties=dict(_BUILT_IN),  # type: ignore[arg-type]
            defaults=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
            group=group,
            searchable=tuple(searchable),
        )
        portal.add_schema(schema, otype)
        for prop in props:
            portal.properties.create(fqn, prop)
    return schema


def find(portal: Portal, object_type: str) -> CustomSchema:
    """The schema named by an ``objectTypeId`` or fully qualified name; 404 if none."""
    otype = portal.find_type(object_type)
    schema = portal.schemas.get(otype.name) if otype else None
    if schema is None or schema.archived:
        # [UNVERIFIED exact wording]
        raise errors.error(404, "OBJECT_NOT_FOUND", f"Unable to find object type {object_type}")
    return schema


def update(portal: Portal, object_type: str, body: Any) -> CustomSchema:
    """PATCH /crm/v3/schemas/{objectType}: labels, display, searchable and required properties."""
    schema = find(portal, object_type)
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: expected an object.")
    defined = set(portal.properties.names(schema.fully_qualified_name))
    with portal.lock:
        if "labels" in body:
            schema.singular, schema.plural = _labels(body["labels"])
        for key, attr in (
            ("requiredProperties", "required"),
            ("searchableProperties", "searchable"),
            ("secondaryDisplayProperties", "secondary_display"),
        ):
            if key in body:
                values = _strings(body, key)
                unknown = sorted(set(values) - defined)
                if unknown:
                    raise errors.validation(f"Properties not defined: {', '.join(unknown)}")
                setattr(schema, attr, values)
        otype = portal.types[schema.fully_qualified_name]
        if tuple(schema.searchable) != otype.searchable:
            otype = replace(otype, searchable=tuple(schema.searchable))
            portal.types[otype.name] = otype
            portal.tables[otype.name].otype = otype
        if body.get("primaryDisplayProperty"):
            primary = str(body["primaryDisplayProperty"])
            if primary not in defined:
                raise errors.validation(f"Properties not defined: {primary}")
            schema.primary_display = primary
        if "description" in body:
            schema.description = str(body["description"] or "")
        schema.updated_at = iso(portal.now())
    return schema
