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
from crmpulse.ports import FieldSpec, PropertyChange, TargetLevel, TargetSpec

PERIOD_PROPERTY = "crmpulse_kpi_period"
LEVELS: tuple[TargetLevel, ...] = ("account", "contact")


def target_spec(group: str) -> TargetSpec:
    """The property group and properties crmpulse writes, from the KPI catalogue."""
    fields = [
        FieldSpec(
            name=d.property,
            label=f"crmpulse: {d.label}",
            type="number",
            description=f"{d.formula} ({d.unit}; {d.window}). Written by crmpulse.",
            levels=tuple(lvl for lvl in LEVELS if lvl in d.levels),
        )
        for d in catalogue.CATALOGUE
        if any(lvl in d.levels for lvl in LEVELS)
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
    return TargetSpec(group=group, group_label="crmpulse KPIs", fields=tuple(fields))


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
    values: Iterable[KpiValue], period: str
) -> dict[tuple[TargetLevel, str], dict[str, str | None]]:
    """Property values per (level, object id) for one period."""
    by_name = {d.name: d for d in catalogue.CATALOGUE}
    desired: dict[tuple[TargetLevel, str], dict[str, str | None]] = {}
    for v in values:
        if v.period != period or v.entity_id is None or v.level not in LEVELS:
            continue
        definition = by_name.get(v.kpi)
        if definition is None:
            continue
        level: TargetLevel = v.level
        row = desired.setdefault((level, v.entity_id), {PERIOD_PROPERTY: period})
        row[definition.property] = format_value(v.value)
    return desired


def plan(
    desired: Mapping[tuple[TargetLevel, str], Mapping[str, str | None]],
    ledger: Mapping[tuple[TargetLevel, str], Mapping[str, str | None]],
    properties: Mapping[TargetLevel, Iterable[str]],
    exists: Mapping[TargetLevel, set[str]] | None = None,
) -> list[PropertyChange]:
    """The changes to send: desired values that differ from the ledger of what we wrote.

    ``properties`` lists every property crmpulse owns per level; one that has a ledger value but
    no desired value any more is cleared. ``exists`` (if given) limits the plan to objects that
    still exist in the store.
    """
    changes: list[PropertyChange] = []
    for key in sorted(set(desired) | set(ledger)):
        level, object_id = key
        if exists is not None and object_id not in exists.get(level, set()):
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
