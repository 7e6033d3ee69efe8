"""Targets (metas) per KPI and segment, loaded from a TOML file, and attainment against them.

```toml
[nps]
target = 50
segments = { Enterprise = 60 }

[frt_median_h]
target = 4          # hours; lower is better, the catalogue says so
```

Attainment = 100 * actual / target when higher is better and 100 * target / actual when lower is
better (undefined for a target or actual <= 0, where the ratio means nothing); ``met`` compares
actual and target in the KPI's direction and is defined whenever both are.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crmpulse.errors import ConfigError
from crmpulse.kpis.catalogue import CATALOGUE, Direction


class Target(BaseModel):
    """One KPI's target, with optional per-segment overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target: float = Field(allow_inf_nan=False)
    segments: dict[str, float] = Field(default_factory=dict)

    def for_segment(self, segment: str | None) -> float:
        """The target that applies to ``segment`` (the KPI-wide one without an override)."""
        if segment is not None and segment in self.segments:
            return self.segments[segment]
        return self.target


Targets = Mapping[str, Target]
"""KPI name -> target."""


def load_targets(path: Path | None) -> dict[str, Target]:
    """Read a targets file; ``None`` means no targets. Errors name the file and the KPI."""
    if path is None:
        return {}
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(
            f"targets file {path}: cannot be read ({exc.strerror})",
            hint="set CRMPULSE_KPI__TARGETS_FILE to an existing TOML file",
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"targets file {path}: not valid TOML ({exc})") from None
    known = {d.name for d in CATALOGUE}
    out: dict[str, Target] = {}
    for kpi, spec in raw.items():
        if kpi not in known:
            raise ConfigError(
                f"targets file {path}: unknown KPI {kpi!r}",
                hint="use a KPI name from `crmpulse kpis --catalogue` (e.g. nps, csat, fcr)",
            )
        if not isinstance(spec, dict):
            raise ConfigError(
                f"targets file {path}: [{kpi}] must be a table with `target = <number>`"
            )
        try:
            out[kpi] = Target.model_validate(spec)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"])
            raise ConfigError(
                f"targets file {path}: [{kpi}] {where}: {first['msg']}",
                hint="each KPI needs `target = <number>`, optionally `segments = { Name = <n> }`",
            ) from None
    return out


def attainment(actual: float, target: float, direction: Direction) -> float | None:
    """100 * actual / target (higher is better) or 100 * target / actual (lower is better)."""
    if target <= 0 or (actual <= 0 and direction == "lower"):
        return None
    if direction == "higher":
        return 100 * actual / target
    return 100 * target / actual


def met(actual: float, target: float, direction: Direction) -> bool:
    """Whether ``actual`` reaches ``target`` in the KPI's direction."""
    return actual >= target if direction == "higher" else actual <= target
