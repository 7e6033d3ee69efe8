"""The only module that imports ``hubspot-api-client``.

``HubSpotClient`` wraps the SDK calls crmpulse makes: it caches the generated API objects (each
discovery access builds a new connection pool), paces calls under HubSpot's rolling limits,
retries 429 and 5xx answers with tenacity, counts every call by kind, and translates SDK and
urllib3 exceptions into the crmpulse error tree. Everything it returns is plain Python data.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

import urllib3
from hubspot import HubSpot
from hubspot.crm.associations.v4 import (
    BatchInputPublicFetchAssociationsBatchRequest,
    PublicFetchAssociationsBatchRequest,
)
from hubspot.crm.objects import (
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    PublicObjectSearchRequest,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
)
from hubspot.crm.properties import PropertyCreate, PropertyGroupCreate
from hubspot.crm.schemas import (
    ObjectSchemaEgg,
    ObjectTypeDefinitionLabels,
    ObjectTypePropertyCreate,
)
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential_jitter,
)
from urllib3.util.retry import Retry

from crmpulse.errors import (
    AuthError,
    ConfigError,
    CrmPulseError,
    CrmUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
)
from crmpulse.ports import CallStats

T = TypeVar("T")
CallKind = Literal["read", "write"]

WINDOW_SECONDS = 10.0
SEARCH_PER_SECOND = 5


@dataclass(frozen=True)
class RawObject:
    """A HubSpot CRM object as plain data."""

    id: str
    properties: dict[str, str | None]
    created_at: datetime
    updated_at: datetime
    archived: bool
    archived_at: datetime | None
    associations: dict[str, list[str]]

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RawObject:
        """An object from its API JSON (``SimplePublicObjectWithAssociations``)."""

        def when(text: str | None) -> datetime | None:
            return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None

        created, updated = when(doc["createdAt"]), when(doc["updatedAt"])
        if created is None or updated is None:
            raise ValueError(f"object {doc.get('id')} lacks createdAt/updatedAt")
        return cls(
            id=str(doc["id"]),
            properties=dict(doc.get("properties") or {}),
            created_at=created,
            updated_at=updated,
            archived=bool(doc.get("archived")),
            archived_at=when(doc.get("archivedAt")),
            associations={
                name: list(dict.fromkeys(str(a["id"]) for a in coll.get("results", [])))
                for name, coll in (doc.get("associations") or {}).items()
            },
        )


@dataclass(frozen=True)
class RawSchema:
    """A custom object schema as plain data."""

    name: str
    object_type_id: str
    """``2-<n>``: how the object is addressed in object paths."""
    fully_qualified_name: str
    properties: frozenset[str]


class ForbiddenError(AuthError):
    """HubSpot answered 403: the token lacks a scope, or the portal's tier lacks the feature."""

    def __init__(self, message: str, *, detail: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.detail = detail
        """HubSpot's own message."""


class RollingWindow:
    """Paces calls so no more than ``limit`` start in any ``window`` seconds."""

    def __init__(
        self,
        limit: int,
        window: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Block until a call may start; return the seconds waited."""
        waited = 0.0
        with self._lock:
            while True:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.window:
                    self._starts.popleft()
                if len(self._starts) < self.limit:
                    self._starts.append(now)
                    return waited
                pause = self.window - (now - self._starts[0]) + 0.001
                self._sleep(pause)
                waited += pause


def translate(exc: BaseException, operation: str) -> CrmPulseError:
    """Map an SDK / urllib3 exception to the crmpulse error tree."""
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status > 0:
        body = _error_body(exc)
        message = (
            f"HubSpot {operation}: {status} {body.get('message') or getattr(exc, 'reason', '')}"
        )
        if status == 401:
            return AuthError(
                message, hint="check CRMPULSE_HUBSPOT__ACCESS_TOKEN (a private-app token)"
            )
        if status == 403:
            detail = str(body.get("message") or getattr(exc, "reason", "") or "Forbidden")
            scopes = _required_scopes(body)
            if scopes:
                detail = f"{detail} (required scopes: {', '.join(scopes)})"
            return ForbiddenError(
                message, detail=detail, hint="the token lacks a scope crmpulse needs"
            )
        if status == 429:
            policy = str(body.get("policyName") or "")
            if policy == "DAILY":
                return QuotaExhaustedError(message, hint="the daily allocation resets at midnight")
            headers = getattr(exc, "headers", None) or {}
            retry_after = _float(headers.get("Retry-After"))
            if retry_after is None:
                interval = _float(headers.get("X-HubSpot-RateLimit-Interval-Milliseconds"))
                retry_after = 1.0 if policy == "SECONDLY" else (interval or 10000.0) / 1000.0 / 4
            return RateLimitedError(message, retry_after=retry_after, policy=policy or None)
        if status >= 500:
            return CrmUnavailableError(message)
        return CrmPulseError(message)
    if isinstance(exc, urllib3.exceptions.HTTPError):
        return CrmUnavailableError(
            f"HubSpot {operation}: cannot reach the API ({type(exc).__name__})",
            hint="check CRMPULSE_HUBSPOT__BASE_URL and the network",
        )
    return CrmPulseError(f"HubSpot {operation}: {type(exc).__name__}: {exc}")


def _error_body(exc: BaseException) -> dict[str, Any]:
    raw = getattr(exc, "body", None)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"message": str(raw)[:200]}
    return parsed if isinstance(parsed, dict) else {}


def _required_scopes(body: dict[str, Any]) -> list[str]:
    found: list[str] = []
    for item in body.get("errors") or []:
        context = item.get("context") if isinstance(item, dict) else None
        for scope in (context or {}).get("requiredGranularScopes") or []:
            if str(scope) not in found:
                found.append(str(scope))
    return found


def _float(value: object) -> float | None:
    try:
        return float(str(value)) if value is not None else None
    except ValueError:
        return None


def _wait(state: RetryCallState) -> float:
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, RateLimitedError) and exc.retry_after is not None:
        return exc.retry_after
    backoff: float = wait_exponential_jitter(multiplier=0.5, max=30)(state)
    return backoff


class HubSpotClient:
    """Thin, counted, paced, retried access to the HubSpot APIs crmpulse uses."""

    def __init__(
        self,
        *,
        base_url: str,
        access_token: str,
        timeout: float = 30.0,
        max_retries: int = 5,
        burst_limit: int = 190,
        calls: CallStats | None = None,
    ) -> None:
        if not access_token:
            raise ConfigError(
                "no HubSpot access token configured",
                hint="set CRMPULSE_HUBSPOT__ACCESS_TOKEN",
            )
        # Connection errors only: 429 and 5xx are handled below, where HubSpot's headers are read.
        retry = Retry(
            total=3,
            connect=3,
            read=0,
            status=0,
            redirect=0,
            respect_retry_after_header=False,
            raise_on_status=False,
        )
        sdk = HubSpot(access_token=access_token, host=base_url.rstrip("/"), retry=retry)
        self._objects = sdk.crm.objects
        self._basic = self._objects.basic_api
        self._batch = self._objects.batch_api
        self._search = self._objects.search_api
        self._assoc = sdk.crm.associations.v4.batch_api
        self._props = sdk.crm.properties.core_api
        self._groups = sdk.crm.properties.groups_api
        self._schemas = sdk.crm.schemas.core_api
        self._timeout = (min(10.0, timeout), timeout)
        self._max_retries = max_retries
        self._window = RollingWindow(max(1, burst_limit - 5), WINDOW_SECONDS)
        # a margin over the 1 s window: our clock and the server's disagree at the edge
        self._search_window = RollingWindow(SEARCH_PER_SECOND, 1.05)
        self.calls = calls if calls is not None else CallStats()

    # -- plumbing --------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        kind: CallKind,
        fn: Callable[[], T],
        *,
        search: bool = False,
    ) -> T:
        """Run one SDK call: paced, counted, retried, its errors translated."""

        def attempt() -> T:
            (self._search_window if search else self._window).acquire()
            self.calls.count(operation, kind)
            try:
                return fn()
            except Exception as exc:
                raise translate(exc, operation) from None

        retrying = Retrying(
            retry=retry_if_exception_type((RateLimitedError, CrmUnavailableError)),
            stop=stop_after_attempt(self._max_retries + 1),
            wait=_wait,
            reraise=True,
        )
        return retrying(attempt)

    # -- objects ---------------------------------------------------------------------------

    def list_page(
        self,
        object_type: str,
        *,
        after: str | None,
        limit: int,
        properties: Sequence[str],
        associations: Sequence[str],
    ) -> tuple[list[RawObject], str | None]:
        """One page of ``GET /crm/v3/objects/{type}`` with inline associations."""
        kwargs: dict[str, Any] = {
            "limit": limit,
            "properties": list(properties),
            "archived": False,
            "_request_timeout": self._timeout,
        }
        if associations:
            kwargs["associations"] = list(associations)
        if after:
            kwargs["after"] = after
        page = self._call(
            f"list {object_type}", "read", lambda: self._basic.get_page(object_type, **kwargs)
        )
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        return [_raw(o) for o in page.results], nxt

    def search_page(
        self,
        object_type: str,
        *,
        filter_groups: list[dict[str, Any]],
        sort: dict[str, str] | None,
        properties: Sequence[str],
        limit: int,
        after: int,
    ) -> tuple[list[RawObject], int, int | None]:
        """One page of ``POST /crm/v3/objects/{type}/search``: (objects, total, next offset)."""
        request = PublicObjectSearchRequest(
            filter_groups=filter_groups,
            sorts=[sort] if sort else [],
            properties=list(properties),
            limit=limit,
            after=str(after),
        )
        page = self._call(
            f"search {object_type}",
            "read",
            lambda: self._search.do_search(object_type, request, _request_timeout=self._timeout),
            search=True,
        )
        nxt = page.paging.next.after if page.paging and page.paging.next else None
        return [_raw(o) for o in page.results], int(page.total or 0), int(nxt) if nxt else None

    def batch_update(
        self, object_type: str, rows: Sequence[tuple[str, dict[str, str | None]]]
    ) -> tuple[dict[str, datetime], list[tuple[list[str], str]]]:
        """``batch/update`` up to 100 rows: ({id: updatedAt}, [(failed ids, message)])."""
        body = BatchInputSimplePublicObjectBatchInput(
            inputs=[SimplePublicObjectBatchInput(id=i, properties=p) for i, p in rows]
        )
        result = self._call(
            f"batch update {object_type}",
            "write",
            lambda: self._batch.update(object_type, body, _request_timeout=self._timeout),
        )
        written = {str(o.id): o.updated_at for o in (result.results or [])}
        errors = [
            (list((e.context or {}).get("ids", [])), str(e.message))
            for e in (getattr(result, "errors", None) or [])
        ]
        return written, errors

    def batch_upsert(
        self,
        object_type: str,
        id_property: str,
        rows: Sequence[tuple[str, dict[str, str | None]]],
    ) -> tuple[dict[str, datetime], list[tuple[list[str], str]]]:
        """``batch/upsert`` up to 100 rows by the unique property ``id_property``.

        Returns ({unique value: updatedAt}, [(failed unique values, message)]).
        """
        body = BatchInputSimplePublicObjectBatchInputUpsert(
            inputs=[
                SimplePublicObjectBatchInputUpsert(id=key, id_property=id_property, properties=p)
                for key, p in rows
            ]
        )
        result = self._call(
            f"batch upsert {object_type}",
            "write",
            lambda: self._batch.upsert(object_type, body, _request_timeout=self._timeout),
        )
        written: dict[str, datetime] = {}
        for obj in result.results or []:
            key = (obj.properties or {}).get(id_property)
            if key is not None:
                written[str(key)] = obj.updated_at
        errors = [
            (list((e.context or {}).get("ids", [])), str(e.message))
            for e in (getattr(result, "errors", None) or [])
        ]
        return written, errors

    def batch_read(
        self, object_type: str, ids: Sequence[str], properties: Sequence[str]
    ) -> list[RawObject]:
        """``batch/read`` up to 100 ids; missing ids are left out."""
        body = BatchReadInputSimplePublicObjectId(
            inputs=[SimplePublicObjectId(id=i) for i in ids],
            properties=list(properties),
            properties_with_history=[],
        )
        result = self._call(
            f"batch read {object_type}",
            "read",
            lambda: self._batch.read(object_type, body, _request_timeout=self._timeout),
        )
        return [_raw(o) for o in (result.results or [])]

    # -- associations ----------------------------------------------------------------------

    def associations(
        self, from_type: str, to_type: str, ids: Sequence[str]
    ) -> dict[str, list[str]]:
        """v4 ``batch/read`` of up to 1,000 ids: {from id: [to ids]} (absent = none)."""
        found: dict[str, list[str]] = {}
        pending: list[tuple[str, str | None]] = [(i, None) for i in ids]
        while pending:
            body = BatchInputPublicFetchAssociationsBatchRequest(
                inputs=[PublicFetchAssociationsBatchRequest(id=i, after=a) for i, a in pending]
            )
            result = self._call(
                f"associations {from_type}->{to_type}",
                "read",
                lambda body=body: self._assoc.get_page(  # type: ignore[misc]
                    from_type, to_type, body, _request_timeout=self._timeout
                ),
            )
            pending = []
            for row in result.results or []:
                key = str(row._from.id)
                found.setdefault(key, []).extend(str(t.to_object_id) for t in row.to or [])
                if row.paging and row.paging.next and row.paging.next.after:
                    pending.append((key, row.paging.next.after))
            # Ids without associations come back as NO_ASSOCIATIONS_FOUND errors: zero links.
        return found

    # -- properties ------------------------------------------------------------------------

    def property_names(self, object_type: str) -> set[str]:
        """Names of the object's existing properties."""
        result = self._call(
            f"list properties {object_type}",
            "read",
            lambda: self._props.get_all(object_type, _request_timeout=self._timeout),
        )
        return {p.name for p in result.results or []}

    def group_names(self, object_type: str) -> set[str]:
        """Names of the object's property groups."""
        result = self._call(
            f"list groups {object_type}",
            "read",
            lambda: self._groups.get_all(object_type, _request_timeout=self._timeout),
        )
        return {g.name for g in result.results or []}

    def create_group(self, object_type: str, name: str, label: str) -> bool:
        """Create a property group; ``False`` if it already existed (409)."""
        body = PropertyGroupCreate(name=name, label=label, display_order=-1)
        return self._create(
            f"create group {object_type}",
            lambda: self._groups.create(object_type, body, _request_timeout=self._timeout),
        )

    def create_property(self, object_type: str, definition: dict[str, Any]) -> bool:
        """Create a property; ``False`` if it already existed (409)."""
        body = PropertyCreate(**definition)
        return self._create(
            f"create property {object_type}",
            lambda: self._props.create(object_type, body, _request_timeout=self._timeout),
        )

    # -- custom object schemas -------------------------------------------------------------

    def schemas(self) -> list[RawSchema]:
        """The portal's custom object schemas."""
        result = self._call(
            "list schemas",
            "read",
            lambda: self._schemas.get_all(archived=False, _request_timeout=self._timeout),
        )
        return [_raw_schema(s) for s in result.results or []]

    def create_schema(self, definition: dict[str, Any]) -> RawSchema | None:
        """Create a custom object; ``None`` if one of that name already exists (409).

        ``definition`` is an ``ObjectSchemaEgg`` in snake case, its ``labels`` and
        ``properties`` as plain dicts. A portal without custom objects raises ``ForbiddenError``.
        """
        egg = ObjectSchemaEgg(
            **{
                **definition,
                "labels": ObjectTypeDefinitionLabels(**definition["labels"]),
                "properties": [ObjectTypePropertyCreate(**p) for p in definition["properties"]],
            }
        )

        def create() -> RawSchema | None:
            try:
                made = self._schemas.create(egg, _request_timeout=self._timeout)
            except Exception as exc:
                if getattr(exc, "status", None) == 409:
                    return None
                raise
            return _raw_schema(made)

        return self._call("create schema", "write", create)

    def _create(self, operation: str, fn: Callable[[], object]) -> bool:
        def create() -> bool:
            try:
                fn()
            except Exception as exc:
                if getattr(exc, "status", None) == 409:  # it exists already: what we wanted
                    return False
                raise
            return True

        return self._call(operation, "write", create)


def _raw_schema(schema: Any) -> RawSchema:
    return RawSchema(
        name=str(schema.name),
        object_type_id=str(schema.object_type_id),
        fully_qualified_name=str(schema.fully_qualified_name or ""),
        properties=frozenset(str(p.name) for p in schema.properties or []),
    )


def _raw(obj: Any) -> RawObject:
    assoc: dict[str, list[str]] = {}
    for name, coll in (getattr(obj, "associations", None) or {}).items():
        ids = assoc.setdefault(name, [])
        for item in coll.results or []:
            if item.id not in ids:
                ids.append(str(item.id))
    return RawObject(
        id=str(obj.id),
        properties=dict(obj.properties or {}),
        created_at=obj.created_at,
        updated_at=obj.updated_at,
        archived=bool(obj.archived),
        archived_at=getattr(obj, "archived_at", None),
        associations=assoc,
    )
