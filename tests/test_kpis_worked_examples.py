"""Every public worked example of the KPI reference, through the pure formulas and the engine.

Vector ids (V1, V2, ...) are those of the research note the definitions come from; the business
calendar (V16, V17), the health score (V18, V19) and the sentiment vectors (V36, V37) have their own
test modules next to their code.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from crmpulse.kpis import compute
from crmpulse.kpis.periods import Period
from crmpulse.kpis.retention import (
    annualize_churn,
    churn_rate,
    early_churn_rate,
    gross_revenue_retention,
    net_revenue_retention,
    retention_from_counts,
    retention_rate,
)
from crmpulse.kpis.revenue import (
    average_ticket,
    average_ticket_per_customer,
    conversion_rate,
    ltv_saas,
    ltv_simple,
    ltv_traditional,
)
from crmpulse.kpis.surveys import csat, nps, nps_from_counts
from crmpulse.kpis.values import KpiValue
from crmpulse.model import Account, Contact, Deal, Ticket

OCTOBER = Period.parse("2026-10")
T0 = datetime(2026, 10, 1, 12, tzinfo=UTC)
AS_OF = datetime(2027, 1, 15, tzinfo=UTC)


def portfolio(rows: list[KpiValue], kpi: str) -> KpiValue:
    return next(r for r in rows if r.kpi == kpi and r.level == "portfolio")


def test_v1_nps_from_group_counts() -> None:
    assert nps_from_counts(10, 5, 5).value == 25


def test_v2_nps_from_raw_scores() -> None:
    result = nps([3, 4, 5, 6, 8, 8, 8, 9, 10, 10])
    assert (result.detractors, result.passives, result.promoters) == (4, 3, 3)
    assert result.value == pytest.approx(-10)


def test_v3_nps() -> None:
    assert nps_from_counts(70, 20, 10).value == 60


def test_v5_nps_margin_of_error() -> None:
    result = nps_from_counts(50, 100 // 3, 100 - 50 - 100 // 3)
    # exact shares 1/2, 1/3, 1/6 need n divisible by 6: 300 answers, then scale to n = 100
    exact = nps_from_counts(150, 100, 50)
    assert exact.value == pytest.approx(100 / 3)
    variance = 1 / 2 + 1 / 6 - (1 / 2 - 1 / 6) ** 2
    assert variance == pytest.approx(5 / 9)
    assert exact.standard_error == pytest.approx(100 * (5 / 9 / 300) ** 0.5)
    at_100 = 100 * (5 / 9 / 100) ** 0.5
    assert at_100 == pytest.approx(7.45, abs=0.005)
    assert 1.96 * at_100 == pytest.approx(14.6, abs=0.05)
    assert result.n == 100


def test_v6_nps_of_nothing_is_undefined() -> None:
    assert nps([]).value is None
    rows = compute(accounts=[], contacts=[], period=OCTOBER, as_of=AS_OF)
    assert portfolio(rows, "nps").value is None


def test_v7_csat_percent_satisfied() -> None:
    answers = [5] * 42 + [4] * 32 + [3] * 10 + [2] * 9 + [1] * 14
    result = csat(answers)
    assert result.value == pytest.approx(7400 / 107)
    assert round(result.value or 0) == 69


def test_v8_csat_percent_and_mean() -> None:
    result = csat([5] * 10 + [4] * 20 + [3] * 10 + [2] * 5 + [1] * 5)
    assert (result.value, result.mean) == (60, 3.5)


def _ticket(number: int, requester: str, created: datetime, closed_after_h: float) -> Ticket:
    return Ticket(
        source="t",
        id=f"t{number}",
        created_at=created,
        updated_at=created,
        contact_id=requester,
        first_response_at=created + timedelta(hours=1),
        closed_at=created + timedelta(hours=closed_after_h),
    )


def _contacts(n: int) -> list[Contact]:
    return [
        Contact(source="t", id=f"c{i}", created_at=T0 - timedelta(days=90), updated_at=T0)
        for i in range(n)
    ]


def test_v13_first_contact_resolution_through_the_engine() -> None:
    # 200 tickets closed in October; for 80 the requester came back within 7 days of the close
    # (with a ticket still open), 120 were resolved at first contact -> 60 %
    tickets = []
    for i in range(200):
        created = T0 + timedelta(hours=3 * i)
        tickets.append(_ticket(i, f"c{i}", created, 2))
        if i < 80:
            again = created + timedelta(days=3)
            tickets.append(
                Ticket(
                    source="t", id=f"f{i}", created_at=again, updated_at=again, contact_id=f"c{i}"
                )
            )
    rows = compute(
        accounts=[], contacts=_contacts(200), tickets=tickets, period=OCTOBER, as_of=AS_OF
    )
    fcr = portfolio(rows, "fcr")
    assert (fcr.value, fcr.n) == (60, 200)
    censored = compute(
        accounts=[],
        contacts=_contacts(200),
        tickets=tickets,
        period=OCTOBER,
        as_of=datetime(2026, 11, 1, 12, tzinfo=UTC),
    )
    assert portfolio(censored, "fcr").partial  # late-October closes are still within 7 days


def test_v14_recontact_rate_per_ticket_through_the_engine() -> None:
    # 600 tickets created in October; 60 are follow-ups within 7 days of the same requester's
    # previous ticket -> 10 %
    tickets = []
    for i in range(540):
        tickets.append(_ticket(i, f"c{i}", T0 + timedelta(minutes=60 * i), 1))
    for i in range(60):
        tickets.append(_ticket(600 + i, f"c{i}", T0 + timedelta(minutes=60 * i, days=2), 1))
    rows = compute(
        accounts=[], contacts=_contacts(540), tickets=tickets, period=OCTOBER, as_of=AS_OF
    )
    rate = portfolio(rows, "recontact_rate")
    assert (rate.value, rate.n) == (10, 600)


def test_v15_recontact_rate_per_customer_through_the_engine() -> None:
    # 100 customers contacted support, 20 of them more than once -> 20 %
    tickets = [_ticket(i, f"c{i}", T0 + timedelta(hours=i), 1) for i in range(100)]
    tickets += [_ticket(200 + i, f"c{i}", T0 + timedelta(days=10, hours=i), 1) for i in range(20)]
    rows = compute(
        accounts=[], contacts=_contacts(100), tickets=tickets, period=OCTOBER, as_of=AS_OF
    )
    rate = portfolio(rows, "recontact_customers")
    assert (rate.value, rate.n) == (20, 100)


def test_v22_saas_ltv() -> None:
    assert ltv_saas(200, 0.85, 0.03) == pytest.approx(5666.67, abs=0.005)
    assert pytest.approx(33.3, abs=0.05) == 1 / 0.03
    assert ltv_saas(200, 0.85, 0) is None


def test_v23_annualized_churn() -> None:
    assert annualize_churn(0.03) == pytest.approx(0.306, abs=0.0005)


def test_v24_simple_ltv() -> None:
    assert ltv_simple(24.30, 52, 20) == pytest.approx(25272)
    assert ltv_simple(24.30, 52, 20, margin=0.213) == pytest.approx(5382.94, abs=0.01)


def test_v25_traditional_ltv() -> None:
    assert ltv_traditional(5382.94, 0.75, 0.10) == pytest.approx(11534.87, abs=0.01)
    assert ltv_traditional(5241.6, 0.75, 0.10) == pytest.approx(11232, abs=0.5)


def test_v26_average_ticket_per_sale() -> None:
    assert average_ticket(80_000, 1_600) == 50
    assert average_ticket(200_000, 2_500) == 80
    assert average_ticket(0, 0) is None


def test_v27_average_ticket_per_customer() -> None:
    assert average_ticket_per_customer(4_000, 20) == 200


def _account(i: int, since: datetime, churned: datetime | None = None) -> Account:
    return Account(
        source="t",
        id=f"a{i:03d}",
        created_at=since,
        updated_at=since,
        became_customer_at=since,
        churned_at=churned,
    )


def test_retention_is_computed_from_the_starting_cohort_not_e_over_s() -> None:
    # derived example: S = 100, 5 of them lost, N = 10 new of which 2 lost
    before = T0 - timedelta(days=200)
    lost = T0 + timedelta(days=10)
    accounts = [_account(i, before, lost if i < 5 else None) for i in range(100)]
    accounts += [
        _account(100 + i, T0 + timedelta(days=2), lost if i < 2 else None) for i in range(10)
    ]
    rows = compute(accounts=accounts, contacts=[], period=OCTOBER, as_of=AS_OF)
    assert portfolio(rows, "retention_rate").value == 95
    assert portfolio(rows, "churn_rate").value == 5
    assert portfolio(rows, "early_churn_rate").value == 20
    assert portfolio(rows, "customers_active").value == 103
    assert retention_from_counts(100, 103, 10) == 93  # the shortcut would say 93 %
    assert retention_rate(100, 95) == 95
    assert churn_rate(100, 5) == 5
    assert early_churn_rate(10, 2) == 20
    assert retention_rate(0, 0) is None


def _won(i: int, account: str, amount: int | str, closed: datetime) -> Deal:
    """A deal of ``account`` won at ``closed``."""
    return Deal(
        source="t",
        id=f"d{i}",
        created_at=closed,
        updated_at=closed,
        amount=Decimal(amount),
        is_closed=True,
        is_won=True,
        closed_at=closed,
        account_id=account,
    )


def test_grr_and_nrr_through_the_engine() -> None:
    # two customers with 100 each over the trailing year; one expands to 150, one churns
    before = T0 - timedelta(days=500)
    accounts = [_account(0, before), _account(1, before, T0 + timedelta(days=5))]
    deals = [
        _won(1, "a000", 100, T0 - timedelta(days=100)),
        _won(2, "a001", 100, T0 - timedelta(days=100)),
        _won(3, "a000", 150, T0 + timedelta(days=3)),
    ]
    rows = compute(accounts=accounts, contacts=[], deals=deals, period=OCTOBER, as_of=AS_OF)
    # start 200; end: a000 has 250 in its trailing year, a001 churned (0)
    assert portfolio(rows, "nrr").value == pytest.approx(125)
    assert portfolio(rows, "grr").value == pytest.approx(50)
    assert net_revenue_retention(200, 150, 0, 100) == 125
    assert gross_revenue_retention(200, 0, 100) == 50
    assert portfolio(rows, "revenue_won").value == 150
    assert portfolio(rows, "avg_ticket_sale").value == 150


def test_grr_of_a_cohort_that_kept_all_its_revenue_is_exactly_100() -> None:
    # 100 * 5703.07 / 5703.07 is 100.00000000000001 in floating point; GRR cannot exceed 100
    customer = _account(0, T0 - timedelta(days=500))
    deals = [
        _won(1, "a000", "2.68", T0 - timedelta(days=100)),
        _won(2, "a000", "5700.39", T0 - timedelta(days=200)),
    ]
    rows = compute(accounts=[customer], contacts=[], deals=deals, period=OCTOBER, as_of=AS_OF)
    assert portfolio(rows, "grr").value == 100
    assert portfolio(rows, "nrr").value == pytest.approx(100)


def test_conversion_cohort_is_bounded_and_partial_while_maturing() -> None:
    contacts = [
        Contact(
            source="t",
            id=f"c{i}",
            created_at=T0,
            updated_at=T0,
            became_lead_at=T0 + timedelta(days=1),
            became_customer_at=T0 + timedelta(days=30) if i < 3 else None,
        )
        for i in range(10)
    ]
    matured = datetime(2027, 2, 15, tzinfo=UTC)
    rows = compute(accounts=[], contacts=contacts, period=OCTOBER, as_of=matured)
    assert portfolio(rows, "conversion_rate").value == 30
    assert not portfolio(rows, "conversion_rate").partial
    early = compute(
        accounts=[], contacts=contacts, period=OCTOBER, as_of=datetime(2026, 11, 15, tzinfo=UTC)
    )
    assert portfolio(early, "conversion_rate").partial
    assert conversion_rate(3, 10) == 30
