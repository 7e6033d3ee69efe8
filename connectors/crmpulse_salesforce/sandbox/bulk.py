"""Bulk API 2.0 over an :class:`~.org.Org`: query jobs and ingest jobs, as simple-salesforce's
``sf.bulk2.<Object>`` drives them.

Query jobs (``/services/data/v{version}/jobs/query``): the SOQL is validated and run when the job
is created (a snapshot, as a real job reads one consistent view); results are served as CSV pages
with ``Sforce-NumberOfRecords`` and ``Sforce-Locator`` headers. Ingest jobs
(``/jobs/ingest``): CSV uploaded to ``/batches`` (columns keyed by header) is applied row by row
when the job is closed with ``{"state": "UploadComplete"}``; per-row outcomes are kept for
``successfulResults``, ``failedResults`` and ``unprocessedrecords``.

Job records and their state machine are in :mod:`.bulk_jobs`, row processing in
:mod:`.bulk_ingest`; this module runs query jobs and holds the routes, all through
:func:`~.web.api_call` (each HTTP call counts as an API call).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from .bulk_ingest import (
    RESULT_KINDS,
    create_ingest_job,
    ingest_results_response,
    process,
    read_uploads,
)
from .bulk_jobs import (
    TERMINAL,
    BulkJobs,
    IngestJob,
    Job,
    QueryJob,
    csv_response,
    csv_text,
    format_options,
    job_state_error,
)
from .errors import ApiError, not_found
from .query import QueryRunner
from .soql_parse import Query, parse
from .state import SandboxState
from .web import add_route, api_route, json_body

QUERY_OPERATIONS = frozenset({"query", "queryAll"})


def _cell(value: Any) -> str:
    """A value as a Bulk API CSV cell: UTC ``...000Z`` datetimes, ``true``/``false``, nulls
    empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        utc = value.astimezone(UTC) if value.tzinfo else value
        return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    current: Any = record
    for part in path:
        if not isinstance(current, Mapping):
            return None
        low = part.lower()
        current = next((v for k, v in current.items() if k.lower() == low), None)
    return current


class _RowRunner(QueryRunner):
    """Runs SOQL like the REST query routes but keeps the evaluator's raw, typed values."""

    def shape(self, sobject: str, row: dict[str, Any], query: Query) -> dict[str, Any]:
        """The projected row itself; the CSV writer formats values its own way."""
        return row


async def _json_object(request: Request) -> dict[str, Any]:
    body = await json_body(request)
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


# -- query jobs -------------------------------------------------------------------------------
def _create_query_job(jobs: BulkJobs, version: str, body: Mapping[str, Any]) -> QueryJob:
    operation = body.get("operation")
    if operation not in QUERY_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "INVALIDJOB", "InvalidJob : No query specified")
    delimiter, line_ending = format_options(body)
    query = parse(text)
    # Bulk API 2.0 rejects these up front; the REST query path accepts them.
    if query.count:
        raise ApiError(400, "API_ERROR", "Aggregate queries are not supported in Bulk Query")
    if query.offset is not None:
        raise ApiError(400, "API_ERROR", "OFFSET clause is not supported in Bulk Query")
    records = _RowRunner(jobs.state.org.api_view(), version).run(
        text, include_deleted=operation == "queryAll"
    )
    assert isinstance(records, list)
    paths = [ref.path for ref in query.fields]
    job = QueryJob(
        id=jobs.new_id(),
        operation=str(operation),
        sobject=jobs.state.org.sobject_name(query.sobject) or query.sobject,
        version=version,
        created=jobs.now(),
        column_delimiter=delimiter,
        line_ending=line_ending,
        state="UploadComplete",
        polls_left=jobs.in_progress_polls,
        columns=[ref.name for ref in query.fields],
        rows=[[_cell(_lookup(r, p)) for p in paths] for r in records],
    )
    with jobs.lock:
        jobs.query_jobs[job.id] = job
    return job


def _encode_locator(offset: int) -> str:
    return base64.b64encode(str(offset).encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        text = base64.b64decode(locator + "=" * (-len(locator) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator") from exc
    if not text.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    return int(text)


def _query_results(job: QueryJob, request: Request) -> Response:
    if job.state != "JobComplete":
        raise ApiError(
            412 if job.state != "Aborted" else 400,
            "JOB_NOT_COMPLETE" if job.state != "Aborted" else "INVALIDJOBSTATE",
            f"Job {job.id} is not complete: state {job.state}",
        )
    params = request.query_params
    offset = _decode_locator(params["locator"]) if params.get("locator") else 0
    raw_max = params.get("maxRecords")
    if raw_max is not None and (not raw_max.isdigit() or int(raw_max) < 1):
        raise ApiError(400, "INVALIDREQUEST", f"Invalid maxRecords: {raw_max}")
    size = int(raw_max) if raw_max else len(job.rows) or 1
    page = job.rows[offset : offset + size]
    end = offset + len(page)
    headers = {
        "Sforce-NumberOfRecords": str(len(page)),
        "Sforce-Locator": _encode_locator(end) if end < len(job.rows) else "null",
    }
    return csv_response(csv_text(job, job.columns, page), headers)


# -- routes -----------------------------------------------------------------------------------
def router(state: SandboxState, *, in_progress_polls: int = 1) -> APIRouter:
    """Routes for Bulk API 2.0 query and ingest jobs over ``state``'s org.

    ``in_progress_polls`` is how many status reads of a closed job report ``InProgress`` before
    it reports ``JobComplete``.
    """
    jobs = BulkJobs(state, in_progress_polls)
    api = APIRouter()
    base = "/services/data/v{version}/jobs"

    def query_job(job_id: str) -> QueryJob:
        job = jobs.query_jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def ingest_job(job_id: str) -> IngestJob:
        job = jobs.ingest_jobs.get(job_id)
        if job is None:
            raise not_found()
        return job

    def listing(found: Iterable[Job]) -> Response:
        body = {"done": True, "records": [j.info() for j in found], "nextRecordsUrl": None}
        return JSONResponse(body)

    def abort(job: Job) -> Response:
        if job.state in TERMINAL:
            raise job_state_error(job, "Aborted")
        job.state, job.modstamp = "Aborted", jobs.now()
        return JSONResponse(job.info())

    async def requested_state(request: Request) -> str:
        body = await json_body(request)
        return str(body.get("state")) if isinstance(body, dict) else ""

    async def create_query(request: Request, version: str) -> Response:
        return JSONResponse(_create_query_job(jobs, version, await _json_object(request)).info())

    async def list_queries(request: Request, version: str) -> Response:
        return listing(list(jobs.query_jobs.values()))

    async def get_query(request: Request, version: str, job_id: str) -> Response:
        job = query_job(job_id)
        job.poll()
        return JSONResponse(job.info())

    async def patch_query(request: Request, version: str, job_id: str) -> Response:
        job = query_job(job_id)
        wanted = await requested_state(request)
        if wanted != "Aborted":
            raise job_state_error(job, wanted)
        return abort(job)

    async def delete_query(request: Request, version: str, job_id: str) -> Response:
        query_job(job_id)
        jobs.query_jobs.pop(job_id, None)
        return Response(status_code=204)

    async def query_results(request: Request, version: str, job_id: str) -> Response:
        return _query_results(query_job(job_id), request)

    async def create_ingest(request: Request, version: str) -> Response:
        return JSONResponse(create_ingest_job(jobs, version, await _json_object(request)).info())

    async def list_ingest(request: Request, version: str) -> Response:
        return listing(list(jobs.ingest_jobs.values()))

    async def get_ingest(request: Request, version: str, job_id: str) -> Response:
        job = ingest_job(job_id)
        job.poll()
        return JSONResponse(job.info())

    async def patch_ingest(request: Request, version: str, job_id: str) -> Response:
        job = ingest_job(job_id)
        wanted = await requested_state(request)
        if wanted == "Aborted":
            if job.state == "Open":
                job.unprocessed = read_uploads(job)
            return abort(job)
        if wanted != "UploadComplete" or job.state != "Open":
            raise job_state_error(job, wanted)
        job.state, job.modstamp = "UploadComplete", jobs.now()
        job.polls_left = jobs.in_progress_polls
        process(jobs, job)
        return JSONResponse(job.info())

    async def delete_ingest(request: Request, version: str, job_id: str) -> Response:
        ingest_job(job_id)
        jobs.ingest_jobs.pop(job_id, None)
        return Response(status_code=204)

    async def upload(request: Request, version: str, job_id: str) -> Response:
        job = ingest_job(job_id)
        if job.state != "Open":
            raise job_state_error(job, "Open")
        if not request.headers.get("content-type", "").lower().startswith("text/csv"):
            raise ApiError(
                415, "UNSUPPORTED_MEDIA_TYPE", "Content type of the upload must be text/csv"
            )
        job.uploads.append((await request.body()).decode("utf-8"))
        return Response(status_code=201)

    async def ingest_results(request: Request, version: str, job_id: str, kind: str) -> Response:
        found = RESULT_KINDS.get(kind.lower())
        if found is None:
            raise not_found()
        return ingest_results_response(ingest_job(job_id), found)

    routes: list[tuple[str, Callable[..., Awaitable[Response]], str]] = [
        ("/query", create_query, "POST"),
        ("/query", list_queries, "GET"),
        ("/query/{job_id}", get_query, "GET"),
        ("/query/{job_id}", patch_query, "PATCH"),
        ("/query/{job_id}", delete_query, "DELETE"),
        ("/query/{job_id}/results", query_results, "GET"),
        ("/ingest", create_ingest, "POST"),
        ("/ingest", list_ingest, "GET"),
        ("/ingest/{job_id}", get_ingest, "GET"),
        ("/ingest/{job_id}", patch_ingest, "PATCH"),
        ("/ingest/{job_id}", delete_ingest, "DELETE"),
        ("/ingest/{job_id}/batches", upload, "PUT"),
        ("/ingest/{job_id}/{kind}", ingest_results, "GET"),
    ]
    for path, handler, method in routes:
        add_route(api, base + path, api_route(state, handler), [method])
    return api
