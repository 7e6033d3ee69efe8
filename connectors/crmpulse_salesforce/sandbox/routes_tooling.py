"""Tooling API: custom fields and objects under ``/services/data/v{v}/tooling``.

``POST tooling/sobjects/CustomField`` ``{"FullName": "Account.NPS__c", "Metadata": {...}}`` and
``POST tooling/sobjects/CustomObject`` ``{"FullName": "KPI__c", "Metadata": {...}}`` answer 201
``{"id", "success", "errors", "warnings", "infos"}`` (400 DUPLICATE_DEVELOPER_NAME when the name
is taken, FIELD_INTEGRITY_EXCEPTION for incomplete metadata); ``GET|PATCH
tooling/sobjects/{T}/{id}`` reads (with ``FullName`` and ``Metadata``) or updates one;
``GET tooling/query?q=`` runs SOQL over the CustomField / CustomObject rows. New fields join the
describes at once, secured until a FieldPermissions row grants them.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError, not_found
from .org import Org
from .query import QueryRunner, format_value
from .routes_query import batch_size, page
from .schema import FieldInfo, ObjectInfo, custom_field, label_of
from .state import SandboxState
from .web import add_route, api_route, json_body, json_response


def _integrity(message: str) -> ApiError:
    return ApiError(400, "FIELD_INTEGRITY_EXCEPTION", message, [])


def _created(record_id: str) -> Response:
    body = {"id": record_id, "success": True, "errors": [], "warnings": [], "infos": []}
    return json_response(body, 201)


def _payload(body: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    full_name = str(body.get("FullName") or "")
    meta = body.get("Metadata")
    if not full_name or not isinstance(meta, dict):
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [FullName]")
    return full_name, dict(meta)


def create_field(org: Org, full_name: str, meta: dict[str, Any]) -> str:
    """Add custom field ``Object.Name__c`` from Tooling ``meta``; returns the CustomField id."""
    owner, _, field = full_name.partition(".")
    sobject = org.sobject_name(owner)
    if sobject is None:
        raise _integrity(f"Cannot find entity: {owner}")
    if not field.endswith("__c") or not field[:-3].replace("_", "a").isalnum():
        raise _integrity(f"Invalid custom field name: {field}")
    try:
        info = custom_field(field, meta)
    except ValueError as exc:
        raise _integrity(str(exc)) from None
    try:
        return org.add_custom_field(sobject, info, meta)
    except ValueError as exc:
        raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", str(exc), []) from None


def create_object(org: Org, full_name: str, meta: dict[str, Any]) -> str:
    """Add custom object ``Name__c`` from Tooling ``meta``; returns the CustomObject id."""
    if not full_name.endswith("__c") or "." in full_name:
        raise _integrity(f"Invalid custom object name: {full_name}")
    label = str(meta.get("label") or label_of(full_name))
    info = ObjectInfo(full_name, label, str(meta.get("pluralLabel") or label + "s"), custom=True)
    spec = meta.get("nameField")
    if not isinstance(spec, dict) or spec.get("type") not in ("Text", "AutoNumber"):
        raise _integrity("Must specify 'nameField' with type Text or AutoNumber")
    auto = spec["type"] == "AutoNumber"
    name_field = FieldInfo(
        name="Name",
        type="string",
        label=str(spec.get("label") or f"{label} Name"),
        length=80,
        nillable=auto,
        createable=not auto,
        updateable=not auto,
        required=not auto,
        auto_number=str(spec.get("displayFormat") or "{0}") if auto else None,
    )
    try:
        return org.add_custom_object(info, name_field, meta)
    except ValueError as exc:
        raise ApiError(400, "DUPLICATE_DEVELOPER_NAME", str(exc), []) from None


def router(state: SandboxState) -> APIRouter:
    """The Tooling API routes over ``state``."""
    api = APIRouter()
    org = state.org
    tooling = org.tooling
    assert tooling is not None
    base = "/services/data/v{version}/tooling"

    async def create(request: Request, version: str, sobject: str) -> Response:
        full_name, meta = _payload(await json_body(request))
        if sobject.lower() == "customfield":
            return _created(create_field(org, full_name, meta))
        if sobject.lower() == "customobject":
            return _created(create_object(org, full_name, meta))
        raise not_found()

    async def one(request: Request, version: str, sobject: str, record_id: str) -> Response:
        name = tooling.sobject_name(sobject)
        row = tooling.get(record_id)
        if name is None or row is None or row["IsDeleted"]:
            raise not_found()
        if request.method == "PATCH":
            body = await json_body(request)
            meta = body.get("Metadata") if isinstance(body, dict) else None
            if not isinstance(meta, dict):
                raise ApiError(
                    400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Metadata]"
                )
            _update_field(org, row, meta)
            return Response(status_code=204)
        url = f"/services/data/v{version}/tooling/sobjects/{name}/{record_id}"
        record: dict[str, Any] = {"attributes": {"type": name, "url": url}}
        record.update({k: format_value(v) for k, v in row.items()})
        record["Metadata"] = org.tooling_metadata.get(record_id, {})
        return json_response(record)

    async def query(request: Request, version: str) -> Response:
        text = request.query_params.get("q")
        if not text:
            raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
        result = QueryRunner(tooling, version).run(text, include_deleted=False)
        if isinstance(result, int):
            return json_response({"totalSize": result, "done": True, "records": []})
        for record in result:
            _tooling_urls(record)
        return json_response(page(state, version, result, 0, batch_size(request), None))

    add_route(api, f"{base}/sobjects/{{sobject}}", api_route(state, create), ["POST"])
    add_route(
        api, f"{base}/sobjects/{{sobject}}/{{record_id}}", api_route(state, one), ["GET", "PATCH"]
    )
    add_route(api, f"{base}/query", api_route(state, query), ["GET"])
    return api


def _tooling_urls(record: dict[str, Any]) -> None:
    attributes = record.get("attributes")
    if isinstance(attributes, dict) and "url" in attributes:
        attributes["url"] = attributes["url"].replace("/sobjects/", "/tooling/sobjects/", 1)
    for value in record.values():
        if isinstance(value, dict) and value is not attributes:
            _tooling_urls(value)


def _update_field(org: Org, row: dict[str, Any], meta: dict[str, Any]) -> None:
    """Apply new Metadata to an existing custom field (its name and object stay)."""
    if "FullName" not in row or "." not in str(row["FullName"]):
        raise ApiError(400, "INVALID_OPERATION", "Only CustomField metadata can be updated")
    owner, _, field = str(row["FullName"]).partition(".")
    try:
        info = custom_field(field, meta)
    except ValueError as exc:
        raise _integrity(str(exc)) from None
    org.describes[owner][field] = info.type
    org.field_info.setdefault(owner, {})[field] = info
    org.tooling_metadata[row["Id"]] = meta
    assert org.tooling is not None
    org.tooling.update(
        row["Id"], {"Length": info.length, "Precision": info.precision, "Scale": info.scale}
    )
