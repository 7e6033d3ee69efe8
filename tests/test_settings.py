"""Typed settings from environment and TOML; bad input is a clear ConfigError."""

from __future__ import annotations

from pathlib import Path

import pytest

from crmpulse.errors import ConfigError
from crmpulse.settings import load_settings


def test_environment_with_nested_delimiter(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMPULSE_STORE__URL", "sqlite:///x.db")
    monkeypatch.setenv("CRMPULSE_HUBSPOT__ACCESS_TOKEN", "pat-na1-secret-value")
    monkeypatch.setenv("CRMPULSE_HUBSPOT__BASE_URL", "http://127.0.0.1:9")
    s = load_settings()
    assert s.store.url == "sqlite:///x.db"
    assert s.hubspot.base_url == "http://127.0.0.1:9"
    assert s.hubspot.access_token is not None
    assert s.hubspot.access_token.get_secret_value() == "pat-na1-secret-value"
    assert "pat-na1-secret-value" not in repr(s)
    assert "pat-na1-secret-value" not in str(s.model_dump())


def test_toml_file_and_env_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "crmpulse.toml").write_text(
        '[store]\nurl = "sqlite:///from-toml.db"\n[kpi]\ncsat_satisfied_min = 5\n'
    )
    monkeypatch.setenv("CRMPULSE_KPI__CSAT_SATISFIED_MIN", "4")
    s = load_settings()
    assert s.store.url == "sqlite:///from-toml.db"
    assert s.kpi.csat_satisfied_min == 4


def test_invalid_values_name_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CRMPULSE_SYNC__PAGE_SIZE", "500")
    with pytest.raises(ConfigError, match=r"sync\.page_size"):
        load_settings()


def test_unknown_key_in_toml_is_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[store]\nurll = 'typo'\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(bad)


def test_malformed_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    bad = tmp_path / "broken.toml"
    bad.write_text("[store\n")
    with pytest.raises(ConfigError, match=r"broken\.toml"):
        load_settings(bad)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
