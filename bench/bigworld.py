"""A very large crmpulse SQLite store, written straight into its tables, for the KPI benchmark.

Going through pydantic records and ``Store.upsert`` costs tens of microseconds a record: hours for
the benchmark world. Here every quantity is drawn as a whole numpy column from one seeded generator
per table (same spec, same file), and rows go in through plain ``sqlite3`` ``executemany``, one
transaction per table, with the journal off while loading. The rows are exactly what
``Store.upsert`` writes for the same records: the same typed columns, and a ``doc`` byte for byte
equal to ``record.model_dump_json()``, so the store reads them back as if they had been upserted.

Timestamps are whole seconds: the column text ends ``.000000`` and the JSON has no fraction
(``"2026-10-15T12:00:00Z"``). Ids are numeric strings of one length per entity; events (tickets,
surveys, deals, activities, conversions) are numbered in time order, as CRM ids usually are.

    python bench/bigworld.py --scale 1.0 --out /tmp/bigworld.db
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import sqlite3
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from crmpulse.errors import ConfigError
from crmpulse.model import ENTITY_TYPES
from crmpulse.store.store import Store
from crmpulse.synth.story import CHANNELS, PRIORITIES, SEGMENTS
from crmpulse.synth.text import (
    BRAND_ROOTS,
    FIRST_NAMES,
    INDUSTRIES,
    LAST_NAMES,
    SUBJECTS,
    Lang,
)
from crmpulse.synth.world import OPEN_STAGES

Ints = npt.NDArray[np.int64]

GENERATOR_VERSION = 1
"""Part of the cache key: bump it whenever the generated content changes."""

NONE = -1  # a missing timestamp, reference or category in the integer columns
HOUR, DAY = 3_600, 86_400
MONTH = 2_630_016  # 30.44 days
ENTITY_BASE = {
    "accounts": 1_000_000_000,
    "contacts": 2_000_000_000,
    "conversions": 3_000_000_000,
    "tickets": 4_000_000_000,
    "surveys": 5_000_000_000,
    "deals": 6_000_000_000,
    "activities": 7_000_000_000,
}
"""Entity -> first id; ids are ``base + index``, ten digits whatever the scale."""

SEGMENT_SHARES = (0.70, 0.22, 0.08)
SEGMENT_SIZE = np.array([1.0, 2.5, 6.0])  # contacts, tickets, deals per account, relative to SMB
AMOUNT_MEDIAN = np.array([2_400.0, 18_000.0, 120_000.0])
LANGS: tuple[Lang, ...] = ("pt", "en")
STAGES = ("subscriber", "lead", "opportunity", "customer", "churned", "other")
DEAL_STAGES = ("closedwon", "closedlost", *OPEN_STAGES)
DEAL_NAMES = ("Novo negócio", "Renovação", "Expansão", "New business", "Renewal", "Upsell")
ACTIVITY_KINDS = ("email", "call", "meeting", "note", "task")
SURVEY_KINDS = ("NPS", "CSAT", "CES")
SCALE_MIN, SCALE_MAX = np.array([0, 1, 1]), np.array([10, 5, 7])
SCORE_SHARES = (
    (0.02, 0.01, 0.015, 0.02, 0.025, 0.05, 0.06, 0.10, 0.20, 0.22, 0.28),  # NPS 0..10
    (0.04, 0.06, 0.15, 0.35, 0.40),  # CSAT 1..5
    (0.03, 0.04, 0.08, 0.15, 0.25, 0.25, 0.20),  # CES 1..7, 7 = easiest
)
PRAISE_FROM, COMPLAINT_UP_TO = np.array([9, 4, 5]), np.array([6, 2, 3])
COMMENTS = (  # language, then praise / mixed / complaint, three of each
    ("Atendimento excelente, resolveram rápido.", "Ótimo produto, recomendo.", "Equipe atenciosa."),
    ("Bom, mas poderia ser mais rápido.", "Funciona, porém o preço pesa.", "Razoável."),
    ("Demoraram demais para responder.", "O sistema caiu de novo.", "Preço alto e suporte lento."),
    ("Great support, solved it fast.", "Love the product.", "Very helpful team."),
    ("Good, but could be faster.", "It works, but pricing hurts.", "Okay overall."),
    ("Took far too long to answer.", "The system went down again.", "Expensive and slow support."),
)
SUBJECT_BY_LANG = {lang: tuple(s for t in SUBJECTS.values() for s in t[lang]) for lang in LANGS}


def _slug(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _flat(words: dict[Lang, tuple[str, ...]]) -> tuple[str, ...]:
    return tuple(word for name in LANGS for word in words[name])


SLUGS = tuple(_slug(root) for root in BRAND_ROOTS)
FIRSTS, LASTS, SUBJECTS_ALL = _flat(FIRST_NAMES), _flat(LAST_NAMES), _flat(SUBJECT_BY_LANG)
FIRST_SLUGS, LAST_SLUGS = tuple(map(_slug, FIRSTS)), tuple(map(_slug, LASTS))


@dataclass(frozen=True)
class BigWorldSpec:
    """How big the world is, which seed draws it, and the instant it ends (``as_of``).

    ``months`` is the KPI window before ``as_of``; some accounts became customers before it.
    Conversions are not counted here: there is one per contact that became a lead.
    """

    accounts: int = 200_000
    contacts: int = 1_000_000
    tickets: int = 5_000_000
    surveys: int = 1_000_000
    deals: int = 2_000_000
    activities: int = 1_000_000
    months: int = 36
    seed: int = 1
    as_of: datetime = datetime(2026, 10, 15, 12, tzinfo=UTC)
    source: str = "hubspot:bench"

    def __post_init__(self) -> None:
        """Refuse worlds the generator cannot draw, naming the field to fix."""
        for name in COUNTED:
            value = getattr(self, name)
            if not 0 <= value < 1_000_000_000:  # ids are base + index, ten digits
                raise ConfigError(f"BigWorldSpec.{name} = {value} is outside 0..999,999,999")
        if self.accounts < 1 or self.contacts < self.accounts:
            raise ConfigError(
                f"BigWorldSpec needs 1 <= accounts <= contacts, got {self.accounts} accounts and "
                f"{self.contacts} contacts",
                hint="every account has at least one contact; raise contacts",
            )
        if self.months < 1 or self.as_of.tzinfo is None:
            raise ConfigError(
                f"BigWorldSpec.months = {self.months}, as_of = {self.as_of.isoformat()}",
                hint="months must be >= 1 and as_of timezone-aware",
            )

    def scaled(self, factor: float) -> BigWorldSpec:
        """The same world with every count multiplied by ``factor`` (rounded, accounts >= 1)."""
        if not factor > 0:
            raise ConfigError(f"scale factor must be > 0, got {factor}")
        counts = {name: round(getattr(self, name) * factor) for name in COUNTED}
        counts["accounts"] = max(1, counts["accounts"])
        counts["contacts"] = max(counts["accounts"], counts["contacts"])
        return replace(self, **counts)

    def digest(self) -> str:
        """A short hash of the spec and the generator version: the cache key."""
        data = {**asdict(self), "as_of": self.as_of.isoformat(), "version": GENERATOR_VERSION}
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:16]


COUNTED = ("accounts", "contacts", "tickets", "surveys", "deals", "activities")


# -- the drawn world: integer columns, NONE where a value is missing ------------------------------


@dataclass(frozen=True)
class _Accounts:
    segment: Ints
    weight: npt.NDArray[np.float64]
    lang: Ints
    industry: Ints
    root: Ints
    created: Ints
    updated: Ints
    customer: Ints
    churned: Ints
    contacts: Ints  # how many contacts each account has
    first_contact: Ints  # index of its first contact (an account's contacts are contiguous)

    def pick_contact(self, rng: np.random.Generator, account: Ints, share: float = 1.0) -> Ints:
        """A random contact of each account, or NONE with probability ``1 - share``."""
        contact = self.first_contact[account] + (rng.random(account.size) * self.contacts[account])
        chosen = np.where(rng.random(account.size) < share, contact, NONE)
        return chosen.astype(np.int64)


@dataclass(frozen=True)
class _Contacts:
    account: Ints
    created: Ints
    updated: Ints
    lead: Ints
    customer: Ints
    churned: Ints
    stage: Ints
    first: Ints
    last: Ints


@dataclass(frozen=True)
class _Tickets:
    account: Ints
    contact: Ints
    created: Ints
    updated: Ints
    responded: Ints
    closed: Ints
    priority: Ints
    channel: Ints
    subject: Ints


def _seconds(values: npt.NDArray[np.float64]) -> Ints:
    return values.astype(np.int64)


def _latest(*columns: Ints) -> Ints:
    return np.asarray(np.maximum.reduce(columns), dtype=np.int64)


def _uniform(rng: np.random.Generator, lo: Ints | int, hi: Ints | int, n: int) -> Ints:
    return np.asarray(lo + _seconds(rng.random(n) * np.subtract(hi, lo)), dtype=np.int64)


def _by_lang(rng: np.random.Generator, words: dict[Lang, tuple[str, ...]], lang: Ints) -> Ints:
    """Codes into ``_flat(words)`` of a random word in each row's language."""
    sizes = np.array([len(words[name]) for name in LANGS])
    offsets = np.cumsum(sizes) - sizes
    return np.asarray(offsets[lang] + _seconds(rng.random(lang.size) * sizes[lang]))


def _draw_accounts(rng: np.random.Generator, spec: BigWorldSpec, start: int, end: int) -> _Accounts:
    n = spec.accounts
    segment = rng.choice(3, n, p=SEGMENT_SHARES)
    weight = SEGMENT_SIZE[segment] * rng.lognormal(0.0, 0.5, n)
    is_customer = rng.random(n) < 0.92
    customer = _uniform(rng, start - 12 * MONTH, end - 7 * DAY, n)
    created = np.where(
        is_customer,
        customer - _seconds(rng.exponential(60 * DAY, n)),
        _uniform(rng, start - 12 * MONTH, end - DAY, n),
    )
    customer = np.where(is_customer, customer, NONE)
    room = end - customer - 30 * DAY  # churn comes at least a month after signing
    churns = is_customer & (room > 0) & (rng.random(n) < 0.20)
    churned = np.where(churns, customer + 30 * DAY + _seconds(rng.random(n) * room), NONE)
    latest = _latest(created, customer, churned)
    contacts = 1 + rng.multinomial(spec.contacts - n, weight / weight.sum())
    return _Accounts(
        segment=segment,
        weight=weight,
        lang=(rng.random(n) < 0.3).astype(np.int64),
        industry=rng.integers(0, len(INDUSTRIES), n),
        root=rng.integers(0, len(BRAND_ROOTS), n),
        created=created,
        updated=_uniform(rng, latest, latest + (end - latest) // 2, n),
        customer=customer,
        churned=churned,
        contacts=contacts,
        first_contact=np.cumsum(contacts) - contacts,
    )


def _draw_contacts(
    rng: np.random.Generator, spec: BigWorldSpec, acc: _Accounts, end: int
) -> _Contacts:
    m = spec.contacts
    account = np.repeat(np.arange(spec.accounts), acc.contacts)
    created = np.minimum(acc.created[account] + _seconds(rng.exponential(90 * DAY, m)), end - HOUR)
    lead = created + _seconds(rng.exponential(20 * DAY, m))
    is_lead = (rng.random(m) < 0.65) & (lead <= end)
    customer = lead + rng.integers(DAY, 90 * DAY, m)  # the ~25 % that convert do so within 90 days
    converts = is_lead & (rng.random(m) < 0.25) & (customer <= end)
    churns = converts & (acc.churned[account] >= customer)
    opportunity = (
        rng.random(m) < 0.3
    )  # of open leads; of the others it picks "other" over subscriber
    stage = np.select(
        [churns, converts, is_lead & opportunity, is_lead, ~opportunity], [4, 3, 2, 1, 0], 5
    )
    lead, customer = np.where(is_lead, lead, NONE), np.where(converts, customer, NONE)
    churned = np.where(churns, acc.churned[account], NONE)
    lang = acc.lang[account]
    return _Contacts(
        account=account,
        created=created,
        updated=_latest(created, lead, customer, churned),
        lead=lead,
        customer=customer,
        churned=churned,
        stage=stage,
        first=_by_lang(rng, FIRST_NAMES, lang),
        last=_by_lang(rng, LAST_NAMES, lang),
    )


def _draw_tickets(
    rng: np.random.Generator, spec: BigWorldSpec, acc: _Accounts, start: int, end: int
) -> _Tickets:
    t = spec.tickets
    repeats = round(t * 0.12)  # a second ticket from the same contact within 7 days
    first = t - repeats
    weight = acc.weight * np.where(acc.customer >= 0, 1.0, 0.1)
    account = rng.choice(spec.accounts, first, p=weight / weight.sum())
    contact = acc.pick_contact(rng, account)
    churned = acc.churned[account]
    hi = np.where(churned >= 0, churned, end - HOUR)
    lo = np.maximum(start, acc.created[account])
    created = _uniform(rng, np.where(lo < hi, lo, acc.created[account]), hi, first)
    parent = rng.integers(0, max(first, 1), repeats)
    gap = np.minimum(rng.integers(HOUR, 7 * DAY, repeats), (end - created[parent]) // 2)
    created = np.concatenate([created, created[parent] + gap])
    order = np.argsort(created, kind="stable")
    created = created[order]
    account = np.concatenate([account, account[parent]])[order]
    contact = np.concatenate([contact, contact[parent]])[order]
    responded = created + _seconds(rng.lognormal(np.log(3 * HOUR), 1.3, t))
    has_response = (rng.random(t) < 0.97) & (responded <= end)
    closed = created + _seconds(rng.lognormal(np.log(20 * HOUR), 1.1, t))
    closed = np.where(has_response, np.maximum(closed, responded), closed)
    is_closed = (rng.random(t) < 0.93) & (closed <= end)
    responded = np.where(has_response, responded, NONE)
    closed = np.where(is_closed, closed, NONE)
    return _Tickets(
        account=account,
        contact=contact,
        created=created,
        updated=_latest(created, responded, closed),
        responded=responded,
        closed=closed,
        priority=rng.choice(len(PRIORITIES), t, p=(0.40, 0.42, 0.14, 0.04)),
        channel=rng.choice(len(CHANNELS), t, p=(0.45, 0.25, 0.15, 0.15)),
        subject=_by_lang(rng, SUBJECT_BY_LANG, acc.lang[account]),
    )


# -- rows: SQLite formats the typed columns and the doc from integer parameters -------------------

# Formatting the JSON documents in Python cost more than inserting them. So a chunk's rows go in as
# plain integers and shared strings, and the INSERT statement itself renders the timestamp texts,
# the ids and the doc with json_object(), whose output has pydantic's shape (compact, UTF-8, 9.0
# for a float score). datetime() renders whole seconds cheaper than strftime().
STAMP_TEXT = "datetime(NULLIF({}, -1), 'unixepoch') || '.000000'"  # UtcDateTime's text
STAMP_JSON = "replace(datetime(NULLIF({}, -1), 'unixepoch'), ' ', 'T') || 'Z'"  # pydantic's


@dataclass(frozen=True)
class _F:
    """One record field: the SQL of its JSON value and, if it has one, its column and value."""

    key: str
    json: str
    column: str | None = None
    value: str | None = None  # when the column's SQL differs from the JSON's


class _Params:
    """The per-row parameters of one chunk, one list per ``?N`` placeholder."""

    def __init__(self) -> None:
        self.lists: list[list[Any]] = []

    def add(self, values: list[Any]) -> str:
        """Register one value per row; returns the placeholder."""
        self.lists.append(values)
        return f"?{len(self.lists)}"


@dataclass(frozen=True)
class _Table:
    name: str
    n: int
    fields: Callable[[_Params, int, int], list[_F]]  # the fields of rows lo..hi


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _stamp(p: _Params, key: str, seconds: Ints) -> _F:
    x = p.add(seconds.tolist())
    return _F(key, STAMP_JSON.format(x), key, STAMP_TEXT.format(x))


def _id(entity: str, x: str) -> str:
    return f"CAST(NULLIF({x}, -1) + {ENTITY_BASE[entity]} AS TEXT)"


def _ref(p: _Params, key: str, entity: str, index: Ints) -> _F:
    return _F(key, _id(entity, p.add(index.tolist())), key)


def _cat(p: _Params, key: str, words: Sequence[str], codes: Ints, *, column: bool = True) -> _F:
    """A categorical field; code NONE (-1) picks the trailing ``None``."""
    x = p.add(np.array([*words, None], dtype=object)[codes].tolist())
    return _F(key, x, key if column else None)


def _int(p: _Params, key: str, values: Ints) -> _F:
    return _F(key, p.add(values.tolist()), key)


def _bool(p: _Params, key: str, flags: npt.NDArray[np.bool_]) -> _F:
    x = p.add(flags.astype(np.int64).tolist())
    return _F(key, f"json(iif({x}, 'true', 'false'))", key, x)


def _head(
    p: _Params, spec: BigWorldSpec, entity: str, span: tuple[int, int], stamps: tuple[Ints, Ints]
) -> list[_F]:
    lo, hi = span
    created, updated = stamps
    kind = ENTITY_TYPES[entity].model_fields["kind"].default
    return [
        _F("source", _literal(spec.source), "source"),
        _F("id", _id(entity, p.add(list(range(lo, hi)))), "id"),
        _stamp(p, "created_at", created[lo:hi]),
        _stamp(p, "updated_at", updated[lo:hi]),
        _F("deleted_at", "NULL"),
        _F("raw", "json_object()"),
        _F("kind", _literal(kind)),
    ]


def _statement(table: str, fields: list[_F]) -> str:
    columns = ", ".join(f.column for f in fields if f.column)
    values = ", ".join(f.value or f.json for f in fields if f.column)
    doc = ", ".join(f"'{f.key}', {f.json}" for f in fields)
    return f"INSERT INTO {table} ({columns}, doc) VALUES ({values}, json_object({doc}))"


def _account_table(spec: BigWorldSpec, acc: _Accounts) -> _Table:
    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        industry = _cat(p, "industry", INDUSTRIES, acc.industry[s])
        root = _cat(p, "name", BRAND_ROOTS, acc.root[s]).json
        return [
            *_head(p, spec, "accounts", (lo, hi), (acc.created, acc.updated)),
            _F("name", f"{root} || ' ' || {industry.json}", "name"),
            _F("domain", _domain(p, acc, np.arange(lo, hi)), "domain"),
            _cat(p, "segment", SEGMENTS, acc.segment[s]),
            industry,
            _stamp(p, "became_customer_at", acc.customer[s]),
            _stamp(p, "churned_at", acc.churned[s]),
        ]

    return _Table("accounts", spec.accounts, fields)


def _domain(p: _Params, acc: _Accounts, account: Ints) -> str:
    slug = _cat(p, "", SLUGS, acc.root[account]).json
    return f"{slug} || {_id('accounts', p.add(account.tolist()))} || '.com.br'"


def _contact_table(spec: BigWorldSpec, acc: _Accounts, con: _Contacts) -> _Table:
    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        first = _cat(p, "", FIRST_SLUGS, con.first[s]).json
        last = _cat(p, "", LAST_SLUGS, con.last[s]).json
        domain = _domain(p, acc, con.account[s])
        email = (
            f"{first} || '.' || {last} || '.' || {p.add(list(range(lo, hi)))} || '@' || {domain}"
        )
        return [
            *_head(p, spec, "contacts", (lo, hi), (con.created, con.updated)),
            _F("email", email, "email"),
            _cat(p, "first_name", FIRSTS, con.first[s], column=False),
            _cat(p, "last_name", LASTS, con.last[s], column=False),
            _cat(p, "lifecycle_stage", STAGES, con.stage[s]),
            _ref(p, "account_id", "accounts", con.account[s]),
            _stamp(p, "became_lead_at", con.lead[s]),
            _stamp(p, "became_customer_at", con.customer[s]),
            _stamp(p, "churned_at", con.churned[s]),
        ]

    return _Table("contacts", spec.contacts, fields)


def _conversion_table(spec: BigWorldSpec, con: _Contacts) -> _Table:
    leads = np.flatnonzero(con.lead >= 0)
    leads = leads[np.argsort(con.lead[leads], kind="stable")]
    created, updated = con.lead[leads], np.maximum(con.lead, con.customer)[leads]

    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        contact = leads[lo:hi]
        return [
            *_head(p, spec, "conversions", (lo, hi), (created, updated)),
            _ref(p, "contact_id", "contacts", contact),
            _ref(p, "account_id", "accounts", con.account[contact]),
            _stamp(p, "became_lead_at", con.lead[contact]),
            _stamp(p, "converted_at", con.customer[contact]),
        ]

    return _Table("conversions", leads.size, fields)


def _ticket_table(spec: BigWorldSpec, tk: _Tickets) -> _Table:
    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        return [
            *_head(p, spec, "tickets", (lo, hi), (tk.created, tk.updated)),
            _cat(p, "subject", SUBJECTS_ALL, tk.subject[s], column=False),
            _cat(p, "priority", PRIORITIES, tk.priority[s]),
            _cat(p, "channel", CHANNELS, tk.channel[s]),
            _ref(p, "account_id", "accounts", tk.account[s]),
            _ref(p, "contact_id", "contacts", tk.contact[s]),
            _stamp(p, "first_response_at", tk.responded[s]),
            _stamp(p, "closed_at", tk.closed[s]),
        ]

    return _Table("tickets", spec.tickets, fields)


def _survey_table(
    rng: np.random.Generator,
    spec: BigWorldSpec,
    world: tuple[_Accounts, _Contacts, _Tickets],
    span: tuple[int, int],
) -> _Table:
    acc, con, tk = world
    start, end = span
    n = spec.surveys
    kind = rng.choice(3, n, p=(0.60, 0.25, 0.15))
    score = np.zeros(n, dtype=np.int64)
    for k, shares in enumerate(SCORE_SHARES):
        mask = kind == k
        score[mask] = SCALE_MIN[k] + rng.choice(len(shares), int(mask.sum()), p=shares)
    closed = np.flatnonzero(tk.closed >= 0)
    linked = (kind > 0) & (rng.random(n) < 0.8) & (closed.size > 0)  # CSAT / CES after a ticket
    ticket = np.full(n, NONE)
    ticket[linked] = closed[rng.integers(0, max(closed.size, 1), int(linked.sum()))]
    contact = rng.integers(0, spec.contacts, n)
    contact[linked] = tk.contact[ticket[linked]]
    answered = _uniform(rng, np.maximum(start, con.created[contact]), end, n)
    delay = _seconds(rng.lognormal(np.log(6 * HOUR), 1.0, n))
    answered[linked] = np.minimum(tk.closed[ticket[linked]] + delay[linked], end)
    account = con.account[contact]
    tone = np.where(score >= PRAISE_FROM[kind], 0, np.where(score <= COMPLAINT_UP_TO[kind], 2, 1))
    comment = (acc.lang[account] * 3 + tone) * 3 + rng.integers(0, 3, n)
    comment = np.where(rng.random(n) < 0.25, comment, NONE)
    order = np.argsort(answered, kind="stable")
    kind, score, ticket, contact, account, answered, comment = (
        a[order] for a in (kind, score, ticket, contact, account, answered, comment)
    )
    texts = tuple(text for group in COMMENTS for text in group)

    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        score_sql = f"CAST({p.add(score[s].tolist())} AS REAL)"
        return [
            *_head(p, spec, "surveys", (lo, hi), (answered, answered)),
            _cat(p, "survey_kind", SURVEY_KINDS, kind[s]),
            _F("score", score_sql, "score"),
            _int(p, "scale_min", SCALE_MIN[kind[s]]),
            _int(p, "scale_max", SCALE_MAX[kind[s]]),
            _F("higher_is_better", "json('true')", "higher_is_better", "1"),
            _cat(p, "comment", texts, comment[s], column=False),
            _stamp(p, "answered_at", answered[s]),
            _ref(p, "contact_id", "contacts", contact[s]),
            _ref(p, "account_id", "accounts", account[s]),
            _ref(p, "ticket_id", "tickets", ticket[s]),
        ]

    return _Table("surveys", n, fields)


def _deal_table(
    rng: np.random.Generator, spec: BigWorldSpec, acc: _Accounts, span: tuple[int, int]
) -> _Table:
    start, end = span
    n = spec.deals
    account = rng.choice(spec.accounts, n, p=acc.weight / acc.weight.sum())
    amount = AMOUNT_MEDIAN[acc.segment[account]] * rng.lognormal(0.0, 0.6, n)
    cents = np.maximum(100, np.round(amount * 100)).astype(np.int64)
    outcome = rng.random(n)
    won, closes = outcome < 0.30, outcome < 0.70  # won 30 %, lost 40 %, open 30 %
    closed = np.minimum(np.maximum(_uniform(rng, start, end, n), acc.created[account] + DAY), end)
    opened = np.clip(end - _seconds(rng.exponential(60 * DAY, n)), acc.created[account], end)
    created = np.where(closes, closed - _seconds(rng.lognormal(np.log(30 * DAY), 0.7, n)), opened)
    closed = np.where(closes, closed, NONE)
    stage = np.where(won, 0, np.where(closes, 1, 2 + rng.integers(0, len(OPEN_STAGES), n)))
    contact = acc.pick_contact(rng, account, 0.9)
    name = rng.integers(0, len(DEAL_NAMES), n)
    order = np.argsort(created, kind="stable")
    won, closes = won[order], closes[order]
    account, cents, created, closed, stage, contact, name = (
        a[order] for a in (account, cents, created, closed, stage, contact, name)
    )
    updated = np.maximum(created, closed)

    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        c, who = p.add(cents[s].tolist()), p.add(contact[s].tolist())
        people = f"json(iif({who} = -1, '[]', json_array({_id('contacts', who)})))"
        return [
            *_head(p, spec, "deals", (lo, hi), (created, updated)),
            _cat(p, "name", DEAL_NAMES, name[s]),
            _F("amount", f"printf('%d.%02d', {c} / 100, {c} % 100)", "amount", f"{c} / 100.0"),
            _F("currency", "'BRL'", "currency"),
            _cat(p, "stage", DEAL_STAGES, stage[s]),
            _bool(p, "is_closed", closes[s]),
            _bool(p, "is_won", won[s]),
            _stamp(p, "closed_at", closed[s]),
            _ref(p, "account_id", "accounts", account[s]),
            _F("contact_ids", people),
        ]

    return _Table("deals", n, fields)


def _activity_table(
    rng: np.random.Generator, spec: BigWorldSpec, acc: _Accounts, span: tuple[int, int]
) -> _Table:
    start, end = span
    n = spec.activities
    account = rng.choice(spec.accounts, n, p=acc.weight / acc.weight.sum())
    contact = acc.pick_contact(rng, account, 0.9)
    kind = rng.choice(len(ACTIVITY_KINDS), n, p=(0.45, 0.15, 0.10, 0.15, 0.15))
    outbound = rng.random(n) < np.where(kind == 0, 0.65, 0.70)
    direction = np.where(kind <= 1, np.where(outbound, 0, 1), NONE)  # emails and calls only
    occurred = _uniform(rng, np.maximum(start, acc.created[account]), end, n)
    order = np.argsort(occurred, kind="stable")
    account, contact, kind, direction, occurred = (
        a[order] for a in (account, contact, kind, direction, occurred)
    )

    def fields(p: _Params, lo: int, hi: int) -> list[_F]:
        s = slice(lo, hi)
        return [
            *_head(p, spec, "activities", (lo, hi), (occurred, occurred)),
            _cat(p, "activity_kind", ACTIVITY_KINDS, kind[s]),
            _stamp(p, "occurred_at", occurred[s]),
            _cat(p, "direction", ("outbound", "inbound"), direction[s]),
            _ref(p, "account_id", "accounts", account[s]),
            _ref(p, "contact_id", "contacts", contact[s]),
        ]

    return _Table("activities", n, fields)


def _tables(spec: BigWorldSpec) -> Iterator[_Table]:
    """Every entity table in load order, each drawn only when the previous one is loaded."""
    end = int(spec.as_of.timestamp())
    span = (end - spec.months * MONTH, end)
    rngs = [np.random.default_rng(s) for s in np.random.SeedSequence(spec.seed).spawn(6)]
    acc = _draw_accounts(rngs[0], spec, *span)
    yield _account_table(spec, acc)
    con = _draw_contacts(rngs[1], spec, acc, end)
    yield _contact_table(spec, acc, con)
    yield _conversion_table(spec, con)
    tickets = _draw_tickets(rngs[2], spec, acc, *span)
    yield _ticket_table(spec, tickets)
    yield _survey_table(rngs[3], spec, (acc, con, tickets), span)
    del tickets, con
    yield _deal_table(rngs[4], spec, acc, span)
    yield _activity_table(rngs[5], spec, acc, span)


# -- loading, caching, command line ---------------------------------------------------------------


def _say(progress: bool) -> Callable[[str], None]:
    started = time.perf_counter()

    def say(message: str) -> None:
        if progress:
            print(
                f"[{time.perf_counter() - started:7.1f} s] {message}", file=sys.stderr, flush=True
            )

    return say


def _load(conn: sqlite3.Connection, table: _Table, chunk: int, say: Callable[[str], None]) -> None:
    conn.execute("BEGIN")
    for lo in range(0, table.n, chunk):
        hi = min(table.n, lo + chunk)
        params = _Params()
        fields = table.fields(params, lo, hi)
        conn.executemany(_statement(table.name, fields), zip(*params.lists, strict=True))
        say(f"{table.name}: {hi:,}/{table.n:,}")
    conn.execute("COMMIT")


def build(
    path: Path,
    spec: BigWorldSpec,
    *,
    progress: bool = True,
    chunk: int = 200_000,
    defer_indexes: bool = True,
) -> Path:
    """Create a new store at ``path`` holding the world of ``spec``; returns ``path``.

    The schema comes from ``Store.open`` (its migrations); rows are then inserted with raw
    ``sqlite3``, the journal and syncing off until the end. With ``defer_indexes`` each table's
    secondary indexes are dropped before its rows go in and recreated from their own stored SQL
    after, which leaves the same schema and is faster than maintaining them row by row (on the
    full world, tickets load about four times faster that way, rebuild included: random inserts
    into the account and contact indexes dominate otherwise).
    """
    if path.exists():
        raise ConfigError(f"{path} already exists", hint="remove it or choose another path")
    say = _say(progress)
    Store.open(f"sqlite:///{path}").close()
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=OFF")
        conn.execute("PRAGMA synchronous=OFF")
        for table in _tables(spec):
            say(f"{table.name}: drawn")
            indexes = _drop_indexes(conn, table.name) if defer_indexes else []
            _load(conn, table, chunk, say)
            for sql in indexes:
                conn.execute(sql)
            say(f"{table.name}: {len(indexes)} indexes built")
        conn.execute("PRAGMA journal_mode=WAL")  # what the store runs in
    finally:
        conn.close()
    return path


def _drop_indexes(conn: sqlite3.Connection, table: str) -> list[str]:
    query = (
        "SELECT name, sql FROM sqlite_master"
        " WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL"
    )
    found = conn.execute(query, (table,)).fetchall()
    for name, _sql in found:
        conn.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in found]


def ensure(spec: BigWorldSpec, cache_dir: Path, *, progress: bool = True) -> Path:
    """The store of ``spec`` in ``cache_dir``, built on first use and reused afterwards.

    It is built under a temporary name and renamed when complete, so an interrupted build is never
    mistaken for a finished one.
    """
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = cache_dir / f"bigworld-{spec.digest()}.db"
    if final.exists():
        return final
    temp = cache_dir / f".{final.name}.{os.getpid()}.tmp"
    sidecars = [temp, temp.with_name(temp.name + "-wal"), temp.with_name(temp.name + "-shm")]
    for leftover in sidecars:
        leftover.unlink(missing_ok=True)
    try:
        build(temp, spec, progress=progress)
        os.replace(temp, final)
    finally:
        for leftover in sidecars:
            leftover.unlink(missing_ok=True)
    return final


def main(argv: Sequence[str] | None = None) -> int:
    """Build (or reuse) a world and print its counts, the time taken, size and peak memory."""
    parser = argparse.ArgumentParser(description="Generate the large KPI benchmark store.")
    parser.add_argument("--scale", type=float, default=1.0, help="multiplies every count")
    parser.add_argument("--seed", type=int, default=BigWorldSpec.seed)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bigworld.db"))
    parser.add_argument("--cache-dir", type=Path, help="reuse a cached build (ignores --out)")
    parser.add_argument("--force", action="store_true", help="replace --out if it exists")
    parser.add_argument("--keep-indexes", action="store_true", help="do not defer the indexes")
    args = parser.parse_args(argv)
    spec = replace(BigWorldSpec(), seed=args.seed).scaled(args.scale)
    started = time.perf_counter()
    if args.cache_dir is not None:
        path = ensure(spec, args.cache_dir)
    else:
        if args.force:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{args.out}{suffix}").unlink(missing_ok=True)
        path = build(args.out, spec, defer_indexes=not args.keep_indexes)
    seconds = time.perf_counter() - started
    with sqlite3.connect(path) as conn:
        for table in (*COUNTED[:2], "conversions", *COUNTED[2:]):
            count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            print(f"{table:<12} {count:>12,}")
    conn.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    size = path.stat().st_size / 2**20
    print(f"{path}: {seconds:.1f} s, {size:,.0f} MiB, peak RSS {peak:,.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
