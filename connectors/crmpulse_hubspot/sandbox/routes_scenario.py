"""The emulator's controls over time and indexing (``/_sandbox``, no token, not counted).

- ``POST /_sandbox/scenario/advance`` ``{"hours": h}``: advance the scenario clock over the world
  the portal was built from and write what happened (409 when the portal has no world); answers
  ``{"now", "records", "created": {type: n}, "updated": {type: n}, "ids": {recordId: objectId}}``.
  ``GET /_sandbox/scenario``: ``{"now"}``.
- ``POST /_sandbox/search_lag`` ``{"seconds": s}``: objects written less than ``s`` seconds ago
  are left out of ``/search`` (list, read and batch read still see them); ``GET`` reads it.
- ``POST /_sandbox/touch`` ``{"objectType", "lastModified", "ids"?: [...], "limit"?: n,
  "create"?: n, "properties"?: {...}}``: give many objects one last-modified date at once (the
  first ``limit`` objects in id order, or ``ids``; plus ``create`` new ones), firing their
  ``propertyChange`` events; answers ``{"touched", "created"}``.
- ``POST /_sandbox/objects/{objectType}/{id}/restore``: bring an archived object back (200), or 404.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from . import errors
from .app import state_of
from .views import Renderer, json_body, json_response

router = APIRouter(prefix="/_sandbox")

TOUCH_MAX = 200_000


def _rendered(call: Any) -> Any:
    """Run a route body, rendering emulator errors HubSpot's way."""
    try:
        return call()
    except errors.ApiError as exc:
        return json_response(exc.render(errors.correlation_id()), exc.status)


def _number(body: Any, name: str, *, low: float = 0.0, high: float = math.inf) -> float:
    value = body.get(name) if isinstance(body, dict) else None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise errors.validation(f"{name} must be a number.")
    if not low <= value <= high:
        raise errors.validation(f"{name} must be between {low} and {high}.")
    return float(value)


@router.post("/scenario/advance")
async def advance(request: Request) -> Response:
    """Advance the scenario clock and apply its records to the portal."""
    state = state_of(request)
    body = await json_body(request)

    def run() -> Response:
        hours = _number(body, "hours", high=24 * 366)
        if state.scenario is None:
            raise errors.error(409, "CONFLICT", "This portal was not built from a synthetic world.")
        return json_response(state.scenario.advance(hours))

    response: Response = _rendered(run)
    return response


@router.get("/scenario")
async def scenario_clock(request: Request) -> Response:
    """The scenario clock."""
    runner = state_of(request).scenario
    if runner is None:
        return json_response({"now": None})
    return json_response({"now": runner.scenario.now.isoformat()})


@router.post("/search_lag")
async def set_search_lag(request: Request) -> Response:
    """Set the search index delay."""
    portal = state_of(request).portal
    body = await json_body(request)

    def run() -> Response:
        portal.search_lag = _number(body, "seconds", high=3_600)
        if portal.search_lag == 0:
            for table in portal.tables.values():
                table.recent.clear()
        return json_response({"seconds": portal.search_lag})

    response: Response = _rendered(run)
    return response


@router.get("/search_lag")
async def get_search_lag(request: Request) -> Response:
    """The search index delay."""
    return json_response({"seconds": state_of(request).portal.search_lag})


@router.post("/touch")
async def touch(request: Request) -> Response:
    """Give many objects the same last-modified date."""
    portal = state_of(request).portal
    body = await json_body(request)

    def run() -> Response:
        if not isinstance(body, dict):
            raise errors.validation("Body must be an object.")
        otype = portal.object_type(str(body.get("objectType", "")))
        try:
            at = datetime.fromisoformat(str(body.get("lastModified", "")))
        except ValueError:
            raise errors.validation("lastModified must be an ISO 8601 timestamp.") from None
        if at.tzinfo is None:
            raise errors.validation("lastModified must carry a timezone.")
        values = {
            k: None if v is None else str(v) for k, v in (body.get("properties") or {}).items()
        }
        create = int(_number(body, "create", high=TOUCH_MAX)) if "create" in body else 0
        touched = 0
        with portal.lock:
            if "ids" in body:
                ids = [str(i) for i in body.get("ids") or []]
            elif "limit" in body:
                limit = int(_number(body, "limit", high=TOUCH_MAX))
                ids = [str(i) for i in portal.table(otype.name).ids(False)[:limit]]
            else:
                ids = []
            for object_id in ids:
                if portal.update(otype.name, object_id, values, validate=False, at=at) is not None:
                    touched += 1
            for _ in range(create):
                portal.create(otype.name, dict(values), validate=False, created=at, updated=at)
        return json_response({"touched": touched, "created": create})

    response: Response = _rendered(run)
    return response


@router.post("/objects/{object_type}/{object_id}/restore")
async def restore(object_type: str, object_id: str, request: Request) -> Response:
    """Restore an archived object."""
    portal = state_of(request).portal

    def run() -> Response:
        otype = portal.object_type(object_type)
        obj = portal.restore(otype.name, object_id)
        if obj is None:
            raise errors.not_found(object_id)
        return json_response(Renderer(portal, otype, None).one(obj))

    response: Response = _rendered(run)
    return response
