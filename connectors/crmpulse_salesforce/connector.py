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
    Fetched,
    LiveRecord,
    Page,
    PropertyChange,
    PushResult,
    Removed,
    StreamSpec,
    TargetSpec,
)
from crmpulse.settings import SalesforceSettings, SyncSettings
from crmpulse_salesforce import mapper, schema, soql
from crmpulse_salesforce.client import Row, SalesforceClient
from crmpulse_salesforce.fields import SelectableFields
from crmpulse_salesforce.push import Pusher
from crmpulse_salesforce.schema import SalesforceStream

T = TypeVar("T")

IN_CHUNK = 500
"""Ids per ``IN (...)`` list: 500 URL-encoded quoted ids (27 characters each) keep a query URL
under Salesforce's 16,384-character limit."""


MERGEABLE = frozenset({"Account", "Contact"})
"""Streamed objects whose merged-away rows name their survivor in ``MasterRecordId``."""
MASTER = "MasterRecordId"
PREFIX_STREAMS = {"00T": "tasks", "00U": "events"}
"""Id key prefix -> the activities stream that holds it."""
SURVEY_RESPONSE_PREFIX = "0Kp"
"""Key prefix of SurveyResponse ids (question responses are ``0Kq``)."""


def _fields(stream: SalesforceStream) -> tuple[str, ...]:
    """A stream's SOQL fields, plus the merge survivor where the object can be merged."""
    if stream.crm_object in MERGEABLE and MASTER not in stream.fields:
        return (*stream.fields, MASTER)
    return stream.fields


def _merges(rows: Sequence[Row]) -> dict[str, str]:
    """Merged-away id -> survivor, from deleted rows that carry ``MasterRecordId``."""
    return {
        str(r["Id"]): str(r[MASTER])
        for r in rows
        if r.get("Id") and r.get(MASTER) and (r.get("IsDeleted") or "").lower() == "true"
    }


def _already_seen(updated: datetime, record_id: str, cursor: Cursor) -> bool:
    at_or_before = (updated, record_id) <= (cursor.updated_at, cursor.record_id)
    return at_or_before and updated <= cursor.visible_before


def _stamp(row: Row) -> tuple[datetime, str] | None:
    try:
        when = mapper.Fields(row).required_time("SystemModstamp")
    except ValueError:
        return None
    return when, row.get("Id") or ""


def _key(value: str | None) -> str:
    """An id compared case-safely: 15- and 18-character forms of one id are equal."""
    return (value or "")[:15]


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
        self._selectable = SelectableFields(self.client, _fields)

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
        where = None if cursor is None else f"SystemModstamp >= {soql.when(cursor.resume_from)}"
        full = cursor is None

        def query(fields: tuple[str, ...]) -> Iterator[list[Row]]:
            text = soql.select(fields, stream.crm_object, where, order)
            return self._pages(stream, text, include_deleted=not full, full=full)

        self._selectable.reset(stream)
        pages = self._selectable.query(stream, query)
        current = (
            None if cursor is None else Cursor(cursor.updated_at, cursor.record_id, visible_before)
        )
        for rows in pages:
            fresh = rows if cursor is None else [r for r in rows if not self._seen(r, cursor)]
            current = self._advance(current, rows, visible_before)
            page = self._map(stream, fresh)
            merged = _merges(fresh)
            yield Page(
                records=page.records,
                cursor=current,
                rejects=page.rejects,
                removed=sorted(merged),
                merged_into=merged,
            )

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

    # -- reading by id and reconciling -----------------------------------------------------

    def fetch(self, entity: str, ids: Sequence[str]) -> Fetched:
        """Read records by id: ``queryAll`` of ``WHERE Id IN (...)``, 500 ids per query, plus
        the lookups a pull page makes (contact roles, e-mail directions, survey answers).

        Rows in the recycle bin are ``missing`` (merged-away ones also in ``merged_into``, from
        ``MasterRecordId``); ids the org does not return at all (purged) are ``missing`` too.
        Activities go to Task or Event by their id's key prefix. Survey answers (Feedback
        Management) are found through their question responses.
        """
        streams = [s for s in self._streams if s.entity == entity]
        if not streams:
            raise KeyError(f"Salesforce has no stream for entity {entity!r}")
        wanted = list(dict.fromkeys(str(i) for i in ids))
        records: list[Record] = []
        rejects: list[InvalidRecordError] = []
        missing: list[str] = []
        merged_into: dict[str, str] = {}
        for stream in streams:
            assert isinstance(stream, SalesforceStream)
            mine = [i for i in wanted if self._holds(stream, i)]
            if not mine:
                continue
            if stream.name == "surveys" and self.settings.survey_source == "feedback_management":
                found, gone, merges = self._fetch_answers(stream, mine)
            else:
                found, gone, merges = self._fetch_rows(stream, mine)
            page = self._map(stream, found)
            records.extend(page.records)
            rejects.extend(page.rejects)
            missing.extend(gone)
            merged_into.update(merges)
        return Fetched(records=records, rejects=rejects, missing=missing, merged_into=merged_into)

    def _holds(self, stream: StreamSpec, record_id: str) -> bool:
        owner = PREFIX_STREAMS.get(record_id[:3])
        if stream.name in PREFIX_STREAMS.values():
            return owner == stream.name
        return True

    def _rows_by_id(
        self, stream: SalesforceStream, sobject: str, fields: Sequence[str], ids: Sequence[str]
    ) -> list[Row]:
        rows: list[Row] = []
        for chunk in _chunks(ids, IN_CHUNK):
            text = soql.select(fields, sobject, f"Id IN {soql.id_list(chunk)}")
            for page in self.client.query_pages(text, include_deleted=True):
                rows.extend(page)
        return rows

    def _fetch_rows(
        self, stream: SalesforceStream, ids: Sequence[str]
    ) -> tuple[list[Row], list[str], dict[str, str]]:
        """(live rows, ids deleted or unknown, merged-away id -> survivor) of one stream."""

        def query(fields: tuple[str, ...]) -> Iterator[list[Row]]:
            return iter([self._rows_by_id(stream, stream.crm_object, fields, ids)])

        rows = [row for page in self._selectable.query(stream, query) for row in page]
        live = [r for r in rows if (r.get("IsDeleted") or "").lower() != "true"]
        seen = {_key(r.get("Id")) for r in live}
        return live, [i for i in ids if _key(i) not in seen], _merges(rows)

    def _fetch_answers(
        self, stream: SalesforceStream, ids: Sequence[str]
    ) -> tuple[list[Row], list[str], dict[str, str]]:
        """Survey responses behind question-response ids (their answers are the records) or
        named by their own ids (an outbound message on SurveyResponse)."""
        responses_asked = [i for i in ids if i.startswith(SURVEY_RESPONSE_PREFIX)]
        answers_asked = [i for i in ids if not i.startswith(SURVEY_RESPONSE_PREFIX)]
        fields = ["Id", "ResponseId"]
        answers = self._rows_by_id(stream, "SurveyQuestionResponse", fields, answers_asked)
        for chunk in _chunks(responses_asked, IN_CHUNK):
            text = soql.select(
                fields, "SurveyQuestionResponse", f"ResponseId IN {soql.id_list(chunk)}"
            )
            for page in self.client.query_pages(text, include_deleted=True):
                answers.extend(page)
        parents = list(dict.fromkeys(str(a["ResponseId"]) for a in answers if a.get("ResponseId")))
        responses = self._fetch_rows(stream, parents)[0] if parents else []
        live = {_key(r.get("Id")) for r in responses}
        kept = {_key(a.get("Id")) for a in answers if _key(a.get("ResponseId")) in live} | live
        return responses, [i for i in ids if _key(i) not in kept], {}

    def removed(self, stream: StreamSpec) -> Removed:
        """Nothing beyond what pulls see: they ask ``queryAll``, which returns recycle-bin rows
        (with ``IsDeleted`` and ``MasterRecordId``) as changes. Purged rows leave no trace but the
        id-set reconciliation."""
        return Removed(ids={})

    def live_records(self, stream: StreamSpec) -> Iterator[list[LiveRecord]]:
        """Every live row's id and lookup fields: ``SELECT Id, <lookups> FROM T`` (2,000 per
        call; question responses for Feedback Management surveys)."""
        assert isinstance(stream, SalesforceStream)
        if stream.name == "surveys" and self.settings.survey_source == "feedback_management":
            text = soql.select(["Id"], "SurveyQuestionResponse")
        else:
            lookups = [f for f in mapper.LINK_FIELDS.get(stream.name, ()) if f in stream.fields]
            text = soql.select(["Id", *lookups], stream.crm_object)
        for rows in self.client.query_pages(text):
            yield [
                LiveRecord(str(r["Id"]), mapper.links(stream.name, r, self.settings.survey_source))
                for r in rows
                if r.get("Id")
            ]

    def refetches_missing(self, stream: StreamSpec) -> bool:
        """Whether every live id listed is a record the store should hold: not for Feedback
        Management surveys, whose listing includes unscored (free-text) answers."""
        return not (
            stream.name == "surveys" and self.settings.survey_source == "feedback_management"
        )

    # -- writing ---------------------------------------------------------------------------

    def ensure_targets(self, spec: TargetSpec) -> list[str]:
        """Create missing custom fields (and the snapshot object), then grant them."""
        from crmpulse_salesforce.provision import Provisioner

        return Provisioner(self.client, self.settings.permission_set).ensure(spec)

    def push(self, changes: Sequence[PropertyChange]) -> PushResult:
        """Collections (or Bulk 2.0 past the threshold) per level; per-row outcomes."""
        return Pusher(self.client, self.settings).push(changes)
