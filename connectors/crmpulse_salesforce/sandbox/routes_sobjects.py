"""sObject REST resources under ``/services/data/v{v}/sobjects``.

``GET sobjects`` (describe global), ``GET|POST sobjects/{T}`` (basic info / create -> 201),
``GET sobjects/{T}/describe``, ``GET sobjects/{T}/updated|deleted?start=&end=``,
``GET|PATCH|DELETE sobjects/{T}/{id}`` (``?fields=``; 204 on writes) and
``GET|PATCH|DELETE sobjects/{T}/{ExtField}/{value}`` (upsert: 201 created / 200 updated,
300 on several matches).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request, Response

from .describe import basic_info, describe, describe_global
from .errors import ApiError, RecordError, not_found
from .org import Org
from .query import format_value
from .schema import ConversionError, convert
from .state import SandboxState
from .web import add_route, api_route, json_body, json_response
from .writes import Writer, is_id, single


def record_url(version: str, sobject: str, record_id: str) -> str:
    """``/services/data/v{version}/sobjects/{sobject}/{id}``."""
    return f"/services/data/v{version}/sobjects/{sobject}/{record_id}"


def select_fields(org: Org, sobject: str, names: Iterable[str] | None) -> list[str]:
    """Canonical names of the requested fields (all visible ones when None); 400 INVALID_FIELD
    for an unknown or hidden one."""
    hidden, _ = org.field_access(sobject)
    if names is None:
        return [f for f in org.describes[sobject] if f not in hidden]
    out = []
    for raw in names:
        name = org.field_name(sobject, raw.strip())
        if name is None or name in hidden:
            raise ApiError(
                400,
                "INVALID_FIELD",
                f"No such column '{raw.strip()}' on entity '{sobject}'. If you are attempting to "
                "use a custom field, be sure to append the '__c' after the custom field name. "
                "Please reference your WSDL or the describe call for the appropriate names.",
            )
        out.append(name)
    return out


def render(
    sobject: str, row: Mapping[str, Any], version: str, fields: Iterable[str]
) -> dict[str, Any]:
    """A record as the REST API returns it: ``attributes`` then the fields."""
    out: dict[str, Any] = {
        "attributes": {"type": sobject, "url": record_url(version, sobject, row["Id"])}
    }
    for name in fields:
        out[name] = format_value(row.get(name))
    return out


def fields_param(request: Request) -> list[str] | None:
    """The ``?fields=A,B`` list, or None."""
    raw = request.query_params.get("fields")
    return [f for f in raw.split(",") if f.strip()] if raw else None


async def body_object(request: Request) -> dict[str, Any]:
    """The JSON object body of a write."""
    body = await json_body(request)
    if not isinstance(body, dict):
        kind = "START_ARRAY" if isinstance(body, list) else "VALUE"
        raise ApiError(
            400,
            "JSON_PARSER_ERROR",
            f"Cannot deserialize instance of SObject from {kind} value or request may be "
            "missing a required field",
        )
    return body


def _window(request: Request) -> tuple[datetime, datetime]:
    try:
        start = convert("datetime", request.query_params.get("start"))
        end = convert("datetime", request.query_params.get("end"))
    except ConversionError:
        start = end = None
    if start is None or end is None:
        raise ApiError(400, "MALFORMED_QUERY", "start and end must be valid dateTime values")
    return start, end


def router(state: SandboxState) -> APIRouter:
    """The sObject REST routes over ``state``."""
    api = APIRouter()
    org = state.org
    base = "/services/data/v{version}/sobjects"

    def found_type(name: str) -> str:
        canonical = org.sobject_name(name)
        if canonical is None:
            raise not_found()
        return canonical

    async def global_describe(request: Request, version: str) -> Response:
        return json_response(describe_global(org, version))

    async def sobject_root(request: Request, version: str, sobject: str) -> Response:
        name = found_type(sobject)
        if request.method == "GET":
            return json_response(basic_info(org, name, version))
        values = Writer(org).parse(name, await body_object(request))
        try:
            record_id = Writer(org).create(name, values)
        except RecordError as exc:
            raise single(exc) from None
        return json_response({"id": record_id, "success": True, "errors": []}, 201)

    async def sobject_describe(request: Request, version: str, sobject: str) -> Response:
        return json_response(describe(org, found_type(sobject), version))

    async def record(request: Request, version: str, sobject: str, record_id: str) -> Response:
        name = found_type(sobject)
        if request.method == "GET" and record_id in ("updated", "deleted"):
            return json_response(_changes(org, name, record_id, *_window(request)))
        writer = Writer(org)
        if request.method == "PATCH":
            values = writer.parse(name, await body_object(request))
            try:
                writer.update(name, record_id, values)
            except RecordError as exc:
                raise single(exc) from None
            return Response(status_code=204)
        if request.method == "DELETE":
            try:
                writer.delete(record_id, name)
            except RecordError as exc:
                raise single(exc) from None
            return Response(status_code=204)
        row = org.get(record_id) if is_id(record_id) else None
        if row is None or row["IsDeleted"] or org.sobject_for_id(record_id) != name:
            raise not_found()
        names = select_fields(org, name, fields_param(request))
        return json_response(render(name, row, version, names))

    async def by_external_id(
        request: Request, version: str, sobject: str, field: str, value: str
    ) -> Response:
        name = found_type(sobject)
        writer = Writer(org)
        key_field = writer.external_field(name, field)
        try:
            key = convert(org.describes[name][key_field], value) if value else None
        except ConversionError as exc:
            raise ApiError(400, "JSON_PARSER_ERROR", str(exc)) from None
        if request.method == "PATCH":
            values = writer.parse(name, await body_object(request))
            update_only = request.query_params.get("updateOnly", "").lower() == "true"
            if update_only and not (key_field == "Id" or org.find_by(name, key_field, key)):
                raise not_found()
            try:
                record_id, created = writer.upsert(name, key_field, key, values)
            except LookupError as exc:
                return json_response([record_url(version, name, i) for i in exc.args[0]], 300)
            except RecordError as exc:
                raise single(exc) from None
            body = {"id": record_id, "success": True, "errors": [], "created": created}
            return json_response(body, 201 if created else 200)
        matches = [key] if key_field == "Id" else org.find_by(name, key_field, key)
        rows = [org.get(str(m)) for m in matches]
        live = [r for r in rows if r is not None and not r["IsDeleted"]]
        if not live:
            raise not_found()
        if len(live) > 1:
            return json_response([record_url(version, name, r["Id"]) for r in live], 300)
        if request.method == "DELETE":
            writer.delete(live[0]["Id"], name)
            return Response(status_code=204)
        names = select_fields(org, name, fields_param(request))
        return json_response(render(name, live[0], version, names))

    add_route(api, base, api_route(state, global_describe), ["GET"])
    add_route(api, f"{base}/{{sobject}}", api_route(state, sobject_root), ["GET", "POST"])
    add_route(api, f"{base}/{{sobject}}/describe", api_route(state, sobject_describe), ["GET"])
    add_route(
        api,
        f"{base}/{{sobject}}/{{record_id}}",
        api_route(state, record),
        ["GET", "PATCH", "DELETE"],
    )
    add_route(
        api,
        f"{base}/{{sobject}}/{{field}}/{{value}}",
        api_route(state, by_external_id),
        ["GET", "PATCH", "DELETE"],
    )
    return api


MAX_CHANGED_IDS = 600_000
"""Ids the updated / deleted resources return at most (EXCEEDED_ID_LIMIT beyond)."""


def _minute(value: datetime) -> datetime:
    return value.replace(second=0, microsecond=0)


def _changes(org: Org, sobject: str, kind: str, start: datetime, end: datetime) -> Any:
    """``sobjects/{T}/updated`` or ``/deleted`` over ``[start, end)``, seconds ignored as
    Salesforce does. ``updated`` lists live rows by ``SystemModstamp`` (created, changed or
    undeleted); ``deleted`` lists recycle-bin rows with their ``deletedDate``. Purged rows are
    gone from both; ``earliestDateAvailable`` is the last purge of the type (the window start
    when nothing was purged)."""
    start, end = _minute(start), _minute(end)
    if start >= end:
        raise ApiError(
            400,
            "INVALID_REPLICATION_DATE",
            "startDate must chronologically precede endDate by more than one minute",
        )
    covered = format_value(end)
    if kind == "updated":
        ids = [r["Id"] for r in org.scan(sobject) if start <= r["SystemModstamp"] < end]
        _check_count(len(ids))
        return {"ids": ids, "latestDateCovered": covered}
    deleted = [
        {"id": r["Id"], "deletedDate": format_value(r["SystemModstamp"])}
        for r in org.scan(sobject, include_deleted=True)
        if r["IsDeleted"] and start <= r["SystemModstamp"] < end
    ]
    _check_count(len(deleted))
    purged = org.purged.get(sobject)
    return {
        "deletedRecords": deleted,
        "earliestDateAvailable": format_value(purged if purged is not None else start),
        "latestDateCovered": covered,
    }


def _check_count(count: int) -> None:
    if count > MAX_CHANGED_IDS:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"Too many ids: more than {MAX_CHANGED_IDS} records changed in the time span; "
            "choose start and end dates closer together",
        )
