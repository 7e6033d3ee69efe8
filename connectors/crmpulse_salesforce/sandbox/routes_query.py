"""REST query paths and org information.

``GET /services/data/v{v}/query`` and ``/queryAll`` (``?q=<SOQL>``), queryMore at
``/query/{locator}-{offset}``, ``GET /services/data/v{v}/limits`` and ``GET /services/data``
(the API versions). Queries see the org as the API user does (field security applied).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request, Response

from .errors import ApiError
from .query import QueryRunner
from .state import SandboxState
from .web import add_route, api_route, json_response

DEFAULT_BATCH_SIZE = 2000
MIN_BATCH_SIZE = 200
MAX_BATCH_SIZE = 2000
_BATCH_SIZE = re.compile(r"batchsize\s*=\s*(\d+)", re.IGNORECASE)
_VERSIONS = ("55.0", "56.0", "57.0", "58.0", "59.0", "60.0", "61.0", "62.0")
_OTHER_LIMITS = {
    "DailyBulkApiBatches": 15000,
    "DailyBulkV2QueryJobs": 10000,
    "DailyBulkV2QueryFileStorageMB": 976562,
    "DailyAsyncApexExecutions": 250000,
    "DailyStreamingApiEvents": 10000,
    "DailyDurableStreamingApiEvents": 10000,
    "DailyGenericStreamingApiEvents": 10000,
    "DailyWorkflowEmails": 1000,
    "DataStorageMB": 5,
    "FileStorageMB": 20,
    "HourlyAsyncReportRuns": 1200,
    "HourlyDashboardRefreshes": 200,
    "HourlyODataCallout": 10000,
    "HourlySyncReportRuns": 500,
    "MassEmail": 10,
    "SingleEmail": 15,
    "ConcurrentAsyncGetReportInstances": 200,
    "ConcurrentSyncReportRuns": 20,
}


def batch_size(request: Request) -> int:
    """The page size asked for with ``Sforce-Query-Options: batchSize=N`` (200..2000)."""
    match = _BATCH_SIZE.search(request.headers.get("sforce-query-options", ""))
    if match is None:
        return DEFAULT_BATCH_SIZE
    return max(MIN_BATCH_SIZE, min(MAX_BATCH_SIZE, int(match.group(1))))


def page(
    state: SandboxState,
    version: str,
    records: list[dict[str, Any]],
    offset: int,
    size: int,
    locator: str | None,
) -> dict[str, Any]:
    """One page of a query result, opening (or closing) its queryMore cursor."""
    end = offset + size
    body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records)}
    if end < len(records):
        if locator is None:
            locator = state.open_cursor(records, size)
        body["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{end}"
    elif locator is not None:
        state.cursors.pop(locator, None)
    body["records"] = records[offset:end]
    return body


def limits_body(state: SandboxState) -> dict[str, Any]:
    """The ``/limits`` resource."""
    body: dict[str, Any] = {
        "DailyApiRequests": {
            "Max": state.api_limit,
            "Remaining": max(0, state.api_limit - state.api_usage),
        }
    }
    for name, top in _OTHER_LIMITS.items():
        body[name] = {"Max": top, "Remaining": top}
    return body


def router(state: SandboxState) -> APIRouter:
    """The query, limits and versions routes over ``state``."""
    api = APIRouter()
    base = "/services/data/v{version}"

    def query_route(include_deleted: bool) -> Any:
        async def query(request: Request, version: str) -> Response:
            text = request.query_params.get("q")
            if not text:
                raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
            runner = QueryRunner(state.org.api_view(), version)
            result = runner.run(text, include_deleted=include_deleted)
            if isinstance(result, int):
                return json_response({"totalSize": result, "done": True, "records": []})
            return json_response(page(state, version, result, 0, batch_size(request), None))

        query.__name__ = "query_all" if include_deleted else "query"
        return api_route(state, query)

    async def query_more(request: Request, version: str, cursor: str) -> Response:
        locator, _, offset_text = cursor.rpartition("-")
        found = state.cursors.get(locator)
        if found is None or not offset_text.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        offset = int(offset_text)
        return json_response(page(state, version, found.records, offset, found.batch_size, locator))

    async def limits(request: Request, version: str) -> Response:
        return json_response(limits_body(state))

    add_route(api, f"{base}/query", query_route(False), ["GET"])
    add_route(api, f"{base}/queryAll", query_route(True), ["GET"])
    add_route(api, f"{base}/query/{{cursor}}", api_route(state, query_more), ["GET"])
    add_route(api, f"{base}/limits", api_route(state, limits), ["GET"])

    async def versions(request: Request) -> Response:
        return json_response(
            [{"label": "Sandbox", "url": f"/services/data/v{v}", "version": v} for v in _VERSIONS]
        )

    add_route(api, "/services/data", versions, ["GET"])
    return api
