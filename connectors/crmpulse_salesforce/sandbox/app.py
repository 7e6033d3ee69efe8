"""The FastAPI application emulating a Salesforce org's REST API over an :class:`Org`.

Routers, one per concept: :mod:`.auth` (OAuth and SOAP login), :mod:`.routes_query` (query,
queryAll, queryMore, limits), :mod:`.routes_sobjects` (describe and single-record CRUD and
upsert), :mod:`.routes_composite` (sObject Collections), :mod:`.routes_tooling` (custom fields
and objects), :mod:`.routes_sandbox` (stats, faults, direct inserts), :mod:`.routes_outbound`
(outbound messages), :mod:`.routes_lifecycle` (delete, undelete, purge, merge) and
:mod:`.routes_scenario` (a world moving forward). API calls go through
:func:`api_call`: they need ``Authorization: Bearer <token>``, are counted against the daily
allocation, carry ``Sforce-Limit-Info: api-usage=N/M`` and fail with Salesforce's JSON array
error bodies.
"""

from __future__ import annotations

from fastapi import FastAPI

from . import (
    auth,
    bulk,
    routes_composite,
    routes_lifecycle,
    routes_outbound,
    routes_query,
    routes_sandbox,
    routes_scenario,
    routes_sobjects,
    routes_tooling,
)
from .errors import ApiError
from .state import (
    DEFAULT_CONSUMER_KEY,
    DEFAULT_CONSUMER_SECRET,
    DEFAULT_PASSWORD,
    DEFAULT_TOKEN,
    DEFAULT_USERNAME,
    USER_ID,
    Cursor,
    SandboxState,
)
from .web import Handler, api_call, base_url, json_response

_json = json_response
_base_url = base_url

__all__ = [
    "DEFAULT_CONSUMER_KEY",
    "DEFAULT_CONSUMER_SECRET",
    "DEFAULT_PASSWORD",
    "DEFAULT_TOKEN",
    "DEFAULT_USERNAME",
    "USER_ID",
    "ApiError",
    "Cursor",
    "Handler",
    "SandboxState",
    "api_call",
    "create_app",
]


def create_app(state: SandboxState) -> FastAPI:
    """Build the app serving ``state``'s org."""
    app = FastAPI(title="Salesforce sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.sandbox = state
    app.include_router(auth.router(state))
    app.include_router(routes_query.router(state))
    app.include_router(routes_sobjects.router(state))
    app.include_router(routes_composite.router(state))
    app.include_router(routes_tooling.router(state))
    app.include_router(routes_sandbox.router(state))
    app.include_router(routes_outbound.router(state))
    app.include_router(routes_lifecycle.router(state))
    app.include_router(routes_scenario.router(state))
    app.include_router(bulk.router(state))
    return app
