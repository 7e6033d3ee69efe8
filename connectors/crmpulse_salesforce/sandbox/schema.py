"""Field and object metadata behind the describe calls, and JSON value conversion by field type.

An org's describes map field name -> type; this module adds what describe also reports (labels,
lengths, whether a field is writable, external ids, lookups) as :class:`FieldInfo`, derived from
the name and type for the standard fields and stored explicitly for fields and objects created
through the Tooling API.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from datetime import UTC, date, datetime
from typing import Any

SYSTEM_FIELDS = frozenset(
    {
        "Id",
        "IsDeleted",
        "CreatedDate",
        "LastModifiedDate",
        "SystemModstamp",
        "CreatedById",
        "LastModifiedById",
    }
)
"""Fields the platform maintains on every row; never createable or updateable."""

READ_ONLY: dict[str, frozenset[str]] = {
    "Account": frozenset({"MasterRecordId"}),
    "Case": frozenset({"CaseNumber", "IsClosed"}),
    "Contact": frozenset({"Name", "MasterRecordId"}),
    "Lead": frozenset({"Name", "MasterRecordId"}),
    "Opportunity": frozenset({"IsClosed", "IsWon"}),
    "Task": frozenset({"IsClosed", "AccountId"}),
    "Event": frozenset({"AccountId"}),
}
"""Derived or auto-numbered standard fields (beyond the system fields) the API will not write."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "Account": ("Name",),
    "Contact": ("LastName",),
    "Lead": ("LastName", "Company"),
    "Opportunity": ("Name", "StageName", "CloseDate"),
}
"""Fields a create must give (and an update must not clear)."""

READ_ONLY_OBJECTS = frozenset(
    {"Survey", "SurveyVersion", "SurveyQuestion", "SurveyResponse", "SurveyQuestionResponse"}
)
"""Feedback Management objects the API can query but not write."""

_REFERENCES: dict[str, tuple[str, ...]] = {
    "OwnerId": ("User",),
    "CreatedById": ("User",),
    "LastModifiedById": ("User",),
    "WhoId": ("Contact", "Lead"),
    "WhatId": ("Account", "Opportunity", "Case"),
    "ParticipantId": ("Contact", "Lead", "User"),
    "SubmitterId": ("User",),
    "ConvertedAccountId": ("Account",),
    "ConvertedContactId": ("Contact",),
    "ConvertedOpportunityId": ("Opportunity",),
    "ActiveVersionId": ("SurveyVersion",),
    "LatestVersionId": ("SurveyVersion",),
    "ResponseId": ("SurveyResponse",),
    "QuestionId": ("SurveyQuestion",),
    "InvitationId": ("SurveyInvitation",),
    "SubjectId": ("Account", "Case", "Contact", "Opportunity"),
}
_PARENT_REFERENCES: dict[str, tuple[str, ...]] = {
    "Account": ("Account",),
    "FieldPermissions": ("PermissionSet",),
    "ObjectPermissions": ("PermissionSet",),
    "SurveySubject": ("SurveyInvitation", "SurveyResponse"),
}
_CHILD_NAMES: dict[tuple[str, str], str] = {
    ("Account", "ParentId"): "ChildAccounts",
    ("Opportunity", "AccountId"): "Opportunities",
    ("FieldPermissions", "ParentId"): "FieldPerms",
    ("ObjectPermissions", "ParentId"): "ObjectPerms",
}
_LENGTHS = {
    "id": 18, "reference": 18, "string": 255, "picklist": 255, "url": 255, "email": 80,
    "phone": 40, "textarea": 32000, "multipicklist": 4099,
}  # fmt: skip
_NUMERIC = {"currency": (18, 2), "double": (18, 0), "percent": (3, 0)}
_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "datetime": "xsd:dateTime",
    "date": "xsd:date", "int": "xsd:int", "double": "xsd:double", "currency": "xsd:double",
    "percent": "xsd:double",
}  # fmt: skip
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")


@dataclasses.dataclass(frozen=True)
class FieldInfo:
    """What describe reports about one field."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    external_id: bool = False
    unique: bool = False
    custom: bool = False
    reference_to: tuple[str, ...] = ()
    relationship_name: str | None = None
    picklist_values: tuple[str, ...] = ()
    auto_number: str | None = None
    required: bool = False

    def describe(self) -> dict[str, Any]:
        """The field's entry in ``sobjects/{T}/describe``."""
        return {
            "aggregatable": self.type not in ("textarea",),
            "autoNumber": self.auto_number is not None,
            "calculated": False,
            "createable": self.createable,
            "custom": self.custom,
            "defaultedOnCreate": self.name in SYSTEM_FIELDS or self.name == "OwnerId",
            "digits": 9 if self.type == "int" else 0,
            "externalId": self.external_id,
            "filterable": self.type != "textarea" or self.length <= 255,
            "groupable": self.type not in ("double", "currency", "percent", "textarea"),
            "idLookup": self.type == "id" or self.external_id,
            "label": self.label,
            "length": self.length,
            "name": self.name,
            "nillable": self.nillable,
            "picklistValues": [
                {"active": True, "defaultValue": False, "label": v, "value": v}
                for v in self.picklist_values
            ],
            "precision": self.precision,
            "referenceTo": list(self.reference_to),
            "relationshipName": self.relationship_name,
            "scale": self.scale,
            "soapType": _SOAP_TYPES.get(self.type, "xsd:string"),
            "sortable": self.type != "textarea",
            "type": self.type,
            "unique": self.unique,
            "updateable": self.updateable,
        }


@dataclasses.dataclass(frozen=True)
class ObjectInfo:
    """What describe reports about one sObject type (besides its fields)."""

    name: str
    label: str
    label_plural: str
    custom: bool = False
    createable: bool = True
    updateable: bool = True


def label_of(name: str) -> str:
    """A human label from an API name: ``AnnualRevenue`` -> ``Annual Revenue``."""
    base = name[:-3] if name.endswith("__c") else name
    if base.endswith("Id") and len(base) > 2:
        return " ".join([*_WORDS.findall(base[:-2]), "ID"])
    return " ".join(w for part in base.split("_") for w in _WORDS.findall(part)) or name


def standard_object(name: str) -> ObjectInfo:
    """Describe facts of a standard (seeded) sObject type."""
    label = label_of(name)
    plural = label[:-1] + "ies" if label.endswith("y") else label + "s"
    writable = name not in READ_ONLY_OBJECTS
    return ObjectInfo(name, label, plural, name.endswith("__c"), writable, writable)


@functools.lru_cache(maxsize=4096)
def standard_field(sobject: str, name: str, ftype: str) -> FieldInfo:
    """Describe facts of a seeded field, derived from its object, name and type."""
    writable = name not in SYSTEM_FIELDS and name not in READ_ONLY.get(sobject, ())
    required = name in REQUIRED.get(sobject, ())
    reference_to: tuple[str, ...] = ()
    relationship = None
    if ftype == "reference":
        if name == "ParentId":
            reference_to = _PARENT_REFERENCES.get(sobject, (sobject,))
        elif name == "MasterRecordId":
            reference_to = (sobject,)
        else:
            reference_to = _REFERENCES.get(name, (name[:-2],))
        relationship = name[:-3] + "__r" if name.endswith("__c") else name[:-2]
    precision, scale = _NUMERIC.get(ftype, (0, 0))
    length = _LENGTHS.get(ftype, 0)
    if name == "Name" and sobject in ("Contact", "Lead"):
        length = 121
    return FieldInfo(
        name=name,
        type=ftype,
        label=label_of(name),
        length=length,
        precision=precision,
        scale=scale,
        nillable=not required and ftype != "boolean" and name not in SYSTEM_FIELDS,
        createable=writable,
        updateable=writable,
        custom=name.endswith("__c"),
        reference_to=reference_to,
        relationship_name=relationship,
        required=required,
    )


def child_relationship_name(child: str, field: str) -> str:
    """The relationship name a parent uses for its children through ``child.field``."""
    if (child, field) in _CHILD_NAMES:
        return _CHILD_NAMES[(child, field)]
    if child.endswith("__c"):
        return child[:-3] + "s__r"
    return child[:-1] + "ies" if child.endswith("y") else child + "s"


class ConversionError(ValueError):
    """A JSON value that does not deserialize into its field's type."""


def _fail(ftype: str, value: Any) -> ConversionError:
    token = {bool: "VALUE_TRUE" if value else "VALUE_FALSE", str: "VALUE_STRING"}.get(
        type(value), "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    )
    if isinstance(value, (dict, list)):
        token = "START_OBJECT" if isinstance(value, dict) else "START_ARRAY"
    return ConversionError(
        f"Cannot deserialize instance of {ftype} from {token} value {value} or request may be "
        "missing a required field"
    )


def convert(ftype: str, value: Any) -> Any:
    """The stored form of JSON ``value`` for a field of type ``ftype`` (as the REST API reads it).

    Datetimes become aware UTC datetimes, dates dates, numbers int/float, booleans bool; text
    fields accept strings and numbers. Raises :class:`ConversionError` otherwise.
    """
    if value is None:
        return None
    if isinstance(value, (dict, list)):
        raise _fail(ftype, value)
    if ftype == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise _fail("boolean", value)
    if ftype in ("int", "double", "currency", "percent", "long"):
        return _number(ftype, value)
    if ftype == "datetime":
        if not isinstance(value, str):
            raise _fail("datetime", value)
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise _fail("datetime", value) from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    if ftype == "date":
        if not isinstance(value, str):
            raise _fail("date", value)
        try:
            return date.fromisoformat(value[:10] if "T" in value else value)
        except ValueError:
            raise _fail("date", value) from None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    return value


def _number(ftype: str, value: Any) -> Any:
    if isinstance(value, bool):
        raise _fail(ftype, value)
    if isinstance(value, str):
        try:
            value = float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            raise _fail(ftype, value) from None
    if not isinstance(value, (int, float)):
        raise _fail(ftype, value)
    if ftype in ("int", "long"):
        if isinstance(value, float) and not value.is_integer():
            raise _fail(ftype, value)
        return int(value)
    return float(value)


TOOLING_TYPES: dict[str, str] = {
    "Number": "double",
    "Currency": "currency",
    "Percent": "percent",
    "Text": "string",
    "TextArea": "textarea",
    "LongTextArea": "textarea",
    "Date": "date",
    "DateTime": "datetime",
    "Checkbox": "boolean",
    "Picklist": "picklist",
    "Email": "email",
    "Phone": "phone",
    "Url": "url",
    "Lookup": "reference",
    "AutoNumber": "string",
}
"""Metadata API field types the sandbox can create, with the describe type each becomes."""


def custom_field(name: str, meta: dict[str, Any]) -> FieldInfo:
    """The :class:`FieldInfo` of a custom field created from Tooling/Metadata API ``meta``.

    Raises ``ValueError`` with Salesforce's wording when a type's mandatory attribute is absent.
    """
    kind = str(meta.get("type") or "")
    if kind not in TOOLING_TYPES:
        raise ValueError(f"Invalid field type: {kind or 'null'}")
    ftype = TOOLING_TYPES[kind]

    def need(attr: str) -> int:
        if meta.get(attr) is None:
            raise ValueError(f"Must specify '{attr}' for a CustomField of type {kind}")
        try:
            return int(meta[attr])
        except (TypeError, ValueError):
            raise ValueError(f"Invalid '{attr}' for a CustomField of type {kind}") from None

    precision = scale = length = 0
    if kind in ("Number", "Currency", "Percent"):
        precision, scale = need("precision"), int(meta.get("scale") or 0)
        if not 0 < precision <= 18 or not 0 <= scale <= precision:
            raise ValueError("Number fields need 0 < precision <= 18 and 0 <= scale <= precision")
    elif kind in ("Text", "LongTextArea"):
        length = need("length")
        if kind == "LongTextArea":
            need("visibleLines")
    else:
        length = _LENGTHS.get(ftype, 0)
    values: tuple[str, ...] = ()
    if kind == "Picklist":
        value_set = meta.get("valueSet")
        definition = value_set.get("valueSetDefinition") if isinstance(value_set, dict) else None
        entries = definition.get("value") if isinstance(definition, dict) else None
        values = tuple(
            str(v.get("fullName") or v.get("label")) for v in entries or [] if isinstance(v, dict)
        )
        if not values:
            raise ValueError("Must specify 'valueSet' for a CustomField of type Picklist")
    reference_to: tuple[str, ...] = ()
    if kind == "Lookup":
        reference_to = (str(meta.get("referenceTo") or ""),)
        if not reference_to[0]:
            raise ValueError("Must specify 'referenceTo' for a CustomField of type Lookup")
    required = bool(meta.get("required"))
    return FieldInfo(
        name=name,
        type=ftype,
        label=str(meta.get("label") or label_of(name)),
        length=length,
        precision=precision,
        scale=scale,
        nillable=not required and ftype != "boolean",
        external_id=bool(meta.get("externalId")),
        unique=bool(meta.get("unique")),
        custom=True,
        reference_to=reference_to,
        relationship_name=name[:-3] + "__r" if kind == "Lookup" else None,
        picklist_values=values,
        required=required,
        auto_number=str(meta.get("displayFormat") or "{0}") if kind == "AutoNumber" else None,
        createable=kind != "AutoNumber",
        updateable=kind != "AutoNumber",
    )
