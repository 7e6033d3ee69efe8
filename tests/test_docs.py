"""Docs that must stay in step with the code."""

from __future__ import annotations

import re
from pathlib import Path

from crmpulse.kpis.catalogue import CATALOGUE, render_markdown
from crmpulse.settings import Settings

ROOT = Path(__file__).resolve().parents[1]


def test_kpi_reference_is_generated_from_the_catalogue() -> None:
    current = (ROOT / "docs/kpis.md").read_text()
    assert current == render_markdown(), (
        "docs/kpis.md is stale: regenerate it with "
        "`python -c 'from crmpulse.kpis.catalogue import render_markdown as r; "
        'open("docs/kpis.md", "w").write(r())\'`'
    )


def test_readme_names_every_written_property_family_and_setting() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "crmpulse_nps" in readme
    for section, model in Settings.model_fields.items():
        if section == "crm":
            continue
        sub = model.annotation
        for key in getattr(sub, "model_fields", {}):
            if key in (
                "client_secret",
                "timeout_seconds",
                "page_size",
                "search_page_size",
                "batch_size",
            ):
                continue
            assert f"{section}.{key}" in readme or f"`{key}`" in readme, f"{section}.{key}"


def test_every_kpi_property_is_a_valid_distinct_custom_property_name() -> None:
    names = [d.property for d in CATALOGUE]
    assert len(set(names)) == len(names)
    assert "crmpulse_nps" in names
    assert all(re.fullmatch(r"crmpulse_[a-z0-9_]+", n) and len(n) <= 100 for n in names)
