"""Terminal rendering with Rich: sync progress, the KPI table, the run summary."""

from __future__ import annotations

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

from crmpulse.kpireport import KpiReport
from crmpulse.kpis import catalogue
from crmpulse.kpis.compare import Compared
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


def _fmt(value: float | None, unit: str, text: str | None = None) -> str:
    if text is not None:
        return text
    if value is None:
        return "[dim]—[/]"
    if unit == "%":
        return f"{value:.1f}%"
    if unit == "hours":
        return f"{value:.1f} h"
    if unit == "currency":
        return f"{value:,.0f}"
    if unit in {"tickets", "customers"}:
        return f"{value:,.0f}"
    return f"{value:.1f}"


def _change(row: Compared, yoy: bool = False) -> str:
    delta = row.change_yoy if yoy else row.change
    if delta is None:
        return "[dim]—[/]"
    definition = catalogue.get(row.value.kpi)
    if abs(delta) < 0.05:
        return "[dim]±0[/]"
    good = (delta > 0) == (definition.direction == "higher")
    suffix = {"pp": " pp", "percent": "%"}.get(definition.change, "")
    if definition.change == "points" and definition.unit == "hours":
        suffix = " h"
    arrow = "▲" if delta > 0 else "▼"
    colour = "green" if good else "red"
    return f"[{colour}]{arrow} {abs(delta):.1f}{suffix}[/]"


def _target(row: Compared) -> str:
    if row.target is None:
        return ""
    unit = catalogue.get(row.value.kpi).unit
    mark = "" if row.met is None else (" [green]✓[/]" if row.met else " [red]✗[/]")
    rate = "" if row.attainment is None else f" ({row.attainment:.0f}%)"
    return f"{_fmt(row.target, unit)}{rate}{mark}"


def kpi_table(report: KpiReport) -> Group:
    """The catalogue for the portfolio: value, trends, target; then segments, themes, alerts."""
    period = report.period
    flag = " [yellow](partial: the period is still running)[/]" if report.partial else ""
    table = Table(title=f"Portfolio KPIs — {period}{flag}", title_justify="left")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column(f"vs {period.previous()}", justify="right")
    table.add_column(f"vs {period.same_last_year()}", justify="right")
    table.add_column("target", justify="right")
    table.add_column("n", justify="right")
    table.add_column("±95%", justify="right")
    by_key = {(r.value.kpi, r.value.level, r.value.entity_id): r for r in report.rows}
    family = None
    for d in catalogue.CATALOGUE:
        row = by_key.get((d.name, "portfolio", None))
        if row is None:
            continue
        if d.family != family:
            family = d.family
            table.add_section()
        v = row.value
        moe = f"{v.margin_of_error:.1f}" if v.margin_of_error is not None else ""
        label = d.label + (" [yellow]*[/]" if v.partial and not report.partial else "")
        table.add_row(
            label,
            _fmt(v.value, d.unit),
            _change(row),
            _change(row, yoy=True),
            _target(row),
            f"{v.n:,}",
            moe,
        )
    parts: list[object] = [table]
    segments = sorted(
        {r.value.entity_id for r in report.rows if r.value.level == "segment" and r.value.entity_id}
    )
    if segments:
        seg = Table(title="By segment", title_justify="left")
        seg.add_column("KPI")
        for name in segments:
            seg.add_column(name, justify="right")
        for d in catalogue.CATALOGUE:
            cells = [by_key.get((d.name, "segment", s)) for s in segments]
            if any(c is not None and c.value.value is not None for c in cells):
                seg.add_row(d.label, *(_fmt(c.value.value if c else None, d.unit) for c in cells))
        parts.append(seg)
    themes = report.table.themes.get("")
    if themes:
        listed = ", ".join(
            f"{theme} {count} ({'+' if mean >= 0 else ''}{100 * mean:.0f})"
            for theme, count, mean in themes
        )
        parts.append(f"[bold]Feedback themes[/] (mentions, sentiment): {listed}")
    if report.alerts:
        shown = report.alerts[:8]
        lines = "\n".join(
            f"  • {a.level} {a.entity_id or ''}: {a.message}".replace("  ", " ", 1) for a in shown
        )
        more = f"\n  … and {len(report.alerts) - 8} more" if len(report.alerts) > 8 else ""
        parts.append(f"[bold]Alerts[/] ({len(report.alerts)}):\n{lines}{more}")
    scored = sum(
        1 for r in report.rows if r.value.kpi == "health_score" and r.value.level == "account"
    )
    parts.append(
        f"[dim]{scored:,} companies have a health score; per-company values are in the CRM "
        "(`crmpulse kpis --level account --json` lists them with explanations).[/]"
    )
    if any(r.value.partial for r in report.rows if r.value.level == "portfolio"):
        parts.append("[dim]* still maturing: its window has not closed yet.[/]")
    return Group(*parts)  # type: ignore[arg-type]


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
    if report.alerts:
        more = len(report.alerts) - 5
        for line in report.alerts[:5]:
            grid.add_row("[yellow]new alert[/]", line)
        if more > 0:
            grid.add_row("", f"[dim]and {more} more (crmpulse kpis --json lists them)[/]")
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
