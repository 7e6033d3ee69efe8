"""HubSpot-shaped API errors.

Handlers raise :class:`ApiError`; the app renders it as HubSpot's JSON error body, adding the
``correlationId`` that every HubSpot response carries.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

DOCS_AUTH = "https://developers.hubspot.com/docs/methods/auth/oauth-overview"
SCOPES_LINK = "https://developers.hubspot.com/scopes"


def correlation_id() -> str:
    """A fresh correlation id (HubSpot uses UUIDs)."""
    return str(uuid.uuid4())


class ApiError(Exception):
    """An error response: HTTP status plus the error body without its correlation id."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}

    def render(self, correlation: str) -> dict[str, Any]:
        """The JSON body, with ``correlationId`` in HubSpot's key order."""
        out: dict[str, Any] = {"status": "error", "message": self.body.get("message", "")}
        out["correlationId"] = correlation
        for key, value in self.body.items():
            if key not in out:
                out[key] = value
        return out


def error(status: int, category: str, message: str, **extra: Any) -> ApiError:
    """A generic HubSpot error (``{status, message, correlationId, category, ...}``)."""
    return ApiError(status, {"status": "error", "message": message, "category": category, **extra})


def validation(message: str, **extra: Any) -> ApiError:
    """400 VALIDATION_ERROR."""
    return error(400, "VALIDATION_ERROR", message, **extra)


def not_found(object_id: str) -> ApiError:
    """404 for a single object read (the double space is HubSpot's own)."""
    return error(
        404,
        "OBJECT_NOT_FOUND",
        "Object not found.  objectId are usually numeric.",
        context={"id": [object_id]},
    )


def invalid_property_values(problems: list[dict[str, Any]], portal_id: int) -> ApiError:
    """400 for writes with unknown or malformed property values.

    HubSpot embeds the per-property problems as a JSON array *inside the message string*.
    """
    items = [
        {
            "isValid": False,
            "message": p["message"],
            "error": p["error"],
            "name": p["name"],
            "localizedErrorMessage": p["message"],
            "portalId": portal_id,
        }
        for p in problems
    ]
    return validation("Property values were not valid: " + json.dumps(items, separators=(",", ":")))


def missing_scopes(*scopes: str) -> ApiError:
    """403 MISSING_SCOPES, as sent when the token lacks (or no scope grants) an operation."""
    return error(
        403,
        "MISSING_SCOPES",
        "This app hasn't been granted all required scopes to make this call. "
        f"Read more about required scopes here: {SCOPES_LINK}.",
        errors=[
            {
                "message": "One or more of the following scopes are required.",
                "context": {"requiredGranularScopes": list(scopes)},
            }
        ],
        links={"scopes": SCOPES_LINK},
    )


def unauthorized() -> ApiError:
    """401 INVALID_AUTHENTICATION."""
    return error(
        401,
        "INVALID_AUTHENTICATION",
        "Authentication credentials not found. This API supports OAuth 2.0 authentication and "
        f"you can find more details at {DOCS_AUTH}",
    )


def already_exists(message: str) -> ApiError:
    """409 OBJECT_ALREADY_EXISTS (properties, groups)."""
    return error(409, "OBJECT_ALREADY_EXISTS", message)
