"""Write-back planning: which KPI values go to which CRM property, diffed against the ledger.

Only values that differ from what crmpulse last wrote are sent. A KPI that became undefined is
cleared (written as empty) if crmpulse had written a value before; one that never had a value is
left alone. Values are rounded once, here, for display in the CRM.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict

from crmpulse.kpis import catalogue
from crmpulse.kpis.values import KpiValue
from crmpulse.ports import (
    FieldSpec,
    FieldType,
    PropertyChange,
    SnapshotSpec,
    TargetLevel,
    TargetSpec,
)

PERIOD_PROPERTY = "crmpulse_kpi_period"
ALERT_PROPERTY = "crmpulse_alert"
LEVELS: tuple[TargetLevel, ...] = ("account", "contact")
SNAPSHOT: TargetLevel = "snapshot"
SNAPSHOT_LEVELS = ("portfolio", "segment")
"""The KPI levels that get snapshot records (per-record values live on the records)."""
SNAPSHOT_KEY = "crmpulse_key"

_SNAPSHOT_FIELDS: tuple[tuple[str, str, FieldType, str], ...] = (
    ("crmpulse_period", "Period", "string", "Calendar month of the values (YYYY-MM)."),
    ("crmpulse_period_start", "Period start", "date", "First day of the period (for charts)."),
    ("crmpulse_level", "Level", "string", "portfolio or segment."),
    ("crmpulse_segment", "Segment", "string", "The segment, empty at portfolio level."),
    ("crmpulse_kpi", "KPI", "string", "KPI name from the crmpulse catalogue (e.g. nps)."),
    ("crmpulse_kpi_label", "KPI label", "string", "Human name of the KPI."),
    ("crmpulse_value", "Value", "number", "The KPI value, empty when undefined."),
    ("crmpulse_sample_size", "Sample size", "number", "Size of the denominator (answers, ...)."),
    ("crmpulse_margin_of_error", "Margin of error", "number", "95% margin, where defined."),
)


def target_spec(group: str, *, alerts: bool = False) -> TargetSpec:
    """The property group and properties crmpulse writes, from the KPI catalogue.

    With ``alerts``, companies also get :data:`ALERT_PROPERTY`, their latest KPI alert.
    """
    fields = [
        FieldSpec(
            name=d.property,
            label=f"crmpulse: {d.label}",
            type="string" if d.property_type == "string" else "number",
            description=_describe(d),
            levels=tuple(lvl for lvl in LEVELS if lvl in d.levels),
        )
        for d in catalogue.CATALOGUE
        if d.writeback and any(lvl in d.levels for lvl in LEVELS)
    ]
    fields.append(
        FieldSpec(
            name=PERIOD_PROPERTY,
            label="crmpulse: KPI period",
            type="string",
            description="The calendar month the crmpulse KPI properties describe (YYYY-MM).",
            levels=LEVELS,
        )
    )
    if alerts:
        fields.append(
            FieldSpec(
                name=ALERT_PROPERTY,
                label="crmpulse: latest KPI alert",
                type="string",
                description="The company's latest KPI alert in the period: a target crossed or "
                "a health band change. Written by crmpulse.",
                levels=("account",),
            )
        )
    return TargetSpec(
        group=group, group_label="crmpulse KPIs", fields=tuple(fields), snapshot=snapshot_spec()
    )


def _describe(d: catalogue.KpiDefinition) -> str:
    # CRMs cap property descriptions (HubSpot: a few hundred characters shown); keep it short
    text = f"{d.formula} ({d.unit}). Written by crmpulse; see docs/kpis.md."
    return text if len(text) <= 480 else text[:477] + "..."


def snapshot_spec() -> SnapshotSpec:
    """The KPI snapshot object: one record per period, level, segment and KPI."""
    key = FieldSpec(
        name=SNAPSHOT_KEY,
        label="Snapshot key",
        type="string",
        description="Unique key period|level|segment|kpi; snapshots are upserted by it.",
        levels=(SNAPSHOT,),
    )
    fields = tuple(
        FieldSpec(name=n, label=lbl, type=t, description=d, levels=(SNAPSHOT,))
        for n, lbl, t, d in _SNAPSHOT_FIELDS
    )
    return SnapshotSpec(
        name="crmpulse_kpi_snapshot",
        label="crmpulse KPI snapshot",
        plural_label="crmpulse KPI snapshots",
        key_field=SNAPSHOT_KEY,
        fields=(key, *fields),
    )


def snapshot_key(period: str, level: str, segment: str | None, kpi: str) -> str:
    """The external id of one snapshot record."""
    return f"{period}|{level}|{segment or '*'}|{kpi}"


def desired_snapshots(
    values: Iterable[KpiValue], period: str, period_start: str
) -> dict[tuple[TargetLevel, str], dict[str, str | None]]:
    """Snapshot field values per (``"snapshot"``, key) for the portfolio and segment values."""
    by_name = {d.name: d for d in catalogue.CATALOGUE}
    desired: dict[tuple[TargetLevel, str], dict[str, str | None]] = {}
    for v in values:
        definition = by_name.get(v.kpi)
        if v.period != period or v.level not in SNAPSHOT_LEVELS or definition is None:
            continue
        segment = v.entity_id if v.level == "segment" else None
        desired[(SNAPSHOT, snapshot_key(period, v.level, segment, v.kpi))] = {
            "crmpulse_period": period,
            "crmpulse_period_start": period_start,
            "crmpulse_level": v.level,
            "crmpulse_segment": segment,
            "crmpulse_kpi": v.kpi,
            "crmpulse_kpi_label": definition.label,
            "crmpulse_value": format_value(v.value),
            "crmpulse_sample_size": str(v.n),
            "crmpulse_margin_of_error": format_value(v.margin_of_error),
        }
    return desired


def spec_hash(spec: TargetSpec) -> str:
    """A stable fingerprint of a target spec (to skip re-checking unchanged targets)."""
    return hashlib.sha256(json.dumps(asdict(spec), sort_keys=True).encode()).hexdigest()[:16]


def format_value(value: float | None) -> str | None:
    """The CRM representation of a KPI value: two decimals at most, ``None`` when undefined."""
    if value is None:
        return None
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def desired_values(
    values: Iterable[KpiValue], period: str, alerts: Mapping[str, str] | None = None
) -> dict[tuple[TargetLevel, str], dict[str, str | None]]:
    """Property values per (level, object id) for one period.

    ``alerts`` (account id -> message) fills :data:`ALERT_PROPERTY` when alerts are written.
    """
    by_name = {d.name: d for d in catalogue.CATALOGUE}
    desired: dict[tuple[TargetLevel, str], dict[str, str | None]] = {}
    for v in values:
        if v.period != period or v.entity_id is None or v.level not in LEVELS:
            continue
        definition = by_name.get(v.kpi)
        if definition is None or not definition.writeback:
            continue
        level: TargetLevel = v.level
        row = desired.setdefault((level, v.entity_id), {PERIOD_PROPERTY: period})
        if definition.property_type == "string":
            row[definition.property] = v.text
        else:
            row[definition.property] = format_value(v.value)
    for account_id, message in (alerts or {}).items():
        row = desired.setdefault(("account", account_id), {PERIOD_PROPERTY: period})
        row[ALERT_PROPERTY] = message
    return desired


def plan(
    desired: Mapping[tuple[TargetLevel, str], Mapping[str, str | None]],
    ledger: Mapping[tuple[TargetLevel, str], Mapping[str, str | None]],
    properties: Mapping[TargetLevel, Iterable[str]],
    exists: Mapping[TargetLevel, set[str]] | None = None,
) -> list[PropertyChange]:
    """The changes to send: desired values that differ from the ledger of what we wrote.

    ``properties`` lists every property crmpulse owns per level; one that has a ledger value but
    no desired value any more is cleared. ``exists`` (if given) limits the plan, per level it
    names, to objects that still exist in the store.
    """
    changes: list[PropertyChange] = []
    for key in sorted(set(desired) | set(ledger)):
        level, object_id = key
        if exists is not None and level in exists and object_id not in exists[level]:
            continue
        want = desired.get(key, {})
        had = ledger.get(key, {})
        delta: dict[str, str | None] = {}
        for prop in properties[level]:
            if prop == PERIOD_PROPERTY:
                continue
            new = want.get(prop)
            if (prop in had and had[prop] != new) or (prop not in had and new is not None):
                delta[prop] = new
        period = want.get(PERIOD_PROPERTY)
        period_moved = period is not None and had.get(PERIOD_PROPERTY) != period
        if delta or (period_moved and had):
            if period_moved:
                delta[PERIOD_PROPERTY] = period
            changes.append(PropertyChange(level=level, object_id=object_id, values=delta))
    return changes
