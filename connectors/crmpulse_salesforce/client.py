"""The only module that imports ``simple-salesforce``.

``SalesforceClient`` logs in with whichever credentials the settings complete, runs SOQL through
REST (page by page) or Bulk API 2.0, writes through sObject Collections or Bulk API 2.0 ingest,
creates fields through the Tooling API, retries what Salesforce asks to retry (5xx, row locks,
concurrent-request limits), passes every HTTP request but logins through the org's API budget
(fed back from each response's ``Sforce-Limit-Info``), counts every HTTP request, and translates
SDK exceptions into the crmpulse error tree. Records come back flat:
``{"Id": ..., "Account.Name": ...}`` with every value a string or ``None``, whichever API
produced them.
"""

from __future__ import annotations

import csv
import functools
import io
import math
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

import requests
from simple_salesforce.api import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceError,
    SalesforceExpiredSession,
    SalesforceOperationError,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential_jitter

from crmpulse.budget import Budget, salesforce_budget
from crmpulse.errors import (
    AuthError,
    ConfigError,
    CrmPulseError,
    CrmUnavailableError,
    QuotaExhaustedError,
)
from crmpulse.ports import CallStats, PropertyChange, StreamSpec, TargetSpec
from crmpulse.settings import SalesforceSettings
from crmpulse_salesforce import soql
from crmpulse_salesforce.transport import Finish, make_session

T = TypeVar("T")
CallKind = Literal["read", "write"]
Row = dict[str, str | None]

_USAGE = re.compile(r"api-usage=(\d+)/(\d+)")
_LOGIN_PATHS = ("/services/oauth2/", "/services/soap/u/")
"""Logins do not count against the API allocation."""
_RETRIED_CODES = frozenset({"UNABLE_TO_LOCK_ROW", "SERVER_UNAVAILABLE", "UNKNOWN_EXCEPTION"})
COLLECTION_SIZE = 200
"""sObject Collections take at most 200 records per call."""


class RowLockedError(CrmUnavailableError):
    """Salesforce could not lock a row (``UNABLE_TO_LOCK_ROW``): retry the call."""


def _errors(exc: SalesforceError) -> list[dict[str, Any]]:
    content = exc.content
    if isinstance(content, list):
        return [e for e in content if isinstance(e, dict)]
    if isinstance(content, dict):
        return [content]
    return []


def translate(exc: BaseException, operation: str) -> CrmPulseError:
    """Map a simple-salesforce / requests exception to the crmpulse error tree."""
    if isinstance(exc, SalesforceAuthenticationFailed):
        return AuthError(
            f"Salesforce login failed: {exc.code}: {exc.message}",
            hint="check the CRMPULSE_SALESFORCE__ credentials (username, password, "
            "security token, consumer key/secret, private key file)",
        )
    if isinstance(exc, SalesforceError):
        errors = _errors(exc)
        code = str(errors[0].get("errorCode", "")) if errors else ""
        text = str(errors[0].get("message", "")) if errors else str(exc.content)[:200]
        message = f"Salesforce {operation}: {exc.status} {code}: {text}".rstrip(": ")
        if isinstance(exc, SalesforceExpiredSession):
            return AuthError(
                message,
                hint="the session expired: set a fresh CRMPULSE_SALESFORCE__ACCESS_TOKEN, or "
                "configure a login (username/password or JWT) so crmpulse can renew it",
            )
        if code == "REQUEST_LIMIT_EXCEEDED" and "ConcurrentPerOrgLongTxn" not in text:
            return QuotaExhaustedError(
                message, hint="the org's 24-hour API allocation is spent; the next run resumes"
            )
        if code == "REQUEST_LIMIT_EXCEEDED" or code in _RETRIED_CODES or exc.status >= 500:
            return CrmUnavailableError(message)
        if isinstance(exc, SalesforceRefusedRequest):
            return AuthError(message, hint="the integration user lacks a permission crmpulse needs")
        return CrmPulseError(message)
    if isinstance(exc, SalesforceOperationError):
        return CrmPulseError(f"Salesforce {operation}: {exc}")
    if isinstance(exc, requests.RequestException):
        return CrmUnavailableError(
            f"Salesforce {operation}: cannot reach the API ({type(exc).__name__})",
            hint="check CRMPULSE_SALESFORCE__INSTANCE_URL and the network",
        )
    return CrmPulseError(f"Salesforce {operation}: {type(exc).__name__}: {exc}")


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def flatten(record: Mapping[str, Any], prefix: str = "") -> Row:
    """A REST record as flat dotted keys (``Invitation.ContactId``), values as strings."""
    row: Row = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, Mapping):
            if "records" in value:  # a child subquery; crmpulse does not select any
                continue
            row.update(flatten(value, f"{prefix}{key}."))
        else:
            row[f"{prefix}{key}"] = _text(value)
    return row


class SalesforceClient:
    """Thin, counted, retried access to the Salesforce APIs crmpulse uses."""

    def __init__(
        self,
        settings: SalesforceSettings,
        calls: CallStats,
        *,
        bulk_poll_seconds: int = 2,
        budget: Budget | None = None,
    ) -> None:
        self.settings = settings
        self.calls = calls
        self.bulk_poll_seconds = bulk_poll_seconds
        self.api_usage: tuple[int, int] | None = None
        self.budget = budget or salesforce_budget(f"salesforce:{settings.org_name}")
        """Every API request asks it first; replace it with :meth:`use_budget`."""
        self._operation: tuple[str, CallKind] = ("login", "read")
        self._session = make_session(settings.instance_url, self._count, self._gate)
        self._sf: Salesforce | None = None

    # -- plumbing -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the HTTP session."""
        self._session.close()

    def use_budget(self, budget: Budget) -> None:
        """Spend ``budget`` from now on (the one built from the settings for this org)."""
        self.budget = budget

    def _gate(self, request: requests.PreparedRequest) -> Finish:
        """Hold the request until the budget admits it; feed the answer's usage back."""
        path = urlsplit(request.url or "").path.lower()
        if self._operation[0] == "login" or path.startswith(_LOGIN_PATHS):
            return _ignore
        slot = self.budget.acquire(self._operation[1])

        def finish(response: requests.Response | None) -> None:
            match = (
                _USAGE.search(response.headers.get("Sforce-Limit-Info", "")) if response else None
            )
            if match:
                slot.release(daily_used=int(match.group(1)), daily_limit=int(match.group(2)))
            else:
                slot.release()

        return finish

    def _count(self, _request: requests.PreparedRequest, response: requests.Response) -> None:
        operation, kind = self._operation
        self.calls.count(operation, kind)
        match = _USAGE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))

    @property
    def sf(self) -> Salesforce:
        """The logged-in SDK client (logs in on first use)."""
        if self._sf is None:
            self._sf = self._call("login", "read", self._login)
        return self._sf

    def _login(self) -> Salesforce:
        s = self.settings
        common: dict[str, Any] = {"session": self._session, "version": s.api_version}
        secret = _secret
        if s.access_token is not None:
            if not s.instance_url:
                raise ConfigError(
                    "a Salesforce access token needs the org's URL",
                    hint="set CRMPULSE_SALESFORCE__INSTANCE_URL",
                )
            return Salesforce(
                instance_url=s.instance_url, session_id=secret(s.access_token), **common
            )
        # With an http:// instance URL the session sends login hosts to that server too.
        common["domain"] = s.domain
        if s.username and s.consumer_key and s.private_key_file:
            return Salesforce(
                username=s.username,
                consumer_key=s.consumer_key,
                privatekey_file=str(s.private_key_file),
                **common,
            )
        if s.username and s.password:
            if s.consumer_key and s.consumer_secret:
                return Salesforce(
                    username=s.username,
                    password=secret(s.password),
                    consumer_key=s.consumer_key,
                    consumer_secret=secret(s.consumer_secret),
                    **common,
                )
            return Salesforce(
                username=s.username,
                password=secret(s.password),
                security_token=secret(s.security_token) if s.security_token else "",
                **common,
            )
        if s.consumer_key and s.consumer_secret:
            return Salesforce(
                consumer_key=s.consumer_key, consumer_secret=secret(s.consumer_secret), **common
            )
        raise ConfigError(
            "no complete set of Salesforce credentials",
            hint="set CRMPULSE_SALESFORCE__ACCESS_TOKEN and __INSTANCE_URL, or __USERNAME with "
            "__PASSWORD (and __SECURITY_TOKEN), or __CONSUMER_KEY with __CONSUMER_SECRET or "
            "__PRIVATE_KEY_FILE",
        )

    def _call(self, operation: str, kind: CallKind, fn: Callable[[], T]) -> T:
        """Run ``fn`` (one HTTP request, ideally) with retries and error translation."""

        def attempt() -> T:
            try:
                if operation != "login":
                    self.sf  # noqa: B018 - log in first, so the login is counted as such
                self._operation = (operation, kind)
                return fn()
            except CrmPulseError:
                raise
            except (SalesforceError, SalesforceOperationError, requests.RequestException) as exc:
                raise translate(exc, operation) from None

        retrying = Retrying(
            retry=retry_if_exception_type(CrmUnavailableError),
            stop=stop_after_attempt(self.settings.max_retries + 1),
            wait=wait_exponential_jitter(multiplier=0.2, max=20),
            reraise=True,
        )
        return retrying(attempt)

    # -- reading --------------------------------------------------------------------------

    def query_pages(self, soql: str, *, include_deleted: bool = False) -> Iterator[list[Row]]:
        """Pages of a SOQL query through REST (``queryAll`` with ``include_deleted``)."""
        timeout = self.settings.timeout_seconds
        result = self._call(
            "query",
            "read",
            lambda: self.sf.query(soql, include_deleted=include_deleted, timeout=timeout),
        )
        while True:
            yield [flatten(r) for r in result.get("records", [])]
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            more = functools.partial(
                self.sf.query_more,
                next_url,
                identifier_is_url=True,
                include_deleted=include_deleted,
                timeout=timeout,
            )
            result = self._call("query_more", "read", more)

    def count(self, soql: str, *, include_deleted: bool = False) -> int:
        """The ``totalSize`` of a ``SELECT COUNT() ...`` query."""
        result = self._call(
            "count", "read", lambda: self.sf.query(soql, include_deleted=include_deleted)
        )
        return int(result.get("totalSize", 0))

    def bulk_query(
        self, sobject: str, soql: str, *, include_deleted: bool = False, page_size: int = 50_000
    ) -> Iterator[list[Row]]:
        """Pages of a SOQL query run as a Bulk API 2.0 query job (CSV results)."""
        bulk = self._call("bulk_query", "read", lambda: getattr(self.sf.bulk2, sobject))
        method = bulk.query_all if include_deleted else bulk.query
        self._operation = ("bulk_query", "read")
        pages = method(soql, max_records=page_size, wait=self.bulk_poll_seconds)
        while True:
            chunk = self._call("bulk_query", "read", lambda: next(pages, None))
            if chunk is None:
                return
            text = chunk if isinstance(chunk, str) else str(chunk)
            yield [
                {k: (v if v != "" else None) for k, v in row.items()}
                for row in csv.DictReader(io.StringIO(text))
            ]

    def userinfo(self) -> dict[str, Any]:
        """Who the session belongs to: ``user_id``, ``organization_id`` (OAuth ``userinfo``;
        not metered against the API allocation)."""
        result = self._call("userinfo", "read", lambda: self.sf.oauth2("userinfo"))
        return dict(result or {})

    def describe(self, sobject: str) -> dict[str, Any] | None:
        """The sObject's describe, or ``None`` when the type does not exist."""

        def run() -> dict[str, Any] | None:
            try:
                result: dict[str, Any] = getattr(self.sf, sobject).describe()
            except SalesforceResourceNotFound:
                return None
            return result

        return self._call("describe", "read", run)

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """Records of a Tooling API query (first page; crmpulse asks for a handful)."""
        result = self._call(
            "tooling_query",
            "read",
            lambda: self.sf.toolingexecute("query/", params={"q": soql}),
        )
        records: list[dict[str, Any]] = list(result.get("records", []))
        return records

    # -- writing --------------------------------------------------------------------------

    def tooling_create(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create a Tooling API object (``CustomField``, ``CustomObject``)."""
        result: dict[str, Any] = self._call(
            f"tooling_create_{kind}",
            "write",
            lambda: self.sf.toolingexecute(f"sobjects/{kind}/", method="POST", data=body),
        )
        return result

    def create(self, sobject: str, values: dict[str, Any]) -> str:
        """Create one record; returns its id."""
        result = self._call(
            f"create_{sobject}", "write", lambda: getattr(self.sf, sobject).create(values)
        )
        return str(result["id"])

    def collection_update(
        self, records: Sequence[dict[str, Any]], *, all_or_none: bool = False
    ) -> list[dict[str, Any]]:
        """sObject Collections update (each record has ``attributes.type`` and ``Id``)."""
        body = {"allOrNone": all_or_none, "records": list(records)}
        return self._collection("collection_update", "composite/sobjects", body, "PATCH")

    def collection_create(self, records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """sObject Collections create (each record has ``attributes.type``)."""
        body = {"allOrNone": False, "records": list(records)}
        return self._collection("collection_create", "composite/sobjects", body, "POST")

    def collection_upsert(
        self, sobject: str, external_id: str, records: Sequence[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """sObject Collections upsert by an external-id field."""
        body = {"allOrNone": False, "records": list(records)}
        path = f"composite/sobjects/{sobject}/{external_id}"
        return self._collection("collection_upsert", path, body, "PATCH")

    def _collection(
        self, operation: str, path: str, body: dict[str, Any], method: str
    ) -> list[dict[str, Any]]:
        if len(body["records"]) > COLLECTION_SIZE:
            raise ValueError(f"at most {COLLECTION_SIZE} records per collection call")

        def run() -> list[dict[str, Any]]:
            result = self.sf.restful(path, method=method, json=body)
            return list(result or [])

        return self._call(operation, "write", run)

    def bulk_upsert(
        self, sobject: str, external_id: str, records: Sequence[dict[str, str]]
    ) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
        """A Bulk API 2.0 ingest job; returns (successful rows, failed rows with ``sf__Error``)."""
        bulk = self._call("bulk_ingest", "write", lambda: getattr(self.sf.bulk2, sobject))
        operation = "update" if external_id == "Id" else "upsert"

        def run() -> list[dict[str, Any]]:
            if operation == "update":
                jobs: list[dict[str, Any]] = bulk.update(
                    records=list(records), wait=self.bulk_poll_seconds
                )
            else:
                jobs = bulk.upsert(
                    records=list(records),
                    external_id_field=external_id,
                    wait=self.bulk_poll_seconds,
                )
            return jobs

        jobs = self._call("bulk_ingest", "write", run)
        ok: list[dict[str, str]] = []
        failed: list[dict[str, str]] = []
        for job in jobs:
            job_id = str(job["job_id"])
            good = self._call(
                "bulk_results", "read", functools.partial(bulk.get_successful_records, job_id)
            )
            bad = self._call(
                "bulk_results", "read", functools.partial(bulk.get_failed_records, job_id)
            )
            ok.extend(csv.DictReader(io.StringIO(good or "")))
            failed.extend(csv.DictReader(io.StringIO(bad or "")))
        return ok, failed


def _ignore(_response: requests.Response | None) -> None:
    """Nothing to report (a login)."""


def _secret(value: Any) -> str:
    return str(value.get_secret_value())


class SalesforceCallCosts:
    """Calls the Salesforce connector makes for a given amount of work (``crmpulse.estimate``).

    Pages hold 2,000 rows (REST) or 50,000 (Bulk 2.0 results); each page of opportunities,
    e-mail tasks and Feedback Management responses costs lookups of 500 ids per query. How many
    tasks are e-mails is asked of the org (one more count call).
    """

    REST_PAGE = 2_000
    BULK_PAGE = 50_000
    IN_CHUNK = 500
    BULK_JOB_CALLS = 3
    """Create the query job, poll it (at least once), and the last results page's empty tail."""

    def __init__(self, client: SalesforceClient) -> None:
        self.client = client
        self.settings = client.settings

    def available(self) -> int | None:
        """Calls the client's budget has left today before the reserve."""
        return self.client.budget.state().available

    def pull(self, stream: StreamSpec, records: int, since: datetime | None) -> int:
        """Count (first loads), pages, and each page's lookups."""
        calls = 0
        page = self.REST_PAGE
        threshold = self.settings.bulk_threshold
        if since is None and threshold:
            calls += 1
            if records > threshold:
                page = self.BULK_PAGE
                calls += self.BULK_JOB_CALLS - 1
        pages = [page] * (records // page) + ([records % page] if records % page else [])
        calls += max(1, len(pages))
        share = self._lookup_share(stream, records, since)
        per_id = 2 if stream.name == "surveys" else 1
        calls += sum(per_id * math.ceil(rows * share / self.IN_CHUNK) for rows in pages)
        return calls

    def _lookup_share(self, stream: StreamSpec, records: int, since: datetime | None) -> float:
        """Which share of a page's rows need a lookup query."""
        if stream.name == "deals":
            return 1.0
        if stream.name == "surveys":
            return 1.0 if self.settings.survey_source == "feedback_management" else 0.0
        if stream.name != "tasks" or not records:
            return 0.0
        where = "(TaskSubtype IN ('Email', 'ListEmail') OR Type = 'Email')"
        if since is not None:
            where += f" AND SystemModstamp > {soql.when(since)}"
        emails = self.client.count(f"SELECT COUNT() FROM Task WHERE {where}", include_deleted=True)
        return min(1.0, emails / records)

    def removed(self, stream: StreamSpec) -> int:
        """Nothing: ``queryAll`` pulls bring deleted rows with the changes."""
        return 0

    def push(self, changes: Sequence[PropertyChange]) -> int:
        """Collections of 200 per call; a Bulk 2.0 ingest job past ``bulk_write_threshold``."""
        rows = Counter(c.level for c in changes)
        calls = 0
        for level, count in rows.items():
            if level != "snapshot" and count > self.settings.bulk_write_threshold:
                calls += 7  # create, upload, close, poll, state, success and failure results
            else:
                calls += math.ceil(count / COLLECTION_SIZE)
        return calls

    def targets(self, spec: TargetSpec) -> int:
        """Describe each object, create each field (and the snapshot object), grant them."""
        fields = sum(len(spec.fields_for(level)) for level in ("account", "contact"))
        calls = 2 + fields
        if spec.snapshot is not None:
            calls += 2 + len(spec.snapshot.fields)
        return calls + 2
