"""Build a :class:`~crmpulse.kpis.frame.Frame` straight from the store's typed columns.

Rows arrive in chunks of plain tuples (:meth:`crmpulse.store.Store.scan`) and are converted chunk
by chunk, so peak memory is the numpy columns plus one chunk, not one object per record. The result
equals :meth:`Frame.from_records` over the same records (a test keeps the two in step).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, Protocol

import numpy as np

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
)
from crmpulse.kpis.gcpause import gc_paused, trim_heap


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


def _columns(source: ColumnSource, entity: str, names: Sequence[str]) -> dict[str, list[Any]]:
    """All chunks of a scan, transposed into one Python list per column (small tables)."""
    out: dict[str, list[Any]] = {name: [] for name in names}
    for rows in source.scan(entity, names):
        for name, column in zip(names, zip(*rows, strict=True), strict=True):
            out[name].extend(column)
    return out


def _chunked(
    source: ColumnSource,
    entity: str,
    names: Sequence[str],
    convert: Callable[[Mapping[str, Sequence[Any]]], dict[str, np.ndarray[Any, Any]]],
) -> dict[str, np.ndarray[Any, Any]]:
    """Convert a scan chunk by chunk and concatenate the numpy columns."""
    parts: list[dict[str, np.ndarray[Any, Any]]] = []
    for rows in source.scan(entity, names):
        columns = dict(zip(names, zip(*rows, strict=True), strict=True))
        parts.append(convert(columns))
    if not parts:
        empty: dict[str, Sequence[Any]] = {name: [] for name in names}
        return convert(empty)
    return {key: np.concatenate([part[key] for part in parts]) for key in parts[0]}


_FORKED: dict[str, Callable[[], dict[str, np.ndarray[Any, Any]]]] = {}
"""The task a forked child runs (a fork copies it; nothing is pickled but the result)."""


def _run_forked() -> dict[str, np.ndarray[Any, Any]]:
    return _FORKED["task"]()


def _in_parallel(
    task: Callable[[], dict[str, np.ndarray[Any, Any]]],
) -> Callable[[], dict[str, np.ndarray[Any, Any]]]:
    """Start ``task`` in a forked child now; the returned callable waits for its result.

    Loading is Python-bound (one tuple per row), so the largest table is read by a second
    process while this one reads the others: two cores, roughly half the wall time.
    """
    _FORKED["task"] = task
    pool = multiprocessing.get_context("fork").Pool(1)
    pending = pool.apply_async(_run_forked)
    pool.close()

    def result() -> dict[str, np.ndarray[Any, Any]]:
        try:
            return pending.get()
        finally:
            pool.join()

    return result


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
        frame = _load(source, comments=comments, opener=opener)
    trim_heap()
    return frame


def _load(
    source: ColumnSource, *, comments: bool, opener: Callable[[], ColumnSource] | None
) -> Frame:
    accounts = _columns(
        source, "accounts", ["id", "segment", "created_at", "became_customer_at", "churned_at"]
    )
    contacts = _columns(
        source, "contacts", ["id", "account_id", "became_lead_at", "became_customer_at"]
    )
    account_order = np.argsort(np.array(accounts["id"], dtype=object), kind="stable")
    contact_order = np.argsort(np.array(contacts["id"], dtype=object), kind="stable")

    def ordered(column: list[Any], order: np.ndarray[Any, Any]) -> list[Any]:
        return [column[i] for i in order]

    book = CodeBook(
        ordered(accounts["id"], account_order),
        ordered(accounts["segment"], account_order),
        ordered(contacts["id"], contact_order),
        ordered(contacts["account_id"], contact_order),
    )
    account_id, contact_id = book.account_ids, book.contact_ids

    def owners(columns: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray[Any, Any]]:
        contact = CodeBook.codes(columns["contact_id"], book.contact_book)
        return {"account": book.accounts_of(columns["account_id"], contact), "contact": contact}

    def ticket_chunk(c: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray[Any, Any]]:
        return {
            "created": times(c["created_at"]),
            "first_response": times(c["first_response_at"]),
            "closed": times(c["closed_at"]),
            **owners(c),
        }

    kind_code = {kind: i for i, kind in enumerate(SURVEY_KINDS)}
    activity_code = {kind: i for i, kind in enumerate(ACTIVITY_KINDS)}

    def survey_chunk(c: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray[Any, Any]]:
        out = {
            "kind": np.array([kind_code[k] for k in c["survey_kind"]], np.int64),
            "score": np.array(c["score"], np.float64),
            "scale_min": np.array(c["scale_min"], np.float64),
            "scale_max": np.array(c["scale_max"], np.float64),
            "higher_is_better": np.array(c["higher_is_better"], np.bool_),
            "answered": times(c["answered_at"]),
            **owners(c),
        }
        if comments:
            out["comments"] = np.array(c["doc.comment"], dtype=object)
        return out

    def deal_chunk(c: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray[Any, Any]]:
        return {
            "created": times(c["created_at"]),
            "closed": times(c["closed_at"]),
            "amount": np.array([np.nan if a is None else a for a in c["amount"]], np.float64),
            "is_closed": np.array(c["is_closed"], np.bool_),
            "is_won": np.array(c["is_won"], np.bool_),
            "account": CodeBook.codes(c["account_id"], book.account_book),
        }

    def activity_chunk(c: Mapping[str, Sequence[Any]]) -> dict[str, np.ndarray[Any, Any]]:
        return {
            "kind": np.array([activity_code[k] for k in c["activity_kind"]], np.int64),
            "occurred": times(c["occurred_at"]),
            "inbound": np.array([d == "inbound" for d in c["direction"]], np.bool_),
            **owners(c),
        }

    ticket_cols = ["created_at", "first_response_at", "closed_at", "account_id", "contact_id"]
    survey_cols = [
        "survey_kind",
        "score",
        "scale_min",
        "scale_max",
        "higher_is_better",
        "answered_at",
        "account_id",
        "contact_id",
    ]
    if comments:
        survey_cols.append("doc.comment")
    deal_cols = ["created_at", "closed_at", "amount", "is_closed", "is_won", "account_id"]
    activity_cols = ["activity_kind", "occurred_at", "direction", "account_id", "contact_id"]
    if opener is not None and "fork" in multiprocessing.get_all_start_methods():
        tickets = _in_parallel(lambda: _chunked(opener(), "tickets", ticket_cols, ticket_chunk))
    else:
        loaded = _chunked(source, "tickets", ticket_cols, ticket_chunk)
        tickets = lambda: loaded  # noqa: E731
    surveys = _chunked(source, "surveys", survey_cols, survey_chunk)
    survey_comments = surveys.pop("comments", None)
    return Frame(
        account_ids=account_id,
        segments=book.segments,
        account_segment=book.account_segment,
        account_created=times(ordered(accounts["created_at"], account_order)),
        account_customer_since=times(ordered(accounts["became_customer_at"], account_order)),
        account_churned=times(ordered(accounts["churned_at"], account_order)),
        contact_ids=contact_id,
        contact_account=book.contact_account,
        contact_lead_since=times(ordered(contacts["became_lead_at"], contact_order)),
        contact_customer_since=times(ordered(contacts["became_customer_at"], contact_order)),
        tickets=Tickets(**tickets()),
        surveys=Surveys(
            **surveys,
            comments=None if survey_comments is None else list(survey_comments),
        ),
        deals=Deals(**_chunked(source, "deals", deal_cols, deal_chunk)),
        activities=Activities(**_chunked(source, "activities", activity_cols, activity_chunk)),
        _account_code=book.account_book,
        _contact_code=book.contact_book,
    )
