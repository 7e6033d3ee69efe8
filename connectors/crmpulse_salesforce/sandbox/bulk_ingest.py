"""Bulk API 2.0 ingest jobs: uploaded CSV applied to the org row by row.

Columns are keyed by header (simple-salesforce writes them in arbitrary order). Cells are typed
by the field's describe type; an empty cell leaves a field unchanged (unset on insert) and
``#N/A`` sets it to null, as the Bulk API reads CSV. Rows go through the same validating
:class:`~.writes.Writer` as the REST API, so each failure is recorded per row as
``CODE:message:fields --``; a header naming an unknown (or hidden) field fails the whole job.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from fastapi import Response

from .bulk_jobs import (
    NULL_MARKER,
    TERMINAL,
    BulkJobs,
    IngestJob,
    RowResult,
    csv_response,
    csv_text,
    format_options,
)
from .errors import ApiError, RecordError
from .org import case_safe_id
from .state import USER_ID
from .writes import Writer

INGEST_OPERATIONS = frozenset({"insert", "update", "upsert", "delete", "hardDelete"})
RESULT_KINDS = {
    "successfulresults": "successful",
    "failedresults": "failed",
    "unprocessedrecords": "unprocessed",
}
"""Results path segments (any case) -> which rows they list."""
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?"
    r"(Z|[+-]\d{2}:?\d{2})?)?"
)
_BOOLEANS = {"true": True, "1": True, "false": False, "0": False}
_XSD = {"int": "xsd:int", "double": "xsd:double", "currency": "xsd:double",
        "percent": "xsd:double", "boolean": "xsd:boolean", "date": "xsd:date",
        "datetime": "xsd:dateTime"}  # fmt: skip


# -- ingest value conversion ------------------------------------------------------------------
class _BadValue(Exception):
    pass


def _parse_datetime(text: str) -> datetime:
    m = _DATETIME.fullmatch(text.strip())
    if m is None:
        raise ValueError(text)
    year, month, day = int(m[1]), int(m[2]), int(m[3])
    if m[4] is None:
        return datetime(year, month, day, tzinfo=UTC)
    tz = m[8]
    tzinfo: timezone = UTC
    if tz and tz != "Z":
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        tzinfo = timezone(-offset if tz[0] == "-" else offset)
    micro = int((m[7] or "0").ljust(6, "0"))
    parsed = datetime(year, month, day, int(m[4]), int(m[5]), int(m[6] or 0), micro, tzinfo)
    return parsed.astimezone(UTC)


def _convert(ftype: str, text: str) -> Any:
    """A CSV cell as the typed value the org stores for a field of type ``ftype``."""
    if text == NULL_MARKER:
        return None
    try:
        if ftype == "boolean":
            return _BOOLEANS[text.strip().lower()]
        if ftype == "int":
            return int(text)
        if ftype in ("double", "currency", "percent"):
            return float(text)
        if ftype == "date":
            return date.fromisoformat(text.strip()[:10])
        if ftype == "datetime":
            return _parse_datetime(text)
    except (KeyError, ValueError) as exc:
        raise _BadValue(ftype) from exc
    return text


# -- ingest jobs ------------------------------------------------------------------------------
def create_ingest_job(jobs: BulkJobs, version: str, body: Mapping[str, Any]) -> IngestJob:
    """Validate a ``POST /jobs/ingest`` body and open the job."""
    operation = body.get("operation")
    if operation not in INGEST_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid operation: {operation}")
    org = jobs.state.org
    name = org.sobject_name(str(body.get("object") or ""))
    if name is None:
        raise ApiError(
            400, "INVALIDENTITY", f"Entity '{body.get('object')}' is not supported by the Bulk API"
        )
    content_type = str(body.get("contentType") or "CSV")
    if content_type.upper() != "CSV":
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid content type: {content_type}")
    delimiter, line_ending = format_options(body)
    external_id: str | None = None
    if operation == "upsert":
        wanted = str(body.get("externalIdFieldName") or "")
        if not wanted:
            raise ApiError(
                400,
                "INVALIDJOB",
                f"InvalidJob : External ID was blank for {name}. An External ID must be "
                "specified for upsert.",
            )
        try:
            external_id = Writer(org).external_field(name, wanted)
        except ApiError as exc:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : {exc.message}") from None
    job = IngestJob(
        id=jobs.new_id(),
        operation=str(operation),
        sobject=name,
        version=version,
        created=jobs.now(),
        column_delimiter=delimiter,
        line_ending=line_ending,
        external_id=external_id,
    )
    with jobs.lock:
        jobs.ingest_jobs[job.id] = job
    return job


def _read_csv(job: IngestJob, text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff"), newline=""), delimiter=job.delimiter)
    lines = [line for line in reader if line]
    if not lines:
        return [], []
    header = lines[0]
    rows = [
        dict(zip(header, line + [""] * (len(header) - len(line)), strict=False))
        for line in lines[1:]
    ]
    return header, rows


def read_uploads(job: IngestJob) -> list[dict[str, str]]:
    """Parse every uploaded chunk; the job's header is the union of the chunks' headers."""
    rows: list[dict[str, str]] = []
    for text in job.uploads:
        header, chunk = _read_csv(job, text)
        job.headers.extend(h for h in header if h not in job.headers)
        rows.extend(chunk)
    return rows


def _header_problem(jobs: BulkJobs, job: IngestJob) -> str:
    """Why the whole upload is rejected (the job fails, every row unprocessed), or ``""``."""
    org = jobs.state.org
    hidden, _ = org.field_access(job.sobject)
    if not job.uploads:
        return "No data was uploaded for this job"
    for header in job.headers:
        name = org.field_name(job.sobject, header)
        if name is None or name in hidden:
            return f"InvalidBatch : Field name not found : {header}"
    names = {h.lower() for h in job.headers}
    key = "Id" if job.operation in ("update", "delete", "hardDelete") else job.external_id
    if key is not None and key.lower() not in names:
        return f"InvalidBatch : Field name not provided: {key}"
    if job.operation in ("delete", "hardDelete") and names != {"id"}:
        return "InvalidBatch : The 'delete' batch must contain only ids"
    return ""


def process(jobs: BulkJobs, job: IngestJob) -> None:
    """Apply every uploaded row to the org, recording one outcome per row."""
    rows = read_uploads(job)
    problem = _header_problem(jobs, job)
    if problem:
        job.state, job.error_message = "Failed", problem
        job.unprocessed = rows
        return
    org = jobs.state.org
    canonical = {h: org.field_name(job.sobject, h) or h for h in job.headers}
    writer = Writer(org)
    for row in rows:
        result = RowResult(cells=row)
        try:
            result.record_id, result.created = _apply(writer, job, canonical, row)
        except RecordError as exc:
            where = " ".join(exc.fields) + " --" if exc.fields else "--"
            result.error = f"{exc.code}:{exc.message}:{where}"
        job.results.append(result)


def _full_id(text: str) -> str:
    """An id as the org stores it: Bulk accepts the 15-character form too."""
    text = text.strip()
    return case_safe_id(text) if len(text) == 15 and text.isalnum() else text


def _apply(
    writer: Writer, job: IngestJob, canonical: Mapping[str, str], row: Mapping[str, str]
) -> tuple[str, bool]:
    """Run one row's DML; ``(record id, created)`` or a :class:`RecordError`."""
    org = writer.org
    by_field = {canonical[h]: v for h, v in row.items()}
    record_id = _full_id(by_field.get("Id", ""))
    if job.operation in ("delete", "hardDelete"):
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in a delete call")
        if job.operation == "delete":
            writer.delete(record_id, job.sobject)
        else:
            writer.live_row(job.sobject, record_id)
            # Hard delete skips the recycle bin: the row is gone, even from queryAll.
            org.purge(record_id, by=USER_ID)
        return record_id, False
    values: dict[str, Any] = {}
    for position, (field, text) in enumerate(by_field.items(), start=1):
        # An empty cell leaves the field as it is (on insert: unset); #N/A sets it to null.
        if field in ("Id", job.external_id) or text == "":
            continue
        try:
            values[field] = _convert(org.describes[job.sobject][field].lower(), text)
        except _BadValue as exc:
            raise RecordError(
                "INVALID_FIELD",
                f"Failed to deserialize field at col {position}. Due to, '{text}' is not a "
                f"valid value for the type {_XSD[str(exc)]}",
                [field],
            ) from None
    if job.operation == "insert":
        if record_id:
            raise RecordError(
                "INVALID_FIELD_FOR_INSERT_UPDATE", "cannot specify Id in an insert call", ["Id"]
            )
        return writer.create(job.sobject, values), True
    if job.operation == "update":
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call")
        writer.update(job.sobject, record_id, values)
        return record_id, False
    assert job.external_id is not None
    key_text = by_field.get(job.external_id, "")
    key: Any = None
    if job.external_id == "Id":
        key = _full_id(key_text) or None
    elif key_text not in ("", NULL_MARKER):
        try:
            key = _convert(org.describes[job.sobject][job.external_id].lower(), key_text)
        except _BadValue as exc:
            raise RecordError(
                "INVALID_FIELD",
                f"'{key_text}' is not a valid value for the type {_XSD[str(exc)]}",
                [job.external_id],
            ) from None
    try:
        return writer.upsert(job.sobject, job.external_id, key, values)
    except LookupError as exc:
        matches = exc.args[0] if exc.args and isinstance(exc.args[0], list) else []
        raise RecordError(
            "DUPLICATE_EXTERNAL_ID",
            f"{job.external_id}: more than one record found for external id field: "
            f"[{', '.join(matches)}]",
            [job.external_id],
        ) from None


def ingest_results_response(job: IngestJob, kind: str) -> Response:
    """The CSV of a job's successful, failed or unprocessed rows."""
    if kind == "unprocessed":
        rows = [[r.get(h, "") for h in job.headers] for r in job.unprocessed]
        return csv_response(csv_text(job, job.headers, rows))
    if job.state not in TERMINAL:
        raise ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is not complete: state {job.state}")
    failed = kind == "failed"
    header = ["sf__Id", "sf__Error" if failed else "sf__Created", *job.headers]
    rows = [
        [
            r.record_id,
            (r.error or "") if failed else ("true" if r.created else "false"),
            *(r.cells.get(h, "") for h in job.headers),
        ]
        for r in job.results
        if (r.error is not None) == failed
    ]
    return csv_response(csv_text(job, header, rows))
