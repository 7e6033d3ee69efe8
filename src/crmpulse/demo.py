"""``crmpulse demo``: the whole product on one machine, no credentials.

Starts the HubSpot emulator in-process with a seeded synthetic world, runs a full sync into a
fresh SQLite store, computes the KPIs, writes them back through the HubSpot API, reads a few back
to show they landed, and prints the KPI table and a summary.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from pydantic import SecretStr
from rich.console import Console

from crmpulse import plugins, service, synth
from crmpulse.settings import Settings, StoreSettings
from crmpulse.store import Store
from crmpulse.terminal import SyncProgress, kpi_table, summary_panel

STREAM_ENTITY = {
    "companies": "accounts",
    "contacts": "contacts",
    "deals": "deals",
    "tickets": "tickets",
    "feedback_submissions": "surveys",
}


def _fresh(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        candidate = path.with_name(path.name + suffix)
        if candidate.exists():
            candidate.unlink()


def run_demo(
    settings: Settings, *, seed: int, scale: str, store_path: Path, out: Console, err: Console
) -> service.SyncReport:
    """Run the demo and return the sync report."""
    plugin = plugins.load("hubspot")
    world = synth.generate(seed=seed, scale=scale)
    counts = world.estimated_counts()
    totals = {stream: counts.get(entity, 0) for stream, entity in STREAM_ENTITY.items()}
    token = secrets.token_urlsafe(24)
    _fresh(store_path)
    err.print(
        f"[bold]crmpulse demo[/]: a HubSpot portal emulated on 127.0.0.1 "
        f"(seed {seed}, scale {scale}, ~{sum(totals.values()):,} records)"
    )
    with plugin.sandbox(seed=seed, scale=scale, as_of=world.as_of, token=token) as base_url:
        demo_settings = settings.model_copy(
            update={
                "store": StoreSettings(url=f"sqlite:///{store_path}"),
                "hubspot": settings.hubspot.model_copy(
                    update={
                        "base_url": base_url,
                        "access_token": SecretStr(token),
                        "portal_id": "sandbox",
                    }
                ),
                # The emulator's search index has no lag; a short overlap keeps the demo brisk.
                "sync": settings.sync.model_copy(update={"overlap_seconds": 1.0}),
            }
        )
        connector = plugin.connect(demo_settings)
        with Store.open(demo_settings.store.url) as store:
            with SyncProgress(err, totals) as progress:
                report = service.run_sync(
                    connector, store, demo_settings, trigger="demo", progress=progress.advance
                )
            month = service.default_period(demo_settings)
            values = service.compute_kpis(store, demo_settings, month)
            previous = service.compute_kpis(store, demo_settings, month.previous())
        out.print(kpi_table(values, previous, month))
        _show_read_back(connector, report, out)
    out.print(summary_panel(report))
    out.print(
        f"[dim]Store: {store_path} · inspect with `CRMPULSE_STORE__URL=sqlite:///{store_path} "
        "crmpulse kpis`[/]"
    )
    return report


def _show_read_back(connector: object, report: service.SyncReport, out: Console) -> None:
    """Read three written companies back through the API: the values really are in the CRM."""
    client = getattr(connector, "client", None)
    ids = [
        c.object_id for c in report.plan if c.level == "account" and c.values.get("crmpulse_nps")
    ][:3]
    if client is None or not ids or report.dry_run:
        return
    objects = client.batch_read("companies", ids, ["name", "crmpulse_nps", "crmpulse_kpi_period"])
    shown = ", ".join(
        f"{o.properties.get('name')}: NPS {o.properties.get('crmpulse_nps') or '—'}"
        for o in objects
    )
    out.print(f"[bold]Read back from the CRM[/] ({report.period}): {shown}")
