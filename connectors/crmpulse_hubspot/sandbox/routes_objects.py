"""CRM v3 objects: list, read, batch read/create/update/upsert/archive, create, update, archive,
search."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fastapi import APIRouter, Request, Response

from . import errors, search
from .app import GatedRoute, state_of
from .catalog import OBJECT_TYPES, ObjectType, known_type_ids
from .merge import merge
from .portal import Portal, StoredObject
from .values import iso
from .views import (
    Renderer,
    decode_cursor,
    encode_cursor,
    flag,
    int_param,
    json_body,
    json_response,
    multi,
)

router = APIRouter(route_class=GatedRoute)

LIST_MAX = 100
LIST_MAX_WITH_HISTORY = 50
BATCH_MAX = 100
BASE = "/crm/v3/objects/{object_type}"


def _writable(portal: Portal, name: str) -> ObjectType:
    otype = portal.object_type(name)
    if otype.read_only:
        # The generic objects endpoint exists for every type, but no scope grants writing
        # feedback submissions: HubSpot answers 403 MISSING_SCOPES rather than 405.
        raise errors.missing_scopes(f"crm.objects.{otype.name}.write")
    return otype


def _inputs(body: Any, limit: int = BATCH_MAX) -> list[dict[str, Any]]:
    inputs = body.get("inputs") if isinstance(body, dict) else None
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise errors.validation("Invalid input JSON: inputs must be a list of objects.")
    if len(inputs) > limit:
        raise errors.validation(
            f"Too many inputs: {len(inputs)}. The maximum number of inputs per batch is {limit}."
        )
    return inputs


def _batch(
    results: list[dict[str, Any]],
    errs: list[dict[str, Any]],
    started: str,
    portal: Portal,
    status: int = 200,
) -> Response:
    body: dict[str, Any] = {"status": "COMPLETE", "results": results}
    if errs:
        body["numErrors"] = len(errs)
        body["errors"] = errs
    body.update({"startedAt": started, "completedAt": iso(portal.now()), "links": {}})
    return json_response(body, 207 if errs else status)


def _not_found_error(otype: ObjectType, ids: list[str], verb: str = "get") -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"Could not {verb} some {otype.singular.upper()} objects, they may be deleted "
        "or not exist. Check that ids are valid.",
        "context": {"ids": ids},
        "errors": [],
        "links": {},
    }


def _dedupe(ids: list[str]) -> None:
    counts = Counter(ids)
    dupes = sorted(i for i, n in counts.items() if n > 1)
    if dupes:
        raise errors.validation(f"Duplicate IDs found in batch input: [{', '.join(dupes)}]")


def _links(from_type: str, raw: Any) -> list[tuple[str, str, int]]:
    """Associations of a create input: ``[{to: {id}, types: [{associationTypeId}]}]``."""
    if not raw:
        return []
    if not isinstance(raw, list):
        raise errors.validation("associations must be a list.")
    out: list[tuple[str, str, int]] = []
    for item in raw:
        to_id = str(((item or {}).get("to") or {}).get("id", ""))
        for spec in (item or {}).get("types") or []:
            type_id = int(spec.get("associationTypeId", 0))
            to_type = next(
                (b for (a, b) in _PAIRS if a == from_type and type_id in known_type_ids(a, b)), None
            )
            if to_type is None:
                raise errors.validation(
                    f"{type_id} is not a valid association type id for {from_type}."
                )
            out.append((to_type, to_id, type_id))
    return out


_PAIRS = [(a, b) for a in OBJECT_TYPES for b in OBJECT_TYPES if known_type_ids(a, b)]


# ------------------------------------------------------------------------- batch + search
@router.post(BASE + "/batch/read")
async def batch_read(object_type: str, request: Request) -> Response:
    """POST batch/read: 200, or 207 with OBJECT_NOT_FOUND for ids that do not exist."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    started = iso(portal.now())
    body = await json_body(request)
    inputs = _inputs(body)
    id_property = body.get("idProperty") or None
    archived = flag(request, "archived")
    renderer = Renderer(
        portal,
        otype,
        body.get("properties") or None,
        history=body.get("propertiesWithHistory") or None,
    )
    results, missing, seen = [], [], set()
    with portal.lock:
        for item in inputs:
            oid = str(item.get("id", ""))
            obj = portal.get(otype.name, oid, archived=archived, id_property=id_property)
            if obj is None:
                missing.append(oid)
            elif obj.id not in seen:
                seen.add(obj.id)
                results.append(renderer.one(obj))
    return _batch(results, [_not_found_error(otype, missing)] if missing else [], started, portal)


@router.post(BASE + "/batch/update")
async def batch_update(object_type: str, request: Request) -> Response:
    """POST batch/update: validate every input first (400 for the whole batch), then apply."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    started = iso(portal.now())
    inputs = _inputs(await json_body(request))
    _dedupe([str(i.get("id", "")) for i in inputs])
    results, missing = [], []
    with portal.lock:
        cleaned = [
            portal.properties.clean_values(otype.name, i.get("properties", {})) for i in inputs
        ]
        for item, values in zip(inputs, cleaned, strict=True):
            obj = portal.update(
                otype.name,
                str(item.get("id", "")),
                values,
                id_property=item.get("idProperty"),
                validate=False,
            )
            if obj is None:
                missing.append(str(item.get("id", "")))
            else:
                results.append(Renderer(portal, otype, list(values)).one(obj))
    errs = [_not_found_error(otype, missing, "update")] if missing else []
    return _batch(results, errs, started, portal)


@router.post(BASE + "/batch/create")
async def batch_create(object_type: str, request: Request) -> Response:
    """POST batch/create: 201 with the created objects."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    started = iso(portal.now())
    inputs = _inputs(await json_body(request))
    with portal.lock:
        prepared = [
            (
                portal.properties.clean_values(otype.name, i.get("properties", {})),
                _links(otype.name, i.get("associations")),
            )
            for i in inputs
        ]
        objs = [
            portal.create(otype.name, values, links, validate=False) for values, links in prepared
        ]
        results = [
            Renderer(portal, otype, list(v)).one(o)
            for o, (v, _) in zip(objs, prepared, strict=True)
        ]
    return _batch(results, [], started, portal, status=201)


def _upsert_key(portal: Portal, otype: ObjectType, item: dict[str, Any]) -> tuple[str, str]:
    """(idProperty, value) of one upsert input; 400 unless the property is unique."""
    id_property = str(item.get("idProperty") or "")
    value = str(item.get("id") or "")
    if not id_property:
        # [UNVERIFIED exact wording]
        raise errors.validation("idProperty is required to upsert by a unique property value.")
    prop = portal.properties.get(otype.name, id_property)
    unique = (prop is not None and prop.has_unique_value and id_property != "hs_object_id") or (
        otype.name == "contacts" and id_property == "email"
    )
    if not unique:
        raise errors.validation(
            f"Unable to perform update/upsert by non-unique {otype.type_id} property "
            f"{id_property} in portal ID {portal.portal_id}"
        )
    if not value:
        raise errors.validation("Every upsert input needs an id (the unique property value).")
    return id_property, value


@router.post(BASE + "/batch/upsert")
async def batch_upsert(object_type: str, request: Request) -> Response:
    """POST batch/upsert: update the object holding each input's unique ``idProperty`` value, or
    create it with that value. 200 with ``new`` per result; any invalid input fails the batch."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    started = iso(portal.now())
    inputs = _inputs(await json_body(request))
    keys = [_upsert_key(portal, otype, i) for i in inputs]
    _dedupe([value for _prop, value in keys])
    results: list[dict[str, Any]] = []
    with portal.lock:
        cleaned = [
            portal.properties.clean_values(otype.name, i.get("properties", {})) for i in inputs
        ]
        for (id_property, value), values in zip(keys, cleaned, strict=True):
            obj = portal.get(otype.name, value, id_property=id_property)
            if obj is not None:
                portal.update(otype.name, obj.id, values, validate=False)
                created = False
            else:
                obj = portal.create(otype.name, {**values, id_property: value}, validate=False)
                created = True
            rendered = Renderer(portal, otype, [*values, id_property]).one(obj)
            results.append({**rendered, "new": created})
    return _batch(results, [], started, portal)


@router.post(BASE + "/batch/archive")
async def batch_archive(object_type: str, request: Request) -> Response:
    """POST batch/archive: 204."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    for item in _inputs(await json_body(request)):
        portal.archive(otype.name, str(item.get("id", "")))
    return Response(status_code=204)


@router.post(BASE + "/merge")
async def do_merge(object_type: str, request: Request) -> Response:
    """POST merge ``{primaryObjectId, objectIdToMerge}``: 200 with the primary object."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: body must be an object.")
    primary, merged = body.get("primaryObjectId"), body.get("objectIdToMerge")
    if primary in (None, "") or merged in (None, ""):
        raise errors.validation("primaryObjectId and objectIdToMerge are required.")
    obj = merge(portal, otype.name, str(primary), str(merged))
    return json_response(Renderer(portal, otype, None).one(obj))


@router.post(BASE + "/search")
async def do_search(object_type: str, request: Request) -> Response:
    """POST search: ``{"total", "results", "paging"?: {"next": {"after": "<offset>"}}}``."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    raw = await request.body()
    body = await json_body(request)
    query = search.parse(body, len(raw.decode("utf-8", "replace")))
    total, objs = portal.search(otype.name, query)
    out: dict[str, Any] = {
        "total": total,
        "results": Renderer(portal, otype, query.properties).many(objs),
    }
    next_offset = query.after + query.limit
    if next_offset < total:
        # HubSpot still offers the next page at 10,000; following it gets the 400.
        out["paging"] = {"next": {"after": str(next_offset)}}
    return json_response(out)


# ------------------------------------------------------------------------- basic
@router.get(BASE)
async def get_page(object_type: str, request: Request) -> Response:
    """GET list: id order, opaque ``after`` cursor, no ``paging`` on the last page."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    history = multi(request, "propertiesWithHistory")
    cap = LIST_MAX_WITH_HISTORY if history else LIST_MAX
    limit = int_param(request, "limit", 10)
    if not 1 <= limit <= cap:
        raise errors.validation(
            f"limit must be between 1 and {cap}; got {limit}.", context={"limit": [str(limit)]}
        )
    archived = flag(request, "archived")
    objs, next_id = portal.page(
        otype.name, decode_cursor(request.query_params.get("after")), limit, archived=archived
    )
    renderer = Renderer(
        portal,
        otype,
        multi(request, "properties"),
        history=history,
        associations=multi(request, "associations"),
    )
    out: dict[str, Any] = {"results": renderer.many(objs)}
    if next_id is not None:
        cursor = encode_cursor(next_id)
        link = f"{request.base_url}{request.url.path.lstrip('/')}?after={cursor}"
        out["paging"] = {"next": {"after": cursor, "link": link}}
    return json_response(out)


@router.post(BASE)
async def create(object_type: str, request: Request) -> Response:
    """POST create: 201."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    body = await json_body(request)
    values: Any = body.get("properties", {}) if isinstance(body, dict) else None
    obj = portal.create(otype.name, values, _links(otype.name, body.get("associations")))
    return json_response(Renderer(portal, otype, list(values or {})).one(obj), 201)


def _read(portal: Portal, otype: ObjectType, object_id: str, request: Request) -> StoredObject:
    obj = portal.get(
        otype.name,
        object_id,
        archived=flag(request, "archived"),
        id_property=request.query_params.get("idProperty"),
    )
    if obj is None:
        raise errors.not_found(object_id)
    return obj


@router.get(BASE + "/{object_id}")
async def get_by_id(object_type: str, object_id: str, request: Request) -> Response:
    """GET one object: 200, or 404 OBJECT_NOT_FOUND."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    obj = _read(portal, otype, object_id, request)
    renderer = Renderer(
        portal,
        otype,
        multi(request, "properties"),
        history=multi(request, "propertiesWithHistory"),
        associations=multi(request, "associations"),
    )
    return json_response(renderer.one(obj))


@router.patch(BASE + "/{object_id}")
async def update(object_type: str, object_id: str, request: Request) -> Response:
    """PATCH one object: 200 with the written properties, or 404."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    body = await json_body(request)
    values: Any = body.get("properties", {}) if isinstance(body, dict) else None
    obj = portal.update(
        otype.name, object_id, values, id_property=request.query_params.get("idProperty")
    )
    if obj is None:
        raise errors.not_found(object_id)
    return json_response(Renderer(portal, otype, list(values or {})).one(obj))


@router.delete(BASE + "/{object_id}")
async def archive(object_type: str, object_id: str, request: Request) -> Response:
    """DELETE one object: 204 (also for ids that do not exist, as HubSpot does)."""
    portal = state_of(request).portal
    otype = _writable(portal, object_type)
    portal.archive(otype.name, object_id)
    return Response(status_code=204)
