"""Bulk API 2.0 jobs as the emulator keeps them: query and ingest job records, their
deterministic state machine and JSON descriptions, and the CSV framing both kinds share.

A closed job reports ``InProgress`` for its first ``in_progress_polls`` status reads and
``JobComplete`` on the next, so clients see the intermediate state without waiting.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import itertools
import threading
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from fastapi import Response

from .errors import ApiError
from .org import make_id
from .state import USER_ID, SandboxState

JOB_PREFIX = "750"
"""Key prefix of Bulk API job ids."""

DELIMITERS = {
    "COMMA": ",",
    "TAB": "\t",
    "PIPE": "|",
    "SEMICOLON": ";",
    "CARET": "^",
    "BACKQUOTE": "`",
}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
TERMINAL = frozenset({"JobComplete", "Failed", "Aborted"})
NULL_MARKER = "#N/A"
"""The Bulk API's spelling of "set this field to null" (an empty value leaves it unchanged)."""


def _timestamp(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


@dataclasses.dataclass
class Job:
    """What query and ingest jobs share: identity, format, state and the poll countdown."""

    id: str
    operation: str
    sobject: str
    version: str
    created: datetime
    column_delimiter: str = "COMMA"
    line_ending: str = "LF"
    state: str = "Open"
    error_message: str = ""
    polls_left: int = 0
    modstamp: datetime | None = None

    @property
    def delimiter(self) -> str:
        """The column delimiter character."""
        return DELIMITERS[self.column_delimiter]

    @property
    def newline(self) -> str:
        """The line terminator characters."""
        return LINE_ENDINGS[self.line_ending]

    def poll(self) -> None:
        """Advance the deterministic state machine by one status read."""
        if self.state in ("UploadComplete", "InProgress"):
            if self.polls_left > 0:
                self.polls_left -= 1
                self.state = "InProgress"
            else:
                self.state = "JobComplete"

    def info(self) -> dict[str, Any]:
        """The job's JSON description (``GET /jobs/<kind>/{id}``)."""
        stamp = self.modstamp or self.created
        body: dict[str, Any] = {
            "id": self.id,
            "operation": self.operation,
            "object": self.sobject,
            "createdById": USER_ID,
            "createdDate": _timestamp(self.created),
            "systemModstamp": _timestamp(stamp),
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": float(self.version),
            "lineEnding": self.line_ending,
            "columnDelimiter": self.column_delimiter,
        }
        if self.error_message:
            body["errorMessage"] = self.error_message
        return body


@dataclasses.dataclass
class QueryJob(Job):
    """A query job: the header and the CSV cells of every result row."""

    columns: list[str] = dataclasses.field(default_factory=list)
    rows: list[list[str]] = dataclasses.field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """Job description with the query-job counters."""
        done = self.state == "JobComplete"
        return {
            **super().info(),
            "jobType": "V2Query",
            "numberRecordsProcessed": len(self.rows) if done else 0,
            "retries": 0,
            "totalProcessingTime": 0,
        }


@dataclasses.dataclass
class RowResult:
    """The outcome of one uploaded CSV row."""

    cells: dict[str, str]
    record_id: str = ""
    created: bool = False
    error: str | None = None


@dataclasses.dataclass
class IngestJob(Job):
    """An ingest job: uploaded CSV chunks, then one outcome per row once processed."""

    external_id: str | None = None
    uploads: list[str] = dataclasses.field(default_factory=list)
    headers: list[str] = dataclasses.field(default_factory=list)
    results: list[RowResult] = dataclasses.field(default_factory=list)
    unprocessed: list[dict[str, str]] = dataclasses.field(default_factory=list)

    def info(self) -> dict[str, Any]:
        """Job description with the ingest counters (and ``contentUrl`` while open)."""
        failed = sum(1 for r in self.results if r.error is not None)
        body = {
            **super().info(),
            "jobType": "V2Ingest",
            "numberRecordsProcessed": len(self.results),
            "numberRecordsFailed": failed,
            "retries": 0,
            "totalProcessingTime": 0,
            "apiActiveProcessingTime": 0,
            "apexProcessingTime": 0,
        }
        if self.external_id:
            body["externalIdFieldName"] = self.external_id
        if self.state == "Open":
            body["contentUrl"] = f"services/data/v{self.version}/jobs/ingest/{self.id}/batches"
        return body


class BulkJobs:
    """The Bulk API 2.0 jobs of one sandbox, keyed by id."""

    def __init__(self, state: SandboxState, in_progress_polls: int = 1) -> None:
        self.state = state
        self.in_progress_polls = in_progress_polls
        self.query_jobs: dict[str, QueryJob] = {}
        self.ingest_jobs: dict[str, IngestJob] = {}
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    def new_id(self) -> str:
        """A fresh ``750`` job id."""
        with self.lock:
            return make_id(JOB_PREFIX, next(self._ids))

    def now(self) -> datetime:
        """The org's clock, for job stamps."""
        return self.state.org.now()


def job_state_error(job: Job, wanted: str) -> ApiError:
    """400 for a state change the job cannot make."""
    return ApiError(
        400, "INVALIDJOBSTATE", f"Invalid job state transition from {job.state} to {wanted}"
    )


def format_options(body: Mapping[str, Any]) -> tuple[str, str]:
    """A job request's ``columnDelimiter`` and ``lineEnding`` (defaults COMMA, LF)."""
    delimiter = str(body.get("columnDelimiter") or "COMMA").upper()
    line_ending = str(body.get("lineEnding") or "LF").upper()
    if delimiter not in DELIMITERS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid column delimiter: {delimiter}")
    if line_ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid line ending: {line_ending}")
    return delimiter, line_ending


def csv_text(job: Job, header: list[str], rows: Iterable[list[str]]) -> str:
    """Rows as CSV in the job's delimiter and line ending, every cell quoted."""
    buffer = io.StringIO()
    writer = csv.writer(
        buffer, delimiter=job.delimiter, lineterminator=job.newline, quoting=csv.QUOTE_ALL
    )
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def csv_response(text: str, headers: Mapping[str, str] | None = None) -> Response:
    """A ``text/csv`` response."""
    return Response(text, media_type="text/csv; charset=UTF-8", headers=dict(headers or {}))
