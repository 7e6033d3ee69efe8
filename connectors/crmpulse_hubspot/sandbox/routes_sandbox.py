"""The emulator's own endpoints (not part of HubSpot's API; no token needed, not counted).

- ``GET /_sandbox/health``: ``{"status": "ok", "portalId": n}``.
- ``GET /_sandbox/stats``: ``{"total": n, "calls": [{"method", "route", "status", "count"}]}``;
  ``POST /_sandbox/stats/reset``.
- ``POST /_sandbox/faults``: ``{"path_prefix", "status", "count"=1, "method"?, "delay_ms"?,
  "retry_after"?, "body"?}`` arms a fault for the next ``count`` matching calls;
  ``GET``/``DELETE /_sandbox/faults`` list / clear them.
- ``POST /_sandbox/objects/{objectType}``: ``{"properties": {...}, "associations":
  {"contacts": ["12"], ...}}`` inserts a record as a survey tool or agent would (works for the
  read-only feedback submissions), answering 201 with the object.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from . import errors
from .app import state_of
from .catalog import PRIMARY, UNLABELED
from .views import Renderer, json_body, json_response

router = APIRouter(prefix="/_sandbox")


@router.get("/health")
async def health(request: Request) -> Response:
    """Liveness."""
    return json_response({"status": "ok", "portalId": state_of(request).portal.portal_id})


@router.get("/stats")
async def stats(request: Request) -> Response:
    """Call counts."""
    return json_response(state_of(request).stats.to_json())


@router.post("/stats/reset")
async def reset_stats(request: Request) -> Response:
    """Zero the call counts."""
    state_of(request).stats.reset()
    return Response(status_code=204)


@router.post("/faults")
async def arm_fault(request: Request) -> Response:
    """Arm a fault."""
    try:
        body = await json_body(request)
        fault = state_of(request).faults.arm(body if isinstance(body, dict) else {})
    except errors.ApiError as exc:
        return json_response(exc.render(errors.correlation_id()), exc.status)
    return json_response(fault.to_json(), 201)


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    """Armed faults."""
    return json_response({"results": [f.to_json() for f in state_of(request).faults.faults]})


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    """Disarm all faults."""
    state_of(request).faults.clear()
    return Response(status_code=204)


@router.post("/objects/{object_type}")
async def inject(object_type: str, request: Request) -> Response:
    """Insert a record directly (values stored as given, read-only types allowed)."""
    portal = state_of(request).portal
    try:
        otype = portal.object_type(object_type)
        body = await json_body(request)
        values: dict[str, Any] = dict(body.get("properties") or {})
        links = body.get("associations") or {}
        with portal.lock:
            resolved = []
            for to_name, ids in links.items():
                to = portal.object_type(to_name)
                type_id = UNLABELED.get((otype.name, to.name))
                if type_id is None:
                    raise errors.validation(f"{otype.name} cannot be associated with {to.name}.")
                for raw_id in ids:
                    target = portal.get(to.name, str(raw_id))
                    if target is None:
                        raise errors.not_found(str(raw_id))
                    resolved.append((to.name, target.id, type_id))
            obj = portal.create(otype.name, values, validate=False)
            for to_name, to_id, type_id in resolved:
                portal.associate(otype.name, obj.id, to_name, to_id, type_id)
                primary = PRIMARY.get((otype.name, to_name))
                if primary is not None:
                    portal.associate(otype.name, obj.id, to_name, to_id, primary)
    except errors.ApiError as exc:
        return json_response(exc.render(errors.correlation_id()), exc.status)
    return json_response(Renderer(portal, otype, list(values)).one(obj), 201)
