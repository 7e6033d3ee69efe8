"""Live: webhook events in, the objects they name read again, the accounts they touch recomputed,
the values that changed written back.

A webhook is a trigger, not data. The worker takes a batch of pending inbox events, coalesces them
per object, reads every named object again in as few calls as the CRM allows
(:func:`crmpulse.pulling.refresh`: upserts, deletions, merges), and finds the accounts whose KPIs
can have moved: the account a record belongs to (its own, or its contact's) before and after the
change. Those accounts are recomputed together, apart from the rest
(:class:`~crmpulse.kpis.incremental.LiveKpis`), moving the portfolio and segment aggregates they
feed, and only the values that differ from the write-back ledger are sent. What such a recompute
cannot follow (a new or merged company, a segment change) or would not save (a batch touching a
large share of all companies) takes a full pass instead.

Events caused by crmpulse's own write-back never get here: the inbox stores them as ``ignored``.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog

from crmpulse import kpireport
from crmpulse.kpis.incremental import LiveKpis
from crmpulse.kpis.periods import Period
from crmpulse.kpis.values import KpiValue
from crmpulse.model import Account, Contact, Deal, Record
from crmpulse.ports import Connector, PushResult
from crmpulse.pulling import ReconcileSummary, refresh
from crmpulse.service import SyncReport, apply_writeback, plan_writeback
from crmpulse.settings import Settings
from crmpulse.store import Store
from crmpulse.store.inbox import InboxItem

log = structlog.get_logger("crmpulse.live")

FULL_PASS_SHARE = 0.25
"""A batch touching more than this share of all accounts is cheaper as one full pass..."""
FULL_PASS_MIN_ACCOUNTS = 200
"""...but up to this many accounts are always recomputed one by one (a few ms each)."""


@dataclass
class LiveReport:
    """What one batch of events did."""

    events: int = 0
    objects: dict[str, int] = field(default_factory=dict)
    """Objects read again, per entity."""
    deleted: dict[str, int] = field(default_factory=dict)
    accounts: list[str] = field(default_factory=list)
    """Accounts recomputed one by one."""
    full_pass: str | None = None
    """Why a full pass ran instead, if one did."""
    values: int = 0
    planned: int = 0
    rows_written: int = 0
    values_written: int = 0
    rows_failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0


class LiveState:
    """The KPIs of the written period, kept in memory and moved account by account.

    Built by a full pass (reading the whole store) when first needed, again when the period
    rolls over, and after every periodic sync.
    """

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings
        self.kpis: LiveKpis | None = None
        self.built_at: datetime | None = None

    def period(self, now: datetime | None = None) -> Period:
        """The period written back, as of ``now``."""
        return kpireport.default_period(self.settings, now)

    def current(self, now: datetime | None = None) -> LiveKpis | None:
        """The live table if it is built and still describes the written period."""
        if self.kpis is None or self.kpis.window != self.period(now):
            return None
        return self.kpis

    def rebuild(self, now: datetime | None = None, *, refit: bool = True) -> LiveKpis:
        """A full pass over the store for the written period.

        Without ``refit``, the population models (BG/NBD, Gamma-Gamma, sBG) of the previous pass
        are kept: a handful of changed records does not move them, and fitting them is most of
        the cost of a pass. The periodic sync's pass refits them.
        """
        moment = now or datetime.now(UTC)
        setup = kpireport.setup(self.settings)
        previous = self.kpis
        models = None if refit or previous is None else previous.models
        self.kpis = LiveKpis(
            self.store,
            self.period(moment),
            as_of=moment,
            config=setup.config,
            health=setup.health,
            analyzer=setup.analyzer,
            opener=kpireport.opener_of(self.store),
            models=models,
        )
        self.built_at = moment
        log.info("live.full_pass", period=str(self.kpis.window), **self.kpis.seconds)
        return self.kpis


def _accounts_of(store: Store, source: str, records: Iterable[Record]) -> set[str]:
    """Every account whose KPIs the records feed: a company itself, a record's own account, and
    the account of the contact it names (the contact's values are computed with that account)."""
    accounts: set[str] = set()
    contacts: set[str] = set()
    for record in records:
        if isinstance(record, Account):
            accounts.add(record.id)
            continue
        account_id = getattr(record, "account_id", None)
        if account_id:
            accounts.add(account_id)
        contact_id = getattr(record, "contact_id", None)
        if contact_id and not isinstance(record, Contact):
            contacts.add(contact_id)
        if isinstance(record, Deal):
            contacts.update(record.contact_ids)
    if contacts:
        for contact in store.get_many("contacts", source, contacts).values():
            assert isinstance(contact, Contact)
            if contact.account_id:
                accounts.add(contact.account_id)
    return accounts


def _wanted(items: Sequence[InboxItem]) -> dict[str, set[str]]:
    """Object ids to read again, per entity: the named object and, for a merge, the merged-away
    ones (so what pointed at them can follow the survivor)."""
    wanted: dict[str, set[str]] = {}
    for item in items:
        ids = wanted.setdefault(item.entity, set())
        ids.add(item.object_id)
        if item.event_type == "merged":
            ids.update(str(i) for i in item.payload.get("_related_ids", []))
    return wanted


def process_events(
    connector: Connector,
    store: Store,
    settings: Settings,
    items: Sequence[InboxItem],
    state: LiveState,
    *,
    run_id: str,
    now: datetime | None = None,
) -> LiveReport:
    """Apply a batch of events: read the objects again, recompute what they touch, write back
    what changed. The caller settles the inbox rows."""
    started = time.perf_counter()
    moment = now or datetime.now(UTC)
    source = connector.source
    report = LiveReport(events=len(items))
    wanted = _wanted(items)

    before: list[Record] = []
    for entity, ids in wanted.items():
        before.extend(store.get_many(entity, source, ids).values())
    summary = ReconcileSummary()
    after: list[Record] = []
    for entity, ids in wanted.items():
        got = refresh(connector, store, entity, ids, summary=summary, now=lambda: moment)
        after.extend(got.records)
        report.objects[entity] = len(ids)
    report.deleted = dict(summary.deleted)
    touched = _accounts_of(store, source, [*before, *after])

    live = state.current(moment)
    reason = _full_pass_reason(live, before, after, touched, summary)
    values: list[KpiValue]
    if reason is not None:
        report.full_pass = reason
        live = state.rebuild(moment, refit=False)
        values = list(live.table.rows())
        only_listed = False
    else:
        assert live is not None
        report.accounts = sorted(touched)
        values = live.recompute_accounts(report.accounts).values if touched else []
        only_listed = True
    report.values = len(values)
    if values:
        store.save_kpis(values, run_id)
    if settings.writeback.enabled and values:
        period = live.window
        assert isinstance(period, Period)
        plan = plan_writeback(
            store,
            source,
            values,
            period,
            settings.writeback.property_group,
            snapshots=settings.writeback.snapshots,
            only_listed=only_listed,
        )
        report.planned = len(plan)
        if plan:
            sink = SyncReport(run_id=run_id, source=source, period=str(period), dry_run=False)
            result: PushResult = apply_writeback(connector, store, settings, plan, sink)
            report.rows_written = len(result.written)
            report.values_written = sink.values_written
            report.rows_failed = len(result.failed)
            report.errors.extend(sink.errors)
    report.seconds = time.perf_counter() - started
    return report


def _full_pass_reason(
    live: LiveKpis | None,
    before: Sequence[Record],
    after: Sequence[Record],
    touched: set[str],
    summary: ReconcileSummary,
) -> str | None:
    """Why this batch needs a full pass rather than account-by-account recomputes, if it does."""
    if live is None:
        return "no live table for the period yet"
    if summary.relinked or any(e == "accounts" for e in summary.deleted):
        return "a company was merged or deleted"
    frame = live.frame
    unknown = [a for a in touched if frame.account_code(a) < 0]
    if unknown:
        return f"{len(unknown)} new compan{'y' if len(unknown) == 1 else 'ies'}"
    segments = {r.id: getattr(r, "segment", None) for r in before if isinstance(r, Account)}
    for record in after:
        if isinstance(record, Account) and segments.get(record.id, record.segment) != (
            record.segment
        ):
            return f"company {record.id} changed segment"
    accounts = len(frame.account_ids)
    if len(touched) > max(FULL_PASS_MIN_ACCOUNTS, FULL_PASS_SHARE * accounts):
        return f"{len(touched)} companies touched"
    return None


def describe(report: LiveReport) -> dict[str, Any]:
    """The report as log fields."""
    return {
        "events": report.events,
        "objects": report.objects,
        "deleted": report.deleted,
        "accounts": len(report.accounts),
        "full_pass": report.full_pass,
        "values": report.values,
        "planned": report.planned,
        "rows_written": report.rows_written,
        "values_written": report.values_written,
        "rows_failed": report.rows_failed,
        "seconds": round(report.seconds, 3),
    }
