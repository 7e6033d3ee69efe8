"""HTTP plumbing shared by the emulator's routers: the API call wrapper (session, allocation,
faults, counting, error rendering, ``Sforce-Limit-Info``), JSON helpers and route registration
with and without a trailing slash (simple-salesforce sends both spellings)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .errors import ApiError, json_parser_error
from .soql_parse import SoqlError
from .state import CALL_FAULTS, SandboxState

Handler = Callable[[Request], Awaitable[Response]]
"""An API route's body: request in, response out (errors raised as :class:`ApiError`)."""


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A JSON response."""
    return JSONResponse(body, status_code=status, headers=headers)


def base_url(request: Request) -> str:
    """``scheme://host:port`` the client used."""
    return f"{request.url.scheme}://{request.url.netloc}"


async def json_body(request: Request) -> Any:
    """The request's JSON body; 400 JSON_PARSER_ERROR when it does not parse."""
    raw = await request.body()
    try:
        return json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        line, column = getattr(exc, "lineno", 1), getattr(exc, "colno", 1)
        raise json_parser_error(
            f"Unexpected character: {getattr(exc, 'msg', 'invalid')} at "
            f"[line:{line}, column:{column}]"
        ) from None


def add_route(
    router: APIRouter, path: str, endpoint: Callable[..., Any], methods: Sequence[str]
) -> None:
    """Register ``endpoint`` at ``path`` and at ``path + "/"``."""
    for suffix in ("", "/"):
        router.add_api_route(path + suffix, endpoint, methods=list(methods))


def route_of(request: Request) -> str:
    """The matched route template for call statistics, with the sObject type filled in."""
    route = request.scope.get("route")
    path = str(getattr(route, "path", request.url.path))
    sobject = request.path_params.get("sobject")
    if sobject is not None:
        path = path.replace("{sobject}", str(sobject))
    return path.rstrip("/") or "/"


async def api_call(state: SandboxState, request: Request, handler: Handler) -> Response:
    """Run one REST API call: check the session and the daily allocation, apply an armed fault,
    count the call, render errors as Salesforce does, stamp ``Sforce-Limit-Info`` and record
    the call in the statistics."""
    try:
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not state.token_ok(auth[7:]):
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        state.check_allocation()
        fault = state.faults.take_call(request.method, request.url.path)
        if fault is not None:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            if fault.kind in CALL_FAULTS:
                status, code, message = CALL_FAULTS[fault.kind]
                raise ApiError(status, code, message)
        state.count_call()
        response = await handler(request)
    except ApiError as exc:
        response = json_response(exc.body(), exc.status)
    except SoqlError as exc:
        response = json_response([{"message": exc.message, "errorCode": exc.code}], 400)
    response.headers["Sforce-Limit-Info"] = f"api-usage={state.api_usage}/{state.api_limit}"
    state.stats.record(request.method, route_of(request), response.status_code)
    return response


def api_route(state: SandboxState, handler: Callable[..., Awaitable[Response]]) -> Any:
    """Wrap ``handler(request, **path_params)`` as a route endpoint run through :func:`api_call`.

    The endpoint takes the request and the path parameters as strings.
    """

    async def endpoint(request: Request) -> Response:
        async def run(request: Request) -> Response:
            return await handler(request, **request.path_params)

        return await api_call(state, request, run)

    endpoint.__name__ = handler.__name__
    endpoint.__doc__ = handler.__doc__
    return endpoint
