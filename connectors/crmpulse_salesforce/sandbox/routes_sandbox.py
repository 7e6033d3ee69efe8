"""The emulator's own endpoints (not part of Salesforce's API; no session, not counted).

- ``GET /_sandbox/health``: ``{"status": "ok", "organizationId": ...}``.
- ``GET /_sandbox/stats``: ``{"total": n, "calls": [{"method", "route", "status", "count"}]}``;
  ``POST /_sandbox/stats/reset``.
- ``POST /_sandbox/faults``: ``{"kind", "count"=1, "path_prefix"?, "method"?, "delay_ms"?}``
  arms a fault for the next ``count`` API calls: ``server_unavailable`` (503),
  ``unknown_exception`` (500), ``concurrent_limit`` (403 ConcurrentPerOrgLongTxn), ``slow``
  (delay only), or for the next ``count`` sObject Collections rows: ``unable_to_lock_row``.
  ``{"status": 503|500}`` is shorthand for the first two. Two kinds act at once:
  ``expire_session`` (every live token answers 401 INVALID_SESSION_ID until a new login) and
  ``api_usage`` with ``value`` (calls used so far today). ``GET``/``DELETE /_sandbox/faults``
  list / disarm.
- ``POST /_sandbox/records/{T}`` (values as REST JSON, optionally ``CreatedDate``) inserts a row
  as another user would, read-only fields and objects included; ``PATCH
  /_sandbox/records/{T}/{id}`` changes one. Both answer with the id.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError
from .schema import ConversionError, convert
from .state import SandboxState
from .web import json_body, json_response

_STATUS_KINDS = {503: "server_unavailable", 500: "unknown_exception", 403: "concurrent_limit"}


def router(state: SandboxState) -> APIRouter:
    """The sandbox control routes over ``state``."""
    api = APIRouter(prefix="/_sandbox")
    org = state.org

    @api.get("/health")
    async def health() -> Response:
        """Liveness."""
        return json_response({"status": "ok", "organizationId": org.org_id})

    @api.get("/stats")
    async def stats() -> Response:
        """Call counts."""
        return json_response(state.stats.to_json())

    @api.post("/stats/reset")
    async def reset_stats() -> Response:
        """Zero the call counts."""
        state.stats.reset()
        return Response(status_code=204)

    @api.post("/faults")
    async def arm(request: Request) -> Response:
        """Arm a fault, or expire sessions / set API usage at once."""
        try:
            spec = await json_body(request)
            if not isinstance(spec, dict):
                raise ValueError("expected a JSON object")
            kind = str(spec.get("kind") or _STATUS_KINDS.get(int(spec.get("status") or 0), ""))
            if kind == "expire_session":
                state.expire_sessions()
                return json_response({"kind": kind, "applied": True}, 201)
            if kind == "api_usage":
                state.set_api_usage(int(spec["value"]))
                return json_response({"kind": kind, "applied": True, "value": state.api_usage}, 201)
            options = {k: spec.get(k) for k in ("path_prefix", "method", "delay_ms")}
            fault = state.faults.arm(kind, int(spec.get("count", 1)), **options)
        except (ApiError, KeyError, TypeError, ValueError) as exc:
            return json_response(
                [{"message": f"Invalid fault: {exc}", "errorCode": "INVALID"}], 400
            )
        return json_response(fault.to_json(), 201)

    @api.get("/faults")
    async def list_faults() -> Response:
        """Armed faults."""
        return json_response({"results": [f.to_json() for f in state.faults.faults]})

    @api.delete("/faults")
    async def clear_faults() -> Response:
        """Disarm all faults."""
        state.faults.clear()
        return Response(status_code=204)

    def values_of(sobject: str, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "expected a JSON object")
        out: dict[str, Any] = {}
        for key, raw in body.items():
            name = org.field_name(sobject, key)
            if name is None or name == "Id":
                raise ApiError(400, "INVALID_FIELD", f"No such column '{key}' on {sobject}")
            try:
                out[name] = convert(org.describes[sobject][name], raw)
            except ConversionError as exc:
                raise ApiError(400, "JSON_PARSER_ERROR", str(exc)) from None
        return out

    @api.post("/records/{sobject}")
    async def insert(sobject: str, request: Request) -> Response:
        """Insert a row directly."""
        try:
            name = org.sobject_name(sobject)
            if name is None:
                raise ApiError(404, "NOT_FOUND", f"unknown sObject type {sobject}")
            values = values_of(name, await json_body(request))
            created = values.pop("CreatedDate", None)
            record_id = org.insert(name, values, created=created)
        except ApiError as exc:
            return json_response(exc.body(), exc.status)
        return json_response({"id": record_id}, 201)

    @api.patch("/records/{sobject}/{record_id}")
    async def change(sobject: str, record_id: str, request: Request) -> Response:
        """Change a row directly (bumps SystemModstamp unless given)."""
        try:
            name = org.sobject_name(sobject)
            row = org.get(record_id)
            if name is None or row is None or org.sobject_for_id(record_id) != name:
                raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
            values = values_of(name, await json_body(request))
            when = values.pop("SystemModstamp", None)
            org.update(record_id, values, when=when)
        except (ApiError, KeyError) as exc:
            if isinstance(exc, ApiError):
                return json_response(exc.body(), exc.status)
            return json_response(
                [{"message": "entity is deleted", "errorCode": "ENTITY_IS_DELETED"}], 404
            )
        return json_response({"id": record_id})

    return api
