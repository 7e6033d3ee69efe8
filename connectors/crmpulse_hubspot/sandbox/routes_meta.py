"""Properties, property groups and pipelines."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from crmpulse_hubspot import schema

from . import errors
from .app import GatedRoute, state_of
from .views import flag, json_body, json_response

router = APIRouter(route_class=GatedRoute)

PROPS = "/crm/v3/properties/{object_type}"

# Default sales pipeline: stage id -> (label, probability, closed). HubSpot's defaults.
DEAL_STAGES: dict[str, tuple[str, str, bool]] = {
    "appointmentscheduled": ("Appointment Scheduled", "0.2", False),
    "qualifiedtobuy": ("Qualified To Buy", "0.4", False),
    "presentationscheduled": ("Presentation Scheduled", "0.6", False),
    "decisionmakerboughtin": ("Decision Maker Bought-In", "0.8", False),
    "contractsent": ("Contract Sent", "0.9", False),
    "closedwon": ("Closed Won", "1.0", True),
    "closedlost": ("Closed Lost", "0.0", True),
}
TICKET_STAGE_LABELS = {"1": "New", "2": "Waiting on contact", "3": "Waiting on us", "4": "Closed"}


@router.get(PROPS + "/groups")
async def list_groups(object_type: str, request: Request) -> Response:
    """GET property groups."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    groups = portal.properties.groups(otype.name)
    return json_response({"results": [g.to_json() for g in groups]})


@router.post(PROPS + "/groups")
async def create_group(object_type: str, request: Request) -> Response:
    """POST a property group: 201, or 409 when the name is taken."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    group = portal.properties.create_group(otype.name, await json_body(request))
    return json_response(group.to_json(), 201)


@router.get(PROPS + "/groups/{group_name}")
async def get_group(object_type: str, group_name: str, request: Request) -> Response:
    """GET one property group (404 if missing)."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    return json_response(portal.properties.group(otype.name, group_name).to_json())


@router.patch(PROPS + "/groups/{group_name}")
async def update_group(object_type: str, group_name: str, request: Request) -> Response:
    """PATCH a property group."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    group = portal.properties.update_group(otype.name, group_name, await json_body(request))
    return json_response(group.to_json())


@router.delete(PROPS + "/groups/{group_name}")
async def archive_group(object_type: str, group_name: str, request: Request) -> Response:
    """DELETE a property group: 204."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    portal.properties.archive_group(otype.name, group_name)
    return Response(status_code=204)


@router.get(PROPS)
async def list_properties(object_type: str, request: Request) -> Response:
    """GET all properties of an object type (``archived=true``: the archived ones)."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    props = portal.properties.all(otype.name, archived=flag(request, "archived"))
    return json_response({"results": [p.to_json() for p in props]})


@router.post(PROPS)
async def create_property(object_type: str, request: Request) -> Response:
    """POST a property: 201, 400 on an invalid definition, 409 if it exists."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: expected an object.")
    with portal.lock:
        prop = portal.properties.create(otype.name, body)
    return json_response(prop.to_json(), 201)


@router.get(PROPS + "/{property_name}")
async def get_property(object_type: str, property_name: str, request: Request) -> Response:
    """GET one property (404 if missing)."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    return json_response(portal.properties.property(otype.name, property_name).to_json())


@router.patch(PROPS + "/{property_name}")
async def update_property(object_type: str, property_name: str, request: Request) -> Response:
    """PATCH a property definition: 200."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    body = await json_body(request)
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: expected an object.")
    with portal.lock:
        prop = portal.properties.update(otype.name, property_name, body)
    return json_response(prop.to_json())


@router.delete(PROPS + "/{property_name}")
async def archive_property(object_type: str, property_name: str, request: Request) -> Response:
    """DELETE a property: 204."""
    portal = state_of(request).portal
    otype = portal.object_type(object_type)
    with portal.lock:
        portal.properties.archive(otype.name, property_name)
    return Response(status_code=204)


# ------------------------------------------------------------------------- pipelines
def pipelines(object_type: str, stamp: str) -> list[dict[str, Any]]:
    """The default pipelines of deals or tickets, with stage metadata as strings."""

    def stage(sid: str, label: str, order: int, metadata: dict[str, str]) -> dict[str, Any]:
        return {
            "id": sid,
            "label": label,
            "displayOrder": order,
            "metadata": metadata,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }

    if object_type == "deals":
        stages = [
            stage(sid, label, i, {"probability": prob, "isClosed": "true" if closed else "false"})
            for i, (sid, (label, prob, closed)) in enumerate(DEAL_STAGES.items())
        ]
        pid, label = "default", "Sales Pipeline"
    else:
        stages = [
            stage(sid, TICKET_STAGE_LABELS.get(sid, sid), i, {"ticketState": state})
            for i, (sid, state) in enumerate(schema.TICKET_STAGES.items())
        ]
        pid, label = schema.TICKET_PIPELINE, "Support Pipeline"
    return [
        {
            "id": pid,
            "label": label,
            "displayOrder": 0,
            "stages": stages,
            "createdAt": stamp,
            "updatedAt": stamp,
            "archived": False,
        }
    ]


def _pipeline_type(request: Request, object_type: str) -> str:
    otype = state_of(request).portal.object_type(object_type)
    if otype.name not in ("deals", "tickets"):
        raise errors.validation(f"Object type {object_type} has no pipelines.")
    return otype.name


@router.get("/crm/v3/pipelines/{object_type}")
async def list_pipelines(object_type: str, request: Request) -> Response:
    """GET pipelines of deals or tickets."""
    kind = _pipeline_type(request, object_type)
    stamp = state_of(request).portal.created
    return json_response({"results": pipelines(kind, stamp)})


@router.get("/crm/v3/pipelines/{object_type}/{pipeline_id}")
async def get_pipeline(object_type: str, pipeline_id: str, request: Request) -> Response:
    """GET one pipeline (404 if missing)."""
    kind = _pipeline_type(request, object_type)
    stamp = state_of(request).portal.created
    for pipeline in pipelines(kind, stamp):
        if pipeline["id"] == pipeline_id:
            return json_response(pipeline)
    raise errors.error(404, "OBJECT_NOT_FOUND", f"Unable to find pipeline {pipeline_id}.")
