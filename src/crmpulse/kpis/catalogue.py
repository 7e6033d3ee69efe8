"""The KPI catalogue: one definition per KPI, the single place docs and reports are generated from.

Each :class:`KpiDefinition` states the formula, unit, scale, direction, window, levels, how a
change between periods is expressed, and the CRM property it is written to. The engine computes
exactly the KPIs listed here (a test checks both directions); :func:`render_markdown` turns the
catalogue into the KPI reference (``docs/kpis.md``), which a test keeps in step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crmpulse.kpis.values import LEVELS, Level

Direction = Literal["higher", "lower"]
"""Which way is better."""

Change = Literal["points", "pp", "percent"]
"""How a change between periods is expressed: in the KPI's own unit (``points``, e.g. NPS or
hours), in percentage points (``pp``, for rates) or relative (``percent``, counts and money)."""

ALL_LEVELS: tuple[Level, ...] = LEVELS
"""Every aggregation level, coarsest first."""

PROPERTY_PREFIX = "crmpulse_"
"""Every property crmpulse writes into a CRM starts with this."""


@dataclass(frozen=True)
class KpiDefinition:
    """What one KPI means, how it is computed and where it is written.

    ``counted_at`` names the record timestamp that places a record in the window;
    ``formula_version`` goes up whenever the formula changes, so stored history stays comparable.
    ``writeback`` says whether account/contact values become CRM properties (every KPI with a
    portfolio or segment value goes into the snapshot records).
    """

    name: str
    label: str
    family: str
    formula: str
    unit: str
    scale: str
    direction: Direction
    window: str
    counted_at: str
    levels: tuple[Level, ...]
    property: str
    property_type: str
    formula_version: int
    edge_cases: str
    change: Change = "points"
    writeback: bool = False

    def __post_init__(self) -> None:
        if not self.property.startswith(PROPERTY_PREFIX):
            raise ValueError(f"property {self.property!r} must start with {PROPERTY_PREFIX!r}")


_WINDOW = "period"
_CUSTOMER_LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account")
_AGGREGATE: tuple[Level, ...] = ("portfolio", "segment")
_NPS_EDGES = (
    "No valid answers: undefined (not 0). Only whole numbers 0..10 are valid; other answers are "
    "left out of n and counted as invalid. Boundaries are inclusive: 6 is a detractor, 7 a "
    "passive, 9 a promoter. Margin of error (95 %) = 1.96 * 100 * sqrt((pP + pD - (pP - pD)^2) / "
    "n). Repeat answers are not deduplicated in this version."
)
_CSAT_EDGES = (
    "No valid answers: undefined (not 0). The satisfied threshold is configurable "
    "(csat_satisfied_min, default 4) and read on a 1..5 scale; answers on another scale are "
    "mapped linearly onto 1..5 first, so 3 on 1-5 is not satisfied. Out-of-scale answers are "
    "invalid. A guide suggests at least 30 answers before reading a segment's value."
)
_CES_EDGES = (
    "No valid answers: undefined (not 0). Each answer is normalized by its own survey's scale and "
    "direction, (x - min) / (max - min) * 100 when higher is better (CES 2.0, 1-7 'made it "
    "easy'), (max - x) / (max - min) * 100 when lower is better (CES 1.0, 1-5 'effort'), so "
    "scales can be pooled; raw means of different scales are never mixed."
)
_FRT_EDGES = (
    "No answered tickets: undefined. A ticket counts in the period it was created, once it has a "
    "first response; unanswered tickets are right-censored and left out (not 0, not 'now')."
)
_RESOLUTION_EDGES = (
    "No closed tickets: undefined. A ticket counts in the period it was closed; open tickets are "
    "right-censored and left out. Creation to close (the last close of a reopened ticket, as the "
    "CRM reports it)."
)
_BUSINESS = (
    " Business hours count only the time inside the configured calendar (time zone, weekly "
    "hours, holidays of the configured country from the `holidays` package, extra dates); a "
    "ticket created outside hours starts its clock at the next opening. Without a calendar "
    "these KPIs are not computed."
)
_QUANTILE = {
    "mean": ("mean", "sum of durations / n"),
    "median": ("median", "middle duration (mean of the two middle ones for even n)"),
    "p90": (
        "90th percentile",
        "linear interpolation at position 0.9 * (n - 1) of the sorted durations",
    ),
}


def _duration(
    prefix: str, what: str, clock: str, stat: str, prop: str, writeback: bool
) -> KpiDefinition:
    label, rule = _QUANTILE[stat]
    business = clock == "business"
    name = f"{prefix}_business_{stat}_h" if business else f"{prefix}_{stat}_h"
    span = "first_response_at - created_at" if prefix == "frt" else "closed_at - created_at"
    return KpiDefinition(
        name=name,
        label=f"{what} ({label}{', business hours' if business else ''})",
        family="service",
        formula=f"{rule}, over the tickets' ({span}) in {clock} hours",
        unit="hours",
        scale="0..",
        direction="lower",
        window=_WINDOW,
        counted_at="created_at" if prefix == "frt" else "closed_at",
        levels=ALL_LEVELS,
        property=prop,
        property_type="number",
        formula_version=1,
        edge_cases=(_FRT_EDGES if prefix == "frt" else _RESOLUTION_EDGES)
        + (_BUSINESS if business else ""),
        change="percent",
        writeback=writeback,
    )


def _kpi(**fields: object) -> KpiDefinition:
    defaults: dict[str, object] = {
        "window": _WINDOW,
        "levels": ALL_LEVELS,
        "property_type": "number",
        "formula_version": 1,
    }
    return KpiDefinition(**{**defaults, **fields})  # type: ignore[arg-type]


CATALOGUE: tuple[KpiDefinition, ...] = (
    _kpi(
        name="nps",
        label="Net Promoter Score",
        family="surveys",
        formula="NPS = 100 * (promoters - detractors) / answers; promoters 9-10, passives 7-8, "
        "detractors 0-6 on the 0-10 'how likely to recommend' question",
        unit="points",
        scale="-100..100",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_nps",
        edge_cases=_NPS_EDGES,
        change="points",
        writeback=True,
    ),
    _kpi(
        name="recommendation_rate",
        label="Recommendation rate (% promoters)",
        family="surveys",
        formula="100 * promoters (9-10) / valid answers to the NPS question",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_recommendation_rate",
        edge_cases="Defined as the share of promoters of the NPS question (not referrals or a "
        "yes/no question). No valid NPS answers: undefined. " + _NPS_EDGES.split(". ", 1)[1],
        change="pp",
    ),
    _kpi(
        name="csat",
        label="Customer satisfaction (% satisfied)",
        family="surveys",
        formula="CSAT = 100 * satisfied answers / answers; satisfied = score >= csat_satisfied_min "
        "(default 4, i.e. top-2-box on 1-5)",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_csat",
        edge_cases=_CSAT_EDGES,
        change="pp",
        writeback=True,
    ),
    _kpi(
        name="csat_mean",
        label="Customer satisfaction (mean score)",
        family="surveys",
        formula="CSAT mean = sum of scores / answers, on a 1..5 scale",
        unit="score",
        scale="1..5",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_csat_mean",
        edge_cases=_CSAT_EDGES,
        change="points",
        writeback=True,
    ),
    _kpi(
        name="ces",
        label="Customer Effort Score (normalized)",
        family="surveys",
        formula="CES = mean over answers of the answer normalized to 0..100 by its survey's scale "
        "and direction, 100 = least effort",
        unit="score",
        scale="0..100",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_ces",
        edge_cases=_CES_EDGES,
        change="points",
        writeback=True,
    ),
    _kpi(
        name="ticket_volume",
        label="Ticket volume",
        family="service",
        formula="number of tickets created in the period",
        unit="tickets",
        scale="0..",
        direction="lower",
        counted_at="created_at",
        property="crmpulse_ticket_volume",
        edge_cases="Always defined (0 tickets is a value) for the portfolio; other entities get "
        "a value only in periods with tickets. Deleted tickets do not count.",
        change="percent",
        writeback=True,
    ),
    *(
        _duration(prefix, what, clock, stat, prop, writeback)
        for prefix, what in (("frt", "First response time"), ("resolution", "Resolution time"))
        for clock in ("calendar", "business")
        for stat in ("mean", "median", "p90")
        for prop, writeback in [
            (
                f"crmpulse_{prefix}{'_business' if clock == 'business' else ''}_{stat}_hours",
                clock == "calendar" and stat in ("mean", "median"),
            )
        ]
    ),
    _kpi(
        name="fcr",
        label="First-contact resolution",
        family="service",
        formula="100 * tickets closed in the period with no further ticket from the same "
        "requester created before close + recontact_days / tickets closed in the period",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="closed_at",
        property="crmpulse_fcr",
        edge_cases="CRM-data proxy (the resolved-ticket variant): the requester is the ticket's "
        "contact, else its account; tickets with neither are left out. A ticket closed less than "
        "recontact_days (default 7) before the computation is censored (not counted yet) and the "
        "value is flagged partial. No eligible tickets: undefined.",
        change="pp",
        writeback=True,
    ),
    _kpi(
        name="recontact_rate",
        label="Recontact rate (per ticket)",
        family="service",
        formula="100 * tickets created in the period that follow another ticket of the same "
        "requester created at most recontact_days before / tickets created in the period",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="created_at",
        property="crmpulse_recontact_rate",
        edge_cases="Looks back, so it needs no censoring; the first ticket of a chain is not a "
        "recontact, every later one within the window of its predecessor is. Tickets without a "
        "requester are left out. No tickets: undefined.",
        change="pp",
        writeback=True,
    ),
    _kpi(
        name="recontact_customers",
        label="Recontact rate (per customer)",
        family="service",
        formula="100 * requesters with two or more tickets created in the period / requesters "
        "with at least one",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="created_at",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_recontact_customers",
        edge_cases="A different denominator from the per-ticket rate, so a different number "
        "(both are named). No requesters: undefined.",
        change="pp",
    ),
    _kpi(
        name="customers_active",
        label="Active customers",
        family="retention",
        formula="accounts that are customers at the end of the period (became customer before "
        "it, not churned by it)",
        unit="customers",
        scale="0..",
        direction="higher",
        counted_at="became_customer_at / churned_at",
        levels=_AGGREGATE,
        property="crmpulse_customers_active",
        edge_cases="A count; 0 is a value. Reactivated accounts count as new customers.",
        change="percent",
    ),
    _kpi(
        name="retention_rate",
        label="Customer retention",
        family="retention",
        formula="100 * customers active at the start who are still active at the end / customers "
        "active at the start (the starting cohort, not E/S)",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="became_customer_at / churned_at",
        levels=_AGGREGATE,
        property="crmpulse_retention_rate",
        edge_cases="No customers at the start: undefined. Customers won during the period are "
        "not in the cohort (their losses are early churn); (E - N) / S would differ whenever a "
        "new customer also churned.",
        change="pp",
    ),
    _kpi(
        name="churn_rate",
        label="Customer churn",
        family="retention",
        formula="100 * customers active at the start and lost by the end / customers active at "
        "the start (= 100 - retention)",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="churned_at",
        levels=_AGGREGATE,
        property="crmpulse_churn_rate",
        edge_cases="No customers at the start: undefined. Monthly churn m is (1 - (1 - m)^12) "
        "per year, not 12 m.",
        change="pp",
    ),
    _kpi(
        name="early_churn_rate",
        label="Early churn (customers won in the period)",
        family="retention",
        formula="100 * customers won in the period and lost in it / customers won in the period",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="became_customer_at",
        levels=_AGGREGATE,
        property="crmpulse_early_churn_rate",
        edge_cases="No customers won: undefined.",
        change="pp",
    ),
    _kpi(
        name="grr",
        label="Gross revenue retention",
        family="retention",
        formula="100 * sum(min(R_end, R_start)) / sum(R_start) over the starting customers with "
        "revenue, R = won deal amounts of the trailing revenue_window_days (default 365)",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="closed_at of won deals",
        levels=_AGGREGATE,
        property="crmpulse_grr",
        edge_cases="No starting customer with revenue: undefined. A churned customer's R_end is "
        "0; expansion is excluded, so GRR <= 100. Amounts are summed as the CRM has them (one "
        "currency assumed).",
        change="pp",
    ),
    _kpi(
        name="nrr",
        label="Net revenue retention",
        family="retention",
        formula="100 * sum(R_end) / sum(R_start) over the starting customers with revenue "
        "(expansion - contraction - churn included; new customers excluded)",
        unit="%",
        scale="0..",
        direction="higher",
        counted_at="closed_at of won deals",
        levels=_AGGREGATE,
        property="crmpulse_nrr",
        edge_cases="No starting customer with revenue: undefined. May exceed 100 (net expansion).",
        change="pp",
    ),
    _kpi(
        name="revenue_won",
        label="Revenue won",
        family="revenue",
        formula="sum of amounts of deals won with closed_at in the period",
        unit="currency",
        scale="0..",
        direction="higher",
        counted_at="closed_at",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_revenue_won",
        edge_cases="No won deal: undefined at account level, so an empty period is not a zero. "
        "Deals without an amount are left out.",
        change="percent",
        writeback=True,
    ),
    _kpi(
        name="avg_ticket_sale",
        label="Average ticket per sale",
        family="revenue",
        formula="revenue won / deals won in the period",
        unit="currency",
        scale="0..",
        direction="higher",
        counted_at="closed_at",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_avg_ticket_sale",
        edge_cases="No won deal with an amount: undefined.",
        change="percent",
    ),
    _kpi(
        name="avg_ticket_customer",
        label="Average ticket per customer",
        family="revenue",
        formula="revenue won / distinct accounts that won deals in the period",
        unit="currency",
        scale="0..",
        direction="higher",
        counted_at="closed_at",
        levels=_AGGREGATE,
        property="crmpulse_avg_ticket_customer",
        edge_cases="Deals without an account are left out of both terms. No buyer: undefined.",
        change="percent",
    ),
    _kpi(
        name="conversion_rate",
        label="Lead-to-customer conversion (cohort)",
        family="revenue",
        formula="100 * contacts that became leads in the period and customers within "
        "conversion_days (default 90) / contacts that became leads in the period",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="became_lead_at",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_conversion_rate",
        edge_cases="Cohort form, bounded by 100 %. While the cohort can still convert (period "
        "end + conversion_days after the computation) the value is flagged partial. No leads: "
        "undefined.",
        change="pp",
    ),
    _kpi(
        name="ltv",
        label="Customer lifetime value (margin / churn)",
        family="revenue",
        formula="ARPA per month * gross_margin / monthly customer churn; ARPA = trailing revenue "
        "/ months / active customers (an account's own revenue at account level)",
        unit="currency",
        scale="0..",
        direction="higher",
        counted_at="closed_at of won deals",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_ltv",
        edge_cases="Monthly churn = 1 - (1 - share lost over the revenue window)^(1/months). "
        "Churn 0: undefined (an infinite lifetime). Accounts use their segment's churn.",
        change="percent",
        writeback=True,
    ),
    _kpi(
        name="engagement_score",
        label="Engagement score",
        family="engagement",
        formula="100 * min(1, activity points / target); points per activity: email 1, call 3, "
        "meeting 5, note 0.5, task 0.5, x1.5 when inbound; target = engagement_target points "
        "per 30 days",
        unit="score",
        scale="0..100",
        direction="higher",
        counted_at="occurred_at",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_engagement_score",
        edge_cases="Defined for accounts that are active customers at the period end, 0 without "
        "activities; segment and portfolio values are the mean over their active customers.",
        change="points",
        writeback=True,
    ),
    _kpi(
        name="churn_risk",
        label="Churn risk (BG/NBD)",
        family="prediction",
        formula="100 * (1 - P(alive)) from a BG/NBD model of won deals (one purchase per day) "
        "fitted on every buyer up to the period end",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="closed_at of won deals",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_churn_risk",
        edge_cases="Accounts without a purchase, or churned by the period end, get no value. "
        "Fewer than 20 buyers or no repeat buyer: undefined.",
        change="pp",
        writeback=True,
    ),
    _kpi(
        name="expected_value_12m",
        label="Expected value, next 12 months (BG/NBD + Gamma-Gamma)",
        family="prediction",
        formula="sum over the next 12 months of expected purchases (BG/NBD) * expected spend "
        "(Gamma-Gamma) / (1 + monthly discount)^month",
        unit="currency",
        scale="0..",
        direction="higher",
        counted_at="closed_at of won deals",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_expected_value_12m",
        edge_cases="As churn_risk; spend is the mean of repeat purchases (the first is left "
        "out), so it assumes spend independent of frequency.",
        change="percent",
        writeback=True,
    ),
    _kpi(
        name="projected_retention_12m",
        label="Projected 12-month retention (sBG)",
        family="prediction",
        formula="mean over active customers of S(t + 12) / S(t), S the shifted-beta-geometric "
        "survival fitted on every customer's tenure in months",
        unit="%",
        scale="0..100",
        direction="higher",
        counted_at="became_customer_at / churned_at",
        levels=_AGGREGATE,
        property="crmpulse_projected_retention_12m",
        edge_cases="Fewer than 20 customers or no churn observed: undefined.",
        change="pp",
    ),
    _kpi(
        name="sentiment_score",
        label="Feedback sentiment",
        family="feedback",
        formula="100 * mean compound polarity of the survey comments (VADER in English, LeIA in "
        "Portuguese, with a customer-service lexicon)",
        unit="score",
        scale="-100..100",
        direction="higher",
        counted_at="answered_at",
        property="crmpulse_sentiment_score",
        edge_cases="Only with the text extra installed; comments without text are left out. No "
        "comment: undefined.",
        change="points",
        writeback=True,
    ),
    _kpi(
        name="negative_feedback_share",
        label="Negative feedback share",
        family="feedback",
        formula="100 * comments with compound <= -0.05 / comments",
        unit="%",
        scale="0..100",
        direction="lower",
        counted_at="answered_at",
        property="crmpulse_negative_feedback_share",
        edge_cases="As sentiment_score.",
        change="pp",
    ),
    _kpi(
        name="health_score",
        label="Health score",
        family="health",
        formula="sum(w_i * s_i) / sum(w_i) over the health model's measures with data, s_i = 100 "
        "* clip((x - floor) / (target - floor), 0, 1) of the account's KPI over the last "
        "health_window_days",
        unit="score",
        scale="0..100",
        direction="higher",
        counted_at="the end of the period",
        levels=_CUSTOMER_LEVELS,
        property="crmpulse_health_score",
        edge_cases="Undefined when the measures with data weigh less than the model's "
        "min_coverage. Segment and portfolio values are the mean of their accounts' scores. "
        "The explanation lists the points each measure cost.",
        change="points",
        writeback=True,
    ),
    _kpi(
        name="health_band",
        label="Health band",
        family="health",
        formula="the first band of the health model whose upper bound the score does not exceed "
        "(value = the band's rank, 0 = worst)",
        unit="band",
        scale="bands",
        direction="higher",
        counted_at="the end of the period",
        levels=("account",),
        property="crmpulse_health_band",
        property_type="string",
        edge_cases="Undefined with the score. Bounds are inclusive: 50 is red, 51 yellow with "
        "the default bands.",
        change="points",
        writeback=True,
    ),
)
"""Every KPI, in display order."""

_BY_NAME = {definition.name: definition for definition in CATALOGUE}


def get(name: str) -> KpiDefinition:
    """The definition of KPI ``name``; :class:`KeyError` naming the known KPIs if there is none."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"unknown KPI {name!r}; known: {known}") from None


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


_WRITTEN_TO = {
    "account": "companies / Accounts",
    "contact": "contacts / Contacts",
}


def _written(d: KpiDefinition) -> str:
    places = [_WRITTEN_TO[level] for level in ("account", "contact") if level in d.levels]
    if d.writeback and places:
        where = f"`{d.property}` ({d.property_type}) on " + " and ".join(places)
    else:
        where = "not written as a property"
    aggregate = [level for level in ("portfolio", "segment") if level in d.levels]
    if aggregate:
        where += "; " + " and ".join(aggregate) + " values in the KPI snapshot records"
    return where


def render_markdown() -> str:
    """The KPI reference document (``docs/kpis.md``), generated from :data:`CATALOGUE`."""
    lines = [
        "# KPI reference",
        "",
        "<!-- Generated from crmpulse.kpis.catalogue.render_markdown(); do not edit by hand. -->",
        "",
        "Values are computed from counts at full precision and rounded only for display. An empty "
        "denominator is *undefined* (no value is written), never 0. A period is a day, ISO week, "
        "month, quarter or year, half-open `[start, end)` in the configured reporting time zone; "
        "values of a period that is still running, or whose cohort is still maturing, are flagged "
        "*partial*. Changes against the previous period and the same period last year are in "
        "points (the KPI's unit), percentage points (pp, for rates) or percent (relative, for "
        "counts and money), as the *change* column says.",
        "",
        "| KPI | Label | Unit | Scale | Better | Change | Levels | CRM property |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| `{d.name}` | {_cell(d.label)} | {_cell(d.unit)} | {_cell(d.scale)} | {d.direction} "
        f"| {d.change} | {', '.join(d.levels)} | "
        f"{'`' + d.property + '`' if d.writeback else '(snapshot)'} |"
        for d in CATALOGUE
    )
    family = None
    for d in CATALOGUE:
        if d.family != family:
            family = d.family
            lines.extend(["", f"## {family.capitalize()}"])
        lines.extend(
            [
                "",
                f"### `{d.name}` — {d.label}",
                "",
                f"- **Formula** (version {d.formula_version}): {d.formula}",
                f"- **Unit / scale:** {d.unit}, {d.scale}",
                f"- **Better:** {d.direction}; **change** in {d.change}",
                f"- **Window:** the {d.window}, by `{d.counted_at}`",
                f"- **Levels:** {', '.join(d.levels)}",
                f"- **In the CRM:** {_written(d)}",
                f"- **Edge cases:** {d.edge_cases}",
            ]
        )
    return "\n".join(lines) + "\n"
