"""Write-back planning against the ledger."""

from __future__ import annotations

from crmpulse import writeback
from crmpulse.kpis.values import KpiValue
from crmpulse.writeback import PERIOD_PROPERTY, desired_values, format_value, plan

PROPS = {"account": ["crmpulse_nps", "crmpulse_csat", PERIOD_PROPERTY], "contact": ["crmpulse_nps"]}


def test_format_value_rounds_once_for_display() -> None:
    assert format_value(33.333333) == "33.33"
    assert format_value(25.0) == "25"
    assert format_value(-0.001) == "0"
    assert format_value(None) is None


def test_first_write_sends_values_and_period_but_not_undefined() -> None:
    desired = {
        ("account", "1"): {"crmpulse_nps": "25", "crmpulse_csat": None, PERIOD_PROPERTY: "2026-10"}
    }
    (change,) = plan(desired, {}, PROPS)
    assert change.values == {"crmpulse_nps": "25", PERIOD_PROPERTY: "2026-10"}


def test_unchanged_values_are_not_sent_again() -> None:
    desired = {("account", "1"): {"crmpulse_nps": "25", PERIOD_PROPERTY: "2026-10"}}
    ledger = {("account", "1"): {"crmpulse_nps": "25", PERIOD_PROPERTY: "2026-10"}}
    assert plan(desired, ledger, PROPS) == []


def test_only_the_changed_property_is_sent() -> None:
    desired = {
        ("account", "1"): {"crmpulse_nps": "30", "crmpulse_csat": "80", PERIOD_PROPERTY: "2026-10"}
    }
    ledger = {
        ("account", "1"): {"crmpulse_nps": "25", "crmpulse_csat": "80", PERIOD_PROPERTY: "2026-10"}
    }
    (change,) = plan(desired, ledger, PROPS)
    assert change.values == {"crmpulse_nps": "30"}


def test_a_value_that_became_undefined_is_cleared() -> None:
    ledger = {("account", "1"): {"crmpulse_nps": "25", PERIOD_PROPERTY: "2026-09"}}
    (change,) = plan({}, ledger, PROPS)
    assert change.values == {"crmpulse_nps": None}


def test_deleted_objects_are_left_alone() -> None:
    desired = {("account", "1"): {"crmpulse_nps": "25", PERIOD_PROPERTY: "2026-10"}}
    assert plan(desired, {}, PROPS, exists={"account": set(), "contact": set()}) == []


def test_desired_values_keep_only_the_period_and_entity_levels() -> None:
    values = [
        KpiValue("nps", "account", "1", "2026-10", 33.3333, 3),
        KpiValue("nps", "account", "1", "2026-09", 10.0, 3),
        KpiValue("nps", "portfolio", None, "2026-10", 5.0, 30),
        KpiValue("nps", "contact", "9", "2026-10", None, 0),
    ]
    desired = desired_values(values, "2026-10")
    assert desired[("account", "1")]["crmpulse_nps"] == "33.33"
    assert desired[("contact", "9")]["crmpulse_nps"] is None
    assert set(desired) == {("account", "1"), ("contact", "9")}


def test_only_written_kpis_become_properties_and_the_band_is_text() -> None:
    from crmpulse.kpis.catalogue import CATALOGUE

    spec = writeback.target_spec("crmpulse")
    names = {f.name: f for f in spec.fields}
    assert "crmpulse_nps" in names
    assert "crmpulse_frt_p90_hours" not in names  # a snapshot-only KPI
    assert names["crmpulse_health_band"].type == "string"
    assert {d.property for d in CATALOGUE if d.writeback} <= set(names)
    band = KpiValue("health_band", "account", "a1", "2026-10", 1.0, 1, text="yellow")
    score = KpiValue("health_score", "account", "a1", "2026-10", 61.234, 1)
    desired = writeback.desired_values([band, score], "2026-10")
    assert desired["account", "a1"]["crmpulse_health_band"] == "yellow"
    assert desired["account", "a1"]["crmpulse_health_score"] == "61.23"
