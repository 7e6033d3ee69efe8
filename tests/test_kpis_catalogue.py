"""The KPI catalogue and the reference document generated from it."""

from __future__ import annotations

import pytest

from crmpulse.kpis.catalogue import CATALOGUE, KpiDefinition, get, render_markdown

EXPECTED_PROPERTIES = {
    "nps": "crmpulse_nps",
    "csat": "crmpulse_csat",
    "csat_mean": "crmpulse_csat_mean",
    "ces": "crmpulse_ces",
    "frt_median_h": "crmpulse_frt_median_hours",
    "frt_mean_h": "crmpulse_frt_mean_hours",
    "resolution_median_h": "crmpulse_resolution_median_hours",
    "resolution_mean_h": "crmpulse_resolution_mean_hours",
}


def test_properties_already_in_crms_keep_their_names() -> None:
    written = {d.name: d.property for d in CATALOGUE}
    assert {name: written[name] for name in EXPECTED_PROPERTIES} == EXPECTED_PROPERTIES


def test_names_and_properties_are_unique() -> None:
    assert len({d.name for d in CATALOGUE}) == len(CATALOGUE)
    assert len({d.property for d in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("definition", CATALOGUE, ids=lambda d: d.name)
def test_every_definition_is_complete(definition: KpiDefinition) -> None:
    assert definition.property.startswith("crmpulse_")
    assert definition.property_type in {"number", "string"}
    assert definition.direction in {"higher", "lower"}
    assert definition.window == "period"
    assert definition.levels
    assert set(definition.levels) <= {"portfolio", "segment", "account", "contact"}
    assert definition.formula_version >= 1
    assert definition.formula
    assert definition.edge_cases
    assert definition.unit in {
        "points",
        "%",
        "score",
        "hours",
        "tickets",
        "customers",
        "currency",
        "band",
    }
    assert definition.change in {"points", "pp", "percent"}
    if definition.unit == "%":
        assert definition.change == "pp", "rates change in percentage points"


def test_get() -> None:
    assert get("nps").unit == "points"
    assert get("nps").scale == "-100..100"
    with pytest.raises(KeyError, match="known: nps"):
        get("no_such_kpi")


def test_property_prefix_is_enforced() -> None:
    with pytest.raises(ValueError, match="crmpulse_"):
        KpiDefinition(
            **{**get("nps").__dict__, "property": "nps"},
        )


def test_markdown_has_a_row_and_a_section_per_kpi() -> None:
    text = render_markdown()
    assert text == render_markdown()
    assert text.startswith("# KPI reference\n")
    for definition in CATALOGUE:
        assert f"| `{definition.name}` |" in text
        assert f"### `{definition.name}` — {definition.label}" in text
        if definition.writeback:
            assert f"`{definition.property}`" in text
        assert definition.formula in text
