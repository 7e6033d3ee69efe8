"""The KPI catalogue: one definition per KPI, the single place docs and reports are generated from.

Each :class:`KpiDefinition` states the formula, unit, scale, direction, window, levels and the CRM
property it is written to. :func:`render_markdown` turns the catalogue into the KPI reference
(``docs/kpis.md``); a test keeps that file in step with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from crmpulse.kpis.values import Level

Direction = Literal["higher", "lower"]
"""Which way is better."""

ALL_LEVELS: tuple[Level, ...] = ("portfolio", "segment", "account", "contact")
"""Every aggregation level, coarsest first."""

PROPERTY_PREFIX = "crmpulse_"
"""Every property crmpulse writes into a CRM starts with this."""


@dataclass(frozen=True)
class KpiDefinition:
    """What one KPI means, how it is computed and where it is written.

    ``counted_at`` names the record timestamp that places a record in the window;
    ``formula_version`` goes up whenever the formula changes, so stored history stays comparable.
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

    def __post_init__(self) -> None:
        if not self.property.startswith(PROPERTY_PREFIX):
            raise ValueError(f"property {self.property!r} must start with {PROPERTY_PREFIX!r}")


_MONTH = "calendar month"
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
    "No answered tickets: undefined. A ticket counts in the month it was created, once it has a "
    "first response; unanswered tickets are right-censored and left out (not 0, not 'now'). "
    "Calendar hours; business hours are not applied in this version."
)
_RESOLUTION_EDGES = (
    "No closed tickets: undefined. A ticket counts in the month it was closed; open tickets are "
    "right-censored and left out. Calendar hours from creation to close (last close for a "
    "reopened ticket, as the CRM reports it)."
)


CATALOGUE: tuple[KpiDefinition, ...] = (
    KpiDefinition(
        name="nps",
        label="Net Promoter Score",
        family="surveys",
        formula="NPS = 100 * (promoters - detractors) / answers; promoters 9-10, passives 7-8, "
        "detractors 0-6 on the 0-10 'how likely to recommend' question",
        unit="points",
        scale="-100..100",
        direction="higher",
        window=_MONTH,
        counted_at="answered_at",
        levels=ALL_LEVELS,
        property="crmpulse_nps",
        property_type="number",
        formula_version=1,
        edge_cases=_NPS_EDGES,
    ),
    KpiDefinition(
        name="csat",
        label="Customer satisfaction (% satisfied)",
        family="surveys",
        formula="CSAT = 100 * satisfied answers / answers; satisfied = score >= csat_satisfied_min "
        "(default 4, i.e. top-2-box on 1-5)",
        unit="%",
        scale="0..100",
        direction="higher",
        window=_MONTH,
        counted_at="answered_at",
        levels=ALL_LEVELS,
        property="crmpulse_csat",
        property_type="number",
        formula_version=1,
        edge_cases=_CSAT_EDGES,
    ),
    KpiDefinition(
        name="csat_mean",
        label="Customer satisfaction (mean score)",
        family="surveys",
        formula="CSAT mean = sum of scores / answers, on a 1..5 scale",
        unit="score",
        scale="1..5",
        direction="higher",
        window=_MONTH,
        counted_at="answered_at",
        levels=ALL_LEVELS,
        property="crmpulse_csat_mean",
        property_type="number",
        formula_version=1,
        edge_cases=_CSAT_EDGES,
    ),
    KpiDefinition(
        name="ces",
        label="Customer Effort Score (normalized)",
        family="surveys",
        formula="CES = mean over answers of the answer normalized to 0..100 by its survey's scale "
        "and direction, 100 = least effort",
        unit="score",
        scale="0..100",
        direction="higher",
        window=_MONTH,
        counted_at="answered_at",
        levels=ALL_LEVELS,
        property="crmpulse_ces",
        property_type="number",
        formula_version=1,
        edge_cases=_CES_EDGES,
    ),
    KpiDefinition(
        name="frt_median_h",
        label="First response time (median)",
        family="service time",
        formula="median over answered tickets of (first_response_at - created_at), in hours",
        unit="hours",
        scale="0..",
        direction="lower",
        window=_MONTH,
        counted_at="created_at",
        levels=ALL_LEVELS,
        property="crmpulse_frt_median_hours",
        property_type="number",
        formula_version=1,
        edge_cases=_FRT_EDGES,
    ),
    KpiDefinition(
        name="frt_mean_h",
        label="First response time (mean)",
        family="service time",
        formula="sum over answered tickets of (first_response_at - created_at) / answered "
        "tickets, in hours",
        unit="hours",
        scale="0..",
        direction="lower",
        window=_MONTH,
        counted_at="created_at",
        levels=ALL_LEVELS,
        property="crmpulse_frt_mean_hours",
        property_type="number",
        formula_version=1,
        edge_cases=_FRT_EDGES,
    ),
    KpiDefinition(
        name="resolution_median_h",
        label="Resolution time (median)",
        family="service time",
        formula="median over closed tickets of (closed_at - created_at), in hours",
        unit="hours",
        scale="0..",
        direction="lower",
        window=_MONTH,
        counted_at="closed_at",
        levels=ALL_LEVELS,
        property="crmpulse_resolution_median_hours",
        property_type="number",
        formula_version=1,
        edge_cases=_RESOLUTION_EDGES,
    ),
    KpiDefinition(
        name="resolution_mean_h",
        label="Resolution time (mean)",
        family="service time",
        formula="sum over closed tickets of (closed_at - created_at) / closed tickets, in hours",
        unit="hours",
        scale="0..",
        direction="lower",
        window=_MONTH,
        counted_at="closed_at",
        levels=ALL_LEVELS,
        property="crmpulse_resolution_mean_hours",
        property_type="number",
        formula_version=1,
        edge_cases=_RESOLUTION_EDGES,
    ),
)
"""Every KPI of this slice, in display order."""

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


def render_markdown() -> str:
    """The KPI reference document (``docs/kpis.md``), generated from :data:`CATALOGUE`."""
    lines = [
        "# KPI reference",
        "",
        "<!-- Generated from crmpulse.kpis.catalogue.render_markdown(); do not edit by hand. -->",
        "",
        "Values are computed from counts at full precision and rounded only for display. An empty "
        "denominator is *undefined* (no value is written), never 0. Periods are calendar months, "
        "half-open `[start, end)` in the configured reporting time zone.",
        "",
        "| KPI | Label | Unit | Scale | Better | Window | Levels | CRM property |",
        "|---|---|---|---|---|---|---|---|",
    ]
    lines.extend(
        f"| `{d.name}` | {_cell(d.label)} | {_cell(d.unit)} | {_cell(d.scale)} | {d.direction} "
        f"| {d.window} | {', '.join(d.levels)} | `{d.property}` |"
        for d in CATALOGUE
    )
    for d in CATALOGUE:
        lines.extend(
            [
                "",
                f"## `{d.name}` — {d.label}",
                "",
                f"- **Formula** (version {d.formula_version}): {d.formula}",
                f"- **Unit / scale:** {d.unit}, {d.scale}",
                f"- **Better:** {d.direction}",
                f"- **Window:** {d.window}, by `{d.counted_at}`",
                f"- **Levels:** {', '.join(d.levels)}",
                f"- **CRM property:** `{d.property}` ({d.property_type}) on contacts and companies",
                f"- **Edge cases:** {d.edge_cases}",
            ]
        )
    return "\n".join(lines) + "\n"
