"""Webhooks: HubSpot's management API for the emulated app, and the emulator's shortcuts.

Management API (developer key in ``?hapikey=``, as ``hubspot.HubSpot(api_key=...).webhooks``
sends it; 401 without it, 404 for another app id):

- ``GET/PUT/DELETE /webhooks/v3/{appId}/settings``, body ``{targetUrl, throttling:
  {maxConcurrentRequests}}`` (at least 5; the target must be on 127.0.0.1 / localhost);
- ``GET/POST /webhooks/v3/{appId}/subscriptions``, ``GET/PATCH/DELETE .../subscriptions/{id}``,
  ``POST .../subscriptions/batch/update`` (``{inputs: [{id, active}]}``).

Shortcuts (no key):

- ``POST /_sandbox/webhooks`` ``{"targetUrl", "clientSecret"?, "maxConcurrentRequests"?,
  "subscriptions"?: [{"eventType", "propertyName"?, "objectTypeId"?}]}``: settings, secret and
  subscriptions (default: every creation / deletion / propertyChange / associationChange / merge /
  restore of contacts, companies, deals and tickets, and feedback submissions through
  ``object.*``) in one call, replacing the previous subscriptions; answers the configuration.
- ``GET /_sandbox/webhooks``: the configuration (the secret is never shown).
- ``GET /_sandbox/webhooks/deliveries``: ``{sent, succeeded, failed, delivered, dropped, pending,
  inFlight, retriesScheduled, attempts}``: POSTs made / answered 2xx / failed, events delivered /
  given up / waiting, and the last 50 attempts ``{batchId, attemptNumber, events, status, error,
  outcome: delivered|retry|dropped, retryInSeconds (unscaled), durationMs, at}``; ``DELETE``
  forgets queued events, scheduled retries and counts.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from . import errors
from .app import state_of
from .values import iso
from .views import json_body, json_response
from .webhooks import DEFAULT_MAX_CONCURRENT, DEFAULT_SUBSCRIPTIONS, Webhooks

router = APIRouter(prefix="/_sandbox/webhooks")
management = APIRouter(prefix="/webhooks/v3/{app_id}")


async def _managed(
    request: Request, app_id: str, call: Callable[[Webhooks], Awaitable[Response]]
) -> Response:
    """Check the developer key and the app id, then run ``call``; errors in HubSpot's shape."""
    hooks = state_of(request).webhooks
    try:
        if request.query_params.get("hapikey") != hooks.developer_key:
            raise errors.unauthorized()
        if app_id != str(hooks.app_id):
            # [UNVERIFIED exact wording]
            raise errors.error(404, "OBJECT_NOT_FOUND", f"App {app_id} not found.")
        return await call(hooks)
    except errors.ApiError as exc:
        return json_response(exc.render(errors.correlation_id()), exc.status)


def _throttling(body: Any) -> Any:
    throttling = body.get("throttling") if isinstance(body, dict) else None
    if not isinstance(throttling, dict):
        raise errors.validation("throttling is required.")
    return throttling.get("maxConcurrentRequests")


@management.get("/settings")
async def get_settings(app_id: str, request: Request) -> Response:
    """The app's webhook settings; 404 when none are set."""

    async def call(hooks: Webhooks) -> Response:
        if hooks.settings is None:
            raise errors.error(404, "OBJECT_NOT_FOUND", "No webhook settings for this app.")
        return json_response(hooks.settings.to_json())

    return await _managed(request, app_id, call)


@management.put("/settings")
async def put_settings(app_id: str, request: Request) -> Response:
    """Set the target URL and throttling."""

    async def call(hooks: Webhooks) -> Response:
        body = await json_body(request)
        target = body.get("targetUrl") if isinstance(body, dict) else None
        return json_response(hooks.configure(target, _throttling(body)).to_json())

    return await _managed(request, app_id, call)


@management.delete("/settings")
async def delete_settings(app_id: str, request: Request) -> Response:
    """Remove the settings: 204."""

    async def call(hooks: Webhooks) -> Response:
        hooks.clear()
        return Response(status_code=204)

    return await _managed(request, app_id, call)


@management.get("/subscriptions")
async def list_subscriptions(app_id: str, request: Request) -> Response:
    """Every subscription."""

    async def call(hooks: Webhooks) -> Response:
        return json_response({"results": [s.to_json() for s in hooks.subscriptions.values()]})

    return await _managed(request, app_id, call)


@management.post("/subscriptions")
async def create_subscription(app_id: str, request: Request) -> Response:
    """Add a subscription: 201."""

    async def call(hooks: Webhooks) -> Response:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise errors.validation("Body must be an object.")
        sub = hooks.subscribe(
            body.get("eventType"),
            property_name=body.get("propertyName"),
            object_type_id=body.get("objectTypeId"),
            active=body.get("active", True),
        )
        return json_response(sub.to_json(), 201)

    return await _managed(request, app_id, call)


@management.post("/subscriptions/batch/update")
async def batch_update(app_id: str, request: Request) -> Response:
    """Pause or resume several subscriptions."""

    async def call(hooks: Webhooks) -> Response:
        started = iso(state_of(request).portal.now())
        body = await json_body(request)
        inputs = body.get("inputs") if isinstance(body, dict) else None
        if not isinstance(inputs, list):
            raise errors.validation("inputs must be a list.")
        results = [
            hooks.set_active(str(item.get("id", "")), item.get("active")).to_json()
            for item in inputs
        ]
        completed = iso(state_of(request).portal.now())
        return json_response(
            {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": completed,
            }
        )

    return await _managed(request, app_id, call)


@management.get("/subscriptions/{subscription_id}")
async def get_subscription(app_id: str, subscription_id: str, request: Request) -> Response:
    """One subscription."""

    async def call(hooks: Webhooks) -> Response:
        return json_response(hooks.subscription(subscription_id).to_json())

    return await _managed(request, app_id, call)


@management.patch("/subscriptions/{subscription_id}")
async def patch_subscription(app_id: str, subscription_id: str, request: Request) -> Response:
    """Pause or resume one subscription."""

    async def call(hooks: Webhooks) -> Response:
        body = await json_body(request)
        active = body.get("active") if isinstance(body, dict) else None
        return json_response(hooks.set_active(subscription_id, active).to_json())

    return await _managed(request, app_id, call)


@management.delete("/subscriptions/{subscription_id}")
async def delete_subscription(app_id: str, subscription_id: str, request: Request) -> Response:
    """Delete one subscription: 204."""

    async def call(hooks: Webhooks) -> Response:
        hooks.unsubscribe(subscription_id)
        return Response(status_code=204)

    return await _managed(request, app_id, call)


# ------------------------------------------------------------------------ shortcuts
def _configuration(hooks: Webhooks) -> dict[str, Any]:
    return {
        "appId": hooks.app_id,
        "settings": hooks.settings.to_json() if hooks.settings else None,
        "clientSecretSet": bool(hooks.client_secret),
        "subscriptions": [s.to_json() for s in hooks.subscriptions.values()],
    }


@router.post("")
async def configure(request: Request) -> Response:
    """Target URL, client secret and subscriptions in one call."""
    hooks = state_of(request).webhooks
    try:
        body = await json_body(request)
        if not isinstance(body, dict):
            raise errors.validation("Body must be an object.")
        hooks.configure(
            body.get("targetUrl"), body.get("maxConcurrentRequests", DEFAULT_MAX_CONCURRENT)
        )
        if body.get("clientSecret"):
            hooks.client_secret = str(body["clientSecret"])
        wanted = body.get("subscriptions")
        if wanted is None:
            wanted = [{"eventType": e, "objectTypeId": t} for e, t in DEFAULT_SUBSCRIPTIONS]
        if not isinstance(wanted, list) or not all(isinstance(w, dict) for w in wanted):
            raise errors.validation("subscriptions must be a list of objects.")
        hooks.subscriptions.clear()
        for item in wanted:
            hooks.subscribe(
                item.get("eventType"),
                property_name=item.get("propertyName"),
                object_type_id=item.get("objectTypeId"),
                active=item.get("active", True),
            )
    except errors.ApiError as exc:
        return json_response(exc.render(errors.correlation_id()), exc.status)
    return json_response(_configuration(hooks))


@router.get("")
async def configuration(request: Request) -> Response:
    """The app's webhook configuration."""
    return json_response(_configuration(state_of(request).webhooks))


@router.get("/deliveries")
async def deliveries(request: Request) -> Response:
    """Delivery counts and the last attempts."""
    return json_response(state_of(request).webhooks.delivery.report())


@router.delete("/deliveries")
async def reset_deliveries(request: Request) -> Response:
    """Forget queued events, scheduled retries and counts."""
    state_of(request).webhooks.delivery.reset()
    return Response(status_code=204)
