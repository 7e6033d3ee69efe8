"""The ``crmpulse`` command line: parse input, call the service, render the outcome.

Exit codes: 0 success, 1 the run failed or was interrupted (the message says how to fix it),
2 bad usage or configuration.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from crmpulse import kpireport, logs, plugins, service
from crmpulse.errors import ConfigError, CrmPulseError
from crmpulse.kpis.periods import Period
from crmpulse.kpis.values import LEVELS, Level
from crmpulse.settings import Settings, load_settings
from crmpulse.store import Store
from crmpulse.terminal import SyncProgress, kpi_table, summary_panel

app = typer.Typer(
    help="Customer-relationship KPIs from your CRM, written back into your CRM.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
sandbox_app = typer.Typer(help="Local emulators of the CRM APIs (no credentials needed).")
app.add_typer(sandbox_app, name="sandbox")

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[
    Path | None, typer.Option("--config", help="TOML settings file (default ./crmpulse.toml)")
]
JsonOption = Annotated[bool, typer.Option("--json", help="print one JSON document")]
PeriodOption = Annotated[
    str | None,
    typer.Option(
        "--period",
        help="period: YYYY-MM, YYYY-Qn, YYYY-Www, YYYY-MM-DD or YYYY (default: the last full "
        "period of kpi.grain)",
    ),
]


def _settings(config: Path | None, **overrides: Any) -> Settings:
    settings = load_settings(config, **overrides)
    logs.configure(settings.log)
    return settings


def _fail(exc: CrmPulseError) -> typer.Exit:
    err.print(f"[bold red]error:[/] {exc}", soft_wrap=True)
    return typer.Exit(2 if isinstance(exc, ConfigError) else 1)


def _period(text: str | None, settings: Settings) -> Period:
    try:
        return (
            Period.parse(text, settings.kpi.timezone)
            if text
            else kpireport.default_period(settings)
        )
    except ValueError as exc:
        raise ConfigError(
            f"--period {text!r}: {exc}",
            hint="use YYYY-MM (month), YYYY-Qn, YYYY-Www, YYYY-MM-DD or YYYY, e.g. 2026-10",
        ) from None


@app.command()
def sync(
    config: ConfigOption = None,
    dry_run: Annotated[
        bool,
        typer.Option("--dry-run", help="pull and compute, print the write plan, write nothing"),
    ] = False,
    as_json: JsonOption = False,
    period: PeriodOption = None,
    estimate: Annotated[
        bool,
        typer.Option(
            "--estimate",
            help="print the API calls the sync would make (per stream, write-back, budget left) "
            "and stop; costs one count call per stream",
        ),
    ] = False,
) -> None:
    """Pull changes from the CRM, compute KPIs, write changed values back."""
    try:
        settings = _settings(config)
        month = _period(period, settings)
        plugin = plugins.load(settings.crm)
        connector = plugin.connect(settings)
        with Store.open(settings.store.url) as store:
            if estimate:
                from crmpulse.estimate import estimate_for

                forecast = estimate_for(plugin, connector, store, settings, month, dry_run=dry_run)
            else:
                progress = None if as_json else SyncProgress(err)
                with progress or nullcontext():
                    report = service.run_sync(
                        connector,
                        store,
                        settings,
                        dry_run=dry_run,
                        progress=progress.advance if progress else None,
                        period=month,
                    )
    except CrmPulseError as exc:
        raise _fail(exc) from None
    if estimate:
        from crmpulse.estimate import render

        if as_json:
            out.print_json(json.dumps(forecast.as_json()))
        else:
            for line in render(forecast):
                out.print(line, highlight=False)
        return
    if as_json:
        out.print_json(json.dumps(report.as_json()))
    else:
        if dry_run:
            _print_plan(report)
        out.print(summary_panel(report))
    if report.status == "interrupted":
        raise typer.Exit(1)


def _print_plan(report: service.SyncReport) -> None:
    out.print(f"[bold]Write plan[/] for {report.period}: {len(report.plan)} records")
    for change in report.plan[:50]:
        values = ", ".join(
            f"{k}={v if v is not None else '(clear)'}" for k, v in change.values.items()
        )
        out.print(f"  {change.level} {change.object_id}: {values}")
    if len(report.plan) > 50:
        out.print(f"  … and {len(report.plan) - 50} more")


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[
        str | None, typer.Option(help="interface to listen on (default server.host)")
    ] = None,
    port: Annotated[int | None, typer.Option(help="TCP port (default server.port)")] = None,
) -> None:
    """Receive CRM webhooks, apply them within seconds, and sync periodically (no other service
    to run: the worker is a child process of this one)."""
    import uvicorn

    from crmpulse.server import GracefulServer, build_runtime, create_app

    try:
        settings = _settings(config)
        overrides = {k: v for k, v in (("host", host), ("port", port)) if v is not None}
        updates: dict[str, Any] = {"server": settings.server.model_copy(update=overrides)}
        if settings.kpi.period is None:
            # live updates move the running period; a finished one no longer changes
            updates["kpi"] = settings.kpi.model_copy(update={"period": "current"})
        settings = settings.model_copy(update=updates)
        plugin = plugins.load(settings.crm)
        connector = plugin.connect(settings)
        store = Store.open(settings.store.url)
        receiver = plugin.webhook_receiver(settings, connector)
    except CrmPulseError as exc:
        raise _fail(exc) from None
    runtime = build_runtime(settings, store, settings.crm, connector, receiver)
    server = settings.server
    interval = server.sync_interval_seconds
    err.print(
        f"crmpulse serve: http://{server.host}:{server.port}/webhooks/{settings.crm} "
        f"({connector.source}); "
        + (f"sync every {interval:g} s" if interval > 0 else "no periodic sync")
        + "; Ctrl-C stops",
        highlight=False,
    )
    if server.worker == "thread":
        # The worker's recomputes hold the GIL in long stretches; a webhook waiting for it
        # should get it within a millisecond, not the default five, so answers stay fast.
        sys.setswitchinterval(0.001)
    web = uvicorn.Config(
        create_app(runtime),
        host=server.host,
        port=server.port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=30,
    )
    try:
        GracefulServer(web).run()
    finally:
        connector.close()
        store.close()


LevelOption = Annotated[
    str | None,
    typer.Option("--level", help="portfolio, segment, account or contact (default: all in --json)"),
]


@app.command()
def kpis(
    config: ConfigOption = None,
    as_json: JsonOption = False,
    period: PeriodOption = None,
    level: LevelOption = None,
    catalogue: Annotated[
        bool, typer.Option("--catalogue", help="print the KPI catalogue (definitions) and exit")
    ] = False,
) -> None:
    """Show every KPI for a period with trends (previous period, last year) and targets."""
    if catalogue:
        from crmpulse.kpis.catalogue import render_markdown

        out.print(render_markdown(), markup=False, highlight=False)
        return
    try:
        settings = _settings(config)
        chosen = _period(period, settings)
        levels = _levels(level)
        with Store.open(settings.store.url) as store:
            if sum(store.count(e) for e in ("surveys", "tickets", "deals", "accounts")) == 0:
                raise ConfigError(
                    f"the store at {settings.store.url} holds no records",
                    hint="run `crmpulse sync` (or `crmpulse demo`) first",
                )
            report = kpireport.kpi_report(store, settings, chosen, levels=levels)
    except CrmPulseError as exc:
        raise _fail(exc) from None
    if as_json:
        out.print_json(json.dumps(report.as_json()))
        return
    out.print(kpi_table(report))


def _levels(text: str | None) -> tuple[Level, ...]:
    if text is None:
        return LEVELS
    if text not in LEVELS:
        raise ConfigError(
            f"--level {text!r} is not a level", hint=f"use one of {', '.join(LEVELS)}"
        )
    return (text,)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="world seed")] = 7,
    scale: Annotated[str, typer.Option(help="tiny, small, medium or large")] = "small",
    store_path: Annotated[
        Path, typer.Option("--store", help="SQLite file for the demo (recreated)")
    ] = Path("crmpulse-demo.db"),
    crm: Annotated[str, typer.Option(help="hubspot or salesforce")] = "hubspot",
) -> None:
    """Start a CRM emulator, sync it, compute KPIs, write them back, show the result."""
    from crmpulse.demo import run_demo

    try:
        settings = _settings(None)
        run_demo(settings, seed=seed, scale=scale, store_path=store_path, out=out, err=err, crm=crm)
    except CrmPulseError as exc:
        raise _fail(exc) from None


SandboxPort = Annotated[int, typer.Option(help="TCP port on 127.0.0.1")]
SandboxSeed = Annotated[int, typer.Option(help="world seed")]
SandboxScale = Annotated[str, typer.Option(help="tiny, small, medium or large")]
SandboxHost = Annotated[str, typer.Option(help="interface to bind")]
SandboxAsOf = Annotated[
    str | None, typer.Option("--as-of", help="world end date YYYY-MM-DD (default today)")
]


def _serve_sandbox(
    crm: str, *, port: int, seed: int, scale: str, token: str, host: str, as_of: str | None
) -> None:
    try:
        when = datetime.fromisoformat(as_of).replace(tzinfo=UTC) if as_of else None
    except ValueError:
        err.print(f"[bold red]error:[/] --as-of {as_of!r} is not a date (use YYYY-MM-DD)")
        raise typer.Exit(2) from None
    name = {"hubspot": "HubSpot", "salesforce": "Salesforce"}[crm]
    err.print(f"{name} sandbox on http://{host}:{port} (seed {seed}, scale {scale}); Ctrl-C stops")
    plugins.load(crm).serve_sandbox(
        seed=seed, scale=scale, as_of=when, token=token, host=host, port=port
    )


@sandbox_app.command("hubspot")
def sandbox_hubspot(
    port: SandboxPort = 8765,
    seed: SandboxSeed = 7,
    scale: SandboxScale = "small",
    token: Annotated[str, typer.Option(help="the bearer token to accept")] = "sandbox-token",
    host: SandboxHost = "127.0.0.1",
    as_of: SandboxAsOf = None,
) -> None:
    """Serve a HubSpot API emulator with a synthetic world until interrupted."""
    _serve_sandbox(
        "hubspot", port=port, seed=seed, scale=scale, token=token, host=host, as_of=as_of
    )


@sandbox_app.command("salesforce")
def sandbox_salesforce(
    port: SandboxPort = 8766,
    seed: SandboxSeed = 7,
    scale: SandboxScale = "small",
    token: Annotated[
        str, typer.Option(help="the session id to accept (logins hand it out too)")
    ] = "00D000000000001!sandbox-session",
    host: SandboxHost = "127.0.0.1",
    as_of: SandboxAsOf = None,
) -> None:
    """Serve a Salesforce API emulator with a synthetic world until interrupted."""
    _serve_sandbox(
        "salesforce", port=port, seed=seed, scale=scale, token=token, host=host, as_of=as_of
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
