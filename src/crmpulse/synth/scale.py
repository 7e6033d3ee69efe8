"""How big a synthetic world is: the knobs and the named scales."""

from __future__ import annotations

from dataclasses import dataclass

MAX_ACCOUNTS = 9_999_999
"""Account indexes are packed into fixed-width ids (see :mod:`crmpulse.synth.ids`)."""


@dataclass(frozen=True)
class ScaleSpec:
    """The size and activity level of a synthetic world.

    Rates are means; each account draws its own counts around them, shaped by its segment and its
    hidden health. ``history_months`` is how far before ``as_of`` the world starts (whole months,
    at least 18 so there is a full year of monthly KPIs plus a look-back).
    """

    accounts: int
    contacts_per_account: float = 4.0
    deals_per_account_year: float = 1.0
    """Expansion and renewal deals per customer account and year, on top of the first deal."""
    tickets_per_account_month: float = 0.45
    activities_per_contact_month: float = 0.3
    nps_per_contact_month: float = 0.1
    """NPS answers per customer contact and month (relationship survey)."""
    csat_response_rate: float = 0.35
    """Share of closed tickets that get a CSAT answer."""
    ces_response_rate: float = 0.2
    """Share of closed tickets that get a CES answer (never both on one ticket)."""
    comment_rate: float = 0.4
    """Share of survey answers that carry a free-text comment."""
    history_months: int = 18

    def __post_init__(self) -> None:
        if not 0 < self.accounts <= MAX_ACCOUNTS:
            raise ValueError(f"accounts must be in 1..{MAX_ACCOUNTS}, got {self.accounts}")
        if self.contacts_per_account < 1:
            raise ValueError("contacts_per_account must be at least 1")
        if self.history_months < 18:
            raise ValueError("history_months must be at least 18")
        rates = (
            self.deals_per_account_year,
            self.tickets_per_account_month,
            self.activities_per_contact_month,
            self.nps_per_contact_month,
        )
        if any(rate < 0 for rate in rates):
            raise ValueError("rates must not be negative")
        shares = (self.csat_response_rate, self.ces_response_rate, self.comment_rate)
        if any(not 0 <= share <= 1 for share in shares) or (
            self.csat_response_rate + self.ces_response_rate > 1
        ):
            raise ValueError("response and comment rates are shares in 0..1 (CSAT + CES <= 1)")


SCALES: dict[str, ScaleSpec] = {
    "tiny": ScaleSpec(accounts=20),
    "small": ScaleSpec(accounts=150),
    "medium": ScaleSpec(accounts=1_500),
    "large": ScaleSpec(accounts=15_000),
}
"""Named scales: ``tiny`` for fast unit tests, ``small`` for the demo, then 10x and 100x that."""
