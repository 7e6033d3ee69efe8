"""The only module that imports ``hubspot-api-client``.

``HubSpotClient`` wraps the SDK calls crmpulse makes: it caches the generated API objects (each
discovery access builds a new connection pool), passes every call, read or write, through the
source's API budget (which paces it under HubSpot's rolling windows and stops before the daily
reserve) and feeds the ``X-HubSpot-RateLimit-*`` headers back to it, retries 429 and 5xx
answers with tenacity, counts every call by kind, and translates SDK and urllib3 exceptions into
the crmpulse error tree. Everything it returns is plain Python data.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
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

from crmpulse.budget import Budget, hubspot_budget
from crmpulse.errors import (
    AuthError,
    ConfigError,
    CrmPulseError,
    CrmUnavailableError,
    QuotaExhaustedError,
    RateLimitedError,
)
from crmpulse.ports import CallStats, PropertyChange, StreamSpec, TargetSpec
from crmpulse.settings import SyncSettings

T = TypeVar("T")
CallKind = Literal["read", "write"]

Answer = tuple[T, "Mapping[str, str] | None"]
"""What an SDK call returns to ``_call``: its value and the response's headers."""


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


def _int(value: object) -> int | None:
    number = _float(value)
    return int(number) if number is not None else None


def _usage(headers: Mapping[str, str] | None) -> dict[str, int | None]:
    """The ``X-HubSpot-RateLimit-*`` headers as budget corrections (search answers carry none)."""
    if not headers:
        return {}
    get = headers.get
    return {
        "daily_limit": _int(get("X-HubSpot-RateLimit-Daily")),
        "daily_remaining": _int(get("X-HubSpot-RateLimit-Daily-Remaining")),
        "window_limit": _int(get("X-HubSpot-RateLimit-Max")),
        "window_remaining": _int(get("X-HubSpot-RateLimit-Remaining")),
    }


def _http(result: Any) -> Answer[Any]:
    """A ``*_with_http_info`` result ``(data, status, headers)`` as ``(data, headers)``."""
    data, _status, headers = result
    return data, headers


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
        budget: Budget | None = None,
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
        self.budget = budget or hubspot_budget("hubspot", burst_limit=burst_limit)
        """Every call asks it first; replace it with :meth:`use_budget`."""
        self.calls = calls if calls is not None else CallStats()

    # -- plumbing --------------------------------------------------------------------------

    def use_budget(self, budget: Budget) -> None:
        """Spend ``budget`` from now on (the one built from the settings for this source)."""
        self.budget = budget

    def _call(
        self,
        operation: str,
        kind: CallKind,
        fn: Callable[[], Answer[T]],
        *,
        search: bool = False,
    ) -> T:
        """Run one SDK call: budgeted, counted, retried, its errors translated."""

        def attempt() -> T:
            slot = self.budget.acquire("search" if search else kind)
            self.calls.count(operation, kind)
            headers: Mapping[str, str] | None = None
            try:
                value, headers = fn()
                return value
            except Exception as exc:
                headers = getattr(exc, "headers", None)
                error = translate(exc, operation)
                if isinstance(error, RateLimitedError) and error.retry_after:
                    self.budget.throttled("search" if search else kind, error.retry_after)
                raise error from None
            finally:
                slot.release(**_usage(headers))

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
            f"list {object_type}",
            "read",
            lambda: _http(self._basic.get_page_with_http_info(object_type, **kwargs)),
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
            lambda: _http(
                self._search.do_search_with_http_info(
                    object_type, request, _request_timeout=self._timeout
                )
            ),
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
            lambda: _http(
                self._batch.update_with_http_info(object_type, body, _request_timeout=self._timeout)
            ),
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
            lambda: _http(
                self._batch.upsert_with_http_info(object_type, body, _request_timeout=self._timeout)
            ),
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
            lambda: _http(
                self._batch.read_with_http_info(object_type, body, _request_timeout=self._timeout)
            ),
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
                lambda body=body: _http(  # type: ignore[misc]
                    self._assoc.get_page_with_http_info(
                        from_type, to_type, body, _request_timeout=self._timeout
                    )
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
            lambda: _http(
                self._props.get_all_with_http_info(object_type, _request_timeout=self._timeout)
            ),
        )
        return {p.name for p in result.results or []}

    def group_names(self, object_type: str) -> set[str]:
        """Names of the object's property groups."""
        result = self._call(
            f"list groups {object_type}",
            "read",
            lambda: _http(
                self._groups.get_all_with_http_info(object_type, _request_timeout=self._timeout)
            ),
        )
        return {g.name for g in result.results or []}

    def create_group(self, object_type: str, name: str, label: str) -> bool:
        """Create a property group; ``False`` if it already existed (409)."""
        body = PropertyGroupCreate(name=name, label=label, display_order=-1)
        return self._create(
            f"create group {object_type}",
            lambda: self._groups.create_with_http_info(
                object_type, body, _request_timeout=self._timeout
            ),
        )

    def create_property(self, object_type: str, definition: dict[str, Any]) -> bool:
        """Create a property; ``False`` if it already existed (409)."""
        body = PropertyCreate(**definition)
        return self._create(
            f"create property {object_type}",
            lambda: self._props.create_with_http_info(
                object_type, body, _request_timeout=self._timeout
            ),
        )

    # -- custom object schemas -------------------------------------------------------------

    def schemas(self) -> list[RawSchema]:
        """The portal's custom object schemas."""
        result = self._call(
            "list schemas",
            "read",
            lambda: _http(
                self._schemas.get_all_with_http_info(archived=False, _request_timeout=self._timeout)
            ),
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

        def create() -> Answer[RawSchema | None]:
            try:
                made, headers = _http(
                    self._schemas.create_with_http_info(egg, _request_timeout=self._timeout)
                )
            except Exception as exc:
                if getattr(exc, "status", None) == 409:
                    return None, getattr(exc, "headers", None)
                raise
            return _raw_schema(made), headers

        return self._call("create schema", "write", create)

    def _create(self, operation: str, fn: Callable[[], Any]) -> bool:
        """``fn`` is a ``*_with_http_info`` create; a 409 means it exists: what we wanted."""

        def create() -> Answer[bool]:
            try:
                _data, headers = _http(fn())
            except Exception as exc:
                if getattr(exc, "status", None) == 409:
                    return False, getattr(exc, "headers", None)
                raise
            return True, headers

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


class HubSpotCallCosts:
    """Calls the HubSpot connector makes for a given amount of work (``crmpulse.estimate``)."""

    BATCH = 100
    """Rows per batch update / upsert."""
    SEARCH_CAP = 10_000
    """Search results reachable from one query; past it a new query window opens."""

    def __init__(self, client: HubSpotClient, sync: SyncSettings) -> None:
        self.client = client
        self.page_size = sync.page_size
        self.search_page_size = sync.search_page_size

    def available(self) -> int | None:
        """Calls the client's budget has left today before the reserve."""
        return self.client.budget.state().available

    def pull(self, stream: StreamSpec, records: int, since: datetime | None) -> int:
        """A full load lists pages (associations inline); an incremental pull searches pages
        and reads each page's associations, one call per association type."""
        if since is None:
            return max(1, math.ceil(records / self.page_size))
        pages = math.ceil(records / self.search_page_size)
        associations = len(getattr(stream, "associations", ()))
        return max(1, pages) + records // self.SEARCH_CAP + pages * associations

    def removed(self, stream: StreamSpec) -> int:
        """The archived listing: one page (of 100) for the usual handful of archived records."""
        return 1

    def push(self, changes: Sequence[PropertyChange]) -> int:
        """Batches per level; snapshots first look their custom object up."""
        rows = Counter(c.level for c in changes)
        calls = sum(math.ceil(rows[level] / self.BATCH) for level in ("account", "contact"))
        if rows["snapshot"]:
            calls += 1 + math.ceil(rows["snapshot"] / self.BATCH)
        return calls

    def targets(self, spec: TargetSpec) -> int:
        """Per object: list groups, create the group, list properties, create each property;
        the snapshot object: list schemas and create it (the lookup ``push`` counts is then
        not made)."""
        calls = sum(
            3 + len(spec.fields_for(level))
            for level in ("account", "contact")
            if spec.fields_for(level)
        )
        return calls + (1 if spec.snapshot is not None else 0)
