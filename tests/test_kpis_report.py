"""A period's KPIs from the store: columnar loading, trends, targets, alerts, cohorts, CLI."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from crmpulse import kpireport, synth
from crmpulse.cli import app
from crmpulse.errors import ConfigError
from crmpulse.kpis.catalogue import CATALOGUE
from crmpulse.kpis.compare import change
from crmpulse.kpis.frame import Frame
from crmpulse.kpis.loading import load_frame
from crmpulse.kpis.periods import Period
from crmpulse.kpis.targets import attainment, load_targets
from crmpulse.settings import KpiSettings, Settings, StoreSettings
from crmpulse.store import Store

AS_OF = datetime(2026, 9, 14, 15, 30, tzinfo=UTC)
ZONE = "America/Sao_Paulo"
AUGUST = Period.month(2026, 8, ZONE)


@pytest.fixture(scope="module")
def world() -> synth.World:
    return synth.generate(seed=5, scale="small", as_of=AS_OF)


@pytest.fixture(scope="module")
def store_url(world: synth.World, tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('report') / 'store.db'}"
    with Store.open(url) as store:
        store.upsert(list(world.records()))
    return url


def _settings(url: str, **kpi: object) -> Settings:
    return Settings(store=StoreSettings(url=url), kpi=KpiSettings(timezone=ZONE, **kpi))


def test_store_frame_equals_record_frame(world: synth.World, store_url: str) -> None:
    from_records = Frame.from_records(
        accounts=world.accounts(),
        contacts=world.contacts(),
        tickets=world.tickets(),
        surveys=world.surveys(),
        deals=world.deals(),
        activities=world.activities(),
        comments=True,
    )
    with Store.open(store_url) as store:
        from_store = load_frame(store, comments=True)
    assert from_store.account_ids == from_records.account_ids
    assert from_store.contact_ids == from_records.contact_ids
    assert from_store.segments == from_records.segments
    assert sorted(from_store.surveys.comments or [], key=str) == sorted(
        from_records.surveys.comments or [], key=str
    )
    for name in ("tickets", "surveys", "deals", "activities"):
        # the store answers scans in index order: compare the records as sorted rows
        mine, theirs = getattr(from_store, name), getattr(from_records, name)
        fields = [f for f, column in vars(theirs).items() if isinstance(column, np.ndarray)]

        def rows(frame_part: object, fields: list[str] = fields) -> np.ndarray:
            table = np.stack([np.asarray(getattr(frame_part, f), np.float64) for f in fields])
            return table[:, np.lexsort(np.nan_to_num(table, nan=-1.0))]

        np.testing.assert_array_equal(rows(mine), rows(theirs), err_msg=name)


def test_report_has_every_kpi_with_trends(store_url: str) -> None:
    with Store.open(store_url) as store:
        report = kpireport.kpi_report(store, _settings(store_url), AUGUST, as_of=AS_OF)
    portfolio = {r.value.kpi: r for r in report.rows if r.value.level == "portfolio"}
    assert set(portfolio) == {d.name for d in CATALOGUE} - {"health_band"}
    nps = portfolio["nps"]
    assert nps.previous is not None
    assert nps.change == pytest.approx((nps.value.value or 0) - nps.previous)
    assert not report.partial
    health = [
        r for r in report.rows if r.value.kpi == "health_score" and r.value.level == "account"
    ]
    assert health
    assert all(r.value.explanation for r in health)
    assert all(0 <= (r.value.value or 0) <= 100 for r in health)
    bands = [r for r in report.rows if r.value.kpi == "health_band"]
    assert {r.value.text for r in bands} <= {"red", "yellow", "green"}
    cohorts = report.cohorts
    assert cohorts
    for row in cohorts:
        cells = [c for c in row.retention if c is not None]
        assert cells == sorted(cells, reverse=True)  # no reactivation: retention never rises


def test_targets_attainment_and_alerts(store_url: str, tmp_path: Path) -> None:
    targets = tmp_path / "targets.toml"
    targets.write_text(
        "[nps]\ntarget = 1000\nsegments = { SMB = -1000 }\n\n[frt_median_h]\ntarget = 0.001\n"
    )
    with Store.open(store_url) as store:
        report = kpireport.kpi_report(
            store, _settings(store_url, targets_file=targets), AUGUST, as_of=AS_OF
        )
    by_key = {(r.value.kpi, r.value.level, r.value.entity_id): r for r in report.rows}
    nps = by_key["nps", "portfolio", None]
    assert (nps.target, nps.met) == (1000, False)
    assert nps.attainment == pytest.approx(100 * (nps.value.value or 0) / 1000)
    smb = by_key.get(("nps", "segment", "SMB"))
    if smb is not None:
        assert (smb.target, smb.met) == (-1000, True)
    frt = by_key["frt_median_h", "portfolio", None]
    assert frt.met is False
    assert frt.attainment == pytest.approx(100 * 0.001 / (frt.value.value or 1))


def test_a_target_crossing_raises_one_alert(store_url: str, tmp_path: Path) -> None:
    with Store.open(store_url) as store:
        settings = _settings(store_url)
        july = kpireport.kpi_report(store, settings, AUGUST.previous(), as_of=AS_OF)
        august = kpireport.kpi_report(store, settings, AUGUST, as_of=AS_OF)
    before = next(
        r.value.value for r in july.rows if r.value.kpi == "nps" and r.value.level == "portfolio"
    )
    now = next(
        r.value.value for r in august.rows if r.value.kpi == "nps" and r.value.level == "portfolio"
    )
    assert before is not None
    assert now is not None
    assert before != now
    targets = tmp_path / "targets.toml"
    targets.write_text(f"[nps]\ntarget = {(before + now) / 2}\n")
    with Store.open(store_url) as store:
        report = kpireport.kpi_report(
            store, _settings(store_url, targets_file=targets), AUGUST, as_of=AS_OF
        )
    crossings = [a for a in report.alerts if a.kind == "target" and a.level == "portfolio"]
    assert len(crossings) == 1
    assert "target" in crossings[0].message


def test_targets_file_errors_name_the_problem(tmp_path: Path) -> None:
    bad = tmp_path / "t.toml"
    bad.write_text("[nps_typo]\ntarget = 3\n")
    with pytest.raises(ConfigError, match="unknown KPI 'nps_typo'"):
        load_targets(bad)
    bad.write_text('[nps]\ntarget = "high"\n')
    with pytest.raises(ConfigError, match=r"\[nps\] target"):
        load_targets(bad)
    with pytest.raises(ConfigError, match="cannot be read"):
        load_targets(tmp_path / "missing.toml")


def test_change_and_attainment_rules() -> None:
    assert change(50, 40, "points") == 10
    assert change(50, 40, "pp") == 10
    assert change(50, 40, "percent") == 25
    assert change(5, 0, "percent") is None
    assert change(None, 3, "points") is None
    assert attainment(45, 50, "higher") == 90
    assert attainment(5, 4, "lower") == 80
    assert attainment(10, 0, "higher") is None


def test_cli_kpis_json_carries_level_entity_period_version_and_explanation(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRMPULSE_STORE__URL", store_url)
    monkeypatch.setenv("CRMPULSE_KPI__TIMEZONE", ZONE)
    result = CliRunner().invoke(app, ["kpis", "--json", "--period", "2026-08"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["period"] == "2026-08"
    assert doc["grain"] == "month"
    row = next(v for v in doc["values"] if v["kpi"] == "health_score" and v["level"] == "account")
    assert row["explanation"]
    for key in (
        "level",
        "entity_id",
        "period",
        "formula_version",
        "previous",
        "change",
        "last_year",
        "target",
        "partial",
    ):
        assert key in row
    assert {v["level"] for v in doc["values"]} == {"portfolio", "segment", "account", "contact"}
    quarter = CliRunner().invoke(
        app, ["kpis", "--json", "--period", "2026-Q2", "--level", "portfolio"]
    )
    assert quarter.exit_code == 0, quarter.output
    values = json.loads(quarter.stdout)["values"]
    assert {v["level"] for v in values} == {"portfolio"}
    assert all(v["period"] == "2026-Q2" for v in values)
    table = CliRunner().invoke(app, ["kpis", "--period", "2026-08"])
    assert table.exit_code == 0, table.output
    assert "Net Promoter Score" in table.output
    assert "Health score" in table.output
    bad = CliRunner().invoke(app, ["kpis", "--period", "2026-13"])
    assert bad.exit_code == 2
    assert "--period" in bad.output


def test_nan_never_leaks_into_json(store_url: str) -> None:
    with Store.open(store_url) as store:
        report = kpireport.kpi_report(store, _settings(store_url), AUGUST, as_of=AS_OF)
    text = json.dumps(report.as_json())
    assert "NaN" not in text
    doc = json.loads(text)
    assert all(v["value"] is None or math.isfinite(v["value"]) for v in doc["values"])
