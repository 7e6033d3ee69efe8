"""The FastAPI application: HubSpot's CRM API paths over a :class:`Portal`.

Every API call passes one gate, in this order: fault injection, bearer-token check, rate limits,
the handler; then the ``X-HubSpot-Correlation-Id`` header, the rate-limit headers (not on search,
as in HubSpot) and the call count. ``/_sandbox/*`` paths are the emulator's own control surface:
they need no token, are not rate-limited and are not counted.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.routing import APIRoute

from . import errors
from .catalog import ObjectType, resolve
from .changes import acting_as
from .delivery import RetryPolicy
from .faults import FaultInjector, fault_error
from .limits import RateLimiter, RateLimits
from .portal import Portal
from .scenario import ScenarioRunner
from .stats import CallStats
from .views import json_response
from .webhooks import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY, Webhooks

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "sandbox-token"
"""The bearer token a sandbox accepts unless told otherwise."""

_PARAM = re.compile(r"\{([^}]+)\}")
_TYPE_PARAMS = frozenset({"object_type", "from_type", "to_type"})

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


class SandboxState:
    """What the routes share: the portal, the token, limits, faults, call counts, the app's
    webhooks and the scenario clock."""

    def __init__(
        self,
        portal: Portal,
        *,
        token: str = DEFAULT_TOKEN,
        limits: RateLimits | None = None,
        clock: Callable[[], float] = time.time,
        app_id: int = DEFAULT_APP_ID,
        developer_key: str = DEFAULT_DEVELOPER_KEY,
        client_secret: str | None = None,
        retry: RetryPolicy | None = None,
        world: Any = None,
    ):
        self.portal = portal
        self.token = token
        self.limiter = RateLimiter(limits, clock)
        self.faults = FaultInjector()
        self.stats = CallStats()
        self.webhooks = Webhooks(
            portal.portal_id,
            app_id=app_id,
            developer_key=developer_key,
            client_secret=client_secret,
            policy=retry,
            now=portal.now,
        )
        portal.on_change = self.webhooks.record
        world = world if world is not None else portal.world
        self.scenario = ScenarioRunner(portal, world) if world is not None else None

    async def gate(self, request: Request, template: str, handler: Handler) -> Response:
        """Run one API call through faults, auth and limits; render errors HubSpot's way."""
        correlation = errors.correlation_id()
        method = request.method
        search = template.endswith("/search")
        limit_headers: dict[str, str] = {}
        try:
            fault = self.faults.take(method, request.url.path)
            if fault is not None:
                if fault.delay_ms:
                    await asyncio.sleep(fault.delay_ms / 1000)
                if fault.status:
                    raise fault_error(fault)
            if request.headers.get("authorization") != f"Bearer {self.token}":
                raise errors.unauthorized()
            limit_headers = self.limiter.admit(self.token, search=search)
            # Writes made with the app's token are the integration's, not a person's.
            with acting_as("INTEGRATION", str(self.webhooks.app_id)):
                response = await handler(request)
        except errors.ApiError as exc:
            response = json_response(exc.render(correlation), exc.status)
            response.headers.update(exc.headers)
        except Exception:
            log.exception("sandbox handler failed: %s %s", method, request.url.path)
            response = json_response(
                {
                    "status": "error",
                    "message": "internal error",
                    "correlationId": correlation,
                    "category": "INTERNAL_ERROR",
                },
                500,
            )
        response.headers.update(limit_headers)
        response.headers["X-HubSpot-Correlation-Id"] = correlation
        route = route_name(template, request.path_params, self.portal.find_type)
        self.stats.record(method, route, response.status_code)
        return response


def route_name(
    template: str,
    params: dict[str, Any],
    find: Callable[[str], ObjectType | None] = resolve,
) -> str:
    """``/crm/v3/objects/{object_type}/{object_id}`` -> ``/crm/v3/objects/tickets/{id}``.

    Custom objects are named by their fully qualified name (``p<portal>_<name>``).
    """

    def sub(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in _TYPE_PARAMS:
            value = str(params.get(name, name))
            otype = find(value)
            return otype.name if otype else value
        return "{id}"

    return _PARAM.sub(sub, template)


class GatedRoute(APIRoute):
    """An API route whose handler runs behind :meth:`SandboxState.gate`."""

    def get_route_handler(self) -> Handler:
        inner = super().get_route_handler()
        template = self.path

        async def handler(request: Request) -> Response:
            state: SandboxState = request.app.state.sandbox
            return await state.gate(request, template, inner)

        return handler


def create_app(
    portal: Portal,
    *,
    token: str = DEFAULT_TOKEN,
    limits: RateLimits | None = None,
    clock: Callable[[], float] = time.time,
    app_id: int = DEFAULT_APP_ID,
    developer_key: str = DEFAULT_DEVELOPER_KEY,
    client_secret: str | None = None,
    retry: RetryPolicy | None = None,
    world: Any = None,
) -> FastAPI:
    """The HubSpot emulator app for one portal.

    ``app_id``, ``developer_key`` and ``client_secret`` identify the app whose webhooks the
    emulator delivers; ``retry`` paces the deliveries; ``world`` (default: the world the portal
    was built from) drives ``POST /_sandbox/scenario/advance``.
    """
    from . import (
        routes_associations,
        routes_meta,
        routes_objects,
        routes_sandbox,
        routes_scenario,
        routes_schemas,
        routes_webhooks,
    )

    app = FastAPI(title="HubSpot sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.sandbox = SandboxState(
        portal,
        token=token,
        limits=limits,
        clock=clock,
        app_id=app_id,
        developer_key=developer_key,
        client_secret=client_secret,
        retry=retry,
        world=world,
    )
    app.include_router(routes_sandbox.router)
    app.include_router(routes_scenario.router)
    app.include_router(routes_webhooks.router)
    app.include_router(routes_webhooks.management)
    app.include_router(routes_meta.router)
    app.include_router(routes_schemas.router)
    app.include_router(routes_associations.router)
    app.include_router(routes_objects.router)
    return app


def state_of(request: Request) -> SandboxState:
    """The sandbox state behind a request."""
    state: SandboxState = request.app.state.sandbox
    return state
