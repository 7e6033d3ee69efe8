"""The KPI engine on hand-built records, and its invariants on generated ones."""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpulse.kpis import CATALOGUE, KpiValue, Period, compute, get
from crmpulse.kpis.surveys import csat, nps
from crmpulse.model import (
    Account,
    Activity,
    ActivityKind,
    Contact,
    Deal,
    SurveyKind,
    SurveyResponse,
    Ticket,
)

OCTOBER = Period.parse("2026-10")
T0 = datetime(2026, 10, 10, 12, tzinfo=UTC)
SCALES = {SurveyKind.NPS: (0, 10), SurveyKind.CSAT: (1, 5), SurveyKind.CES: (1, 7)}
KPI_ORDER = [d.name for d in CATALOGUE if d.family not in {"health", "feedback"}]
COUNTS = {"ticket_volume", "customers_active"}
RECORD_KPIS = [
    d.name
    for d in CATALOGUE
    if d.family in {"surveys", "service"}
    and d.name not in {"recontact_customers", "recontact_rate", "fcr"}
]
"""KPIs that are functions of one account's own records (no cross-account requester chains)."""
AS_OF = datetime(2026, 12, 15, tzinfo=UTC)
LEVEL_ORDER = ["portfolio", "segment", "account", "contact"]


def account(id_: str, segment: str | None = None, *, deleted: bool = False) -> Account:
    return Account(
        source="test",
        id=id_,
        created_at=T0 - timedelta(days=400),
        updated_at=T0,
        deleted_at=T0 if deleted else None,
        segment=segment,
    )


def contact(id_: str, account_id: str | None = None, *, deleted: bool = False) -> Contact:
    return Contact(
        source="test",
        id=id_,
        created_at=T0 - timedelta(days=400),
        updated_at=T0,
        deleted_at=T0 if deleted else None,
        account_id=account_id,
    )


_counter = iter(range(10**9))


def survey(
    kind: SurveyKind,
    score: float,
    *,
    contact_id: str | None = None,
    account_id: str | None = None,
    at: datetime = T0,
    scale: tuple[int, int] | None = None,
    higher_is_better: bool = True,
    deleted: bool = False,
) -> SurveyResponse:
    low, high = scale or SCALES[kind]
    return SurveyResponse(
        source="test",
        id=f"s{next(_counter)}",
        created_at=at,
        updated_at=at,
        deleted_at=at if deleted else None,
        survey_kind=kind,
        score=score,
        scale_min=low,
        scale_max=high,
        higher_is_better=higher_is_better,
        answered_at=at,
        contact_id=contact_id,
        account_id=account_id,
    )


def ticket(
    *,
    contact_id: str | None = None,
    account_id: str | None = None,
    created: datetime = T0,
    response_h: float | None = None,
    close_h: float | None = None,
    deleted: bool = False,
) -> Ticket:
    return Ticket(
        source="test",
        id=f"t{next(_counter)}",
        created_at=created,
        updated_at=created,
        deleted_at=created if deleted else None,
        contact_id=contact_id,
        account_id=account_id,
        first_response_at=None if response_h is None else created + timedelta(hours=response_h),
        closed_at=None if close_h is None else created + timedelta(hours=close_h),
    )


def run(
    *,
    accounts: Sequence[Account] = (),
    contacts: Sequence[Contact] = (),
    tickets: Sequence[Ticket] = (),
    surveys: Sequence[SurveyResponse] = (),
    period: Period = OCTOBER,
    csat_satisfied_min: float = 4,
) -> list[KpiValue]:
    return compute(
        accounts=accounts,
        contacts=contacts,
        tickets=tickets,
        surveys=surveys,
        period=period,
        csat_satisfied_min=csat_satisfied_min,
        as_of=AS_OF,
    )


def pick(rows: Sequence[KpiValue], kpi: str, level: str, entity_id: str | None = None) -> KpiValue:
    matches = [r for r in rows if (r.kpi, r.level, r.entity_id) == (kpi, level, entity_id)]
    assert len(matches) == 1, f"{kpi}/{level}/{entity_id}: {matches}"
    return matches[0]


def has(rows: Sequence[KpiValue], kpi: str, level: str, entity_id: str | None) -> bool:
    return any((r.kpi, r.level, r.entity_id) == (kpi, level, entity_id) for r in rows)


# ------------------------------------------------------------------------------- hand-built data


def test_empty_inputs_give_undefined_portfolio_values_for_every_kpi() -> None:
    rows = run()
    assert [r.kpi for r in rows] == KPI_ORDER
    for row in rows:
        expected = 0 if row.kpi in COUNTS else None
        assert (row.level, row.entity_id, row.value, row.n) == ("portfolio", None, expected, 0)
        assert row.period == "2026-10"


def test_levels_from_a_small_world() -> None:
    accounts = [account("a1", "smb"), account("a2", "enterprise"), account("a3")]
    contacts = [contact("c1", "a1"), contact("c2", "a1"), contact("c3", "a2"), contact("c4")]
    surveys = [
        survey(SurveyKind.NPS, 10, contact_id="c1"),  # a1 through the contact
        survey(SurveyKind.NPS, 9, contact_id="c2"),
        survey(SurveyKind.NPS, 3, contact_id="c3"),  # a2
        survey(SurveyKind.NPS, 8, account_id="a3"),  # account without segment
        survey(SurveyKind.NPS, 0, contact_id="c4"),  # contact without account
        survey(SurveyKind.NPS, 10, contact_id="c3", account_id="a1"),  # own account wins
    ]
    rows = run(accounts=accounts, contacts=contacts, surveys=surveys)

    portfolio = pick(rows, "nps", "portfolio")
    expected = nps([10, 9, 3, 8, 0, 10])
    assert (portfolio.value, portfolio.n) == (expected.value, 6)
    assert portfolio.margin_of_error == expected.margin_of_error
    assert pick(rows, "nps", "account", "a1").value == 100
    assert pick(rows, "nps", "account", "a1").n == 3
    assert pick(rows, "nps", "account", "a2").value == -100
    assert pick(rows, "nps", "account", "a3").value == 0
    assert pick(rows, "nps", "segment", "smb").n == 3
    assert pick(rows, "nps", "segment", "enterprise").n == 1
    assert not any(r.level == "segment" and r.entity_id is None for r in rows)
    assert pick(rows, "nps", "contact", "c3").value == pytest.approx(0)  # 3 and 10
    assert pick(rows, "nps", "contact", "c4").value == -100
    # other families had no data: portfolio only, undefined
    assert pick(rows, "csat", "portfolio").value is None
    assert not has(rows, "csat", "account", "a1")


def test_csat_and_ces_rows() -> None:
    accounts = [account("a1", "smb")]
    surveys = [
        *(survey(SurveyKind.CSAT, s, account_id="a1") for s in [5, 4, 3, 2]),
        survey(SurveyKind.CES, 7, account_id="a1"),
        survey(SurveyKind.CES, 1, account_id="a1", scale=(1, 5), higher_is_better=False),
    ]
    rows = run(accounts=accounts, surveys=surveys)
    assert pick(rows, "csat", "account", "a1").value == 50
    assert pick(rows, "csat_mean", "account", "a1").value == 3.5
    assert pick(rows, "csat", "account", "a1").margin_of_error == csat([5, 4, 3, 2]).margin_of_error
    assert pick(rows, "ces", "segment", "smb").value == 100
    assert pick(rows, "ces", "segment", "smb").n == 2


def test_csat_threshold_is_passed_through() -> None:
    surveys = [survey(SurveyKind.CSAT, s) for s in [5, 4, 3, 2]]
    assert pick(run(surveys=surveys, csat_satisfied_min=5), "csat", "portfolio").value == 25
    with pytest.raises(ValueError, match="csat_satisfied_min"):
        run(csat_satisfied_min=6)


def test_service_times_count_by_their_own_month() -> None:
    september = datetime(2026, 9, 30, 20, tzinfo=UTC)
    tickets = [
        ticket(account_id="a1", response_h=1, close_h=10),
        ticket(account_id="a1", response_h=3),  # open: no resolution
        ticket(account_id="a1"),  # unanswered: right-censored, not 0
        ticket(account_id="a1", created=september, response_h=2, close_h=100),  # closed in Oct
        ticket(account_id="a1", response_h=5, close_h=24 * 40),  # closed in November
    ]
    rows = run(accounts=[account("a1")], tickets=tickets)
    frt = pick(rows, "frt_median_h", "account", "a1")
    assert (frt.value, frt.n) == (3, 3)
    assert pick(rows, "frt_mean_h", "portfolio").value == 3
    resolution = pick(rows, "resolution_median_h", "account", "a1")
    assert (resolution.value, resolution.n) == (55, 2)
    assert pick(rows, "resolution_mean_h", "account", "a1").value == 55


def test_deleted_records_are_ignored() -> None:
    accounts = [account("a1", "smb"), account("gone", "smb", deleted=True)]
    contacts = [contact("c1", "a1"), contact("c2", "a1", deleted=True)]
    surveys = [
        survey(SurveyKind.NPS, 10, contact_id="c1"),
        survey(SurveyKind.NPS, 0, contact_id="c1", deleted=True),
        survey(SurveyKind.NPS, 0, account_id="gone"),
        survey(SurveyKind.NPS, 0, contact_id="c2"),
    ]
    tickets = [ticket(account_id="a1", response_h=1, deleted=True)]
    rows = run(accounts=accounts, contacts=contacts, surveys=surveys, tickets=tickets)
    assert pick(rows, "nps", "portfolio").n == 3
    assert pick(rows, "nps", "account", "a1").value == 100
    assert pick(rows, "nps", "segment", "smb").n == 1
    assert not has(rows, "nps", "account", "gone")
    assert not has(rows, "nps", "contact", "c2")
    assert pick(rows, "frt_median_h", "portfolio").value is None


def test_unknown_entities_count_in_the_portfolio_only() -> None:
    rows = run(surveys=[survey(SurveyKind.NPS, 9, contact_id="cx", account_id="ax")])
    assert pick(rows, "nps", "portfolio").n == 1
    assert [r.level for r in rows if r.kpi == "nps"] == ["portfolio"]


def test_month_is_cut_in_the_reporting_zone() -> None:
    late = datetime(2026, 10, 1, 2, 59, tzinfo=UTC)
    surveys = [survey(SurveyKind.NPS, 10, at=late)]
    sao_paulo = "America/Sao_Paulo"
    assert (
        pick(run(surveys=surveys, period=Period.month(2026, 10, sao_paulo)), "nps", "portfolio").n
        == 0
    )
    assert (
        pick(run(surveys=surveys, period=Period.month(2026, 9, sao_paulo)), "nps", "portfolio").n
        == 1
    )
    assert pick(run(surveys=surveys, period=Period.month(2026, 10)), "nps", "portfolio").n == 1


def test_output_is_sorted_and_repeatable() -> None:
    accounts = [account("b"), account("a", "x")]
    contacts = [contact("c2", "b"), contact("c1", "a")]
    surveys = [
        survey(SurveyKind.CSAT, 4, contact_id="c2"),
        survey(SurveyKind.NPS, 4, contact_id="c1"),
        survey(SurveyKind.CES, 4, contact_id="c2"),
    ]
    tickets = [ticket(contact_id="c1", response_h=1, close_h=2)]
    rows = run(accounts=accounts, contacts=contacts, surveys=surveys, tickets=tickets)
    keys = [(KPI_ORDER.index(r.kpi), LEVEL_ORDER.index(r.level), r.entity_id or "") for r in rows]
    assert keys == sorted(keys)
    assert run(accounts=accounts, contacts=contacts, surveys=surveys, tickets=tickets) == rows


def test_simultaneous_tickets_count_the_same_whatever_their_order() -> None:
    # two tickets of one contact created at the same instant, one closed, one still open: which
    # one "follows" the other used to depend on the order the records arrived in
    contacts = [contact("c0", "a0")]
    closed = ticket(contact_id="c0", created=T0, close_h=24)
    still_open = ticket(contact_id="c0", created=T0)
    first = run(accounts=[account("a0")], contacts=contacts, tickets=[closed, still_open])
    second = run(accounts=[account("a0")], contacts=contacts, tickets=[still_open, closed])
    assert first == second
    assert pick(first, "fcr", "portfolio").n == 1
    assert pick(first, "recontact_rate", "portfolio").value == 50


# ----------------------------------------------------------------------------- generated worlds

ACCOUNT_IDS = ["a0", "a1", "a2", "a3"]
CONTACT_IDS = ["c0", "c1", "c2", "c3", "c4", "c5"]


@st.composite
def worlds(
    draw: st.DrawFn, *, always_account: bool = False
) -> tuple[list[Account], list[Contact], list[SurveyResponse], list[Ticket]]:
    accounts = [account(id_, draw(st.sampled_from([None, "smb", "mid"]))) for id_ in ACCOUNT_IDS]
    contacts = [contact(id_, draw(st.sampled_from([None, *ACCOUNT_IDS]))) for id_ in CONTACT_IDS]
    answer_times = st.datetimes(
        min_value=datetime(2026, 9, 25), max_value=datetime(2026, 11, 5), timezones=st.just(UTC)
    )
    surveys = []
    for _ in range(draw(st.integers(0, 25))):
        kind = draw(st.sampled_from(list(SurveyKind)))
        low, high = SCALES[kind]
        surveys.append(
            survey(
                kind,
                draw(st.integers(low, high)),
                contact_id=draw(st.sampled_from([None, *CONTACT_IDS])),
                account_id=draw(
                    st.sampled_from(ACCOUNT_IDS if always_account else [None, *ACCOUNT_IDS])
                ),
                at=draw(answer_times),
            )
        )
    tickets = []
    for _ in range(draw(st.integers(0, 10))):
        tickets.append(
            ticket(
                contact_id=draw(st.sampled_from([None, *CONTACT_IDS])),
                account_id=draw(
                    st.sampled_from(ACCOUNT_IDS if always_account else [None, *ACCOUNT_IDS])
                ),
                created=draw(answer_times),
                response_h=draw(st.none() | st.floats(0, 500)),
                close_h=draw(st.none() | st.floats(0, 2000)),
            )
        )
    return accounts, contacts, surveys, tickets


World = tuple[list[Account], list[Contact], list[SurveyResponse], list[Ticket]]
BOUNDS = {"nps": (-100, 100), "csat": (0, 100), "csat_mean": (1, 5), "ces": (0, 100)}


def compute_world(world: World, **overrides: object) -> list[KpiValue]:
    accounts, contacts, surveys, tickets = world
    kwargs: dict[str, object] = {
        "accounts": accounts,
        "contacts": contacts,
        "surveys": surveys,
        "tickets": tickets,
        "period": OCTOBER,
    }
    kwargs.setdefault("as_of", AS_OF)
    kwargs.update(overrides)
    return compute(**kwargs)  # type: ignore[arg-type]


@settings(max_examples=60, deadline=None)
@given(worlds(), st.randoms())
def test_order_independent_idempotent_and_bounded(world: World, rnd: object) -> None:
    rows = compute_world(world)
    assert compute_world(world) == rows
    accounts, contacts, surveys, tickets = (list(part) for part in world)
    for part in (accounts, contacts, surveys, tickets):
        rnd.shuffle(part)  # type: ignore[attr-defined]
    assert compute_world((accounts, contacts, surveys, tickets)) == rows  # type: ignore[arg-type]
    for row in rows:
        if row.value is None:
            continue
        assert row.n > 0 or row.kpi in COUNTS
        low, high = BOUNDS.get(row.kpi, (0, 100) if get(row.kpi).unit == "%" else (0, math.inf))
        assert low <= row.value <= high
    for kpi in KPI_ORDER:
        assert has(rows, kpi, "portfolio", None)


@settings(max_examples=60, deadline=None)
@given(worlds(always_account=True))
def test_levels_add_up_when_every_record_has_an_account(world: World) -> None:
    rows = compute_world(world)
    for kpi in RECORD_KPIS:
        portfolio = pick(rows, kpi, "portfolio")
        accounts_n = sum(r.n for r in rows if r.kpi == kpi and r.level == "account")
        assert portfolio.n == accounts_n


@settings(max_examples=60, deadline=None)
@given(worlds(), st.sampled_from(ACCOUNT_IDS))
def test_an_account_equals_the_portfolio_of_its_own_records(world: World, target: str) -> None:
    _, contacts, surveys, tickets = world
    owner = {c.id: c.account_id for c in contacts}

    def belongs(record: SurveyResponse | Ticket) -> bool:
        effective = record.account_id or owner.get(record.contact_id or "")
        return effective == target

    rows = compute_world(world)
    alone = compute_world(
        ([], [], [s for s in surveys if belongs(s)], [t for t in tickets if belongs(t)])
    )
    for kpi in RECORD_KPIS:
        mine = [r for r in rows if (r.kpi, r.level, r.entity_id) == (kpi, "account", target)]
        portfolio = pick(alone, kpi, "portfolio")
        if not mine:
            assert portfolio.n == 0
            continue
        assert (mine[0].value, mine[0].n, mine[0].margin_of_error) == (
            portfolio.value,
            portfolio.n,
            portfolio.margin_of_error,
        )


# ------------------------------------------------- generated worlds: lifecycle, deals, activities

BUSINESS_FAMILIES = {"retention", "revenue", "engagement"}
BUSINESS_KPIS = [d.name for d in CATALOGUE if d.family in BUSINESS_FAMILIES]
UNBOUNDED_RATES = {"nrr"}
"""Percentages that may exceed 100 (net revenue retention counts expansion)."""
_moments = st.datetimes(
    min_value=datetime(2025, 6, 1), max_value=datetime(2026, 11, 30), timezones=st.just(UTC)
) | st.datetimes(  # half of them near the period, so that it has data
    min_value=datetime(2026, 9, 20), max_value=datetime(2026, 11, 10), timezones=st.just(UTC)
)
_later = st.timedeltas(min_value=timedelta(hours=1), max_value=timedelta(days=400))

BusinessWorld = tuple[list[Account], list[Contact], list[Deal], list[Activity]]


@st.composite
def business_worlds(draw: st.DrawFn) -> BusinessWorld:
    accounts = []
    for id_ in ACCOUNT_IDS:
        since = draw(st.none() | _moments)
        gap = draw(st.none() | _later)
        churned = None if since is None or gap is None else since + gap
        customer = account(id_, draw(st.sampled_from([None, "smb", "mid"])))
        accounts.append(
            customer.model_copy(update={"became_customer_at": since, "churned_at": churned})
        )
    contacts = []
    for id_ in CONTACT_IDS:
        lead = draw(st.none() | _moments)
        delay = draw(st.none() | _later)
        won = None if lead is None or delay is None else lead + delay
        person = contact(id_, draw(st.sampled_from([None, *ACCOUNT_IDS])))
        contacts.append(
            person.model_copy(update={"became_lead_at": lead, "became_customer_at": won})
        )
    deals = []
    for _ in range(draw(st.integers(0, 15))):
        closed = draw(st.booleans())
        amount = draw(st.none() | st.decimals(0, 100_000, places=2))
        deals.append(
            Deal(
                source="test",
                id=f"d{next(_counter)}",
                created_at=T0 - timedelta(days=500),
                updated_at=T0,
                amount=amount,
                is_closed=closed,
                is_won=closed and draw(st.booleans()),
                closed_at=draw(_moments) if closed else None,
                account_id=draw(st.sampled_from([None, *ACCOUNT_IDS])),
            )
        )
    activities = [
        Activity(
            source="test",
            id=f"x{next(_counter)}",
            created_at=T0,
            updated_at=T0,
            activity_kind=draw(st.sampled_from(list(ActivityKind))),
            occurred_at=draw(_moments),
            direction=draw(st.sampled_from([None, "inbound", "outbound"])),
            account_id=draw(st.sampled_from([None, *ACCOUNT_IDS])),
            contact_id=draw(st.sampled_from([None, *CONTACT_IDS])),
        )
        for _ in range(draw(st.integers(0, 15)))
    ]
    return accounts, contacts, deals, activities


def compute_business(world: BusinessWorld) -> list[KpiValue]:
    accounts, contacts, deals, activities = world
    rows = compute(
        accounts=accounts,
        contacts=contacts,
        deals=deals,
        activities=activities,
        period=OCTOBER,
        as_of=AS_OF,
    )
    return [r for r in rows if r.kpi in BUSINESS_KPIS]


@settings(max_examples=60, deadline=None)
@given(business_worlds(), st.randoms())
def test_lifecycle_revenue_and_engagement_are_bounded_order_free_and_idempotent(
    world: BusinessWorld, rnd: object
) -> None:
    rows = compute_business(world)
    assert compute_business(world) == rows
    shuffled = tuple(list(part) for part in world)
    for part in shuffled:
        rnd.shuffle(part)  # type: ignore[attr-defined]
    assert compute_business(shuffled) == rows  # type: ignore[arg-type]
    for row in rows:
        if row.n == 0 and row.kpi not in COUNTS:
            assert row.value is None, row  # an empty denominator is undefined, never 0
        if row.value is None:
            continue
        high = 100 if get(row.kpi).unit in {"%", "score"} else math.inf
        if row.kpi in UNBOUNDED_RATES:
            high = math.inf
        assert 0 <= row.value <= high, row
    for kpi in BUSINESS_KPIS:
        assert has(rows, kpi, "portfolio", None)


@settings(max_examples=60, deadline=None)
@given(business_worlds())
def test_revenue_levels_add_up_to_the_portfolio(world: BusinessWorld) -> None:
    accounts, contacts, deals, activities = world
    attributed = [d for d in deals if d.account_id is not None]
    rows = compute_business((accounts, contacts, attributed, activities))
    for kpi in ("revenue_won", "avg_ticket_sale"):
        portfolio = pick(rows, kpi, "portfolio")
        per_account = [r for r in rows if r.kpi == kpi and r.level == "account"]
        assert portfolio.n == sum(r.n for r in per_account)
    revenue = pick(rows, "revenue_won", "portfolio")
    total = sum(r.value or 0.0 for r in rows if (r.kpi, r.level) == ("revenue_won", "account"))
    assert (revenue.value or 0.0) == pytest.approx(total, rel=1e-12, abs=1e-9)
