"""The store on SQLite and PostgreSQL: records, cursors, runs, KPIs, ledger, migrations, errors."""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import select
from sqlalchemy.engine import make_url

from crmpulse.errors import StoreError
from crmpulse.kpis.values import KpiValue
from crmpulse.model import (
    ENTITY_TYPES,
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    LeadConversion,
    LifecycleStage,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
    entity_of,
)
from crmpulse.ports import Cursor
from crmpulse.store import Store
from crmpulse.store.engine import alembic_config
from crmpulse.store.schema import deals, metadata, surveys

T0 = datetime(2024, 3, 1, 9, 30, tzinfo=UTC)
CET = timezone(timedelta(hours=1))
SRC = "hubspot:123"


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    """An open, migrated, empty store."""
    with Store.open(any_store_url) as opened:
        yield opened


def one_of_each(source: str = SRC, version: int = 0) -> list[Record]:
    """One record of every entity type, exercising Decimals, tuples, enums and time zones."""
    at = T0 + timedelta(minutes=version)
    common = {"source": source, "created_at": T0, "updated_at": at, "raw": {"k": "v", "n": None}}
    return [
        Account(id="a1", name=f"Acme v{version}", segment="smb", became_customer_at=T0, **common),
        Contact(
            id="c1",
            email="ann@example.com",
            lifecycle_stage=LifecycleStage.CUSTOMER,
            account_id="a1",
            became_lead_at=datetime(2024, 1, 5, 10, 0, tzinfo=CET),
            **common,
        ),
        Deal(
            id="d1",
            amount=Decimal("12345.6789"),
            currency="EUR",
            is_closed=True,
            is_won=True,
            closed_at=T0 + timedelta(days=2),
            account_id="a1",
            contact_ids=("c1", "c2"),
            **common,
        ),
        Ticket(
            id="t1",
            subject="Broken",
            account_id="a1",
            contact_id="c1",
            first_response_at=T0 + timedelta(hours=1),
            closed_at=T0 + timedelta(days=1),
            **common,
        ),
        Activity(
            id="e1",
            activity_kind=ActivityKind.CALL,
            occurred_at=T0 + timedelta(hours=3),
            direction="inbound",
            contact_id="c1",
            **common,
        ),
        SurveyResponse(
            id="s1",
            survey_kind=SurveyKind.NPS,
            score=9,
            scale_min=0,
            scale_max=10,
            comment="great, thanks ☺",
            answered_at=T0 + timedelta(days=3),
            contact_id="c1",
            account_id="a1",
            **common,
        ),
        LeadConversion(
            id="l1",
            contact_id="c1",
            became_lead_at=T0 - timedelta(days=30),
            converted_at=T0,
            **common,
        ),
    ]


def test_every_entity_round_trips(store: Store) -> None:
    originals = one_of_each()
    assert {entity_of(r) for r in originals} == set(ENTITY_TYPES)
    assert store.upsert(originals) == len(originals)
    for record in originals:
        entity = entity_of(record)
        assert store.get(entity, SRC, record.id) == record
        assert list(store.iter_records(entity)) == [record]
        assert store.count(entity) == 1
    deal = store.get("deals", SRC, "d1")
    assert isinstance(deal, Deal)
    assert deal.amount == Decimal("12345.6789")
    assert deal.contact_ids == ("c1", "c2")
    contact = store.get("contacts", SRC, "c1")
    assert isinstance(contact, Contact)
    assert contact.lifecycle_stage is LifecycleStage.CUSTOMER
    assert contact.became_lead_at == datetime(2024, 1, 5, 9, 0, tzinfo=UTC)
    assert store.get("deals", SRC, "missing") is None
    assert store.get("deals", "other", "d1") is None


def test_typed_columns_are_queryable(store: Store) -> None:
    store.upsert(one_of_each())
    with store.engine.connect() as conn:
        answered = conn.execute(
            select(surveys.c.id, surveys.c.answered_at, surveys.c.survey_kind).where(
                surveys.c.answered_at >= T0, surveys.c.answered_at < T0 + timedelta(days=7)
            )
        ).one()
        amount = conn.execute(select(deals.c.amount)).scalar_one()
    assert answered.id == "s1"
    assert answered.answered_at == T0 + timedelta(days=3)
    assert answered.answered_at.tzinfo is not None
    assert answered.survey_kind == "NPS"
    assert Decimal(str(amount)) == Decimal("12345.6789")


def test_scans_of_one_shape_read_the_values_they_are_given(store: Store) -> None:
    # a scan's SQL is compiled once per shape (entity, columns, number of values): the values
    # of each call must still be the ones used
    common = {"source": SRC, "created_at": T0, "updated_at": T0}
    store.upsert([Account(id=f"a{i}", segment=f"s{i}", **common) for i in range(3)])

    def segments(ids: list[str], sources: list[str] | None = None) -> list[str]:
        rows = store.scan("accounts", ["id", "segment"], where_in=("id", ids), sources=sources)
        return sorted(row[1] for chunk in rows for row in chunk)

    assert segments(["a0", "a1"]) == ["s0", "s1"]
    assert segments(["a2", "a1"]) == ["s1", "s2"]
    assert segments(["a2"], [SRC]) == ["s2"]
    assert segments(["a2"], ["other"]) == []
    assert segments([]) == []


def test_upsert_updates_in_place_and_keeps_newer(store: Store) -> None:
    store.upsert(one_of_each(version=1))
    assert store.upsert(one_of_each(version=2)) == len(ENTITY_TYPES)
    account = store.get("accounts", SRC, "a1")
    assert isinstance(account, Account)
    assert account.name == "Acme v2"
    assert store.count("accounts") == 1
    # a stale version (older updated_at) does not overwrite the newer one
    assert store.upsert(one_of_each(version=0)) == 0
    account = store.get("accounts", SRC, "a1")
    assert isinstance(account, Account)
    assert account.name == "Acme v2"
    # the same id from another source is another record
    store.upsert(one_of_each(source="hubspot:999"))
    assert store.count("accounts") == 2
    assert store.count("accounts", "hubspot:999") == 1
    assert store.upsert([]) == 0


def test_deleted_records(store: Store) -> None:
    base = {"source": SRC, "created_at": T0, "updated_at": T0}
    store.upsert(
        [
            Contact(id="alive", **base),
            Contact(id="gone", deleted_at=T0 + timedelta(days=1), **base),
            Contact(id="later", **base),
        ]
    )
    assert store.count("contacts") == 2
    assert store.count("contacts", include_deleted=True) == 3
    assert [r.id for r in store.iter_records("contacts")] == ["alive", "later"]
    at = datetime(2024, 4, 1, 14, 0, tzinfo=CET)
    assert store.mark_deleted("contacts", SRC, ["later", "gone", "unknown"], at) == 1
    assert store.mark_deleted("contacts", SRC, ["later"], at + timedelta(days=1)) == 0
    later = store.get("contacts", SRC, "later")
    assert later is not None
    assert later.deleted_at == at
    assert later.deleted
    assert [r.id for r in store.iter_records("contacts")] == ["alive"]
    assert [r.id for r in store.iter_records("contacts", include_deleted=True)] == [
        "alive",
        "gone",
        "later",
    ]
    assert store.mark_deleted("contacts", SRC, [], at) == 0


def test_iter_records_pages_and_filters(store: Store) -> None:
    records = [
        Contact(source=source, id=f"{i:02d}", created_at=T0, updated_at=T0)
        for source in ("b:2", "a:1")
        for i in range(7)
    ]
    store.upsert(records)
    keys = [(r.source, r.id) for r in store.iter_records("contacts", batch=3)]
    assert keys == sorted((r.source, r.id) for r in records)
    only_b = [r.id for r in store.iter_records("contacts", source="b:2", batch=2)]
    assert only_b == [f"{i:02d}" for i in range(7)]
    assert list(store.iter_records("deals")) == []
    with pytest.raises(KeyError, match="unknown entity"):
        list(store.iter_records("nope"))


def test_cursors(store: Store) -> None:
    assert store.get_cursor(SRC, "contacts") is None
    first = Cursor(updated_at=T0, record_id="c9", visible_before=T0 - timedelta(seconds=5))
    store.set_cursor(SRC, "contacts", first)
    assert store.get_cursor(SRC, "contacts") == first
    second = Cursor(
        updated_at=datetime(2024, 3, 2, 1, 0, tzinfo=CET), record_id="c10", visible_before=T0
    )
    store.set_cursor(SRC, "contacts", second)
    got = store.get_cursor(SRC, "contacts")
    assert got == second
    assert got is not None
    assert got.updated_at.utcoffset() == timedelta(0)
    assert store.get_cursor("hubspot:other", "contacts") is None
    assert store.get_cursor(SRC, "deals") is None
    assert store.clear_cursors(SRC) == 1
    assert store.get_cursor(SRC, "contacts") is None


def test_runs(store: Store) -> None:
    first = store.start_run("cli", SRC)
    time.sleep(0.01)
    second = store.start_run("webhook", SRC)
    store.finish_run(first, "ok", {"records": 12, "by_stream": {"contacts": 12}})
    runs = store.last_runs(10)
    assert [r.id for r in runs] == [second, first]
    assert runs[0].status == "running"
    assert runs[0].finished_at is None
    assert runs[1].status == "ok"
    assert runs[1].stats == {"records": 12, "by_stream": {"contacts": 12}}
    assert runs[1].finished_at is not None
    assert runs[1].finished_at >= runs[1].started_at
    assert [r.id for r in store.last_runs(1)] == [second]
    with pytest.raises(StoreError, match="does not exist"):
        store.finish_run("no-such-run", "ok", {})


def _kpis(nps: float | None, n: int) -> list[KpiValue]:
    return [
        KpiValue("nps", "portfolio", None, "2024-03", nps, n),
        KpiValue("nps", "account", "a1", "2024-03", None, 0),
        KpiValue("csat", "segment", "smb", "2024-03", 0.8, 10, margin_of_error=0.05),
        KpiValue("nps", "portfolio", None, "2024-02", 10.0, 4),
    ]


def test_kpi_values_and_history(store: Store) -> None:
    run1 = store.start_run("cli", SRC)
    assert store.save_kpis(_kpis(25.0, 8), run1) == 4
    assert sorted(store.current_kpis(), key=repr) == sorted(_kpis(25.0, 8), key=repr)
    # unchanged values are not re-written and not appended to the history
    run2 = store.start_run("cli", SRC)
    assert store.save_kpis(_kpis(25.0, 8), run2) == 0
    assert store.save_kpis(iter(_kpis(25.0, 9)), run2) == 1
    run3 = store.start_run("cli", SRC)
    assert store.save_kpis([KpiValue("nps", "portfolio", None, "2024-03", None, 0)], run3) == 1
    history = store.kpi_history("nps", "portfolio", None, "2024-03")
    assert [(h.value.value, h.value.n, h.run_id) for h in history] == [
        (25.0, 8, run1),
        (25.0, 9, run2),
        (None, 0, run3),
    ]
    assert all(h.value.entity_id is None for h in history)
    assert history[0].computed_at <= history[-1].computed_at
    march = store.current_kpis(period="2024-03")
    assert len(march) == 3
    portfolio = store.current_kpis(period="2024-03", kpi="nps", level="portfolio")
    assert portfolio == [KpiValue("nps", "portfolio", None, "2024-03", None, 0)]
    account = store.current_kpis(level="account")
    assert account == [KpiValue("nps", "account", "a1", "2024-03", None, 0)]
    assert len(store.kpi_history("csat", "segment", "smb", "2024-03")) == 1
    assert store.kpi_history("csat", "segment", "other", "2024-03") == []
    # a formula change counts as a change even when the number is the same
    bumped = KpiValue("csat", "segment", "smb", "2024-03", 0.8, 10, 2, 0.05)
    assert store.save_kpis([bumped], run3) == 1
    # a key repeated within one call: the last value wins
    twice = [
        KpiValue("ces", "contact", "c1", "2024-03", 3.0, 1),
        KpiValue("ces", "contact", "c1", "2024-03", 4.0, 2),
    ]
    assert store.save_kpis(twice, run3) == 1
    assert store.current_kpis(kpi="ces") == [twice[1]]


def test_kpi_save_many(store: Store) -> None:
    values = [KpiValue("nps", "contact", f"c{i}", "2024-03", float(i % 7), 3) for i in range(2500)]
    run = store.start_run("cli", SRC)
    assert store.save_kpis(values, run) == 2500
    values[10] = KpiValue("nps", "contact", "c10", "2024-03", 99.0, 3)
    assert store.save_kpis(values, run) == 1
    assert len(store.current_kpis(kpi="nps")) == 2500


def test_writeback_ledger(store: Store) -> None:
    run = store.start_run("cli", SRC)
    assert store.ledger_values(SRC, "contact") == {}
    rows = [
        ("c1", "crmpulse_nps", "40"),
        ("c1", "crmpulse_csat", None),
        ("c2", "crmpulse_nps", "1"),
    ]
    assert store.record_written(SRC, "contact", rows, run) == 3
    assert store.ledger_values(SRC, "contact") == {
        ("c1", "crmpulse_nps"): "40",
        ("c1", "crmpulse_csat"): None,
        ("c2", "crmpulse_nps"): "1",
    }
    store.record_written(SRC, "contact", [("c1", "crmpulse_nps", "41")], run)
    assert store.ledger_values(SRC, "contact", ["c1", "c9"]) == {
        ("c1", "crmpulse_nps"): "41",
        ("c1", "crmpulse_csat"): None,
    }
    assert store.ledger_values(SRC, "contact", []) == {}
    assert store.ledger_values(SRC, "account") == {}
    assert store.ledger_values("hubspot:other", "contact") == {}
    assert store.record_written(SRC, "account", [], run) == 0


def test_quarantine(store: Store) -> None:
    assert store.quarantined() == []
    payload = {"id": "x1", "properties": {"createdate": "not a date"}, "n": [1, 2.5, None]}
    store.quarantine(SRC, "contacts", "x1", "createdate: invalid datetime", payload)
    store.quarantine("hubspot:other", "deals", None, "no id", None)
    everything = store.quarantined()
    assert [q.source for q in everything] == ["hubspot:other", SRC]
    [mine] = store.quarantined(SRC)
    assert (mine.stream, mine.record_id, mine.payload) == ("contacts", "x1", payload)
    assert mine.error == "createdate: invalid datetime"
    assert mine.seen_at.tzinfo is not None


def test_targets_ensured(store: Store) -> None:
    assert not store.targets_ensured(SRC, "abc")
    store.mark_targets_ensured(SRC, "abc")
    store.mark_targets_ensured(SRC, "abc")
    assert store.targets_ensured(SRC, "abc")
    assert not store.targets_ensured(SRC, "def")
    assert not store.targets_ensured("hubspot:other", "abc")


def test_migrations_are_idempotent_and_match_the_schema(any_store_url: str) -> None:
    with Store.open(any_store_url) as first:
        first.upsert(one_of_each())
    with Store.open(any_store_url) as second, second.engine.connect() as conn:
        assert second.count("deals") == 1
        context = MigrationContext.configure(conn)
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert context.get_current_revision() == head
        assert compare_metadata(context, metadata) == []
    with Store.open(any_store_url, migrate=False) as third:
        assert third.count("deals") == 1


def test_unmigrated_store_explains_itself(any_store_url: str) -> None:
    with Store.open(any_store_url, migrate=False) as store, pytest.raises(StoreError) as caught:
        store.count("deals")
    assert "counting deals failed" in str(caught.value)
    assert "migrate=True" in str(caught.value)


def test_unreachable_store_is_a_store_error_without_password(
    any_store_url: str, tmp_path: object
) -> None:
    secret = "hunter2-s3cret"
    url = make_url(any_store_url)
    if url.get_backend_name() == "sqlite":
        # a directory where the database file should be
        broken = url.set(database=str(make_url(any_store_url).database).rsplit("/", 2)[0])
    else:
        broken = url.set(password=secret, host="127.0.0.1", port=1)
    with pytest.raises(StoreError) as caught:
        Store.open(broken.render_as_string(hide_password=False))
    error = caught.value
    assert error.hint
    assert "failed on" in str(error)
    rendered = "".join(traceback.format_exception(error))
    assert secret not in rendered
    assert secret not in repr(error)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("not a url", "cannot parse"),
        ("mysql+nodriver://u:pw-secret@h/db", "unsupported store URL"),
    ],
)
def test_bad_urls(url: str, expected: str) -> None:
    with pytest.raises(StoreError, match=expected) as caught:
        Store.open(url)
    assert "pw-secret" not in str(caught.value)
    assert caught.value.hint


def test_store_from_a_newer_crmpulse_is_refused(any_store_url: str) -> None:
    with Store.open(any_store_url) as store, store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE alembic_version SET version_num = '9999'")
    with pytest.raises(StoreError, match="newer crmpulse"):
        Store.open(any_store_url)


def test_naive_timestamps_are_refused(store: Store) -> None:
    with pytest.raises(StoreError, match="naive datetime"):
        store.mark_deleted("contacts", SRC, ["c1"], datetime(2024, 1, 1))


def test_concurrent_writers_wait_for_each_other(store: Store) -> None:
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for batch in range(5):
                store.upsert(
                    [
                        Contact(
                            source=SRC,
                            id=f"{offset}-{batch}-{i}",
                            created_at=T0,
                            updated_at=T0,
                        )
                        for i in range(200)
                    ]
                )
                store.save_kpis(
                    [KpiValue("nps", "contact", f"{offset}-{batch}", "2024-03", 1.0, 1)], "r"
                )
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert store.count("contacts") == 4 * 5 * 200


def test_upsert_throughput_smoke(store: Store) -> None:
    records = [
        SurveyResponse(
            source=SRC,
            id=f"s{i}",
            created_at=T0,
            updated_at=T0,
            survey_kind=SurveyKind.CSAT,
            score=1 + i % 5,
            scale_min=1,
            scale_max=5,
            answered_at=T0 + timedelta(seconds=i),
            contact_id=f"c{i % 1000}",
            raw={"hs_response": str(i)},
        )
        for i in range(10_000)
    ]
    started = time.perf_counter()
    store.upsert(records)
    inserted = time.perf_counter() - started
    started = time.perf_counter()
    store.upsert(records)
    updated = time.perf_counter() - started
    started = time.perf_counter()
    read = sum(1 for _ in store.iter_records("surveys"))
    reading = time.perf_counter() - started
    assert store.count("surveys") == read == 10_000
    print(
        f"\n{store.dialect}: insert {10_000 / inserted:,.0f}/s, update {10_000 / updated:,.0f}/s,"
        f" read {read / reading:,.0f}/s"
    )
