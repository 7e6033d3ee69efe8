"""Incremental recompute: one account changed, its KPIs and the aggregates they feed move.

:class:`LiveKpis` holds the table of a full pass. When records of one account change,
:meth:`LiveKpis.recompute_account` reads only that account, its contacts and their records from
the store (indexed lookups), computes a table for that small frame with the population-level
models of the full pass (BG/NBD, Gamma-Gamma, sBG, segment churn: a single account cannot refit
them), and then:

- replaces the account's and its contacts' values with the new ones — exactly what a full pass
  would give them;
- moves the portfolio and the account's segment by the account's change for every KPI that is a
  mean over records or accounts with an account-level value (NPS, CSAT, CES, recommendation,
  means of service times, FCR, recontact, average ticket per sale, conversion, engagement, churn
  risk, expected value, health, sentiment) and for ticket volume and revenue won: value =
  (mean * n - old contribution + new contribution) / (n - old n + new n), equal to the full
  pass up to floating-point rounding;
- marks the aggregates that no account-level delta can move (medians and 90th percentiles,
  per-customer recontact and average ticket, the retention family, GRR, NRR, LTV, projected
  retention) as *stale*: they keep their value until the next full pass, and
  :attr:`LiveKpis.stale` says which. They move with many accounts at once (a lifecycle change,
  the tail of a distribution), which is what the periodic full pass is for.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.engine import HealthSetup, compute_window
from crmpulse.kpis.frame import Frame
from crmpulse.kpis.gcpause import settle_heap
from crmpulse.kpis.loading import ColumnSource, load_frame
from crmpulse.kpis.measures.base import MODEL_KEYS, EngineConfig
from crmpulse.kpis.periods import Window
from crmpulse.kpis.table import KpiTable, StoredColumn
from crmpulse.kpis.values import KpiValue

MEAN_KPIS = frozenset(
    {
        "nps",
        "recommendation_rate",
        "csat",
        "csat_mean",
        "ces",
        "frt_mean_h",
        "frt_business_mean_h",
        "resolution_mean_h",
        "resolution_business_mean_h",
        "fcr",
        "recontact_rate",
        "avg_ticket_sale",
        "conversion_rate",
        "engagement_score",
        "churn_risk",
        "expected_value_12m",
        "sentiment_score",
        "negative_feedback_share",
        "health_score",
    }
)
"""KPIs whose aggregate is a mean of per-record or per-account quantities over ``n``."""
COUNT_KPIS = frozenset({"ticket_volume"})
_DEFINED = {d.name: set(d.levels) for d in CATALOGUE}
SUM_KPIS = frozenset({"revenue_won"})


class ScopedSource(ColumnSource, Protocol):
    """A store that can also scan rows restricted to some ids."""

    def scan(
        self,
        entity: str,
        columns: Sequence[str],
        *,
        where_in: tuple[str, Sequence[str]] | None = ...,
        sources: Sequence[str] | None = ...,
        chunk: int = ...,
    ) -> Iterator[list[Sequence[Any]]]: ...  # pragma: no cover - protocol

    def sources(self, entity: str) -> list[str]: ...  # pragma: no cover - protocol


class _AccountSource:
    """The store seen through some accounts: their rows, their contacts and their records only."""

    def __init__(
        self, store: ScopedSource, account_ids: Sequence[str], sources: Sequence[str]
    ) -> None:
        self.store = store
        self.account_ids = list(account_ids)
        self.sources = sources
        self._contact_ids: list[str] | None = None

    @property
    def contact_ids(self) -> list[str]:
        """The ids of the accounts' contacts (read with the contacts, or on their own)."""
        if self._contact_ids is None:
            list(self.scan("contacts", ["id"]))
        assert self._contact_ids is not None
        return self._contact_ids

    def scan(
        self, entity: str, columns: Sequence[str], *, chunk: int = 200_000
    ) -> Iterator[list[Sequence[Any]]]:
        if entity == "accounts":
            yield from self.store.scan(
                entity, columns, where_in=("id", self.account_ids), sources=self.sources
            )
            return
        if entity == "contacts":
            # the contacts' ids come along, for the records' lookups: one query, not two
            rows = [
                row
                for rows in self.store.scan(
                    entity, [*columns, "id"], where_in=("account_id", self.account_ids)
                )
                for row in rows
            ]
            self._contact_ids = [str(row[-1]) for row in rows]
            if rows:
                yield [row[:-1] for row in rows]
            return
        # A record belongs through its own account or through one of the account's contacts;
        # one that names both comes back from both lookups, so rows are keyed by (source, id).
        scopes: list[tuple[str, Sequence[str]]] = [("account_id", self.account_ids)]
        if entity != "deals" and self.contact_ids:
            scopes.append(("contact_id", self.contact_ids))
        found: dict[tuple[Any, ...], Sequence[Any]] = {}
        for scope in scopes:
            for rows in self.store.scan(entity, [*columns, "source", "id"], where_in=scope):
                for row in rows:
                    found.setdefault(tuple(row[-2:]), row[:-2])
        if found:
            yield list(found.values())


@dataclass
class Recomputed:
    """What a recompute of some accounts changed: their values, their contacts', and the
    aggregates they feed (as they stand after all of them moved)."""

    account_ids: list[str]
    values: list[KpiValue]
    seconds: float

    @property
    def account_id(self) -> str:
        """The account, when one was recomputed."""
        return self.account_ids[0]


class LiveKpis:
    """A full-pass table kept in memory and moved account by account."""

    def __init__(
        self,
        store: ScopedSource,
        window: Window,
        *,
        as_of: datetime,
        config: EngineConfig,
        health: HealthSetup | None = None,
        analyzer: Any = None,
        opener: Callable[[], ColumnSource] | None = None,
        models: Mapping[Any, Any] | None = None,
    ) -> None:
        self.store = store
        self.window = window
        self.as_of = as_of
        self.config = config
        self.health = health
        self.analyzer = analyzer
        self.cache: dict[Any, Any] = {k: v for k, v in (models or {}).items() if k[0] in MODEL_KEYS}
        """Fitted models and other window-independent results; ``models`` seeds the population
        models of an earlier pass (fitting them is most of a small pass's cost)."""
        self.sources = store.sources("accounts")
        started = time.perf_counter()
        self.frame: Frame = load_frame(store, comments=analyzer is not None, opener=opener)
        loaded = time.perf_counter()
        self.table: KpiTable = self._compute(self.frame, self.cache)
        computed = time.perf_counter()
        self._warm()
        settle_heap()
        self.seconds = {
            "load": loaded - started,
            "compute": computed - loaded,
            "ready": time.perf_counter() - computed,
        }
        """How long the full pass took: reading the store, computing the window, and getting
        one-account recomputes ready."""
        self.stale: set[str] = set()

    def _warm(self) -> None:
        """Read and compute one account once, so the first real recompute is not the first.

        The first one-account read prepares every indexed query and takes the code paths of a
        small frame for the first time: tens of milliseconds that belong to the full pass.
        """
        owners = self.frame.contact_account[self.frame.contact_account >= 0]
        if len(owners):  # a company with contacts takes every query a recompute can take
            self._account_table(str(self.frame.account_ids[int(owners[0])]))
        elif self.frame.n_accounts:
            self._account_table(str(self.frame.account_ids[0]))

    @property
    def models(self) -> dict[Any, Any]:
        """The population models this pass fitted, to seed the next one with."""
        return {k: v for k, v in self.cache.items() if k[0] in MODEL_KEYS}

    def _compute(self, frame: Frame, cache: dict[Any, Any]) -> KpiTable:
        return compute_window(
            frame,
            self.window,
            as_of=self.as_of,
            config=self.config,
            health=self.health,
            analyzer=self.analyzer,
            cache=cache,
        )

    def recompute_account(self, account_id: str) -> Recomputed:
        """Re-read one account from the store and move its values and the aggregates."""
        return self.recompute_accounts([account_id])

    def recompute_accounts(self, account_ids: Sequence[str]) -> Recomputed:
        """Re-read some accounts from the store at once (one small frame, one computation) and
        move each one's values and the aggregates: what a recompute per account would give,
        for a fraction of the reads and arithmetic when a batch of changes touches many."""
        started = time.perf_counter()
        ids = list(dict.fromkeys(account_ids))
        codes = [self.frame.account_code(a) for a in ids]
        unknown = [a for a, c in zip(ids, codes, strict=True) if c < 0]
        if unknown:
            raise KeyError(f"accounts {unknown!r} were not in the full pass; run one again")
        new = self._accounts_table(ids)
        small = new.slots.frame
        pairs = [(code, small.account_code(a)) for a, code in zip(ids, codes, strict=True)]
        gone = [a for a, (_code, here) in zip(ids, pairs, strict=True) if here < 0]
        if gone:
            raise KeyError(f"accounts {gone!r} are no longer in the store; run a full pass")
        changed = self._apply(new, pairs)
        return Recomputed(ids, changed, time.perf_counter() - started)

    def _account_table(self, account_id: str) -> KpiTable:
        """The KPIs of one account read again from the store, with the full pass's models."""
        return self._accounts_table([account_id])

    def _accounts_table(self, account_ids: Sequence[str]) -> KpiTable:
        """The KPIs of some accounts read again from the store, with the full pass's models."""
        source = _AccountSource(self.store, account_ids, self.sources)
        small = load_frame(source, comments=self.analyzer is not None)
        # the small frame must number segments like the full one
        small = _with_segments(small, self.frame.segments)
        models = {k: v for k, v in self.cache.items() if k[0] in MODEL_KEYS}
        return self._compute(small, models)

    def _apply(self, new: KpiTable, pairs: Sequence[tuple[int, int]]) -> list[KpiValue]:
        """Move the full table by the small one: ``pairs`` are (full, small) account codes."""
        table = self.table
        slots = table.slots
        small_slots = new.slots
        aggregates: list[int] = [0]
        for code, _small in pairs:
            segment = int(self.frame.account_segment[code])
            if segment >= 0 and slots.segment_offset + segment not in aggregates:
                aggregates.append(slots.segment_offset + segment)
        accounts = [
            (slots.account_offset + code, small_slots.account_offset + small, code)
            for code, small in pairs
        ]
        # the companies' contacts in both tables (both number contacts in id order); an id that
        # two sources share is one contact of the full pass, its last one here wins
        codes = np.array(
            [self.frame.contact_code(cid) for cid in small_slots.frame.contact_ids], np.int64
        )
        known = np.flatnonzero(codes >= 0)[::-1]
        targets, last = np.unique(slots.contact_offset + codes[known], return_index=True)
        origins = small_slots.contact_offset + known[last]
        for name, column in table.columns.items():
            fresh = new.columns.get(name)
            if fresh is None:
                continue
            moves = name in MEAN_KPIS or name in COUNT_KPIS or name in SUM_KPIS
            if not moves and _DEFINED[name] & {"portfolio", "segment"}:
                self.stale.add(name)
            for account_slot, small_account, code in accounts:
                if moves:
                    old = _contribution(column, account_slot)
                    cell = _contribution(fresh, small_account)
                    segment = int(self.frame.account_segment[code])
                    mine = [0] + ([slots.segment_offset + segment] if segment >= 0 else [])
                    for slot in mine:
                        _move(column, slot, name, old, cell)
                if account_slot < column.dense_end:
                    column.put(account_slot, fresh.get(small_account))
            if "contact" in _DEFINED[name]:
                column.copy_tail(targets, fresh, origins)
        _nps_margin(table, aggregates)
        score, band = table.columns.get("health_score"), table.columns.get("health_band")
        if score is not None and band is not None:
            for slot in aggregates:  # the band counts the scored accounts, as the score does
                band.n[slot] = score.n[slot]
        if new.health is not None and table.health is not None:
            for _slot, small_account, code in accounts:
                index = small_account - small_slots.account_offset
                table.health.score[code] = new.health.score[index]
                table.health.band[code] = new.health.band[index]
                table.health.band_rank[code] = new.health.band_rank[index]
        touched = [*aggregates, *(slot for slot, _small, _code in accounts)]
        out = []
        for name in table.columns:
            for slot in touched:
                row = _row(table, name, slot)
                if row is not None:
                    out.append(row)
            out.extend(table.rows_at(name, targets))
        return out


def _contribution(column: StoredColumn, slot: int) -> tuple[float, float]:
    cell = column.get(slot)
    if cell is None or not cell.present or cell.n == 0:
        return 0.0, 0.0
    return (0.0 if np.isnan(cell.value) else cell.value), float(cell.n)


def _move(
    column: StoredColumn, slot: int, name: str, old: tuple[float, float], new: tuple[float, float]
) -> None:
    if old == new:
        return  # nothing moves (and a recompute without changes leaves every bit in place)
    n = float(column.n[slot])
    value = float(column.value[slot])
    if name in COUNT_KPIS:
        column.n[slot] = column.value[slot] = n - old[1] + new[1]
        return
    total = 0.0 if np.isnan(value) or n == 0 else (value if name in SUM_KPIS else value * n)
    old_total = old[0] if name in SUM_KPIS else old[0] * old[1]
    new_total = new[0] if name in SUM_KPIS else new[0] * new[1]
    moved_n = n - old[1] + new[1]
    moved_total = total - old_total + new_total
    column.n[slot] = moved_n
    if moved_n <= 0:
        column.value[slot] = np.nan
        column.n[slot] = 0
    else:
        column.value[slot] = moved_total if name in SUM_KPIS else moved_total / moved_n
    # as in a full pass: a segment over no records has no row, also when it had some before;
    # the portfolio always has one (undefined when empty)
    column.present[slot] = moved_n > 0 or slot == 0


def _nps_margin(table: KpiTable, slots: list[int]) -> None:
    """NPS margin of error again from the moved NPS and recommendation rate."""
    nps, rate = table.columns["nps"], table.columns["recommendation_rate"]
    if nps.margin_of_error is None:
        return
    for slot in slots:
        n = nps.n[slot]
        if n <= 0:
            nps.margin_of_error[slot] = np.nan
            continue
        promoters = rate.value[slot] / 100
        detractors = promoters - nps.value[slot] / 100
        variance = max(promoters + detractors - (promoters - detractors) ** 2, 0.0)
        nps.margin_of_error[slot] = 1.96 * (100 * np.sqrt(variance / n))


def _row(table: KpiTable, name: str, slot: int) -> KpiValue | None:
    return table.row_at(name, slot)


def _with_segments(frame: Frame, segments: list[str]) -> Frame:
    """``frame`` with its segment codes renumbered into ``segments`` (the full frame's list)."""
    code = {s: i for i, s in enumerate(segments)}
    names = [frame.segments[s] if s >= 0 else None for s in frame.account_segment]
    frame.account_segment = np.array([code.get(n, -1) if n else -1 for n in names], np.int64)
    frame.segments = list(segments)
    return frame
