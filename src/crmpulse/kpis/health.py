"""The account health score: configuration as code, versioned, explained.

A health model maps each of an account's KPI values to a 0..100 measure score, linear between a
``floor`` (scored 0) and a ``target`` (scored 100), then combines the measures with the Gainsight
group formula, ``score = sum(w_i * s_i) / sum(w_i)`` over the measures that have data (a missing
measure neither helps nor hurts). An account whose measures with data carry less than
``min_coverage`` of the model's weight has no score ("insufficient data"). The score falls in the
first band whose inclusive ``upper`` bound it does not exceed.

The model is configuration (TOML, see ``health_default.toml``): measures, weights, floors, targets,
bands, per-segment overrides, and a ``version`` written next to every score so history stays
comparable; :func:`config_hash` notices a changed model even when the version was not bumped.
"""

from __future__ import annotations

import difflib
import hashlib
import itertools
import json
import math
import tomllib
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from crmpulse.errors import ConfigError

DEFAULT_CONFIG_RESOURCE = "health_default.toml"
"""The shipped default model, a resource of this package."""

_EPS = 1e-9
"""Tolerance for float noise in band bounds and the coverage threshold (far below display)."""

_Strict = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class Measure(BaseModel):
    """One KPI in a health model, scored ``100 * clip((x - floor) / (target - floor), 0, 1)``.

    ``floor`` is the value that scores 0 and ``target`` the value that scores 100. When
    ``target < floor`` the measure is lower-is-better (response times, churn risk) and the same
    formula holds: both the numerator and the span turn negative. ``weight`` is relative; only the
    ratios between a model's weights matter.
    """

    model_config = _Strict

    kpi: str = Field(min_length=1)
    weight: float = Field(gt=0)
    floor: float
    target: float
    label: str | None = None

    @model_validator(mode="after")
    def _has_a_range(self) -> Measure:
        if self.floor == self.target:
            raise ValueError(
                f"floor and target are both {self.floor:g}, so the measure has no range; "
                "set floor to the value that scores 0 and target to the value that scores 100"
            )
        return self

    @property
    def lower_is_better(self) -> bool:
        """True when the target lies below the floor."""
        return self.target < self.floor

    def normalize(self, values: np.ndarray) -> np.ndarray:
        """Measure scores 0..100 for raw KPI values (NaN stays NaN: no data)."""
        ratio = (np.asarray(values, dtype=float) - self.floor) / (self.target - self.floor)
        return 100.0 * np.clip(ratio, 0.0, 1.0)


class Band(BaseModel):
    """A named score range ending at ``upper`` (inclusive); it starts just above the previous one.

    With the Gainsight defaults (red 50, yellow 75, green 100) a score of 50 is red, 50.01 and 75
    are yellow, 75.01 and 76 green: integer scores fall as Gainsight publishes (0-50, 51-75,
    76-100) and fractional scores in the gaps go to the higher band.
    """

    model_config = _Strict

    name: str = Field(min_length=1)
    upper: float = Field(ge=0, le=100)


GAINSIGHT_BANDS: tuple[Band, ...] = (
    Band(name="red", upper=50),
    Band(name="yellow", upper=75),
    Band(name="green", upper=100),
)
"""Gainsight's default numeric bands, used when a model lists none."""


class HealthModel(BaseModel):
    """Measures, bands and the share of weight that must have data for a score to exist."""

    model_config = _Strict

    name: str = Field(min_length=1)
    measures: tuple[Measure, ...] = Field(min_length=1)
    bands: tuple[Band, ...] = GAINSIGHT_BANDS
    min_coverage: float = Field(default=0.5, ge=0, le=1)

    @field_validator("measures")
    @classmethod
    def _one_measure_per_kpi(cls, measures: tuple[Measure, ...]) -> tuple[Measure, ...]:
        seen: set[str] = set()
        for measure in measures:
            if measure.kpi in seen:
                raise ValueError(f"kpi {measure.kpi!r} is listed twice; keep one measure per KPI")
            seen.add(measure.kpi)
        return measures

    @field_validator("bands")
    @classmethod
    def _bands_cover_0_to_100(cls, bands: tuple[Band, ...]) -> tuple[Band, ...]:
        if not bands:
            raise ValueError("at least one band is needed; the last one ends at upper = 100")
        for lower, higher in itertools.pairwise(bands):
            if higher.upper <= lower.upper:
                raise ValueError(
                    f"band {higher.name!r} (upper {higher.upper:g}) does not come after band "
                    f"{lower.name!r} (upper {lower.upper:g}); list bands by ascending upper"
                )
        if bands[-1].upper != 100:
            raise ValueError(f"the last band {bands[-1].name!r} must end at upper = 100")
        if len({band.name for band in bands}) != len(bands):
            raise ValueError("band names must be unique")
        return bands

    @property
    def total_weight(self) -> float:
        """The sum of all measure weights (the denominator of coverage)."""
        return math.fsum(measure.weight for measure in self.measures)


class HealthConfig(BaseModel):
    """A versioned set of health models: a default and optional per-segment overrides.

    An account of segment ``S`` is scored with ``segments[S]`` when present (exact, case-sensitive
    match), otherwise with ``default``.
    """

    model_config = _Strict

    version: str = Field(min_length=1)
    default: HealthModel
    segments: dict[str, HealthModel] = Field(default_factory=dict)

    def models(self) -> tuple[HealthModel, ...]:
        """The default model, then the segment models in segment-name order."""
        return (self.default, *(self.segments[key] for key in sorted(self.segments)))


# ------------------------------------------------------------------------------------ loading

_HINTS = {
    "version": 'add version = "1" at the top and bump it whenever the model changes',
    "weight": "use a positive number; weights are relative (e.g. points that sum to 100)",
    "bands": "list bands by ascending upper (inclusive); the last must have upper = 100",
    "measures": "give each model [[...measures]] tables, one per KPI",
    "min_coverage": "use a share of the model's weight between 0 and 1, e.g. 0.5",
}
_DEFAULT_HINT = "compare with the commented default model, crmpulse/kpis/health_default.toml"


def load_config(path: Path | None, *, known_kpis: Collection[str] | None = None) -> HealthConfig:
    """Read and validate a health configuration from TOML (``None``: the shipped default).

    Every problem raises :class:`ConfigError` naming the file, the model and the measure, with a
    hint on how to fix it. When ``known_kpis`` is given, a measure on any other KPI is an error.
    """
    if path is None:
        source = f"crmpulse/kpis/{DEFAULT_CONFIG_RESOURCE} (shipped default)"
        text = resources.files(__package__ or "crmpulse.kpis").joinpath(DEFAULT_CONFIG_RESOURCE)
        raw_text = text.read_text(encoding="utf-8")
    else:
        source = str(path)
        try:
            raw_text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"health config {source}: cannot be read ({exc.strerror or exc})",
                hint="check the path, or pass no path to use the shipped default model",
            ) from exc
    try:
        raw = tomllib.loads(raw_text)
    except tomllib.TOMLDecodeError as exc:
        message = f"health config {source}: not valid TOML: {exc}"
        raise ConfigError(message, hint=_DEFAULT_HINT) from exc
    try:
        config = HealthConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(first["loc"])
        where = _describe(raw, loc)
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        message = first["msg"].removeprefix("Value error, ")
        hint = _HINTS.get(loc[-1]) if loc and isinstance(loc[-1], str) else None
        raise ConfigError(
            f"health config {source}: {where}: {message}{more}", hint=hint or _DEFAULT_HINT
        ) from exc
    if known_kpis is not None:
        _check_kpis(config, source, known_kpis)
    return config


def _describe(raw: Mapping[str, Any], loc: tuple[int | str, ...]) -> str:
    """Name the model, measure and field a validation error points at, in the user's terms."""
    parts: list[str] = []
    rest: tuple[int | str, ...] = loc
    model_raw: Any = None
    if loc[:1] == ("default",):
        model_raw, rest = raw.get("default"), loc[1:]
        parts.append(f"model {_model_name(model_raw, 'default')}")
    elif loc[:1] == ("segments",) and len(loc) > 1:
        model_raw, rest = raw.get("segments", {}).get(loc[1]), loc[2:]
        parts.append(f"model {_model_name(model_raw, str(loc[1]))} (segment {loc[1]!r})")
    group, position = (*rest, "", "")[:2]
    if group in {"measures", "bands"} and isinstance(position, int):
        items = model_raw.get(group, []) if isinstance(model_raw, dict) else []
        item = items[position] if position < len(items) else {}
        key = "kpi" if group == "measures" else "name"
        named = f" ({key} {item.get(key)!r})" if isinstance(item, dict) and key in item else ""
        parts.append(f"{str(group)[:-1]} {position + 1}{named}")
        rest = rest[2:]
    if rest:
        parts.append(".".join(str(p) for p in rest))
    return ", ".join(parts) or "top level"


def _model_name(model_raw: Any, fallback: str) -> str:
    name = model_raw.get("name") if isinstance(model_raw, dict) else None
    return repr(name if isinstance(name, str) else fallback)


def _check_kpis(config: HealthConfig, source: str, known_kpis: Collection[str]) -> None:
    for key, model in [("default", config.default), *sorted(config.segments.items())]:
        for number, measure in enumerate(model.measures, start=1):
            if measure.kpi in known_kpis:
                continue
            close = difflib.get_close_matches(measure.kpi, list(known_kpis), n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            segment = "" if key == "default" else f" (segment {key!r})"
            raise ConfigError(
                f"health config {source}: model {model.name!r}{segment}, measure {number}: "
                f"unknown KPI {measure.kpi!r}",
                hint=f"{guess}known KPIs: {', '.join(sorted(known_kpis))}",
            )


def config_hash(config: HealthConfig) -> str:
    """A 12-hex-digit digest of the model content, stable across formatting and measure order.

    The version string is left out, so two versions with the same models share a hash and a
    model edited without a version bump gets a new one.
    """

    def canonical(model: HealthModel) -> dict[str, Any]:
        dumped = model.model_dump(mode="json")
        dumped["measures"] = sorted(dumped["measures"], key=lambda m: m["kpi"])
        return dumped

    payload = {
        "default": canonical(config.default),
        "segments": {key: canonical(model) for key, model in config.segments.items()},
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


_HASHES: dict[int, tuple[HealthConfig, str]] = {}


def _hash_of(config: HealthConfig) -> str:
    """:func:`config_hash`, once per (frozen) configuration: a one-company recompute scores a
    company twice, and serializing the model would be a tenth of its arithmetic."""
    cached = _HASHES.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_HASHES) > 64:
            _HASHES.clear()
        cached = _HASHES[id(config)] = (config, config_hash(config))
    return cached[1]


# ------------------------------------------------------------------------------------ scoring


@dataclass(frozen=True, eq=False)
class HealthResult:
    """Health scores for many accounts, aligned with the input order.

    2-D arrays have one row per account and one column per KPI in ``kpis`` (every KPI any model
    uses); a cell is NaN where the KPI has no value or is not in the account's model, which is
    ``models[model_index[i]]``. ``points_lost[i, j] = w_j / W_i * (100 - s_ij)``, with ``W_i``
    the weight of the account's measures that have data: the score points measure ``j`` cost
    the account, so a row's points lost sum to ``100 - score[i]``. They are NaN when the score is
    undefined. ``band_rank`` is the band's position in its model (0 = lowest, -1 = undefined).
    """

    version: str
    config_hash: str
    models: tuple[HealthModel, ...]
    model_index: np.ndarray
    kpis: tuple[str, ...]
    values: np.ndarray
    measure_scores: np.ndarray
    points_lost: np.ndarray
    score: np.ndarray
    coverage: np.ndarray
    band: np.ndarray
    band_rank: np.ndarray

    def __len__(self) -> int:
        return int(self.score.shape[0])


def score_accounts(
    config: HealthConfig,
    segments: Sequence[str | None] | np.ndarray,
    values: Mapping[str, np.ndarray],
) -> HealthResult:
    """Score every account with its segment's model, vectorized per model.

    ``values[kpi]`` is a float array aligned with ``segments`` (NaN = no value); a KPI absent from
    ``values`` has no value for any account. ``score = sum(w_i * s_i) / sum(w_i)`` over the
    measures with data, NaN when their weight is below ``min_coverage`` of the model's total.
    """
    segment_of = np.asarray(segments, dtype=object)
    if segment_of.ndim != 1:
        raise ValueError("segments must be one-dimensional, one entry per account")
    n = segment_of.shape[0]
    columns: dict[str, np.ndarray] = {}
    for kpi, array in values.items():
        columns[kpi] = np.asarray(array, dtype=float)
        if columns[kpi].shape != (n,):
            raise ValueError(f"values[{kpi!r}] has shape {columns[kpi].shape}, expected ({n},)")

    models = config.models()
    model_index = np.zeros(n, dtype=np.intp)
    for position, key in enumerate(sorted(config.segments), start=1):
        model_index[segment_of == key] = position
    kpis = tuple(dict.fromkeys(m.kpi for model in models for m in model.measures))
    column_of = {kpi: j for j, kpi in enumerate(kpis)}

    raw, scores, lost = (np.full((n, len(kpis)), np.nan) for _ in range(3))
    score = np.full(n, np.nan)
    coverage = np.zeros(n)
    band = np.full(n, None, dtype=object)
    band_rank = np.full(n, -1, dtype=np.int8)
    for position, model in enumerate(models):
        rows = np.flatnonzero(model_index == position)
        if rows.size == 0:
            continue
        x = np.column_stack([columns.get(m.kpi, np.full(n, np.nan))[rows] for m in model.measures])
        s = np.column_stack([m.normalize(x[:, j]) for j, m in enumerate(model.measures)])
        weights = np.array([m.weight for m in model.measures])
        present = ~np.isnan(s)
        available = present.astype(float) @ weights
        share = available / model.total_weight
        defined = (available > 0) & (share >= model.min_coverage - _EPS)
        with np.errstate(invalid="ignore", divide="ignore"):
            composite = (np.where(present, s, 0.0) @ weights) / available
            cost = weights / available[:, None] * (100.0 - s)
        # the weighted mean can stray past 0..100 by float noise; the bands need it inside
        composite = np.where(defined, np.clip(composite, 0.0, 100.0), np.nan)
        uppers = np.array([b.upper for b in model.bands]) + _EPS
        ranks = np.where(defined, np.searchsorted(uppers, composite, side="left"), -1)
        names = np.array([b.name for b in model.bands], dtype=object)

        cols = np.array([column_of[m.kpi] for m in model.measures])
        raw[np.ix_(rows, cols)] = x
        scores[np.ix_(rows, cols)] = s
        lost[np.ix_(rows, cols)] = np.where(present & defined[:, None], cost, np.nan)
        score[rows] = composite
        coverage[rows] = share
        band_rank[rows] = ranks
        band[rows] = np.where(defined, names[np.maximum(ranks, 0)], np.array(None, dtype=object))
    return HealthResult(
        version=config.version,
        config_hash=_hash_of(config),
        models=models,
        model_index=model_index,
        kpis=kpis,
        values=raw,
        measure_scores=scores,
        points_lost=lost,
        score=score,
        coverage=coverage,
        band=band,
        band_rank=band_rank,
    )


# --------------------------------------------------------------------------------- explaining


@dataclass(frozen=True)
class MeasureExplanation:
    """One measure of one account: raw value, 0..100 score, its share of the score, points lost.

    ``weight_share`` is the measure's weight over the weight of the measures with data, i.e. the
    fraction of the score it decides; ``points_lost`` is ``None`` when the score is undefined.
    """

    kpi: str
    label: str | None
    value: float
    score: float
    weight_share: float
    points_lost: float | None


@dataclass(frozen=True)
class HealthExplanation:
    """Why one account has its score: the measures by points lost, and those without data."""

    index: int
    score: float | None
    band: str | None
    model: str
    version: str
    config_hash: str
    coverage: float
    min_coverage: float
    measures: tuple[MeasureExplanation, ...]
    missing: tuple[str, ...]
    text: str


def explain(result: HealthResult, index: int, *, top: int = 3) -> HealthExplanation:
    """Explain account ``index``; ``text`` names the ``top`` measures that cost the most points.

    Example text: ``"61 (yellow): nps -14.0 pts, frt_median_h -9.5 pts, missing: engagement_score"``
    (the score is rounded once, here, for display; the band comes from the unrounded score).
    """
    model = result.models[int(result.model_index[index])]
    score = float(result.score[index])
    defined = not math.isnan(score)
    with_data = [m for m in model.measures if not math.isnan(result.values[index, _col(result, m)])]
    available = math.fsum(m.weight for m in with_data)
    measures = sorted(
        (
            MeasureExplanation(
                kpi=m.kpi,
                label=m.label,
                value=float(result.values[index, _col(result, m)]),
                score=float(result.measure_scores[index, _col(result, m)]),
                weight_share=m.weight / available,
                points_lost=float(result.points_lost[index, _col(result, m)]) if defined else None,
            )
            for m in with_data
        ),
        key=lambda e: (-(e.points_lost or 0.0), e.score, e.kpi),
    )
    missing = tuple(m.kpi for m in model.measures if m not in with_data)
    coverage = float(result.coverage[index])
    if defined:
        head = f"{score:.0f} ({result.band[index]})"
        costly = [e for e in measures[:top] if round(e.points_lost or 0.0, 1) > 0]
        details = [f"{e.kpi} -{e.points_lost:.1f} pts" for e in costly]
    else:
        head = f"insufficient data (coverage {coverage:.0%} < {model.min_coverage:.0%})"
        details = []
    if missing:
        details.append("missing: " + ", ".join(missing))
    return HealthExplanation(
        index=index,
        score=score if defined else None,
        band=result.band[index],
        model=model.name,
        version=result.version,
        config_hash=result.config_hash,
        coverage=coverage,
        min_coverage=model.min_coverage,
        measures=tuple(measures),
        missing=missing,
        text=": ".join([head, ", ".join(details)]) if details else head,
    )


def _col(result: HealthResult, measure: Measure) -> int:
    return result.kpis.index(measure.kpi)


# ------------------------------------------------------------------------------------- trend


def trend(current: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Score change in points, ``current - previous``; NaN where either score is undefined."""
    now, before = np.asarray(current, dtype=float), np.asarray(previous, dtype=float)
    if now.shape != before.shape:
        raise ValueError(f"cannot compare scores of shapes {now.shape} and {before.shape}")
    change: np.ndarray = now - before
    return change


def band_change(current_rank: np.ndarray, previous_rank: np.ndarray) -> np.ndarray:
    """+1 where an account moved to a higher band, -1 lower, 0 same; NaN where either is undefined.

    Takes :attr:`HealthResult.band_rank` arrays of two periods, aligned by account. Ranks are
    positions in each model's band list, so compare periods scored with the same bands.
    """
    now, before = np.asarray(current_rank), np.asarray(previous_rank)
    if now.shape != before.shape:
        raise ValueError(f"cannot compare band ranks of shapes {now.shape} and {before.shape}")
    change = np.sign(now.astype(float) - before.astype(float))
    result: np.ndarray = np.where((now < 0) | (before < 0), np.nan, change)
    return result
