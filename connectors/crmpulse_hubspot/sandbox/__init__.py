"""A faithful local emulator of the HubSpot CRM API, for the real ``hubspot-api-client``.

Serves a :class:`Portal` (built from normalized records) over HTTP on 127.0.0.1 with HubSpot's
paths, status codes, JSON shapes, paging, limits, error bodies and rate-limit headers; delivers
signed webhooks for every change to a target configured through HubSpot's webhooks management API;
plus a small ``/_sandbox`` control surface (call stats, fault injection, record injection, webhook
shortcuts and delivery counts, the scenario clock, search-index lag).

    portal = Portal.from_records(records)
    with SandboxServer(portal) as server:
        client = hubspot.HubSpot(access_token=server.token, host=server.base_url)
"""

from __future__ import annotations

from .app import DEFAULT_TOKEN, create_app
from .delivery import RetryPolicy
from .limits import RateLimits
from .portal import DEFAULT_PORTAL_ID, Portal, StoredObject
from .server import SandboxServer, build_portal, running, serve, serve_forever
from .webhooks import DEFAULT_APP_ID, DEFAULT_DEVELOPER_KEY

__all__ = [
    "DEFAULT_APP_ID",
    "DEFAULT_DEVELOPER_KEY",
    "DEFAULT_PORTAL_ID",
    "DEFAULT_TOKEN",
    "Portal",
    "RateLimits",
    "RetryPolicy",
    "SandboxServer",
    "StoredObject",
    "build_portal",
    "create_app",
    "running",
    "serve",
    "serve_forever",
]
