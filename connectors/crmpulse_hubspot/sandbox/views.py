"""JSON shapes of CRM objects (``SimplePublicObject[WithAssociations]``) and request helpers."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from fastapi import Request, Response

from . import errors
from .catalog import ObjectType, resolve, v3_type_name
from .values import parse_bool

if TYPE_CHECKING:
    from .portal import Portal, StoredObject


def json_response(body: Any, status: int = 200) -> Response:
    """A compact JSON response."""
    return Response(
        json.dumps(body, separators=(",", ":")), status_code=status, media_type="application/json"
    )


async def json_body(request: Request) -> Any:
    """The parsed JSON body; ``{}`` when empty; 400 when malformed."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise errors.validation(f"Invalid input JSON: {exc}") from None


def multi(request: Request, name: str) -> list[str] | None:
    """A list query parameter, repeated (``a=1&a=2``) or comma-separated (``a=1,2``)."""
    raw = request.query_params.getlist(name)
    if not raw:
        return None
    return [part.strip() for item in raw for part in item.split(",") if part.strip()]


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter; the SDK sends ``True``/``False``."""
    return parse_bool(request.query_params.get(name))


def int_param(request: Request, name: str, default: int) -> int:
    """An integer query parameter; 400 when not an integer."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.validation(f"{name} must be an integer; got {raw!r}.") from None


def encode_cursor(object_id: int) -> str:
    """An opaque list cursor in HubSpot's style: url-encoded base64 of ``"<id>\\n"``."""
    token = base64.b64encode(f"{object_id}\n".encode()).decode()
    return token.replace("=", "%3D")


def decode_cursor(after: str | None) -> int | None:
    """The id a list page starts at; accepts our cursors (encoded once or twice) and plain ids."""
    if not after:
        return None
    text = after
    for _ in range(3):
        if "%" not in text:
            break
        text = unquote(text)
    if text.strip().isdigit():
        return int(text)
    try:
        decoded = base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.isdigit():
        raise errors.validation(f"Invalid paging cursor: {after}")
    return int(decoded)


def property_names(portal: Portal, otype: ObjectType, requested: Sequence[str] | None) -> list[str]:
    """Properties a response carries: the defaults, or the requested ones that exist plus the
    id / created / modified properties HubSpot always adds. Unknown names are ignored."""
    defined = portal.properties.names(otype.name)
    if requested is None:
        return [p for p in otype.defaults if p in defined]
    names = dict.fromkeys(p for p in requested if p in defined)
    for always in (otype.created_property, otype.modified_property, "hs_object_id"):
        names.setdefault(always, None)
    return list(names)


class Renderer:
    """Renders objects of one type for one request."""

    def __init__(
        self,
        portal: Portal,
        otype: ObjectType,
        properties: Sequence[str] | None,
        *,
        history: Sequence[str] | None = None,
        associations: Sequence[str] | None = None,
    ):
        self.portal = portal
        self.otype = otype
        self.names = property_names(portal, otype, properties)
        defined = portal.properties.names(otype.name)
        self.history = [p for p in history if p in defined] if history else None
        resolved = [(a, resolve(a)) for a in associations or ()]
        self.associations = [(key, t.name) for key, t in resolved if t is not None]

    def one(self, obj: StoredObject) -> dict[str, Any]:
        """The JSON of one object."""
        props = obj.props
        body: dict[str, Any] = {
            "id": str(obj.id),
            "properties": {n: props.get(n) for n in self.names},
            "createdAt": obj.created,
            "updatedAt": obj.updated,
            "archived": obj.archived_at is not None,
        }
        if obj.archived_at is not None:
            body["archivedAt"] = obj.archived_at
        if self.history is not None:
            # One version per property: the emulator keeps current values only.
            body["propertiesWithHistory"] = {
                n: (
                    [
                        {
                            "value": props[n],
                            "timestamp": obj.updated,
                            "sourceType": "API",
                            "sourceId": None,
                            "updatedByUserId": None,
                        }
                    ]
                    if props.get(n)
                    else []
                )
                for n in self.history
            }
        if self.associations:
            assoc = self._associations(obj)
            if assoc:
                body["associations"] = assoc
        return body

    def many(self, objs: Iterable[StoredObject]) -> list[dict[str, Any]]:
        """The JSON of several objects."""
        return [self.one(o) for o in objs]

    def _associations(self, obj: StoredObject) -> dict[str, Any]:
        out: dict[str, Any] = {}
        store = self.portal.associations
        for key, to_type in self.associations:
            live = self.portal.table(to_type).active
            results = [
                {"id": str(to_id), "type": v3_type_name(self.otype.name, to_type, type_id)}
                for to_id, type_ids in sorted(
                    store.targets(self.otype.name, obj.id, to_type).items()
                )
                if to_id in live
                for type_id in type_ids
            ]
            if results:  # HubSpot leaves out object types with no associations
                out[key] = {"results": results}
        return out
