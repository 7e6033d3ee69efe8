"""Associations v4: batch read, per-object list, create / remove one association, labels."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from . import errors
from .app import GatedRoute, state_of
from .catalog import PRIMARY, TYPE_LABELS, UNLABELED, ObjectType, known_type_ids
from .portal import Portal, StoredObject
from .values import iso
from .views import int_param, json_body, json_response

router = APIRouter(route_class=GatedRoute)

BATCH_READ_MAX = 1000
PAGE_MAX = 500  # [UNVERIFIED] cap of the per-object association list
ONE = "/crm/v4/objects/{object_type}/{object_id}/associations"


def _spec(type_id: int) -> dict[str, Any]:
    return {"category": "HUBSPOT_DEFINED", "typeId": type_id, "label": TYPE_LABELS.get(type_id)}


def _targets(portal: Portal, frm: str, oid: int, to: str) -> list[dict[str, Any]]:
    live = portal.table(to).active
    # toObjectId is a number on the wire (the spec says string; the SDK accepts either).
    return [
        {"toObjectId": to_id, "associationTypes": [_spec(t) for t in type_ids]}
        for to_id, type_ids in sorted(portal.associations.targets(frm, oid, to).items())
        if to_id in live and type_ids
    ]


@router.post("/crm/v4/associations/{from_type}/{to_type}/batch/read")
async def batch_read(from_type: str, to_type: str, request: Request) -> Response:
    """POST batch/read: ids without associations land in ``errors`` and make the status 207."""
    portal = state_of(request).portal
    frm, to = portal.object_type(from_type), portal.object_type(to_type)
    started = iso(portal.now())
    body = await json_body(request)
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list):
        raise errors.validation("Invalid input JSON: inputs must be a list.")
    if len(inputs) > BATCH_READ_MAX:
        raise errors.validation(
            f"Too many inputs: {len(inputs)}. The maximum number of inputs is {BATCH_READ_MAX}."
        )
    results, errs = [], []
    with portal.lock:
        for item in inputs:
            oid = str((item or {}).get("id", "")) if isinstance(item, dict) else str(item)
            obj = portal.get(frm.name, oid)
            targets = _targets(portal, frm.name, obj.id, to.name) if obj else []
            if targets:
                results.append({"from": {"id": oid}, "to": targets})
            else:
                errs.append(_no_associations(frm, to, oid))
    out: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errs:
        out["numErrors"] = len(errs)
        out["errors"] = errs
    out.update({"startedAt": started, "completedAt": iso(portal.now()), "links": {}})
    return json_response(out, 207 if errs else 200)


def _no_associations(frm: ObjectType, to: ObjectType, oid: str) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "subCategory": "crm.associations.NO_ASSOCIATIONS_FOUND",
        "message": f"No {to.singular} is associated with {frm.singular} {oid}.",
        "context": {
            "fromObjectId": [oid],
            "fromObjectType": [frm.singular],
            "toObjectType": [to.singular],
        },
        "errors": [],
        "links": {},
    }


def _object(portal: Portal, otype: ObjectType, object_id: str) -> StoredObject:
    obj = portal.get(otype.name, object_id)
    if obj is None:
        raise errors.not_found(object_id)
    return obj


@router.get("/crm/v4/associations/{from_type}/{to_type}/labels")
async def labels(from_type: str, to_type: str, request: Request) -> Response:
    """GET the association types defined between two object types."""
    portal = state_of(request).portal
    frm, to = portal.object_type(from_type), portal.object_type(to_type)
    results = [
        {"category": "HUBSPOT_DEFINED", "typeId": t, "label": TYPE_LABELS.get(t)}
        for t in sorted(known_type_ids(frm.name, to.name))
    ]
    return json_response({"results": results})


@router.put(ONE + "/default/{to_type}/{to_id}")
async def create_default(
    object_type: str, object_id: str, to_type: str, to_id: str, request: Request
) -> Response:
    """PUT a default (unlabeled) association: 200."""
    portal = state_of(request).portal
    frm, to = portal.object_type(object_type), portal.object_type(to_type)
    type_id = UNLABELED.get((frm.name, to.name))
    if type_id is None:
        raise errors.validation(f"No default association between {frm.name} and {to.name}.")
    with portal.lock:
        a, b = _object(portal, frm, object_id), _object(portal, to, to_id)
        portal.associate(frm.name, a.id, to.name, b.id, type_id)
    now = iso(portal.now())
    result = {
        "from": {"id": str(a.id)},
        "to": {"id": str(b.id)},
        "associationSpec": {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id},
    }
    return json_response(
        {
            "status": "COMPLETE",
            "results": [result],
            "startedAt": now,
            "completedAt": now,
            "links": {},
        }
    )


@router.get(ONE + "/{to_type}")
async def get_page(object_type: str, object_id: str, to_type: str, request: Request) -> Response:
    """GET the associations of one object toward a type, paged by offset."""
    portal = state_of(request).portal
    frm, to = portal.object_type(object_type), portal.object_type(to_type)
    limit = int_param(request, "limit", PAGE_MAX)
    if not 1 <= limit <= PAGE_MAX:
        raise errors.validation(f"limit must be between 1 and {PAGE_MAX}; got {limit}.")
    raw_after = request.query_params.get("after") or "0"
    if not raw_after.isdigit():
        raise errors.validation(f"Invalid paging cursor: {raw_after}")
    after = int(raw_after)
    with portal.lock:
        obj = _object(portal, frm, object_id)
        targets = _targets(portal, frm.name, obj.id, to.name)
    out: dict[str, Any] = {"results": targets[after : after + limit]}
    if after + limit < len(targets):
        cursor = str(after + limit)
        out["paging"] = {
            "next": {
                "after": cursor,
                "link": f"{request.base_url}{request.url.path.lstrip('/')}?after={cursor}",
            }
        }
    return json_response(out)


@router.put(ONE + "/{to_type}/{to_id}")
async def create(
    object_type: str, object_id: str, to_type: str, to_id: str, request: Request
) -> Response:
    """PUT labelled association types between two objects: 201.

    Changing associations leaves both objects' modification dates alone, as in HubSpot.
    """
    portal = state_of(request).portal
    frm, to = portal.object_type(object_type), portal.object_type(to_type)
    body = await json_body(request)
    if not isinstance(body, list) or not body:
        raise errors.validation("Body must be a non-empty list of association specs.")
    valid = known_type_ids(frm.name, to.name)
    type_ids = []
    for spec in body:
        type_id = int((spec or {}).get("associationTypeId", 0))
        if type_id not in valid:
            raise errors.validation(
                f"{type_id} is not a valid association type between {frm.name} and {to.name}."
            )
        type_ids.append(type_id)
    with portal.lock:
        a, b = _object(portal, frm, object_id), _object(portal, to, to_id)
        for type_id in type_ids:
            portal.associate(frm.name, a.id, to.name, b.id, type_id)
        labels_ = [TYPE_LABELS[t] for t in type_ids if t in TYPE_LABELS and t in PRIMARY.values()]
    return json_response(
        {
            "fromObjectTypeId": frm.type_id,
            "fromObjectId": a.id,
            "toObjectTypeId": to.type_id,
            "toObjectId": b.id,
            "labels": labels_,
        },
        201,
    )


@router.delete(ONE + "/{to_type}/{to_id}")
async def archive(
    object_type: str, object_id: str, to_type: str, to_id: str, request: Request
) -> Response:
    """DELETE every association between two objects: 204."""
    portal = state_of(request).portal
    frm, to = portal.object_type(object_type), portal.object_type(to_type)
    a, b = portal.get(frm.name, object_id), portal.get(to.name, to_id)
    if a is not None and b is not None:
        portal.dissociate(frm.name, a.id, to.name, b.id)
    return Response(status_code=204)
