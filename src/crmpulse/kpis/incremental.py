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
    """The store seen through one account: its row, its contacts and their records only."""

    def __init__(self, store: ScopedSource, account_id: str, sources: Sequence[str]) -> None:
        self.store = store
        self.account_id = account_id
        self.sources = sources
        self.contact_ids = [
            str(row[0])
            for rows in store.scan("contacts", ["id"], where_in=("account_id", [account_id]))
            for row in rows
        ]

    def scan(
        self, entity: str, columns: Sequence[str], *, chunk: int = 200_000
    ) -> Iterator[list[Sequence[Any]]]:
        if entity == "accounts":
            yield from self.store.scan(
                entity, columns, where_in=("id", [self.account_id]), sources=self.sources
            )
            return
        if entity == "contacts":
            yield from self.store.scan(entity, columns, where_in=("account_id", [self.account_id]))
            return
        # A record belongs through its own account or through one of the account's contacts;
        # one that names both comes back from both lookups, so rows are keyed by (source, id).
        scopes: list[tuple[str, Sequence[str]]] = [("account_id", [self.account_id])]
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
    """What one account's recompute changed."""

    account_id: str
    values: list[KpiValue]
    seconds: float


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
        self.seconds = {
            "load": loaded - started,
            "compute": time.perf_counter() - loaded,
        }
        """How long the full pass took: reading the store, computing the window."""
        self.stale: set[str] = set()

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
        started = time.perf_counter()
        code = self.frame.account_code(account_id)
        if code < 0:
            raise KeyError(f"account {account_id!r} was not in the full pass; run one again")
        source = _AccountSource(self.store, account_id, self.sources)
        small = load_frame(source, comments=self.analyzer is not None)
        # the small frame must number segments like the full one
        small = _with_segments(small, self.frame.segments)
        models = {k: v for k, v in self.cache.items() if k[0] in MODEL_KEYS}
        new = self._compute(small, models)
        changed = self._apply(new, code)
        return Recomputed(account_id, changed, time.perf_counter() - started)

    def _apply(self, new: KpiTable, code: int) -> list[KpiValue]:
        table = self.table
        slots = table.slots
        account_slot = slots.account_offset + code
        segment = int(self.frame.account_segment[code])
        aggregates = [0] + ([slots.segment_offset + segment] if segment >= 0 else [])
        small_slots = new.slots
        small_account = small_slots.account_offset  # the only account of the small frame
        touched = [account_slot, *aggregates]
        contact_map = {
            slots.contact_offset + self.frame.contact_code(cid): small_slots.contact_offset + i
            for i, cid in enumerate(new.slots.frame.contact_ids)
            if self.frame.contact_code(cid) >= 0
        }
        for name, column in table.columns.items():
            fresh = new.columns.get(name)
            if fresh is None:
                continue
            old_value, old_n = _contribution(column, account_slot)
            new_value, new_n = _contribution(fresh, small_account)
            for slot in aggregates:
                if name in MEAN_KPIS or name in COUNT_KPIS or name in SUM_KPIS:
                    _move(column, slot, name, (old_value, old_n), (new_value, new_n))
                elif _DEFINED[name] & {"portfolio", "segment"}:
                    self.stale.add(name)
            for target, origin in [(account_slot, small_account), *contact_map.items()]:
                if target < column.dense_end or "contact" in _DEFINED[name]:
                    column.put(target, fresh.get(origin))
        _nps_margin(table, aggregates)
        if new.health is not None and table.health is not None:
            table.health.score[code] = new.health.score[0]
            table.health.band[code] = new.health.band[0]
            table.health.band_rank[code] = new.health.band_rank[0]
        touched.extend(contact_map)
        out = []
        for name in table.columns:
            for slot in touched:
                row = _row(table, name, slot)
                if row is not None:
                    out.append(row)
        return out


def _contribution(column: StoredColumn, slot: int) -> tuple[float, float]:
    cell = column.get(slot)
    if cell is None or not cell.present or cell.n == 0:
        return 0.0, 0.0
    return (0.0 if np.isnan(cell.value) else cell.value), float(cell.n)


def _move(
    column: StoredColumn, slot: int, name: str, old: tuple[float, float], new: tuple[float, float]
) -> None:
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
    column.present[slot] = column.present[slot] or moved_n > 0


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
