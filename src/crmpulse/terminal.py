"""Terminal rendering with Rich: sync progress, the KPI table, the run summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from types import TracebackType

from rich.console import Console, Group
from rich.panel import Panel
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from crmpulse.kpis import catalogue
from crmpulse.kpis.periods import Month
from crmpulse.kpis.values import KpiValue
from crmpulse.service import SyncReport


class SyncProgress:
    """One progress line per stream, advancing as pages land in the store."""

    def __init__(self, console: Console, totals: dict[str, int] | None = None) -> None:
        self._totals = totals or {}
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("records"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> SyncProgress:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._finish_all()
        self._progress.stop()

    def _finish_all(self) -> None:
        for task in self._tasks.values():
            done = self._progress.tasks[task].completed
            self._progress.update(task, total=done, completed=done)
            self._progress.stop_task(task)

    def advance(self, stream: str, records: int) -> None:
        """Count a stored page (streams run one after another: a new one closes the last)."""
        if stream not in self._tasks:
            self._finish_all()
            total = self._totals.get(stream)
            self._tasks[stream] = self._progress.add_task(stream, total=total)
        task = self._tasks[stream]
        self._progress.advance(task, records)
        expected = self._progress.tasks[task].total
        if expected is not None and self._progress.tasks[task].completed > expected:
            self._progress.update(task, total=None)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "[dim]—[/]"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "hours":
        return f"{value:.1f} h"
    return f"{value:.1f}"


def _delta(now: float | None, before: float | None, higher_is_better: bool, unit: str) -> str:
    if now is None or before is None:
        return "[dim]—[/]"
    change = now - before
    if abs(change) < 0.05:
        return "[dim]±0[/]"
    good = (change > 0) == higher_is_better
    suffix = " pp" if unit == "%" else (" h" if unit == "hours" else "")
    arrow = "▲" if change > 0 else "▼"
    colour = "green" if good else "red"
    return f"[{colour}]{arrow} {abs(change):.1f}{suffix}[/]"


def kpi_table(values: Sequence[KpiValue], previous: Iterable[KpiValue], period: Month) -> Group:
    """Portfolio KPIs with their change against the previous month, and a segment breakdown."""
    before = {(v.kpi, v.level, v.entity_id): v.value for v in previous}
    table = Table(title=f"Portfolio KPIs — {period}", title_justify="left", show_lines=False)
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column(f"vs {period.previous()}", justify="right")
    table.add_column("n", justify="right")
    table.add_column("±95%", justify="right")
    by_key = {(v.kpi, v.level, v.entity_id): v for v in values}
    for d in catalogue.CATALOGUE:
        v = by_key.get((d.name, "portfolio", None))
        if v is None:
            continue
        moe = f"{v.margin_of_error:.1f}" if v.margin_of_error is not None else ""
        table.add_row(
            d.label,
            _fmt(v.value, d.unit),
            _delta(
                v.value, before.get((d.name, "portfolio", None)), d.direction == "higher", d.unit
            ),
            str(v.n),
            moe,
        )
    segments = sorted({v.entity_id for v in values if v.level == "segment" and v.entity_id})
    seg = Table(title="By segment", title_justify="left")
    seg.add_column("KPI")
    for name in segments:
        seg.add_column(name, justify="right")
    for d in catalogue.CATALOGUE:
        cells = [by_key.get((d.name, "segment", s)) for s in segments]
        if any(c is not None for c in cells):
            seg.add_row(d.label, *(_fmt(c.value if c else None, d.unit) for c in cells))
    accounts = sum(
        1 for v in values if v.level == "account" and v.kpi == "nps" and v.value is not None
    )
    note = (
        f"[dim]{accounts} companies have an NPS this month; per-company values are in the CRM.[/]"
    )
    return Group(table, seg if segments else "", note)


def summary_panel(report: SyncReport) -> Panel:
    """The closing summary of a sync run."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    pulled = ", ".join(f"{k} {n:,}" for k, n in report.pulled.items()) or "nothing"
    loads = "full load" if any(report.full_load.values()) else "incremental"
    grid.add_row("records pulled", f"{sum(report.pulled.values()):,} ({loads}: {pulled})")
    rejected = sum(report.rejected.values())
    if rejected:
        grid.add_row("quarantined", f"[yellow]{rejected:,} records[/] (see the store's quarantine)")
    grid.add_row("API calls", f"{report.calls_read:,} read, {report.calls_write:,} write")
    grid.add_row(
        "KPI values", f"{report.kpi_values:,} for {report.period} ({report.kpis_changed:,} changed)"
    )
    if report.dry_run:
        grid.add_row("write-back", f"dry run: {len(report.plan):,} records would change")
    else:
        grid.add_row(
            "write-back",
            f"{report.values_written:,} values on {report.rows_written:,} records"
            + (f", [red]{report.rows_failed} failed[/]" if report.rows_failed else ""),
        )
    if report.targets_created:
        grid.add_row("created in CRM", f"{len(report.targets_created)} properties/groups")
    for error in report.errors[:5]:
        grid.add_row("[red]error[/]", error)
    colour = {"ok": "green", "partial": "yellow"}.get(report.status, "red")
    return Panel(
        grid,
        title=f"sync {report.status} — {report.source}",
        subtitle=f"{report.seconds:.1f} s · run {report.run_id[:8]}",
        border_style=colour,
    )
