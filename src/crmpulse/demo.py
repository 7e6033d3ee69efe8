"""``crmpulse demo``: the whole product on one machine, no credentials.

Starts a CRM emulator (HubSpot or Salesforce) in-process with a seeded synthetic world, runs a
full sync into a fresh SQLite store, computes the KPIs, writes them back through the CRM's API,
reads a few back to show they landed, and prints the KPI table and a summary.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from rich.console import Console

from crmpulse import kpireport, plugins, service, synth
from crmpulse.ports import Connector
from crmpulse.settings import Settings, StoreSettings
from crmpulse.store import Store
from crmpulse.terminal import SyncProgress, kpi_table, summary_panel

CRM_NAMES = {"hubspot": "HubSpot portal", "salesforce": "Salesforce org"}


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


def run_demo(
    settings: Settings,
    *,
    seed: int,
    scale: str,
    store_path: Path,
    out: Console,
    err: Console,
    crm: str = "hubspot",
) -> service.SyncReport:
    """Run the demo against the ``crm`` emulator and return the sync report."""
    plugin = plugins.load(crm)
    world = synth.generate(seed=seed, scale=scale)
    counts = world.estimated_counts()
    token = secrets.token_urlsafe(24)
    _fresh(store_path)
    err.print(
        f"[bold]crmpulse demo[/]: a {CRM_NAMES.get(crm, crm)} emulated on 127.0.0.1 "
        f"(seed {seed}, scale {scale}, ~{sum(counts.values()):,} records)"
    )
    with plugin.sandbox(seed=seed, scale=scale, as_of=world.as_of, token=token) as base_url:
        demo_settings = plugin.sandbox_settings(settings, base_url=base_url, token=token)
        demo_settings = demo_settings.model_copy(
            update={"store": StoreSettings(url=f"sqlite:///{store_path}")}
        )
        connector = plugin.connect(demo_settings)
        totals = {s.name: counts.get(s.entity, 0) for s in connector.streams()}
        with Store.open(demo_settings.store.url) as store:
            with SyncProgress(err, totals) as progress:
                report = service.run_sync(
                    connector, store, demo_settings, trigger="demo", progress=progress.advance
                )
            month = kpireport.default_period(demo_settings)
            kpi_report = kpireport.kpi_report(store, demo_settings, month)
        out.print(kpi_table(kpi_report))
        _show_read_back(plugin, connector, report, out)
        connector.close()
    out.print(summary_panel(report))
    out.print(
        f"[dim]Store: {store_path} · inspect with `CRMPULSE_STORE__URL=sqlite:///{store_path} "
        "crmpulse kpis`[/]"
    )
    return report


def _show_read_back(
    plugin: plugins.ConnectorPlugin,
    connector: Connector,
    report: service.SyncReport,
    out: Console,
) -> None:
    """Read three written accounts back through the API: the values really are in the CRM."""
    ids = [
        c.object_id for c in report.plan if c.level == "account" and c.values.get("crmpulse_nps")
    ][:3]
    if not ids or report.dry_run:
        return
    shown = ", ".join(
        f"{name}: NPS {value or '—'}"
        for name, value in plugin.read_back(connector, ids, "crmpulse_nps")
    )
    out.print(f"[bold]Read back from the CRM[/] ({report.period}): {shown}")
