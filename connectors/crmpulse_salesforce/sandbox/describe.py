"""The describe resources: ``sobjects`` (describe global), ``sobjects/{T}`` (basic info) and
``sobjects/{T}/describe``, rendered from an org's describes and :mod:`.schema` metadata as the
API user sees them (fields hidden by field security are left out)."""

from __future__ import annotations

from typing import Any

from .org import Org
from .query import format_value
from .schema import child_relationship_name

MAX_BATCH_SIZE = 200
"""``maxBatchSize`` of describe global (the sObject Collections record limit)."""


def urls(version: str, sobject: str) -> dict[str, str]:
    """The ``urls`` block of an sObject."""
    base = f"/services/data/v{version}/sobjects/{sobject}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def object_entry(org: Org, sobject: str, version: str) -> dict[str, Any]:
    """The sObject's entry in describe global (also ``objectDescribe`` of ``sobjects/{T}``)."""
    info = org.object(sobject)
    return {
        "activateable": False,
        "createable": info.createable,
        "custom": info.custom,
        "customSetting": False,
        "deepCloneable": False,
        "deletable": info.updateable,
        "deprecatedAndHidden": False,
        "feedEnabled": not info.custom,
        "hasSubtypes": False,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": org.key_prefixes.get(sobject),
        "label": info.label,
        "labelPlural": info.label_plural,
        "layoutable": True,
        "mergeable": sobject in ("Account", "Contact", "Lead", "Case"),
        "mruEnabled": True,
        "name": sobject,
        "queryable": True,
        "replicateable": True,
        "retrieveable": True,
        "searchable": True,
        "triggerable": True,
        "undeletable": info.updateable,
        "updateable": info.updateable,
        "urls": urls(version, sobject),
    }


def describe_global(org: Org, version: str) -> dict[str, Any]:
    """``GET sobjects``."""
    return {
        "encoding": "UTF-8",
        "maxBatchSize": MAX_BATCH_SIZE,
        "sobjects": [object_entry(org, name, version) for name in org.describes],
    }


def basic_info(org: Org, sobject: str, version: str) -> dict[str, Any]:
    """``GET sobjects/{T}``: the object's describe-global entry and recently changed rows."""
    recent = sorted(org.scan(sobject), key=lambda r: r["LastModifiedDate"], reverse=True)[:5]
    items = []
    for row in recent:
        item: dict[str, Any] = {
            "attributes": {
                "type": sobject,
                "url": f"/services/data/v{version}/sobjects/{sobject}/{row['Id']}",
            },
            "Id": row["Id"],
        }
        if "Name" in org.describes[sobject]:
            item["Name"] = format_value(row.get("Name"))
        items.append(item)
    return {"objectDescribe": object_entry(org, sobject, version), "recentItems": items}


def describe(org: Org, sobject: str, version: str) -> dict[str, Any]:
    """``GET sobjects/{T}/describe``: fields (visible to the API user) and child
    relationships."""
    hidden, read_only = org.field_access(sobject)
    fields = []
    for name in org.describes[sobject]:
        if name in hidden:
            continue
        entry = org.field(sobject, name).describe()
        if name in read_only:
            entry["createable"] = entry["updateable"] = False
        fields.append(entry)
    children = []
    for child, child_fields in org.describes.items():
        child_hidden, _ = org.field_access(child)
        for name in child_fields:
            if name in child_hidden or child_fields[name] != "reference":
                continue
            if sobject in org.field(child, name).reference_to:
                children.append(
                    {
                        "cascadeDelete": False,
                        "childSObject": child,
                        "deprecatedAndHidden": False,
                        "field": name,
                        "relationshipName": child_relationship_name(child, name),
                        "restrictedDelete": False,
                    }
                )
    return {
        **object_entry(org, sobject, version),
        "childRelationships": children,
        "fields": fields,
        "recordTypeInfos": [],
        "supportedScopes": [{"label": "All records", "name": "everything"}],
    }
