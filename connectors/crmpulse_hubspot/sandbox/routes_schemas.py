"""Custom object schemas: list, read, create and update.

The SDK (``client.crm.schemas.core_api``) calls ``/crm-object-schemas/v3/schemas``; HubSpot's docs
also show ``/crm/v3/schemas``. Both are served.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from . import schemas
from .app import GatedRoute, state_of
from .views import flag, json_body, json_response

router = APIRouter(route_class=GatedRoute)

PATHS = ("/crm-object-schemas/v3/schemas", "/crm/v3/schemas")


async def list_schemas(request: Request) -> Response:
    """GET schemas: ``{"results": [ObjectSchema]}`` (none when ``archived=true``)."""
    portal = state_of(request).portal
    archived = flag(request, "archived")
    with portal.lock:
        found = [s for s in portal.schemas.values() if s.archived == archived]
        return json_response({"results": [s.to_json(portal) for s in found]})


async def create_schema(request: Request) -> Response:
    """POST a schema: 201; 403 MISSING_SCOPES on a portal without custom objects."""
    portal = state_of(request).portal
    schema = schemas.create(portal, await json_body(request))
    with portal.lock:
        return json_response(schema.to_json(portal), 201)


async def get_schema(object_type: str, request: Request) -> Response:
    """GET one schema by ``objectTypeId`` or fully qualified name (404 if unknown)."""
    portal = state_of(request).portal
    with portal.lock:
        return json_response(schemas.find(portal, object_type).to_json(portal))


async def update_schema(object_type: str, request: Request) -> Response:
    """PATCH a schema's labels and display / searchable / required properties."""
    portal = state_of(request).portal
    schema = schemas.update(portal, object_type, await json_body(request))
    with portal.lock:
        return json_response(schema.to_json(portal))


for _base in PATHS:
    router.add_api_route(_base, list_schemas, methods=["GET"])
    router.add_api_route(_base, create_schema, methods=["POST"])
    router.add_api_route(_base + "/{object_type}", get_schema, methods=["GET"])
    router.add_api_route(_base + "/{object_type}", update_schema, methods=["PATCH"])
