"""The scenario clock: deterministic, cheap, and consistent with the world it continues."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from crmpulse.model import (
    ENTITY_TYPES,
    Account,
    Contact,
    Deal,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
    entity_of,
)
from crmpulse.synth import Scenario, World, generate

AS_OF = datetime(2025, 6, 15, tzinfo=UTC)
STEPS = (24.0, 0.5, 168.0, 720.0, 1440.0)


@pytest.fixture(scope="module")
def world() -> World:
    return generate(seed=11, scale="small", as_of=AS_OF, source="synth")


@pytest.fixture(scope="module")
def world_ids(world: World) -> dict[str, set[str]]:
    ids: dict[str, set[str]] = {}
    for record in world.records():
        ids.setdefault(entity_of(record), set()).add(record.id)
    return ids


@pytest.fixture(scope="module")
def history(world: World) -> list[tuple[datetime, datetime, list[Record]]]:
    """(interval start, interval end, records) of each step of one run."""
    scenario = Scenario(world, seed=3)
    steps = []
    for hours in STEPS:
        before = scenario.now
        records = scenario.advance(hours)
        steps.append((before, scenario.now, records))
    return steps


def _all(history: list[tuple[datetime, datetime, list[Record]]]) -> list[Record]:
    return [record for _, _, records in history for record in records]


def test_clock_starts_at_as_of_or_start(world: World) -> None:
    assert Scenario(world).now == AS_OF
    later = AS_OF + timedelta(days=2)
    assert Scenario(world, start=later).now == later
    scenario = Scenario(world)
    scenario.advance(36)
    assert scenario.now == AS_OF + timedelta(hours=36)
    with pytest.raises(ValueError, match="timezone-aware"):
        Scenario(world, start=datetime(2025, 6, 15))
    with pytest.raises(ValueError, match="non-negative"):
        scenario.advance(-1)


def test_same_seed_and_steps_give_same_records(world: World) -> None:
    runs = []
    for _ in range(2):
        scenario = Scenario(world, seed=5)
        runs.append([scenario.advance(h) for h in (48.0, 300.0)])
    assert runs[0] == runs[1]
    assert sum(len(step) for step in runs[0]) > 0
    other = Scenario(world, seed=6)
    assert [other.advance(h) for h in (48.0, 300.0)] != runs[0]


def test_timestamps_are_utc_and_inside_the_interval(
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    for start, end, records in history:
        for record in records:
            assert record.updated_at.tzinfo is UTC
            assert start < record.updated_at <= end, record
            if isinstance(record, SurveyResponse):
                assert start < record.answered_at <= end
            if record.id.startswith(("14", "13", "15", "16")) and len(record.id) == 14:
                assert start < record.created_at <= end or record.created_at < start


def test_records_validate_and_appear_once_per_step(
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    for _, _, records in history:
        keys = [(entity_of(r), r.id) for r in records]
        assert len(keys) == len(set(keys))
        assert [r.updated_at for r in records] == sorted(r.updated_at for r in records)
        for record in records:
            cls = ENTITY_TYPES[entity_of(record)]
            assert cls.model_validate(record.model_dump()) == record


def test_new_ids_are_fresh_unique_and_stable(
    world: World,
    world_ids: dict[str, set[str]],
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    every_world_id = set().union(*world_ids.values())
    created: dict[str, str] = {}
    for record in _all(history):
        entity = entity_of(record)
        if record.id in world_ids.get(entity, set()):
            continue
        assert record.id not in every_world_id
        assert record.id.isdigit()
        owner = created.setdefault(record.id, entity)
        assert owner == entity, f"{record.id} used for {owner} and {entity}"
    assert {"tickets", "surveys", "activities", "deals"} <= set(created.values())
    again = Scenario(world, seed=3)
    fresh_again = {r.id for h in STEPS for r in again.advance(h) if r.id not in every_world_id}
    assert fresh_again == set(created)


def test_references_point_at_world_or_earlier_records(
    world_ids: dict[str, set[str]],
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    seen_tickets = set(world_ids["tickets"])
    for _, _, records in history:
        for record in records:
            if isinstance(record, Ticket):
                seen_tickets.add(record.id)
        for record in records:
            if isinstance(record, Account):
                assert record.id in world_ids["accounts"]
                continue
            account_id = getattr(record, "account_id", None)
            contact_id = getattr(record, "contact_id", None)
            assert account_id in world_ids["accounts"]
            if contact_id is not None:
                assert contact_id in world_ids["contacts"]
            if isinstance(record, Deal):
                assert set(record.contact_ids) <= world_ids["contacts"]
            if isinstance(record, SurveyResponse) and record.ticket_id is not None:
                assert record.ticket_id in seen_tickets


def test_open_tickets_get_answered_and_closed_under_the_same_id(
    world: World,
    world_ids: dict[str, set[str]],
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    open_in_world = {t.id: t for t in world.tickets() if t.closed_at is None}
    assert open_in_world
    versions: dict[str, list[Ticket]] = {}
    for record in _all(history):
        if isinstance(record, Ticket):
            versions.setdefault(record.id, []).append(record)
    finished_world = [tid for tid in versions if tid in open_in_world]
    assert finished_world, "the world's open tickets are answered"
    for tid in finished_world:
        latest = versions[tid][-1]
        original = open_in_world[tid]
        assert latest.created_at == original.created_at
        assert latest.subject == original.subject
        assert latest.closed_at is not None or latest.first_response_at is not None
    replied_new = [
        tid
        for tid, vs in versions.items()
        if tid not in world_ids["tickets"] and vs[-1].closed_at is not None
    ]
    assert replied_new, "tickets the scenario opened are closed later"
    for tid in replied_new:
        latest = versions[tid][-1]
        assert latest.first_response_at is not None
        assert latest.created_at <= latest.first_response_at <= latest.closed_at  # type: ignore[operator]


def test_a_mix_of_events_including_detractors_and_churn(
    world_ids: dict[str, set[str]],
    history: list[tuple[datetime, datetime, list[Record]]],
) -> None:
    records = _all(history)
    kinds = Counter(entity_of(r) for r in records)
    assert min(kinds[e] for e in ("tickets", "activities", "surveys", "deals")) > 0
    surveys = [r for r in records if isinstance(r, SurveyResponse)]
    assert {s.survey_kind for s in surveys} == set(SurveyKind)
    assert any(s.survey_kind is SurveyKind.NPS and s.score <= 6 for s in surveys)
    assert any(s.comment for s in surveys)
    assert any(s.ticket_id for s in surveys if s.survey_kind is not SurveyKind.NPS)
    assert any(isinstance(r, Deal) and r.is_won for r in records)


def test_churn_marks_world_accounts_and_stops_their_new_tickets(
    world: World, world_ids: dict[str, set[str]]
) -> None:
    scenario = Scenario(world, seed=3, pace=4.0)
    churned_at: dict[str, datetime] = {}
    for _ in range(6):
        for record in scenario.advance(500):
            if isinstance(record, Account):
                assert record.id in world_ids["accounts"]
                assert record.churned_at is not None
                assert record.churned_at == record.updated_at
                churned_at[record.id] = record.churned_at
            elif isinstance(record, Contact):
                assert record.account_id in churned_at
                assert record.churned_at == churned_at[record.account_id]
            elif isinstance(record, Ticket) and record.account_id in churned_at:
                assert record.created_at < churned_at[record.account_id]
    assert churned_at


def test_rates_follow_the_world_scale() -> None:
    counts = []
    for scale in ("tiny", "small"):
        world = generate(seed=11, scale=scale, as_of=AS_OF)
        counts.append(len(Scenario(world, seed=1).advance(24 * 60)))
    tiny, small = counts
    assert 0 < tiny < small
    assert 3 < small / tiny < 15  # 150 accounts against 20


def test_advance_is_cheap_on_a_large_world() -> None:
    import time

    world = generate(seed=11, scale="large", as_of=AS_OF)
    scenario = Scenario(world, seed=1)
    scenario.advance(1)  # the one-time scan for the world's open tickets
    started = time.perf_counter()
    records = scenario.advance(24)
    assert records
    assert time.perf_counter() - started < 1.0
