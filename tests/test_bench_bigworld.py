"""The benchmark world is a normal store: its rows are what ``Store.upsert`` would write."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from crmpulse.errors import ConfigError
from crmpulse.model import ENTITY_TYPES, Contact, SurveyResponse
from crmpulse.store.store import Store

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # bench/ is not an installed package
from bench import bigworld
from bench.bigworld import BigWorldSpec, build, ensure

SPEC = BigWorldSpec().scaled(0.001)


def _rows(path: Path, table: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT * FROM {table} ORDER BY source, id").fetchall()
    conn.close()
    return rows


def _scalar(path: Path, sql: str) -> Any:
    with sqlite3.connect(path) as conn:
        value = conn.execute(sql).fetchone()[0]
    conn.close()
    return value


def _schema(path: Path) -> list[tuple[object, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name")
        schema = rows.fetchall()
    conn.close()
    return schema


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("bigworld") / "world.db", SPEC, progress=False)


@pytest.fixture
def store(world: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{world}") as opened:
        yield opened


def test_scaled_spec_keeps_the_shape_of_the_full_world() -> None:
    assert (SPEC.accounts, SPEC.contacts, SPEC.tickets) == (200, 1_000, 5_000)
    assert (SPEC.surveys, SPEC.deals, SPEC.activities) == (1_000, 2_000, 1_000)
    assert BigWorldSpec().scaled(1e-9).accounts == 1
    assert SPEC.digest() != BigWorldSpec().scaled(0.002).digest()
    assert SPEC.digest() == BigWorldSpec().scaled(0.001).digest()


@pytest.mark.parametrize(
    "make",
    [
        lambda: BigWorldSpec(accounts=10, contacts=5),
        lambda: BigWorldSpec(tickets=-1),
        lambda: BigWorldSpec(months=0),
        lambda: BigWorldSpec().scaled(0),
    ],
)
def test_impossible_specs_are_refused(make: object) -> None:
    with pytest.raises(ConfigError):
        make()  # type: ignore[operator]


def test_every_table_holds_the_counts_of_the_spec(store: Store) -> None:
    for entity in ("accounts", "contacts", "tickets", "surveys", "deals", "activities"):
        assert store.count(entity) == getattr(SPEC, entity), entity
    contacts = [c for c in store.iter_records("contacts") if isinstance(c, Contact)]
    leads = sum(1 for c in contacts if c.became_lead_at is not None)
    assert store.count("conversions") == leads > 0


def test_docs_are_exactly_what_pydantic_dumps(world: Path, store: Store) -> None:
    for entity, record_type in ENTITY_TYPES.items():
        rows = _rows(world, entity)
        assert rows, entity
        for row in rows:
            doc = row[-1]
            assert isinstance(doc, str)
            assert record_type.model_validate_json(doc).model_dump_json() == doc
        assert len(list(store.iter_records(entity))) == len(rows)


def test_rows_equal_what_the_store_writes_for_the_same_records(
    world: Path, store: Store, tmp_path: Path
) -> None:
    copy = tmp_path / "upserted.db"
    with Store.open(f"sqlite:///{copy}") as other:
        for entity in ENTITY_TYPES:
            other.upsert(list(store.iter_records(entity)))
    for entity in ENTITY_TYPES:
        assert _rows(world, entity) == _rows(copy, entity), entity
    assert _schema(world) == _schema(copy)
    assert _scalar(world, "PRAGMA journal_mode") == "wal"


def test_references_point_at_existing_rows(world: Path) -> None:
    orphans = {
        "tickets.account_id": "tickets t LEFT JOIN accounts a ON a.id = t.account_id",
        "tickets.contact_id": "tickets t LEFT JOIN contacts a ON a.id = t.contact_id",
        "contacts.account_id": "contacts t LEFT JOIN accounts a ON a.id = t.account_id",
        "surveys.contact_id": "surveys t LEFT JOIN contacts a ON a.id = t.contact_id",
        "surveys.ticket_id": "surveys t LEFT JOIN tickets a ON a.id = t.ticket_id",
        "deals.account_id": "deals t LEFT JOIN accounts a ON a.id = t.account_id",
        "activities.contact_id": "activities t LEFT JOIN contacts a ON a.id = t.contact_id",
        "conversions.contact_id": "conversions t LEFT JOIN contacts a ON a.id = t.contact_id",
    }
    for name, join in orphans.items():
        column = name.split(".")[1]
        sql = f"SELECT count(*) FROM {join} WHERE t.{column} IS NOT NULL AND a.id IS NULL"
        assert _scalar(world, sql) == 0, name
    # a ticket's (and a survey's) contact belongs to the ticket's account
    mismatched = (
        "SELECT count(*) FROM {t} t JOIN contacts c ON c.id = t.contact_id"
        " WHERE c.account_id != t.account_id"
    )
    assert _scalar(world, mismatched.format(t="tickets")) == 0
    assert _scalar(world, mismatched.format(t="surveys")) == 0
    assert _scalar(world, "SELECT count(*) FROM surveys WHERE ticket_id IS NOT NULL") > 0


def test_distributions_have_the_intended_shape(world: Path) -> None:
    def share(table: str, where: str) -> float:
        total = _scalar(world, f"SELECT count(*) FROM {table}")
        hits = _scalar(world, f"SELECT count(*) FROM {table} WHERE {where}")
        assert isinstance(total, int)
        assert isinstance(hits, int)
        return hits / total

    assert 0.6 < share("accounts", "segment = 'SMB'") < 0.8
    assert 0.5 < share("surveys", "survey_kind = 'NPS'") < 0.7
    assert 0.15 < share("surveys", 'doc LIKE \'%"comment":"%\'') < 0.35
    assert 0.9 < share("tickets", "first_response_at IS NOT NULL") < 1.0
    assert 0.85 < share("tickets", "closed_at IS NOT NULL") < 0.97
    assert 0.2 < share("deals", "is_won") < 0.4
    assert share("deals", "is_closed AND closed_at IS NULL") == 0
    assert (
        share("activities", "direction IS NOT NULL AND activity_kind NOT IN ('email', 'call')") == 0
    )
    repeat = (
        "EXISTS (SELECT 1 FROM tickets p WHERE p.contact_id = tickets.contact_id"
        " AND p.id != tickets.id"
        " AND p.created_at <= tickets.created_at"
        " AND julianday(tickets.created_at) - julianday(p.created_at) <= 7)"
    )
    assert 0.1 < share("tickets", repeat) < 0.3


def test_the_same_spec_gives_the_same_tables(world: Path, tmp_path: Path) -> None:
    again = build(tmp_path / "again.db", SPEC, progress=False, defer_indexes=False)
    other = build(tmp_path / "other.db", replace(SPEC, seed=2), progress=False)
    for entity in ENTITY_TYPES:
        assert _rows(again, entity) == _rows(world, entity), entity
    assert _schema(again) == _schema(world)
    assert _rows(other, "tickets") != _rows(world, "tickets")


def test_a_world_without_tickets_or_deals_still_builds(tmp_path: Path) -> None:
    tiny = BigWorldSpec(accounts=1, contacts=1, tickets=0, surveys=3, deals=0, activities=0)
    with Store.open(f"sqlite:///{build(tmp_path / 'tiny.db', tiny, progress=False)}") as store:
        assert [store.count(e) for e in ("accounts", "contacts", "tickets", "surveys")] == [
            1,
            1,
            0,
            3,
        ]
        surveys = [s for s in store.iter_records("surveys") if isinstance(s, SurveyResponse)]
        assert len(surveys) == 3
        assert all(s.ticket_id is None for s in surveys)


def test_build_refuses_to_overwrite(world: Path) -> None:
    with pytest.raises(ConfigError, match="already exists"):
        build(world, SPEC, progress=False)


def test_ensure_builds_once_and_never_keeps_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = ensure(SPEC, tmp_path, progress=False)
    assert path.name == f"bigworld-{SPEC.digest()}.db"
    built_at = path.stat().st_mtime_ns
    assert ensure(SPEC, tmp_path, progress=False) == path
    assert path.stat().st_mtime_ns == built_at
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

    def interrupted(target: Path, spec: BigWorldSpec, *, progress: bool) -> Path:
        target.write_bytes(b"half a store")
        raise KeyboardInterrupt

    monkeypatch.setattr(bigworld, "build", interrupted)
    other = BigWorldSpec().scaled(0.0005)
    with pytest.raises(KeyboardInterrupt):
        ensure(other, tmp_path, progress=False)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_command_line_prints_counts_time_and_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cli.db"
    assert bigworld.main(["--scale", "0.0005", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "tickets" in printed
    assert "2,500" in printed
    assert "MiB" in printed
    assert " s," in printed
