"""Recomputing one account after a change equals a full pass, for it and for the aggregates."""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpulse import synth
from crmpulse.kpis import health
from crmpulse.kpis.engine import HealthSetup, compute_window
from crmpulse.kpis.incremental import LiveKpis
from crmpulse.kpis.loading import load_frame
from crmpulse.kpis.measures.base import EngineConfig
from crmpulse.kpis.periods import Period
from crmpulse.model import SurveyKind, SurveyResponse, Ticket
from crmpulse.store import Store

AS_OF = datetime(2026, 9, 14, 15, 30, tzinfo=UTC)
AUGUST = Period.month(2026, 8, "America/Sao_Paulo")
IN_AUGUST = datetime(2026, 8, 10, 12, tzinfo=UTC)


def answer(
    source: str, id: str, contact_id: str, at: datetime, kind: str, score: float
) -> SurveyResponse:
    """A survey answer on the usual scale of its kind (NPS 0-10, CSAT 1-5)."""
    nps = kind == "nps"
    return SurveyResponse(
        source=source,
        id=id,
        created_at=at,
        updated_at=at,
        survey_kind=SurveyKind.NPS if nps else SurveyKind.CSAT,
        score=score,
        scale_min=0 if nps else 1,
        scale_max=10 if nps else 5,
        answered_at=at,
        contact_id=contact_id,
    )


def ticket(source: str, id: str, contact_id: str, at: datetime, hours: float) -> Ticket:
    """A ticket answered after a tenth of ``hours`` and closed after ``hours``."""
    return Ticket(
        source=source,
        id=id,
        created_at=at,
        updated_at=at,
        contact_id=contact_id,
        first_response_at=at + timedelta(hours=hours / 10),
        closed_at=at + timedelta(hours=hours),
    )


def _assert_moves_nothing(live: LiveKpis, recompute: Callable[[], object]) -> None:
    """``recompute()`` leaves every value of the live table as it was, bit for bit."""
    snapshot = {k: (c.value.copy(), c.tail_value.copy()) for k, c in live.table.columns.items()}
    recompute()
    for name, (values, tail) in snapshot.items():
        np.testing.assert_array_equal(live.table.columns[name].value, values, err_msg=name)
        np.testing.assert_array_equal(live.table.columns[name].tail_value, tail, err_msg=name)


@contextmanager
def live_store(
    path: object, world: synth.World | None = None
) -> Iterator[tuple[synth.World, Store, LiveKpis, HealthSetup]]:
    """A SQLite store in ``path`` holding ``world`` (seed 5, small by default) and its live KPIs
    for August."""
    world = world or synth.generate(seed=5, scale="small", as_of=AS_OF)
    setup = HealthSetup(health.load_config(None))
    with Store.open(f"sqlite:///{path}/store.db") as store:
        store.upsert(list(world.records()))
        live = LiveKpis(store, AUGUST, as_of=AS_OF, config=EngineConfig(), health=setup)
        yield world, store, live, setup


def _assert_same(live: LiveKpis, store: Store, setup: HealthSetup) -> None:
    full = compute_window(
        load_frame(store), AUGUST, as_of=AS_OF, config=EngineConfig(), health=setup
    )
    slots = full.slots
    for name, column in full.columns.items():
        mine = live.table.columns[name]
        assert mine.dense_end == column.dense_end, name
        assert mine.tail_slot.tolist() == column.tail_slot.tolist(), name
        for slot in [*range(column.dense_end), *column.tail_slot.tolist()]:
            if name in live.stale and slot < slots.account_offset:
                continue
            key = (name, slots.key(slot))
            theirs, ours = column.get(slot), mine.get(slot)
            assert theirs is not None, key
            assert ours is not None, key
            assert theirs.present == ours.present, key
            if theirs.present:
                np.testing.assert_allclose(ours.value, theirs.value, rtol=1e-9, err_msg=str(key))
                assert ours.n == theirs.n, key


@pytest.mark.parametrize("change", ["detractor", "ticket"])
def test_one_account_recompute_equals_a_full_pass(tmp_path: object, change: str) -> None:
    with live_store(tmp_path) as (world, store, live, setup):
        account = live.frame.account_ids[3]
        contact = next(c for c in world.contacts() if c.account_id == account)
        before = live.table.value("nps", "account", account)
        if change == "detractor":
            store.upsert(
                [
                    SurveyResponse(
                        source=contact.source,
                        id="added-1",
                        created_at=IN_AUGUST,
                        updated_at=IN_AUGUST,
                        survey_kind=SurveyKind.NPS,
                        score=0,
                        scale_min=0,
                        scale_max=10,
                        answered_at=IN_AUGUST,
                        contact_id=contact.id,
                    )
                ]
            )
        else:
            store.upsert(
                [
                    Ticket(
                        source=contact.source,
                        id="added-2",
                        created_at=IN_AUGUST,
                        updated_at=IN_AUGUST,
                        contact_id=contact.id,
                        first_response_at=IN_AUGUST + timedelta(hours=30),
                        closed_at=IN_AUGUST + timedelta(hours=50),
                    )
                ]
            )
        result = live.recompute_account(account)
        assert result.values
        _assert_same(live, store, setup)
        if change == "detractor":
            after = live.table.value("nps", "account", account)
            assert after is not None
            assert before is None or (after.value or 0) < (before.value or 0)
        # a second recompute with nothing new changes nothing
        _assert_moves_nothing(live, lambda: live.recompute_account(account))
        assert "frt_median_h" in live.stale
        assert "nps" not in live.stale


def test_values_that_vanish_and_appear_follow_a_full_pass(tmp_path: object) -> None:
    """A company whose contacts lose some records and gain others, in one recompute."""
    with live_store(tmp_path) as (world, store, live, setup):
        members = {c.id: c.account_id for c in world.contacts()}
        in_august = [
            s
            for s in world.surveys()
            if s.contact_id and AUGUST.start <= s.answered_at < AUGUST.end
        ]
        gone = in_august[0]
        account = gone.account_id or members[gone.contact_id or ""]
        assert account is not None
        # every August answer of the company's contacts goes; each contact gets a new one
        ids = [s.id for s in in_august if members.get(s.contact_id or "") == account]
        store.mark_deleted("surveys", gone.source, ids, IN_AUGUST)
        quiet = [c for c in world.contacts() if c.account_id == account]
        store.upsert(
            [
                answer(gone.source, f"added-{i}", person.id, IN_AUGUST, "csat", 2)
                for i, person in enumerate(quiet)
            ]
        )
        result = live.recompute_account(account)
        _assert_same(live, store, setup)
        contacts_with_rows = {r.entity_id for r in result.values if r.level == "contact"}
        assert contacts_with_rows >= {c.id for c in quiet}


def test_many_accounts_at_once_equal_a_full_pass(tmp_path: object) -> None:
    """A batch of changes across companies of different segments, recomputed in one go."""
    with live_store(tmp_path) as (world, store, live, setup):
        chosen = [str(a) for a in live.frame.account_ids[2:40:3]]
        contacts = {c.account_id: c for c in world.contacts() if c.account_id in set(chosen)}
        added = []
        for i, account in enumerate(chosen):
            contact = contacts.get(account)
            if contact is None:
                continue
            added.append(answer(contact.source, f"batch-{i}", contact.id, IN_AUGUST, "nps", i % 11))
        assert len(added) > 5
        store.upsert(added)
        result = live.recompute_accounts(chosen)
        assert result.account_ids == chosen
        assert {v.entity_id for v in result.values if v.level == "account"} <= set(chosen)
        assert any(v.level == "segment" for v in result.values)
        _assert_same(live, store, setup)
        with pytest.raises(KeyError):
            live.recompute_accounts(["no-such-company"])


@functools.cache
def _tiny_world() -> synth.World:
    return synth.generate(seed=11, scale="tiny", as_of=AS_OF)


change = st.fixed_dictionaries(
    {
        "contact": st.integers(0, 10_000),
        "kind": st.sampled_from(["nps", "csat", "ticket", "delete"]),
        "score": st.integers(0, 10),
        "day": st.integers(1, 31),
        "hours": st.floats(0.5, 400.0),
    }
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=st.lists(change, min_size=1, max_size=6))
def test_recomputing_touched_accounts_equals_a_full_pass_and_is_idempotent(
    changes: list[dict[str, Any]],
) -> None:
    """Any mix of new answers, new tickets and deletions among a few companies' contacts: the
    companies recomputed alone equal a full pass, and recomputing them again changes nothing."""
    world = _tiny_world()
    people = [c for c in world.contacts() if c.account_id]
    by_id = {p.id: p for p in people}
    answers = [
        s
        for s in world.surveys()
        if s.contact_id in by_id and AUGUST.start <= s.answered_at < AUGUST.end
    ]
    assert answers
    with tempfile.TemporaryDirectory() as tmp, live_store(tmp, world) as (_, store, live, setup):
        touched: set[str] = set()
        for i, c in enumerate(changes):
            at = IN_AUGUST.replace(day=c["day"])
            person = people[c["contact"] % len(people)]
            if c["kind"] == "delete":
                gone = answers[c["contact"] % len(answers)]
                store.mark_deleted("surveys", gone.source, [gone.id], at)
                person = by_id[str(gone.contact_id)]
            elif c["kind"] == "ticket":
                store.upsert([ticket(person.source, f"h-ticket-{i}", person.id, at, c["hours"])])
            else:
                score = c["score"] if c["kind"] == "nps" else 1 + c["score"] % 5
                store.upsert(
                    [answer(person.source, f"h-answer-{i}", person.id, at, c["kind"], score)]
                )
            touched.add(str(person.account_id))
        live.recompute_accounts(sorted(touched))
        _assert_same(live, store, setup)
        _assert_moves_nothing(live, lambda: live.recompute_accounts(sorted(touched)))
