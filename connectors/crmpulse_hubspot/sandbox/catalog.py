"""The object types the sandbox serves, and their association types.

Built on ``crmpulse_hubspot.schema`` (the properties crmpulse reads) plus what a real portal
also has: engagement objects, the ``Primary`` company association labels and the v3 association
type names.
"""

from __future__ import annotations

from dataclasses import dataclass

from crmpulse_hubspot import schema
from crmpulse_hubspot.schema import PropertyType


@dataclass(frozen=True)
class ObjectType:
    """One object type of the emulated portal."""

    name: str
    type_id: str
    singular: str
    created_property: str
    modified_property: str
    properties: dict[str, PropertyType]
    defaults: tuple[str, ...]
    group: str
    """The HubSpot-defined property group its standard properties live in."""
    searchable: tuple[str, ...]
    """Properties the free-text ``query`` of a search looks at."""
    read_only: bool = False
    """Records cannot be written through the objects API (feedback submissions)."""


_GROUPS = {
    "contacts": "contactinformation",
    "companies": "companyinformation",
    "deals": "dealinformation",
    "tickets": "ticketinformation",
    "feedback_submissions": "feedback_submission_information",
}

_SEARCHABLE = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname",),
    "tickets": ("subject", "content"),
    "feedback_submissions": ("hs_submission_name", "hs_content"),
}

# Properties a real portal defines besides those crmpulse reads (so that defaults resolve).
_EXTRA: dict[str, dict[str, PropertyType]] = {
    "contacts": {"hs_merged_object_ids": "enumeration", "hs_additional_emails": "enumeration"},
    "companies": {"hs_merged_object_ids": "enumeration"},
    "deals": {"hs_merged_object_ids": "enumeration"},
    "tickets": {"hs_ticket_category": "enumeration", "hs_merged_object_ids": "enumeration"},
    "feedback_submissions": {"hs_sentiment": "enumeration"},
}

_ENGAGEMENTS: dict[str, tuple[str, str, dict[str, PropertyType], tuple[str, ...]]] = {
    "calls": (
        "0-48",
        "call",
        {
            "hs_call_title": "string",
            "hs_call_body": "string",
            "hs_call_direction": "enumeration",
            "hs_call_duration": "number",
            "hs_call_status": "enumeration",
        },
        ("hs_call_title",),
    ),
    "emails": (
        "0-49",
        "email",
        {
            "hs_email_subject": "string",
            "hs_email_text": "string",
            "hs_email_direction": "enumeration",
            "hs_email_status": "enumeration",
        },
        ("hs_email_subject",),
    ),
    "meetings": (
        "0-47",
        "meeting",
        {
            "hs_meeting_title": "string",
            "hs_meeting_body": "string",
            "hs_meeting_outcome": "enumeration",
            "hs_meeting_start_time": "datetime",
            "hs_meeting_end_time": "datetime",
        },
        ("hs_meeting_title", "hs_meeting_body"),
    ),
    "notes": ("0-46", "note", {"hs_note_body": "string"}, ("hs_note_body",)),
    "tasks": (
        "0-27",
        "task",
        {
            "hs_task_subject": "string",
            "hs_task_body": "string",
            "hs_task_status": "enumeration",
            "hs_task_priority": "enumeration",
        },
        ("hs_task_subject",),
    ),
}


def _build() -> dict[str, ObjectType]:
    types: dict[str, ObjectType] = {}
    for s in schema.OBJECTS.values():
        props = {**s.properties, **_EXTRA.get(s.name, {})}
        created = "hs_createdate" if "hs_createdate" in props else "createdate"
        types[s.name] = ObjectType(
            name=s.name,
            type_id=s.type_id,
            singular=s.singular,
            created_property=created,
            modified_property=s.modified_property,
            properties=props,
            defaults=s.defaults,
            group=_GROUPS[s.name],
            searchable=_SEARCHABLE[s.name],
            read_only=s.name == "feedback_submissions",
        )
    for name, (type_id, singular, extra, searchable) in _ENGAGEMENTS.items():
        types[name] = ObjectType(
            name=name,
            type_id=type_id,
            singular=singular,
            created_property="hs_createdate",
            modified_property="hs_lastmodifieddate",
            properties={**schema.ENGAGEMENT_PROPERTIES, **extra},
            defaults=("hs_createdate", "hs_lastmodifieddate", "hs_object_id"),
            group="engagement",
            searchable=searchable,
        )
    return types


OBJECT_TYPES: dict[str, ObjectType] = _build()
"""Object type name -> definition."""

_BY_ALIAS: dict[str, str] = {
    **{t.name: t.name for t in OBJECT_TYPES.values()},
    **{t.type_id: t.name for t in OBJECT_TYPES.values()},
    **{t.singular: t.name for t in OBJECT_TYPES.values()},
}


def resolve(name: str) -> ObjectType | None:
    """The object type named by a path segment (``contacts``, ``contact``, ``0-1``), if any."""
    key = _BY_ALIAS.get(name) or _BY_ALIAS.get(name.lower())
    return OBJECT_TYPES[key] if key else None


UNLABELED: dict[tuple[str, str], int] = dict(schema.ASSOCIATION_TYPE_IDS)
"""HubSpot-defined unlabeled association type ids, from -> to (both directions)."""

# Engagement associations (hubspot.crm.association_type.AssociationType):
# engagement -> contact / company, and the reverse.
for _eng, (_to_contact, _from_contact, _to_company, _from_company) in {
    "calls": (194, 193, 182, 181),
    "emails": (198, 197, 186, 185),
    "meetings": (200, 199, 188, 187),
    "notes": (202, 201, 190, 189),
    "tasks": (204, 203, 192, 191),
}.items():
    UNLABELED[(_eng, "contacts")] = _to_contact
    UNLABELED[("contacts", _eng)] = _from_contact
    UNLABELED[(_eng, "companies")] = _to_company
    UNLABELED[("companies", _eng)] = _from_company
UNLABELED[("deals", "tickets")] = 27
UNLABELED[("tickets", "deals")] = 28

PRIMARY: dict[tuple[str, str], int] = {
    ("contacts", "companies"): 1,
    ("companies", "contacts"): 2,
    ("deals", "companies"): 5,
    ("companies", "deals"): 6,
    ("tickets", "companies"): 26,
    ("companies", "tickets"): 25,
}
"""The HubSpot-defined ``Primary`` company association labels (sent alongside the unlabeled id)."""

TYPE_LABELS: dict[int, str | None] = dict.fromkeys(PRIMARY.values(), "Primary")


def inverse(from_type: str, to_type: str, type_id: int) -> int | None:
    """The type id of the reverse association (HubSpot keeps both directions)."""
    if UNLABELED.get((from_type, to_type)) == type_id:
        return UNLABELED.get((to_type, from_type))
    if PRIMARY.get((from_type, to_type)) == type_id:
        return PRIMARY.get((to_type, from_type))
    return None


def known_type_ids(from_type: str, to_type: str) -> set[int]:
    """HubSpot-defined type ids valid between two object types."""
    ids = {UNLABELED.get((from_type, to_type)), PRIMARY.get((from_type, to_type))}
    return {i for i in ids if i is not None}


def v3_type_name(from_type: str, to_type: str, type_id: int) -> str:
    """The v3 association type string for one typeId.

    v3 names the primary (or only) association ``contact_to_company`` and, where a Primary label
    exists, the plain one ``contact_to_company_unlabeled``.
    """
    base = f"{OBJECT_TYPES[from_type].singular}_to_{OBJECT_TYPES[to_type].singular}"
    if (from_type, to_type) in PRIMARY and type_id == UNLABELED.get((from_type, to_type)):
        return base + "_unlabeled"
    return base
