"""The synthetic world: deterministic, lazy, internally consistent, and telling a credible story."""

from __future__ import annotations

import dataclasses
import statistics
import tracemalloc
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crmpulse.model import (
    Account,
    Activity,
    Contact,
    Deal,
    LifecycleStage,
    Record,
    SurveyKind,
    SurveyResponse,
    Ticket,
    entity_of,
)
from crmpulse.synth import SCALES, ScaleSpec, World, generate

AS_OF = datetime(2025, 6, 15, tzinfo=UTC)


@dataclasses.dataclass(frozen=True)
class Materialized:
    """A small world held in lists, built once for the read-only checks."""

    world: World
    accounts: list[Account]
    contacts: list[Contact]
    deals: list[Deal]
    tickets: list[Ticket]
    activities: list[Activity]
    surveys: list[SurveyResponse]

    def all(self) -> Iterator[Record]:
        yield from self.accounts
        yield from self.contacts
        yield from self.deals
        yield from self.tickets
        yield from self.activities
        yield from self.surveys


@pytest.fixture(scope="module")
def small() -> Materialized:
    world = generate(seed=7, scale="small", as_of=AS_OF)
    return Materialized(
        world=world,
        accounts=list(world.accounts()),
        contacts=list(world.contacts()),
        deals=list(world.deals()),
        tickets=list(world.tickets()),
        activities=list(world.activities()),
        surveys=list(world.surveys()),
    )


def _months_before(as_of: datetime, count: int) -> list[str]:
    """The ``count`` complete calendar months before the month of ``as_of``, as ``YYYY-MM``."""
    months = []
    year, month = as_of.year, as_of.month
    for _ in range(count):
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
        months.append(f"{year:04d}-{month:02d}")
    return months


# ----------------------------------------------------------------------------- determinism and API


def test_same_parameters_give_identical_records() -> None:
    first = list(generate(seed=11, scale="small", as_of=AS_OF).records())
    second = list(generate(seed=11, scale="small", as_of=AS_OF).records())
    assert first == second
    assert len(first) > 1_000


def test_iterating_twice_gives_the_same_records() -> None:
    world = generate(seed=3, scale="tiny", as_of=AS_OF)
    assert list(world.surveys()) == list(world.surveys())


def test_different_seeds_differ() -> None:
    one = list(generate(seed=1, scale="tiny", as_of=AS_OF).records())
    two = list(generate(seed=2, scale="tiny", as_of=AS_OF).records())
    assert one != two
    names_one = {a.name for a in generate(seed=1, scale="tiny", as_of=AS_OF).accounts()}
    names_two = {a.name for a in generate(seed=2, scale="tiny", as_of=AS_OF).accounts()}
    assert names_one != names_two


def test_records_yields_accounts_first_then_each_entity_in_turn(small: Materialized) -> None:
    order = [entity_of(record) for record in small.world.records()]
    runs = [name for i, name in enumerate(order) if i == 0 or order[i - 1] != name]
    assert runs == ["accounts", "contacts", "deals", "tickets", "activities", "surveys"]
    assert len(order) == sum(1 for _ in small.all())


def test_default_as_of_is_the_start_of_the_current_utc_day() -> None:
    before = datetime.now(UTC)
    world = generate(scale="tiny")
    after = datetime.now(UTC)
    assert world.as_of.tzinfo is not None
    assert world.as_of.utcoffset() == timedelta(0)
    assert (world.as_of.hour, world.as_of.minute, world.as_of.second) == (0, 0, 0)
    assert world.as_of.date() in {before.date(), after.date()}


def test_world_spans_at_least_eighteen_months() -> None:
    for as_of in (AS_OF, datetime(2024, 3, 1, tzinfo=UTC), datetime(2025, 1, 31, tzinfo=UTC)):
        world = generate(scale="tiny", as_of=as_of)
        assert world.start.day == 1
        assert world.as_of - world.start >= timedelta(days=545)  # the shortest 18 months
        assert (
            world.as_of.year - world.start.year
        ) * 12 + world.as_of.month - world.start.month >= 18


def test_world_is_immutable_and_parameters_are_checked() -> None:
    world = generate(scale="tiny", as_of=AS_OF)
    with pytest.raises(dataclasses.FrozenInstanceError):
        world.seed = 8  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown scale"):
        generate(scale="huge")
    with pytest.raises(ValueError, match="timezone-aware"):
        generate(as_of=datetime(2025, 1, 1))
    with pytest.raises(ValueError, match="accounts"):
        ScaleSpec(accounts=0)
    with pytest.raises(ValueError, match="history_months"):
        ScaleSpec(accounts=5, history_months=12)


def test_custom_scale_and_source_are_honoured() -> None:
    spec = ScaleSpec(accounts=5, contacts_per_account=2.0, history_months=24)
    world = generate(seed=5, scale=spec, as_of=AS_OF, source="hubspot:123")
    assert world.scale is spec
    assert sum(1 for _ in world.accounts()) == 5
    assert {r.source for r in world.records()} == {"hubspot:123"}
    assert world.start == datetime(2023, 6, 1, tzinfo=UTC)


# --------------------------------------------------------------------------------------- scales


def test_scales_are_ordered_and_estimates_are_cheap_and_close() -> None:
    sizes = [SCALES[name].accounts for name in ("tiny", "small", "medium", "large")]
    assert sizes == sorted(sizes)
    assert SCALES["medium"].accounts == 10 * SCALES["small"].accounts
    assert SCALES["large"].accounts == 100 * SCALES["small"].accounts
    estimates = {name: generate(scale=name, as_of=AS_OF).estimated_counts() for name in SCALES}
    for entity in estimates["tiny"]:
        counts = [estimates[name][entity] for name in ("tiny", "small", "medium", "large")]
        assert counts == sorted(counts), entity
    assert 2_000 <= sum(estimates["small"].values()) <= 8_000


def test_estimated_counts_match_the_small_world(small: Materialized) -> None:
    actual = Counter(entity_of(record) for record in small.all())
    for entity, estimate in small.world.estimated_counts().items():
        assert abs(actual[entity] - estimate) <= 0.25 * estimate, entity


def test_a_smaller_world_is_a_prefix_of_a_larger_one(small: Materialized) -> None:
    tiny = generate(seed=7, scale="tiny", as_of=AS_OF)
    tiny_accounts = list(tiny.accounts())
    assert tiny_accounts == small.accounts[: len(tiny_accounts)]
    tiny_tickets = list(tiny.tickets())
    assert tiny_tickets == small.tickets[: len(tiny_tickets)]


def test_iterating_a_medium_world_keeps_memory_flat() -> None:
    world = generate(scale="medium", as_of=AS_OF)
    tracemalloc.start()
    try:
        count = sum(1 for _ in world.contacts())
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count > 5_000
    assert peak < 256 * 1024  # a handful of accounts' worth, not thousands of contacts


# ----------------------------------------------------------------------------------- consistency


def test_ids_are_numeric_and_unique_per_entity(small: Materialized) -> None:
    seen: dict[str, set[str]] = defaultdict(set)
    for record in small.all():
        assert record.id.isdigit()
        bucket = seen[entity_of(record)]
        assert record.id not in bucket
        bucket.add(record.id)
    every_id = [i for ids in seen.values() for i in ids]
    assert len(every_id) == len(set(every_id))


def test_every_timestamp_is_utc_ordered_and_before_as_of(small: Materialized) -> None:
    world = small.world
    for record in small.all():
        assert record.created_at < record.updated_at < world.as_of
        assert record.created_at >= world.start
        assert record.raw == {}
        assert record.deleted_at is None
        for value in record.model_dump().values():
            if isinstance(value, datetime):
                assert value.utcoffset() == timedelta(0)
                assert world.start <= value < world.as_of


def test_references_resolve_within_the_same_account(small: Materialized) -> None:
    accounts = {a.id for a in small.accounts}
    contact_account = {c.id: c.account_id for c in small.contacts}
    ticket_account = {t.id: t.account_id for t in small.tickets}
    assert set(contact_account.values()) <= accounts
    for deal in small.deals:
        assert deal.account_id in accounts
        assert deal.contact_ids
        assert all(contact_account[c] == deal.account_id for c in deal.contact_ids)
    for ticket in small.tickets:
        assert ticket.contact_id is not None
        assert contact_account[ticket.contact_id] == ticket.account_id
    for activity in small.activities:
        assert activity.contact_id is not None
        assert contact_account[activity.contact_id] == activity.account_id
    for survey in small.surveys:
        assert survey.contact_id is not None
        assert contact_account[survey.contact_id] == survey.account_id
        if survey.ticket_id is not None:
            assert ticket_account[survey.ticket_id] == survey.account_id


def test_contact_lifecycles_are_consistent_as_of_the_world_date(small: Materialized) -> None:
    accounts = {a.id: a for a in small.accounts}
    stages = Counter(c.lifecycle_stage for c in small.contacts)
    assert set(stages) == {
        LifecycleStage.LEAD,
        LifecycleStage.OPPORTUNITY,
        LifecycleStage.CUSTOMER,
        LifecycleStage.CHURNED,
    }
    for contact in small.contacts:
        assert contact.became_lead_at == contact.created_at
        assert contact.email is not None
        assert contact.account_id is not None
        account = accounts[contact.account_id]
        assert contact.email.endswith("@" + str(account.domain))
        if contact.churned_at is not None:
            assert contact.lifecycle_stage is LifecycleStage.CHURNED
            assert contact.became_customer_at is not None
            assert contact.became_customer_at < contact.churned_at
        elif contact.became_customer_at is not None:
            assert contact.lifecycle_stage is LifecycleStage.CUSTOMER
        else:
            assert contact.lifecycle_stage in {LifecycleStage.LEAD, LifecycleStage.OPPORTUNITY}
        if contact.became_customer_at is not None:
            assert account.became_customer_at is not None
            assert contact.became_lead_at is not None
            assert account.became_customer_at <= contact.became_customer_at
            assert contact.became_lead_at <= contact.became_customer_at
        if account.churned_at is not None and contact.became_customer_at is not None:
            assert contact.churned_at is not None
    emails = [c.email for c in small.contacts]
    assert len(emails) == len(set(emails))


def test_account_lifecycles_are_consistent(small: Materialized) -> None:
    contacts_by_account: dict[str, list[Contact]] = defaultdict(list)
    for contact in small.contacts:
        contacts_by_account[str(contact.account_id)].append(contact)
    assert {a.segment for a in small.accounts} == {"SMB", "Mid-Market", "Enterprise"}
    assert len({a.domain for a in small.accounts}) == len(small.accounts)
    for account in small.accounts:
        assert account.name
        assert account.domain
        assert account.industry
        if account.churned_at is not None:
            assert account.became_customer_at is not None
            assert account.became_customer_at < account.churned_at
        converted = [c.became_customer_at for c in contacts_by_account[account.id]]
        if account.became_customer_at is not None:
            assert min(t for t in converted if t is not None) == account.became_customer_at
        else:
            assert converted == [None] * len(converted)
    customers = [a for a in small.accounts if a.became_customer_at is not None]
    churned = [a for a in customers if a.churned_at is not None]
    assert 0.05 < len(churned) / len(customers) < 0.4


def test_deals_are_consistent_and_sized_by_segment(small: Materialized) -> None:
    segment = {a.id: a.segment for a in small.accounts}
    stages = Counter(d.stage for d in small.deals)
    assert stages["closedwon"] > stages["closedlost"] > 0
    assert set(stages) - {"closedwon", "closedlost"}  # some deals are still open
    won: dict[str, list[Decimal]] = defaultdict(list)
    for deal in small.deals:
        assert deal.amount is not None
        assert deal.amount > 0
        assert deal.currency == "USD"
        if deal.is_closed:
            assert deal.closed_at is not None
            assert deal.closed_at > deal.created_at
            assert deal.stage == ("closedwon" if deal.is_won else "closedlost")
        else:
            assert deal.closed_at is None
            assert not deal.is_won
            assert deal.stage not in {"closedwon", "closedlost"}
        if deal.is_won:
            won[str(segment[str(deal.account_id)])].append(deal.amount)
    smb, mid, ent = (statistics.median(won[s]) for s in ("SMB", "Mid-Market", "Enterprise"))
    assert ent > 4 * mid
    assert mid > 4 * smb


def test_tickets_have_realistic_service_times(small: Materialized) -> None:
    tickets = small.tickets
    assert {t.priority for t in tickets} == {"LOW", "MEDIUM", "HIGH", "URGENT"}
    assert {t.channel for t in tickets} == {"EMAIL", "CHAT", "PHONE", "FORM"}
    waits = [
        (t.first_response_at - t.created_at) / timedelta(hours=1)
        for t in tickets
        if t.first_response_at is not None
    ]
    assert 1.0 <= statistics.median(waits) <= 4.0
    assert max(waits) > 48  # a heavy tail: some wait days
    fixes = [(t.closed_at - t.created_at) / timedelta(hours=1) for t in tickets if t.closed_at]
    assert min(fixes) < 2
    assert max(fixes) > 24 * 14
    for ticket in tickets:
        if ticket.first_response_at is None:
            assert ticket.closed_at is None
        if ticket.closed_at is None:
            assert small.world.as_of - ticket.created_at < timedelta(days=120)
        else:
            assert ticket.first_response_at is not None
            assert ticket.first_response_at <= ticket.closed_at


def test_recent_tickets_are_sometimes_unanswered() -> None:
    world = generate(seed=7, scale="medium", as_of=AS_OF)
    recent = [t for t in world.tickets() if world.as_of - t.created_at < timedelta(days=10)]
    unanswered = sum(1 for t in recent if t.first_response_at is None)
    assert 0.02 < unanswered / len(recent) < 0.2


def test_survey_scores_follow_each_kind_of_scale(small: Materialized) -> None:
    scales = {
        SurveyKind.NPS: (0, 10),
        SurveyKind.CSAT: (1, 5),
        SurveyKind.CES: (1, 7),
    }
    seen: dict[SurveyKind, set[float]] = defaultdict(set)
    for survey in small.surveys:
        assert (survey.scale_min, survey.scale_max) == scales[survey.survey_kind]
        assert survey.higher_is_better
        assert survey.score == int(survey.score)
        assert survey.answered_at == survey.created_at
        SurveyResponse.model_validate(survey.model_dump())
        seen[survey.survey_kind].add(survey.score)
    assert {0.0, 10.0} & seen[SurveyKind.NPS]
    assert len(seen[SurveyKind.NPS]) >= 8
    assert seen[SurveyKind.CSAT] >= {2.0, 3.0, 4.0, 5.0}
    assert len(seen[SurveyKind.CES]) >= 5


def test_surveys_come_from_customers_and_ticket_surveys_after_closing(
    small: Materialized,
) -> None:
    contacts = {c.id: c for c in small.contacts}
    tickets = {t.id: t for t in small.tickets}
    for survey in small.surveys:
        contact = contacts[str(survey.contact_id)]
        assert contact.became_customer_at is not None
        assert contact.became_customer_at <= survey.answered_at
        assert contact.churned_at is None or survey.answered_at < contact.churned_at
        if survey.survey_kind is SurveyKind.NPS:
            assert survey.ticket_id is None
        else:
            assert survey.ticket_id is not None
            ticket = tickets[survey.ticket_id]
            assert ticket.closed_at is not None
            assert ticket.closed_at <= survey.answered_at
            assert ticket.contact_id == survey.contact_id
    assert len({s.ticket_id for s in small.surveys if s.ticket_id}) == sum(
        1 for s in small.surveys if s.ticket_id
    )


def test_activities_cover_every_kind_with_directions(small: Materialized) -> None:
    kinds = Counter(a.activity_kind for a in small.activities)
    assert len(kinds) == 5
    for activity in small.activities:
        assert activity.occurred_at == activity.created_at
        if activity.activity_kind in {"email", "call"}:
            assert activity.direction in {"inbound", "outbound"}
        else:
            assert activity.direction is None


# ----------------------------------------------------------------------------------- the story


def test_every_recent_month_has_surveys_of_each_kind_and_closed_tickets(
    small: Materialized,
) -> None:
    per_month: dict[str, Counter[str]] = defaultdict(Counter)
    for survey in small.surveys:
        per_month[survey.answered_at.strftime("%Y-%m")][survey.survey_kind.value] += 1
    for ticket in small.tickets:
        if ticket.closed_at is not None:
            per_month[ticket.closed_at.strftime("%Y-%m")]["closed"] += 1
    for month in _months_before(small.world.as_of, 12):
        counts = per_month[month]
        assert counts["NPS"] >= 5, month
        assert counts["CSAT"] >= 3, month
        assert counts["CES"] >= 2, month
        assert counts["closed"] >= 10, month


def test_most_active_accounts_have_a_year_of_answers_and_tickets(small: Materialized) -> None:
    year_ago = small.world.as_of - timedelta(days=365)
    active = {
        a.id
        for a in small.accounts
        if a.became_customer_at is not None
        and a.became_customer_at < year_ago
        and a.churned_at is None
    }
    answered = {s.account_id for s in small.surveys if s.answered_at >= year_ago}
    served = {t.account_id for t in small.tickets if t.closed_at and t.closed_at >= year_ago}
    assert len(active) >= 30
    assert len(active & answered) >= 0.8 * len(active)
    assert len(active & served) >= 0.8 * len(active)


def test_churned_accounts_were_less_happy_and_worse_served(small: Materialized) -> None:
    churned = {a.id for a in small.accounts if a.churned_at is not None}

    def mean_score(kind: SurveyKind, lost: bool) -> float:
        return statistics.fmean(
            s.score
            for s in small.surveys
            if s.survey_kind is kind and (s.account_id in churned) == lost
        )

    assert mean_score(SurveyKind.NPS, lost=True) + 1 < mean_score(SurveyKind.NPS, lost=False)
    assert mean_score(SurveyKind.CSAT, lost=True) < mean_score(SurveyKind.CSAT, lost=False)

    def median_wait(lost: bool) -> float:
        return statistics.median(
            (t.first_response_at - t.created_at).total_seconds()
            for t in small.tickets
            if t.first_response_at is not None and (t.account_id in churned) == lost
        )

    assert median_wait(lost=True) > median_wait(lost=False)


def test_portfolio_nps_is_believable(small: Materialized) -> None:
    scores = [s.score for s in small.surveys if s.survey_kind is SurveyKind.NPS]
    promoters = sum(score >= 9 for score in scores)
    detractors = sum(score <= 6 for score in scores)
    nps = 100 * (promoters - detractors) / len(scores)
    assert -10 < nps < 60


def test_comments_are_bilingual_themed_and_agree_with_scores(small: Materialized) -> None:
    commented = [s for s in small.surveys if s.comment]
    assert 0.3 < len(commented) / len(small.surveys) < 0.5
    text = " ".join(str(s.comment) for s in commented).lower()
    for word in ("atendimento", "preço", "suporte", "support", "price", "onboarding", "bugs"):
        assert word in text, word
    praise = ("excelente", "excellent", "great", "ótimo", "love", "adoro", "fair price", "justo")
    for survey in commented:
        comment = str(survey.comment).lower()
        if survey.survey_kind is SurveyKind.NPS and survey.score <= 4:
            assert " but " not in comment
            assert " mas " not in comment
            assert not any(word in comment for word in praise), comment
    portuguese = sum(1 for s in commented if any(ch in str(s.comment) for ch in "ãçéóúêô"))
    assert 0.2 < portuguese / len(commented) < 0.8
