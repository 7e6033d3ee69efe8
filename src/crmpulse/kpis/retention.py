"""Customer and revenue retention formulas (pure functions, the published definitions).

Rates are percentages from counts; an empty base is undefined (``None``), never 0.

- Retention is computed from the starting cohort: of the S customers active at the start, how
  many are still active at the end. The shortcut ``(E - N) / S`` equals it only when no customer
  won in the period also churned in it (:func:`retention_from_counts` shows the difference).
- Churn = lost / S = 100 - retention for a fixed cohort (reactivations count as new customers).
- Early churn = customers won in the period and lost in it / customers won in the period.
- GRR = (start - contraction - churned) / start; NRR = (start + expansion - contraction -
  churned) / start, over one fixed cohort of customers with revenue at the start.
"""

from __future__ import annotations


def _pct(part: float, whole: float) -> float | None:
    return None if whole <= 0 else 100 * part / whole


def retention_rate(start: int, retained: int) -> float | None:
    """Customer retention: 100 * retained / start (the starting cohort still active at the end)."""
    if not 0 <= retained <= start:
        raise ValueError(f"retained must be within 0..{start}, got {retained}")
    return _pct(retained, start)


def churn_rate(start: int, lost: int) -> float | None:
    """Customer churn: 100 * lost / start."""
    if not 0 <= lost <= start:
        raise ValueError(f"lost must be within 0..{start}, got {lost}")
    return _pct(lost, start)


def retention_from_counts(start: int, end: int, new: int) -> float | None:
    """The textbook shortcut 100 * (E - N) / S; exact only without in-period new-customer churn."""
    return _pct(end - new, start)


def early_churn_rate(won: int, lost_of_won: int) -> float | None:
    """100 * customers won and lost in the period / customers won in the period."""
    return _pct(lost_of_won, won)


def gross_revenue_retention(start: float, contraction: float, churned: float) -> float | None:
    """GRR = 100 * (start - contraction - churned) / start; at most 100 by construction."""
    return _pct(start - contraction - churned, start)


def net_revenue_retention(
    start: float, expansion: float, contraction: float, churned: float
) -> float | None:
    """NRR = 100 * (start + expansion - contraction - churned) / start; may exceed 100."""
    return _pct(start + expansion - contraction - churned, start)


def annualize_churn(monthly: float) -> float:
    """Annual churn from a monthly rate (fractions): 1 - (1 - m)^12 (3 %/month -> 30.6 %/year)."""
    if not 0 <= monthly <= 1:
        raise ValueError(f"a churn rate is a fraction within 0..1, got {monthly}")
    return float(1 - (1 - monthly) ** 12)
