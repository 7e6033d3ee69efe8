"""The Salesforce connector: SOQL pulls into normalized records, KPI fields written back.

Pulling: a first load reads each object ordered by ``(SystemModstamp, Id)`` through REST paging
(2,000 rows per call) or, past ``bulk_threshold`` rows, one Bulk API 2.0 query job. Later pulls
ask ``queryAll`` (so rows sent to the recycle bin come back with ``IsDeleted``) for rows modified
at or after the cursor, minus the overlap window, and skip what was already seen.

Writing: our fields are created through the Tooling API when missing and granted to a
permission set (a field created by API is invisible until granted); values go out through sObject
Collections, 200 rows per call, or a Bulk API 2.0 ingest job past ``bulk_write_threshold``; KPI
snapshots are upserted by their external id.

Activities are two streams: Task (e-mails, calls, notes, tasks; an e-mail's direction comes from
its Enhanced Email ``EmailMessage``, one query per 500 e-mail tasks of a page) and Event
(meetings). Collections report no modification stamp, so our
own writes come back once on the next pull (one query call per 2,000 rows) and change nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from crmpulse.errors import InvalidRecordError
from crmpulse.model import ActivityKind, Record
from crmpulse.ports import (
    CallStats,
    Cursor,
    Page,
    PropertyChange,
    PushResult,
    StreamSpec,
    TargetSpec,
)
from crmpulse.settings import SalesforceSettings, SyncSettings
from crmpulse_salesforce import mapper, schema, soql
from crmpulse_salesforce.client import Row, SalesforceClient
from crmpulse_salesforce.push import Pusher
from crmpulse_salesforce.schema import SalesforceStream

T = TypeVar("T")

IN_CHUNK = 500
"""Ids per ``IN (...)`` list: 500 URL-encoded quoted ids (27 characters each) keep a query URL
under Salesforce's 16,384-character limit."""


def _already_seen(updated: datetime, record_id: str, cursor: Cursor) -> bool:
    at_or_before = (updated, record_id) <= (cursor.updated_at, cursor.record_id)
    return at_or_before and updated <= cursor.visible_before


def _stamp(row: Row) -> tuple[datetime, str] | None:
    try:
        when = mapper.Fields(row).required_time("SystemModstamp")
    except ValueError:
        return None
    return when, row.get("Id") or ""


def _chunks(values: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _with_names(
    build: Callable[[Row, str, mapper.FieldNames], Record],
    source: str,
    names: mapper.FieldNames,
    row: Row,
) -> Record:
    return build(row, source, names)


def _custom_survey(source: str, row: Row) -> Record:
    return mapper.custom_survey(row, source)


def _event(source: str, row: Row) -> Record:
    return mapper.event(row, source)


class SalesforceConnector:
    """Pulls Salesforce objects into normalized records and writes KPI fields back."""

    name = "salesforce"

    def __init__(
        self,
        settings: SalesforceSettings,
        sync: SyncSettings,
        *,
        now: Any = None,
        bulk_poll_seconds: int = 2,
    ) -> None:
        self.calls = CallStats()
        self.settings = settings
        self.client = SalesforceClient(settings, self.calls, bulk_poll_seconds=bulk_poll_seconds)
        self.source = f"salesforce:{settings.org_name}"
        self._sync = sync
        self._now = now or (lambda: datetime.now(UTC))
        self._streams = schema.streams(settings)
        self._names = schema.field_names(settings)

    def streams(self) -> Sequence[StreamSpec]:
        """Accounts first, so contacts and cases find their accounts."""
        return self._streams

    def close(self) -> None:
        """Close the HTTP session."""
        self.client.close()

    # -- pulling ---------------------------------------------------------------------------

    def pull(self, stream: StreamSpec, cursor: Cursor | None) -> Iterator[Page]:
        """Full load when ``cursor`` is ``None``, else rows modified since it (deletes too)."""
        assert isinstance(stream, SalesforceStream)
        visible_before = self._now() - timedelta(seconds=self._sync.overlap_seconds)
        order = "SystemModstamp ASC, Id ASC"
        if cursor is None:
            text = soql.select(stream.fields, stream.crm_object, order=order)
            pages = self._pages(stream, text, include_deleted=False, full=True)
            current: Cursor | None = None
        else:
            where = f"SystemModstamp >= {soql.when(cursor.resume_from)}"
            text = soql.select(stream.fields, stream.crm_object, where, order)
            pages = self._pages(stream, text, include_deleted=True, full=False)
            current = Cursor(cursor.updated_at, cursor.record_id, visible_before)
        for rows in pages:
            fresh = rows if cursor is None else [r for r in rows if not self._seen(r, cursor)]
            current = self._advance(current, rows, visible_before)
            page = self._map(stream, fresh)
            yield Page(records=page.records, cursor=current, rejects=page.rejects)

    def _seen(self, row: Row, cursor: Cursor) -> bool:
        stamp = _stamp(row)
        return stamp is not None and _already_seen(stamp[0], stamp[1], cursor)

    def _pages(
        self, stream: SalesforceStream, text: str, *, include_deleted: bool, full: bool
    ) -> Iterator[list[Row]]:
        threshold = self.settings.bulk_threshold
        if full and threshold:
            total = self.client.count(f"SELECT COUNT() FROM {soql.name(stream.crm_object)}")
            if total > threshold:
                yield from self.client.bulk_query(
                    stream.crm_object, text, include_deleted=include_deleted
                )
                return
        yield from self.client.query_pages(text, include_deleted=include_deleted)

    def _advance(
        self, cursor: Cursor | None, rows: Sequence[Row], visible_before: datetime
    ) -> Cursor | None:
        best = (cursor.updated_at, cursor.record_id) if cursor else None
        for row in rows:
            stamp = _stamp(row)
            if stamp is not None and (best is None or stamp > best):
                best = stamp
        if best is None:
            return None
        return Cursor(updated_at=best[0], record_id=best[1], visible_before=visible_before)

    def _map(self, stream: SalesforceStream, rows: list[Row]) -> Page:
        records: list[Record] = []
        rejects: list[InvalidRecordError] = []
        source, names, name = self.source, self._names, stream.name

        def keep(build: Callable[[], Record], row: Row) -> None:
            try:
                records.append(mapper.map_row(build, row, name))
            except InvalidRecordError as exc:
                rejects.append(exc)

        if name == "surveys" and self.settings.survey_source == "feedback_management":
            self._map_feedback(rows, keep, rejects)
        elif name == "deals":
            roles = self._contact_roles([str(r["Id"]) for r in rows if r.get("Id")])
            for row in rows:
                ids = tuple(roles.get(row.get("Id") or "", ()))
                keep(functools.partial(mapper.opportunity, row, source, ids), row)
        elif name == "tasks":
            incoming = self._email_directions(rows)
            for row in rows:
                flag = incoming.get(row.get("Id") or "")
                keep(functools.partial(mapper.task, row, source, flag), row)
        else:
            build: Callable[[Row], Record] = {
                "accounts": functools.partial(_with_names, mapper.account, source, names),
                "contacts": functools.partial(_with_names, mapper.contact, source, names),
                "tickets": functools.partial(_with_names, mapper.case, source, names),
                "surveys": functools.partial(_custom_survey, source),
                "events": functools.partial(_event, source),
            }[name]
            for row in rows:
                keep(functools.partial(build, row), row)
        return Page(records=records, cursor=None, rejects=rejects)

    def _contact_roles(self, ids: list[str]) -> dict[str, list[str]]:
        """Contacts per opportunity, primary first."""
        roles: dict[str, list[tuple[bool, str]]] = {}
        for chunk in _chunks(ids, IN_CHUNK):
            text = soql.select(
                ["OpportunityId", "ContactId", "IsPrimary"],
                "OpportunityContactRole",
                f"OpportunityId IN {soql.id_list(chunk)}",
            )
            for rows in self.client.query_pages(text):
                for r in rows:
                    if r.get("OpportunityId") and r.get("ContactId"):
                        primary = (r.get("IsPrimary") or "").lower() == "true"
                        roles.setdefault(str(r["OpportunityId"]), []).append(
                            (not primary, str(r["ContactId"]))
                        )
        return {k: [c for _p, c in sorted(v)] for k, v in roles.items()}

    def _email_directions(self, rows: list[Row]) -> dict[str, bool]:
        """``Incoming`` of the Enhanced Email message behind each e-mail task of a page.

        Only e-mail tasks are looked up, so a page without any costs no call.
        """
        ids = [
            str(r["Id"])
            for r in rows
            if r.get("Id")
            and mapper.task_kind(r.get("TaskSubtype"), r.get("Type")) is ActivityKind.EMAIL
        ]
        incoming: dict[str, bool] = {}
        for chunk in _chunks(ids, IN_CHUNK):
            text = soql.select(
                schema.EMAIL_MESSAGE_FIELDS, "EmailMessage", f"ActivityId IN {soql.id_list(chunk)}"
            )
            # Deleted tasks take their messages to the recycle bin: ask queryAll for those too.
            for found in self.client.query_pages(text, include_deleted=True):
                for r in found:
                    if r.get("ActivityId"):
                        incoming[str(r["ActivityId"])] = (r.get("Incoming") or "").lower() == "true"
        return incoming

    def _map_feedback(
        self,
        responses: list[Row],
        keep: Callable[[Callable[[], Record], Row], None],
        rejects: list[InvalidRecordError],
    ) -> None:
        """Feedback Management: each scored question response of a page's responses."""
        ids = [str(r["Id"]) for r in responses if r.get("Id")]
        answers: dict[str, list[Row]] = {}
        cases: dict[str, str] = {}
        for chunk in _chunks(ids, IN_CHUNK):
            in_list = soql.id_list(chunk)
            text = soql.select(
                schema.SURVEY_ANSWER_FIELDS, "SurveyQuestionResponse", f"ResponseId IN {in_list}"
            )
            for rows in self.client.query_pages(text, include_deleted=True):
                for r in rows:
                    answers.setdefault(r.get("ResponseId") or "", []).append(r)
            text = soql.select(
                ["ParentId", "SubjectId"],
                "SurveySubject",
                f"ParentId IN {in_list} AND SubjectEntityType = {soql.quote('Case')}",
            )
            for rows in self.client.query_pages(text):
                for r in rows:
                    if r.get("ParentId") and r.get("SubjectId"):
                        cases[str(r["ParentId"])] = str(r["SubjectId"])
        marker = self.settings.ces_question
        for response in responses:
            rid = response.get("Id") or ""
            own = sorted(answers.get(rid, []), key=lambda a: a.get("Id") or "")
            comment = next(
                (
                    a.get("ResponseValue")
                    for a in own
                    if (a.get("Question.QuestionType") or "").lower() in ("freetext", "shorttext")
                    and a.get("ResponseValue")
                ),
                None,
            )
            scored = [
                (a, kind)
                for a in own
                if (
                    kind := mapper.survey_kind(
                        a.get("Question.QuestionType"), a.get("Question.DeveloperName"), marker
                    )
                )
                is not None
            ]
            if not scored:
                rejects.append(
                    InvalidRecordError(
                        "no NPS, CSAT or CES answer in this survey response",
                        stream="surveys",
                        record_id=rid,
                    )
                )
            for answer, kind in scored:
                keep(
                    functools.partial(
                        mapper.survey_answer,
                        response,
                        answer,
                        kind=kind,
                        comment=comment,
                        ticket_id=cases.get(rid),
                        source=self.source,
                    ),
                    answer,
                )

    def count_changed_since(self, stream: StreamSpec, since: datetime) -> int:
        """One COUNT() query: rows modified strictly after ``since`` (deleted included)."""
        where = f"SystemModstamp > {soql.when(since)}"
        return self.client.count(
            f"SELECT COUNT() FROM {soql.name(stream.crm_object)} WHERE {where}",
            include_deleted=True,
        )

    # -- writing ---------------------------------------------------------------------------

    def ensure_targets(self, spec: TargetSpec) -> list[str]:
        """Create missing custom fields (and the snapshot object), then grant them."""
        from crmpulse_salesforce.provision import Provisioner

        return Provisioner(self.client, self.settings.permission_set).ensure(spec)

    def push(self, changes: Sequence[PropertyChange]) -> PushResult:
        """Collections (or Bulk 2.0 past the threshold) per level; per-row outcomes."""
        return Pusher(self.client, self.settings).push(changes)
