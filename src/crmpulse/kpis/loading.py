"""Build a :class:`~crmpulse.kpis.frame.Frame` straight from the store's typed columns.

Rows arrive in chunks of plain tuples (:meth:`crmpulse.store.Store.scan`) and are converted chunk
by chunk, so peak memory is the numpy columns plus one chunk, not one object per record. Nothing
read survives as a Python object: ids and comments become :mod:`~crmpulse.kpis.strings` columns,
and the ``{id: code}`` dicts that resolve references while reading are dropped at the end. The
result equals :meth:`Frame.from_records` over the same records (a test keeps the two in step).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

from crmpulse.kpis import forked
from crmpulse.kpis.frame import (
    ACTIVITY_KINDS,
    SURVEY_KINDS,
    Activities,
    CodeBook,
    Deals,
    Floats,
    Frame,
    Surveys,
    Tickets,
    segment_codes,
)
from crmpulse.kpis.gcpause import WORTH_TRIMMING, gc_paused, trim_heap
from crmpulse.kpis.strings import TEXT, Strings, sorted_ids

Columns = dict[str, np.ndarray[Any, Any]]
Convert = Callable[[Mapping[str, Sequence[Any]]], Columns]


class ColumnSource(Protocol):
    """What the loader needs from a store."""

    def scan(
        self, entity: str, columns: Sequence[str], *, chunk: int = ...
    ) -> Iterator[list[Sequence[Any]]]: ...  # pragma: no cover - protocol


def times(values: Sequence[Any]) -> Floats:
    """Epoch seconds from SQLite's UTC text or PostgreSQL's epoch numbers (NaN for NULL)."""
    if not values:
        return np.empty(0, np.float64)
    first = next((v for v in values if v is not None), None)
    if isinstance(first, str):
        stamps = np.array(values, dtype="datetime64[us]")
        # whole microseconds / 1e6: correctly rounded, as datetime.timestamp() is
        seconds = stamps.astype(np.int64).astype(np.float64) / 1e6
        return np.where(np.isnat(stamps), np.nan, seconds)
    return np.array(values, dtype=np.float64)  # None becomes NaN


def _transposed(rows: Sequence[Sequence[Any]], names: Sequence[str]) -> dict[str, list[Any]]:
    """One list per column of a chunk of rows."""
    # a pass per column: zip(*rows) would first pass every row as an argument, four times slower
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _chunked(source: ColumnSource, entity: str, names: Sequence[str], convert: Convert) -> Columns:
    """Convert a scan chunk by chunk, then join the chunks column by column."""
    parts: list[Columns] = []
    for rows in source.scan(entity, names):
        parts.append(convert(_transposed(rows, names)))
    if not parts:
        return convert({name: [] for name in names})
    joined: Columns = {}
    for key in list(parts[0]):
        # each chunk's piece goes as soon as it is copied: one column extra at most
        joined[key] = np.concatenate([part.pop(key) for part in parts])
    return joined


def load_frame(
    source: ColumnSource,
    *,
    comments: bool = False,
    opener: Callable[[], ColumnSource] | None = None,
) -> Frame:
    """Every live record of the store as a :class:`Frame`.

    With ``opener`` (a function opening a second connection to the same store), the tickets are
    read by a forked child process in parallel with the other tables.
    """
    # Millions of short-lived row tuples would trigger cyclic-GC passes over an ever larger
    # heap; none of them can form a cycle.
    with gc_paused():
        frame = _Reader(source, comments=comments).frame(opener)
    if frame.n_records + frame.n_contacts >= WORTH_TRIMMING:
        trim_heap()
    return frame


class _Reader:
    """The conversions of one load: the code book and one converter per table."""

    TICKETS = ("created_at", "first_response_at", "closed_at", "account_id", "contact_id")
    SURVEYS = (
        "survey_kind",
        "score",
        "scale_min",
        "scale_max",
        "higher_is_better",
        "answered_at",
        "account_id",
        "contact_id",
    )
    DEALS = ("created_at", "closed_at", "amount", "is_closed", "is_won", "account_id")
    ACTIVITIES = ("activity_kind", "occurred_at", "direction", "account_id", "contact_id")

    def __init__(self, source: ColumnSource, *, comments: bool) -> None:
        self.source = source
        self.comments = comments
        self.book: CodeBook | None = None

    def frame(self, opener: Callable[[], ColumnSource] | None) -> Frame:
        accounts = self._accounts()
        contacts = self._contacts()
        pending = None
        if opener is not None and forked.can_fork():
            pending = forked.start(lambda: _chunked(opener(), "tickets", self.TICKETS, self.ticket))
        survey_cols = [*self.SURVEYS, "doc.comment"] if self.comments else list(self.SURVEYS)
        surveys = _chunked(self.source, "surveys", survey_cols, self.survey)
        survey_comments = surveys.pop("comments", None)
        deals = _chunked(self.source, "deals", self.DEALS, self.deal)
        activities = _chunked(self.source, "activities", self.ACTIVITIES, self.activity)
        # the child has been reading the tickets all along; wait for them last
        if pending is not None:
            tickets = pending()
        else:
            tickets = _chunked(self.source, "tickets", self.TICKETS, self.ticket)
        book = self._book
        return Frame(
            account_ids=book.account_ids,
            contact_ids=book.contact_ids,
            contact_account=book.contact_account,
            **accounts,
            **contacts,
            tickets=Tickets(**tickets),
            surveys=Surveys(
                **surveys,
                comments=None if survey_comments is None else Strings(survey_comments),
            ),
            deals=Deals(**deals),
            activities=Activities(**activities),
        )

    @property
    def _book(self) -> CodeBook:
        assert self.book is not None, "accounts are read first"
        return self.book

    def _accounts(self) -> dict[str, Any]:
        names = ["id", "segment", "created_at", "became_customer_at", "churned_at"]
        columns: dict[str, list[Any]] = {name: [] for name in names}
        for rows in self.source.scan("accounts", names):
            for name, column in _transposed(rows, names).items():
                columns[name].extend(column)
        ids, order = sorted_ids(columns.pop("id"))
        self.book = CodeBook(ids)
        segments, account_segment = segment_codes([columns["segment"][i] for i in order])
        return {
            "segments": segments,
            "account_segment": account_segment,
            "account_created": times(columns["created_at"])[order],
            "account_customer_since": times(columns["became_customer_at"])[order],
            "account_churned": times(columns["churned_at"])[order],
        }

    def _contacts(self) -> dict[str, Any]:
        book = self._book

        def contact(c: Mapping[str, Sequence[Any]]) -> Columns:
            return {
                "id": np.array(c["id"], dtype=TEXT),
                "account": book.accounts.codes(c["account_id"]),
                "lead_since": times(c["became_lead_at"]),
                "customer_since": times(c["became_customer_at"]),
            }

        names = ["id", "account_id", "became_lead_at", "became_customer_at"]
        columns = _chunked(self.source, "contacts", names, contact)
        ids, order = sorted_ids(columns.pop("id"))
        book.add_contacts(ids, columns.pop("account")[order])
        return {
            "contact_lead_since": columns.pop("lead_since")[order],
            "contact_customer_since": columns.pop("customer_since")[order],
        }

    def owners(self, columns: Mapping[str, Sequence[Any]]) -> Columns:
        """``account`` and ``contact`` codes of a chunk of records that name both."""
        book = self._book
        contact = book.contacts.codes(columns["contact_id"])
        return {"account": book.accounts_of(columns["account_id"], contact), "contact": contact}

    def ticket(self, c: Mapping[str, Sequence[Any]]) -> Columns:
        """One chunk of tickets."""
        return {
            "created": times(c["created_at"]),
            "first_response": times(c["first_response_at"]),
            "closed": times(c["closed_at"]),
            **self.owners(c),
        }

    def survey(self, c: Mapping[str, Sequence[Any]]) -> Columns:
        """One chunk of survey answers."""
        code = {kind: i for i, kind in enumerate(SURVEY_KINDS)}
        out: Columns = {
            "kind": np.array([code[k] for k in c["survey_kind"]], np.int8),
            "score": np.array(c["score"], np.float64),
            "scale_min": np.array(c["scale_min"], np.float64),
            "scale_max": np.array(c["scale_max"], np.float64),
            "higher_is_better": np.array(c["higher_is_better"], np.bool_),
            "answered": times(c["answered_at"]),
            **self.owners(c),
        }
        if self.comments:
            out["comments"] = np.array(c["doc.comment"], dtype=TEXT)
        return out

    def deal(self, c: Mapping[str, Sequence[Any]]) -> Columns:
        """One chunk of deals."""
        return {
            "created": times(c["created_at"]),
            "closed": times(c["closed_at"]),
            "amount": np.array([np.nan if a is None else a for a in c["amount"]], np.float64),
            "is_closed": np.array(c["is_closed"], np.bool_),
            "is_won": np.array(c["is_won"], np.bool_),
            "account": self._book.accounts.codes(c["account_id"]),
        }

    def activity(self, c: Mapping[str, Sequence[Any]]) -> Columns:
        """One chunk of activities."""
        code = {kind: i for i, kind in enumerate(ACTIVITY_KINDS)}
        return {
            "kind": np.array([code[k] for k in c["activity_kind"]], np.int8),
            "occurred": times(c["occurred_at"]),
            "inbound": np.array([d == "inbound" for d in c["direction"]], np.bool_),
            **self.owners(c),
        }
