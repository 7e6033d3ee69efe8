"""Revenue formulas (pure functions): average ticket, conversion, lifetime value.

- Average ticket (*ticket médio*) per sale = revenue / number of sales; per customer = revenue /
  customers who bought (the two differ whenever a customer buys twice).
- Conversion (cohort form) = leads of the period who became customers within the window / leads
  of the period; bounded by 100 %.
- LTV, in the currency of the amounts and the time unit of the churn rate:
  SaaS form ``ARPA * margin / churn`` (lifetime = 1 / churn); simple form ``value per period *
  periods per year * years * margin``; traditional form ``GC * r / (1 + d - r)``.
"""

from __future__ import annotations


def average_ticket(revenue: float, sales: int) -> float | None:
    """Revenue per sale; undefined without sales."""
    return None if sales <= 0 else revenue / sales


def average_ticket_per_customer(revenue: float, customers: int) -> float | None:
    """Revenue per customer who bought; undefined without customers."""
    return None if customers <= 0 else revenue / customers


def conversion_rate(converted: int, leads: int) -> float | None:
    """100 * converted / leads (cohort form); undefined without leads."""
    if not 0 <= converted <= leads:
        raise ValueError(f"converted must be within 0..{leads}, got {converted}")
    return None if leads == 0 else 100 * converted / leads


def ltv_saas(arpa: float, margin: float, churn: float) -> float | None:
    """ARPA * gross margin / churn (fractions; churn in ARPA's period). Undefined at churn 0."""
    if not 0 <= margin <= 1 or not 0 <= churn <= 1:
        raise ValueError("margin and churn are fractions within 0..1")
    return None if churn == 0 else arpa * margin / churn


def ltv_simple(
    value_per_period: float, periods_per_year: float, years: float, margin: float = 1.0
) -> float:
    """Value per period * periods per year * years of lifetime * margin (e.g. 52 weeks)."""
    return value_per_period * periods_per_year * years * margin


def ltv_traditional(gross_contribution: float, retention: float, discount: float) -> float:
    """GC * r / (1 + d - r): a yearly contribution retained at rate r, discounted at rate d."""
    if not 0 <= retention < 1 + discount:
        raise ValueError("retention must be within 0..1 + discount")
    return gross_contribution * retention / (1 + discount - retention)
