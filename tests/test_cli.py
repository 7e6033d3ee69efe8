"""The command line as a user meets it: exit codes, messages, the demo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crmpulse.cli import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("CRMPULSE_STORE__URL", "CRMPULSE_HUBSPOT__ACCESS_TOKEN", "CRMPULSE_CONFIG"):
        monkeypatch.delenv(name, raising=False)


def test_kpis_on_an_empty_store_says_what_to_do() -> None:
    result = runner.invoke(app, ["kpis"])
    assert result.exit_code == 2
    assert "crmpulse sync" in result.output


def test_sync_without_a_token_names_the_variable() -> None:
    result = runner.invoke(app, ["sync", "--json"])
    assert result.exit_code == 2
    assert "CRMPULSE_HUBSPOT__ACCESS_TOKEN" in result.output


def test_bad_setting_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMPULSE_SYNC__PAGE_SIZE", "1000")
    result = runner.invoke(app, ["kpis"])
    assert result.exit_code == 2
    assert "sync.page_size" in result.output


def test_bad_period_is_a_usage_error() -> None:
    result = runner.invoke(app, ["kpis", "--period", "2026-13"])
    assert result.exit_code == 2
    assert "YYYY-MM" in result.output


def test_unreachable_crm_fails_cleanly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRMPULSE_HUBSPOT__ACCESS_TOKEN", "pat-very-secret")
    monkeypatch.setenv("CRMPULSE_HUBSPOT__BASE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("CRMPULSE_HUBSPOT__MAX_RETRIES", "0")
    result = runner.invoke(app, ["sync", "--json"])
    assert result.exit_code == 1
    doc = json.loads(result.stdout)
    assert doc["status"] == "interrupted"
    assert "CRMPULSE_HUBSPOT__BASE_URL" in doc["errors"][0]
    assert "pat-very-secret" not in result.output


def test_demo_runs_end_to_end_and_then_kpis_reads_its_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--scale", "tiny", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Portfolio KPIs" in result.output
    assert "Net Promoter Score" in result.output
    assert "sync ok" in result.output
    assert (tmp_path / "crmpulse-demo.db").exists()

    listing = runner.invoke(
        app, ["kpis", "--json"], env={"CRMPULSE_STORE__URL": "sqlite:///crmpulse-demo.db"}
    )
    assert listing.exit_code == 0, listing.output
    doc = json.loads(listing.stdout)
    levels = {v["level"] for v in doc["values"]}
    assert {"portfolio", "segment", "account", "contact"} <= levels


def test_demo_against_salesforce(tmp_path: Path) -> None:
    result = runner.invoke(app, ["demo", "--crm", "salesforce", "--scale", "tiny", "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "Salesforce org emulated" in result.output
    assert "sync ok — salesforce:sandbox" in result.output
    assert "Read back from the CRM" in result.output
