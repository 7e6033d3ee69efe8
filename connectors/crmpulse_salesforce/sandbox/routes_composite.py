"""sObject Collections: ``/services/data/v{v}/composite/sobjects``.

``POST`` creates, ``PATCH`` updates (each record carries ``Id``), ``PATCH .../{T}/{ExtField}``
upserts, ``DELETE ?ids=&allOrNone=`` deletes, and ``GET .../{T}?ids=&fields=`` or ``POST .../{T}``
``{"ids", "fields"}`` retrieve. At most 200 records (400 EXCEEDED_ID_LIMIT beyond); one API call
whatever the count. Results come back in request order with per-record ``statusCode`` errors;
with ``allOrNone`` any failure rolls the whole batch back and the other rows report
ALL_OR_NONE_OPERATION_ROLLED_BACK. An armed ``unable_to_lock_row`` fault fails the next rows.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError, RecordError
from .routes_sobjects import record_url, render, select_fields
from .state import SandboxState
from .web import add_route, api_route, json_body, json_response
from .writes import Journal, Writer, is_id

MAX_RECORDS = 200
"""Records per sObject Collections call."""
MAX_RETRIEVE_IDS = 2000
"""Ids per retrieve call."""

_ROLLED_BACK = RecordError(
    "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "Record rolled back because not all records were valid and the request was using AllOrNone "
    "header",
)
_LOCKED = "unable to obtain exclusive access to this record or 1 records: {}"

Row = Callable[[Writer], dict[str, Any]]


def _too_many(count: int, limit: int = MAX_RECORDS) -> None:
    if count > limit:
        raise ApiError(
            400,
            "EXCEEDED_ID_LIMIT",
            f"record limit reached. cannot submit more than {limit} records into this call",
        )


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _request_records(body: Any) -> tuple[list[Any], bool]:
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(
            400, "JSON_PARSER_ERROR", "Cannot deserialize request: 'records' must be an array"
        )
    records = body["records"]
    _too_many(len(records))
    return records, _flag(body.get("allOrNone"))


def _record_type(writer: Writer, record: Any, expected: str | None = None) -> str:
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
    attributes = record.get("attributes")
    declared = attributes.get("type") if isinstance(attributes, dict) else None
    if not declared and expected is None:
        raise ApiError(
            400, "INVALID_TYPE", "When creating sObjects, you must specify the type in attributes"
        )
    name = writer.org.sobject_name(str(declared or expected))
    if name is None:
        raise ApiError(400, "INVALID_TYPE", f"sObject type '{declared}' is not supported.")
    return name


def run_batch(state: SandboxState, rows: list[Row], all_or_none: bool) -> list[dict[str, Any]]:
    """Run each row's DML in order; per-record errors become failed results. With
    ``all_or_none``, any failure undoes every row."""
    journal = Journal(state.org)
    writer = Writer(state.org, journal)
    results: list[dict[str, Any]] = []
    failed = False
    with state.org.atomic() as discard:
        for row in rows:
            try:
                if state.faults.take_row():
                    raise RecordError("UNABLE_TO_LOCK_ROW", _LOCKED.format("(record)"))
                results.append(row(writer))
            except RecordError as exc:
                failed = True
                results.append({"success": False, "errors": [exc.to_json()]})
        if all_or_none and failed:
            discard()
    if all_or_none and failed:
        journal.rollback()
        results = [
            r if not r["success"] else {"success": False, "errors": [_ROLLED_BACK.to_json()]}
            for r in results
        ]
    return results


def router(state: SandboxState) -> APIRouter:
    """The sObject Collections routes over ``state``."""
    api = APIRouter()
    org = state.org
    base = "/services/data/v{version}/composite/sobjects"

    async def collection(request: Request, version: str) -> Response:
        if request.method == "DELETE":
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            if not ids:
                raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
            _too_many(len(ids))
            deletions: list[Row] = [_delete_row(i) for i in ids]
            all_or_none = _flag(request.query_params.get("allOrNone"))
            return json_response(run_batch(state, deletions, all_or_none))
        records, all_or_none = _request_records(await json_body(request))
        parser = Writer(org)
        rows: list[Row] = []
        for record in records:
            name = _record_type(parser, record)
            values = parser.parse(name, {k: v for k, v in record.items() if k != "Id"})
            if request.method == "POST":
                if "Id" in record:
                    values["Id"] = record["Id"]
                rows.append(_create_row(name, values))
            else:
                rows.append(_update_row(name, record.get("Id"), values))
        return json_response(run_batch(state, rows, all_or_none))

    async def typed(request: Request, version: str, sobject: str) -> Response:
        name = org.sobject_name(sobject)
        if name is None:
            raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
        if request.method == "GET":
            ids = [i for i in request.query_params.get("ids", "").split(",") if i]
            raw_fields = request.query_params.get("fields", "")
            fields = [f for f in raw_fields.split(",") if f]
        else:
            body = await json_body(request)
            if not isinstance(body, dict):
                raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
            ids = [str(i) for i in body.get("ids") or []]
            fields = [str(f) for f in body.get("fields") or []]
        if not ids or not fields:
            raise ApiError(400, "MISSING_ARGUMENT", "ids and fields are required")
        _too_many(len(ids), MAX_RETRIEVE_IDS)
        names = select_fields(org, name, fields)
        out: list[dict[str, Any] | None] = []
        for record_id in ids:
            row = org.get(record_id) if is_id(record_id) else None
            if row is None or row["IsDeleted"] or org.sobject_for_id(record_id) != name:
                out.append(None)
            else:
                out.append(render(name, row, version, names))
        return json_response(out)

    async def upsert(request: Request, version: str, sobject: str, field: str) -> Response:
        records, all_or_none = _request_records(await json_body(request))
        parser = Writer(org)
        name = parser.sobject(sobject)
        key_field = parser.external_field(name, field)
        rows: list[Row] = []
        for record in records:
            if _record_type(parser, record, name) != name:
                raise ApiError(
                    400, "INVALID_TYPE", f"All records must be of type {name} in an upsert"
                )
            values = parser.parse(name, record)
            rows.append(_upsert_row(version, name, key_field, values))
        return json_response(run_batch(state, rows, all_or_none))

    add_route(api, base, api_route(state, collection), ["POST", "PATCH", "DELETE"])
    add_route(api, f"{base}/{{sobject}}", api_route(state, typed), ["GET", "POST"])
    add_route(api, f"{base}/{{sobject}}/{{field}}", api_route(state, upsert), ["PATCH"])
    return api


def _ok(record_id: str, **extra: Any) -> dict[str, Any]:
    return {"id": record_id, "success": True, "errors": [], **extra}


def _create_row(sobject: str, values: dict[str, Any]) -> Row:
    return lambda writer: _ok(writer.create(sobject, values))


def _update_row(sobject: str, record_id: Any, values: dict[str, Any]) -> Row:
    def run(writer: Writer) -> dict[str, Any]:
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        writer.update(sobject, str(record_id), values)
        return _ok(str(record_id))

    return run


def _delete_row(record_id: str) -> Row:
    def run(writer: Writer) -> dict[str, Any]:
        writer.delete(record_id)
        return _ok(record_id)

    return run


def _upsert_row(version: str, sobject: str, field: str, values: dict[str, Any]) -> Row:
    def run(writer: Writer) -> dict[str, Any]:
        try:
            record_id, created = writer.upsert(sobject, field, values.get(field), values)
        except LookupError as exc:
            urls = ", ".join(record_url(version, sobject, i) for i in exc.args[0])
            raise RecordError(
                "DUPLICATE_EXTERNAL_ID",
                f"{field}: more than one record found for external id field: [{urls}]",
                [field],
            ) from None
        return _ok(record_id, created=created)

    return run
