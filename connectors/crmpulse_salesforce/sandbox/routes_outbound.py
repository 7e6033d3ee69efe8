"""The emulator's outbound message controls (not part of Salesforce's API; no session).

- ``POST /_sandbox/outbound``: ``{"url", "sobject"? | "sobjects"?, "fields"?, "name"?,
  "organization_id"?, "triggers"?, "send_session_id"?}`` defines one outbound message per
  sObject type (without ``sobject(s)``: Account, Contact, Opportunity, Case, Task, Event and the
  survey objects) posting to ``url`` (http on 127.0.0.1). ``fields`` defaults to Id,
  LastModifiedDate, LastModifiedById, SystemModstamp and the parent references the object has;
  ``triggers`` to ``["created", "updated"]`` (``"undeleted"`` may be added). Answers 201
  ``{"messages": [...]}`` with each ``actionId`` (04k...).
- ``GET /_sandbox/outbound``: the definitions and settings; ``DELETE /_sandbox/outbound``
  removes them all with their queues and zeroes the delivery counts;
  ``DELETE /_sandbox/outbound/{actionId}`` removes one.
- ``POST /_sandbox/outbound/settings``: ``{"time_scale"?, "timeout"?, "paused"?}``: real
  seconds per emulated second of the retry schedule (30 s, 1 min, 2 min ... 2 h; dropped after
  24 h), the request timeout in seconds, and whether delivery is held (changes keep queueing).
- ``GET /_sandbox/outbound/deliveries``: ``{"queued", "sent", "acked", "failed", "dropped",
  "requests", "actions": [...], "recent": [...]}`` (notification counts; ``sent`` and
  ``failed`` count every attempt).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError
from .outbound import DEFAULT_SOBJECTS, OutboundError
from .state import SandboxState
from .web import base_url, json_body, json_response


def _invalid(message: str) -> Response:
    return json_response([{"message": message, "errorCode": "INVALID"}], 400)


def router(state: SandboxState) -> APIRouter:
    """The outbound message control routes over ``state``."""
    api = APIRouter(prefix="/_sandbox/outbound")
    hub = state.outbound

    @api.post("")
    async def define(request: Request) -> Response:
        """Define outbound messages."""
        try:
            spec: Any = await json_body(request)
            if not isinstance(spec, dict) or not isinstance(spec.get("url"), str):
                raise OutboundError("expected a JSON object with a url")
            if spec.get("sobject") is not None:
                sobjects = [str(spec["sobject"])]
            elif spec.get("sobjects") is not None:
                if not isinstance(spec["sobjects"], list):
                    raise OutboundError("sobjects must be a list")
                sobjects = [str(s) for s in spec["sobjects"]]
            else:
                sobjects = list(DEFAULT_SOBJECTS)
            fields = spec.get("fields")
            if fields is not None and not isinstance(fields, list):
                raise OutboundError("fields must be a list")
            triggers = spec.get("triggers")
            if triggers is not None and not isinstance(triggers, list):
                raise OutboundError("triggers must be a list")
            session = state.session_token if spec.get("send_session_id") else None
            for name in sobjects:  # check all before defining any
                if state.org.sobject_name(name) is None:
                    raise OutboundError(f"unknown sObject type {name!r}")
            messages = [
                hub.define(
                    name,
                    spec["url"],
                    instance_url=base_url(request),
                    fields=fields,
                    name=spec.get("name"),
                    organization_id=spec.get("organization_id"),
                    triggers=triggers,
                    session_id=session,
                )
                for name in sobjects
            ]
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except OutboundError as exc:
            return _invalid(f"Invalid outbound message: {exc}")
        return json_response({"messages": [m.to_json() for m in messages]}, 201)

    @api.get("")
    async def listing() -> Response:
        """The definitions and settings."""
        return json_response(
            {
                "messages": [m.to_json() for m in hub.messages.values()],
                "settings": hub.settings(),
            }
        )

    @api.delete("")
    async def clear() -> Response:
        """Remove every definition and its queue."""
        hub.clear()
        return Response(status_code=204)

    @api.post("/settings")
    async def settings(request: Request) -> Response:
        """Change the retry time scale or the request timeout."""
        try:
            spec = await json_body(request)
            if not isinstance(spec, dict):
                raise OutboundError("expected a JSON object")
            scale, timeout, paused = spec.get("time_scale"), spec.get("timeout"), spec.get("paused")
            if paused is not None and not isinstance(paused, bool):
                raise OutboundError("paused must be true or false")
            hub.configure(
                time_scale=None if scale is None else float(scale),
                timeout=None if timeout is None else float(timeout),
                paused=paused,
            )
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        except (OutboundError, TypeError, ValueError) as exc:
            return _invalid(f"Invalid setting: {exc}")
        return json_response(hub.settings())

    @api.get("/deliveries")
    async def deliveries() -> Response:
        """Delivery counts."""
        return json_response(hub.stats())

    @api.delete("/{action_id}")
    async def remove(action_id: str) -> Response:
        """Remove one definition."""
        if not hub.remove(action_id):
            return json_response([{"message": "no such action", "errorCode": "NOT_FOUND"}], 404)
        return Response(status_code=204)

    return api
