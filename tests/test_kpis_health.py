"""Health score: configuration, Gainsight vectors V18 and V19, invariants, explanations."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpulse.errors import ConfigError
from crmpulse.kpis.health import (
    HealthConfig,
    Measure,
    band_change,
    config_hash,
    explain,
    load_config,
    score_accounts,
    trend,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "health"
KNOWN_KPIS = (
    "nps",
    "csat",
    "ces",
    "frt_median_h",
    "resolution_median_h",
    "fcr",
    "recontact_rate",
    "ticket_volume",
    "engagement_score",
    "churn_risk",
    "sentiment",
)


def _config(*weights: float, min_coverage: float = 0.5, **segments: Any) -> HealthConfig:
    """Measures k0, k1, ... scored as their raw value (floor 0, target 100)."""
    measures = [
        {"kpi": f"k{i}", "weight": w, "floor": 0, "target": 100} for i, w in enumerate(weights)
    ]
    default = {"name": "test", "measures": measures, "min_coverage": min_coverage}
    return HealthConfig.model_validate({"version": "t", "default": default, "segments": segments})


def _values(*columns: list[float]) -> dict[str, np.ndarray]:
    return {f"k{i}": np.array(column, dtype=float) for i, column in enumerate(columns)}


# ------------------------------------------------------------------ published vectors (kpis.md §2)


def test_v18_gainsight_group_score_is_2287_over_57() -> None:
    config = load_config(FIXTURES / "gainsight_v18.toml")
    values = {"usage": np.array([47.0]), "support": np.array([59.0]), "nps": np.array([21.0])}
    result = score_accounts(config, [None], values)
    assert result.score[0] == pytest.approx(2287 / 57)
    assert round(result.score[0]) == 40
    assert result.coverage[0] == pytest.approx(1.0)
    assert explain(result, 0).text.startswith("40 (red): nps -30.5 pts, usage -18.6 pts")


def test_v19_gainsight_bands_50_51_75_76() -> None:
    result = score_accounts(_config(1), [None] * 4, _values([50, 51, 75, 76]))
    assert list(result.band) == ["red", "yellow", "yellow", "green"]
    assert list(result.band_rank) == [0, 1, 1, 2]


def test_fractional_scores_between_bands_go_up_and_float_noise_does_not() -> None:
    scores = [0, 50.01, 75.5, 100, 50 + 1e-12, 75 - 1e-12]
    result = score_accounts(_config(1), [None] * len(scores), _values(scores))
    assert list(result.band) == ["red", "yellow", "green", "green", "red", "yellow"]


# ------------------------------------------------------------------ normalization


def test_lower_is_better_uses_the_same_formula_with_target_below_floor() -> None:
    frt = Measure(kpi="frt_median_h", weight=1, floor=48, target=4)
    assert frt.lower_is_better
    scores = frt.normalize(np.array([4.0, 26.0, 48.0, 37.0]))
    assert scores == pytest.approx([100.0, 50.0, 0.0, 25.0])


def test_scores_are_clipped_to_0_and_100_and_nan_stays_nan() -> None:
    csat = Measure(kpi="csat", weight=1, floor=50, target=90)
    frt = Measure(kpi="frt_median_h", weight=1, floor=48, target=4)
    assert csat.normalize(np.array([20.0, 99.0, 70.0])) == pytest.approx([0.0, 100.0, 50.0])
    assert frt.normalize(np.array([0.5, 500.0])) == pytest.approx([100.0, 0.0])
    assert np.isnan(csat.normalize(np.array([np.nan]))).all()


# ------------------------------------------------------------------ composite and coverage


def test_missing_measures_leave_the_denominator() -> None:
    config = _config(20, 15, 22)
    result = score_accounts(config, [None], _values([47], [59], [math.nan]))
    assert result.score[0] == pytest.approx((20 * 47 + 15 * 59) / 35)
    assert result.coverage[0] == pytest.approx(35 / 57)
    # a KPI absent from the mapping is missing for everyone
    absent = score_accounts(config, [None], {"k0": np.array([47.0]), "k1": np.array([59.0])})
    assert absent.score[0] == pytest.approx(result.score[0])
    assert np.isnan(absent.measure_scores[0, 2])


@pytest.mark.parametrize(
    ("weights", "min_coverage", "defined"),
    [
        ((50, 50), 0.5, True),  # exactly at the threshold counts
        ((49, 51), 0.5, False),
        ((1, 2), 1 / 3, True),  # 1/3 is not exact in binary
        ((0.1, 0.2), 1 / 3, True),
        ((1, 1), 0.0, True),
    ],
)
def test_min_coverage_boundary(
    weights: tuple[float, float], min_coverage: float, defined: bool
) -> None:
    result = score_accounts(
        _config(*weights, min_coverage=min_coverage), [None], _values([80], [math.nan])
    )
    assert (not math.isnan(result.score[0])) is defined
    assert (result.band[0] is not None) is defined
    assert bool(result.band_rank[0] >= 0) is defined
    if not defined:
        assert np.isnan(result.points_lost[0]).all()


def test_no_data_at_all_is_undefined_even_with_zero_min_coverage() -> None:
    result = score_accounts(
        _config(1, 1, min_coverage=0.0), [None], _values([math.nan], [math.nan])
    )
    assert math.isnan(result.score[0])
    assert result.coverage[0] == 0.0
    assert result.band[0] is None
    assert explain(result, 0).text == "insufficient data (coverage 0% < 0%): missing: k0, k1"


def test_each_segment_uses_its_own_model_else_the_default() -> None:
    config = load_config(None)
    segments = ["Enterprise", None, "SMB", "enterprise"]
    frt = np.full(4, 20.0)  # enterprise: floor 24 target 2; default: floor 48 target 4
    result = score_accounts(config, segments, {"frt_median_h": frt, "nps": np.full(4, 50.0)})
    names = [result.models[i].name for i in result.model_index]
    assert names == ["enterprise", "b2b-default", "b2b-default", "b2b-default"]
    col = result.kpis.index("frt_median_h")
    assert result.measure_scores[0, col] == pytest.approx(100 * 4 / 22)
    assert result.measure_scores[1:, col] == pytest.approx([100 * 28 / 44] * 3)
    assert result.version == "1"
    assert result.config_hash == config_hash(config)


def test_segment_array_and_value_shapes_are_checked() -> None:
    with pytest.raises(ValueError, match=r"values\['k0'\] has shape \(2,\), expected \(3,\)"):
        score_accounts(_config(1), np.array(["a", "b", "c"]), _values([1, 2]))


# ------------------------------------------------------------------ invariants (Hypothesis)

cell = st.one_of(st.just(math.nan), st.floats(min_value=-50, max_value=150))
weight = st.floats(min_value=0.01, max_value=1000)


@st.composite
def portfolios(draw: st.DrawFn) -> tuple[HealthConfig, list[str | None], dict[str, np.ndarray]]:
    weights = draw(st.lists(weight, min_size=1, max_size=5))
    coverage = draw(st.sampled_from([0.0, 0.25, 0.5, 1.0]))
    config = _config(*weights, min_coverage=coverage, vip=_config(*reversed(weights)).default)
    n = draw(st.integers(min_value=1, max_value=25))
    segments = draw(st.lists(st.sampled_from([None, "vip", "other"]), min_size=n, max_size=n))
    columns = [draw(st.lists(cell, min_size=n, max_size=n)) for _ in weights]
    return config, segments, _values(*columns)


@settings(max_examples=150, deadline=None)
@given(portfolios())
def test_points_lost_sum_to_100_minus_score_and_scores_stay_in_range(
    case: tuple[HealthConfig, list[str | None], dict[str, np.ndarray]],
) -> None:
    result = score_accounts(*case)
    defined = ~np.isnan(result.score)
    assert ((result.score[defined] >= 0) & (result.score[defined] <= 100)).all()
    lost = np.nansum(result.points_lost[defined], axis=1)
    assert lost == pytest.approx(100 - result.score[defined], abs=1e-6)
    for i in np.flatnonzero(defined):
        explained = explain(result, int(i))
        assert math.fsum(e.weight_share for e in explained.measures) == pytest.approx(1)
        losses = [e.points_lost for e in explained.measures]
        assert None not in losses
        assert losses == sorted((x or 0.0 for x in losses), reverse=True)


@settings(max_examples=100, deadline=None)
@given(portfolios(), st.randoms(use_true_random=False))
def test_permuting_accounts_permutes_results(
    case: tuple[HealthConfig, list[str | None], dict[str, np.ndarray]], rnd: Any
) -> None:
    config, segments, values = case
    order = list(range(len(segments)))
    rnd.shuffle(order)
    base = score_accounts(config, segments, values)
    moved = score_accounts(
        config, [segments[i] for i in order], {k: v[order] for k, v in values.items()}
    )
    np.testing.assert_array_equal(moved.score, base.score[order])
    np.testing.assert_array_equal(moved.points_lost, base.points_lost[order])
    assert list(moved.band) == list(base.band[order])


# ------------------------------------------------------------------ explanations and trend


def test_explain_orders_by_points_lost_and_lists_missing_measures() -> None:
    config = load_config(None)
    values = {
        "nps": np.array([10.0]),  # 20 points
        "csat": np.array([90.0]),  # 100
        "frt_median_h": np.array([26.0]),  # 50
        "churn_risk": np.array([45.0]),  # 50
    }
    result = score_accounts(config, [None], values)
    explained = explain(result, 0, top=2)
    # available weight 65: nps 20/65*80, churn 20/65*50, frt 10/65*50, csat 0
    assert [e.kpi for e in explained.measures] == ["nps", "churn_risk", "frt_median_h", "csat"]
    assert explained.score == pytest.approx(100 - (1600 + 1000 + 500) / 65)
    assert explained.missing == ("resolution_median_h", "fcr", "engagement_score")
    assert explained.text == (
        "52 (yellow): nps -24.6 pts, churn_risk -15.4 pts, "
        "missing: resolution_median_h, fcr, engagement_score"
    )
    assert (explained.model, explained.version, explained.band) == ("b2b-default", "1", "yellow")


def test_perfect_account_text_has_no_losses() -> None:
    result = score_accounts(_config(1, 1), [None], _values([100], [100]))
    assert explain(result, 0).text == "100 (green)"


def test_trend_and_band_change() -> None:
    now = np.array([60.0, 40.0, math.nan, 80.0])
    before = np.array([55.0, 52.5, 70.0, math.nan])
    assert trend(now, before)[:2] == pytest.approx([5.0, -12.5])
    assert np.isnan(trend(now, before)[2:]).all()
    change = band_change(np.array([1, 0, 2, -1]), np.array([1, 1, 0, 2]))
    assert change[:3] == pytest.approx([0.0, -1.0, 1.0])
    assert math.isnan(change[3])
    with pytest.raises(ValueError, match="shapes"):
        trend(now, before[:2])


# ------------------------------------------------------------------ configuration files


def test_shipped_default_loads_with_weights_summing_to_100() -> None:
    config = load_config(None, known_kpis=KNOWN_KPIS)
    assert config.version == "1"
    for model in config.models():
        assert model.total_weight == pytest.approx(100)
    assert [b.name for b in config.default.bands] == ["red", "yellow", "green"]
    assert "Enterprise" in config.segments
    assert config.default.measures[2].lower_is_better


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.toml")))
def test_example_configs_load(name: str) -> None:
    config = load_config(FIXTURES / name)
    assert len(config_hash(config)) == 12


def test_four_band_example_scores_each_segment_with_its_bands() -> None:
    config = load_config(FIXTURES / "four_bands.toml", known_kpis=KNOWN_KPIS)
    values = {
        "csat": np.array([95.0, 60.0, math.nan]),
        "frt_median_h": np.array([1.0, 12.5, math.nan]),
        "recontact_rate": np.array([0.05, 0.3, math.nan]),
        "sentiment": np.array([math.nan, math.nan, 0.0]),
        "ticket_volume": np.array([math.nan, math.nan, 5.0]),
    }
    result = score_accounts(config, [None, "Pro", "SelfServe"], values)
    assert result.score == pytest.approx([100.0, 15.0, 50.0])
    assert list(result.band) == ["healthy", "critical", "at-risk"]


def test_config_hash_follows_content_not_formatting_or_version() -> None:
    base = _config(20, 15, 22)
    heavier = _config(20, 16, 22)
    assert config_hash(base) != config_hash(heavier)
    raw = base.model_dump()
    raw["version"] = "2"
    raw["default"]["measures"] = list(reversed(raw["default"]["measures"]))
    assert config_hash(HealthConfig.model_validate(raw)) == config_hash(base)
    assert config_hash(_config(20.0, 15.0, 22.0)) == config_hash(base)


_VALID_MEASURE = 'kpi = "nps"\nweight = 20\nfloor = 0\ntarget = 50\n'


def _band(name: str, upper: float) -> str:
    return f"[[default.bands]]\nname = '{name}'\nupper = {upper}\n"


_BANDS = _band("red", 50) + _band("green", 100)


def _write(
    tmp_path: Path,
    measure: str = _VALID_MEASURE,
    *,
    head: str = 'version = "3"\n',
    bands: str = _BANDS,
) -> Path:
    text = (
        f"{head}[default]\nname = 'core'\n[[default.measures]]\n{_VALID_MEASURE}"
        f"[[default.measures]]\n{measure}{bands}"
    )
    path = tmp_path / "health.toml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("measure", "bands", "expected", "hint"),
    [
        (
            'kpi = "csat"\nweight = 0\nfloor = 50\ntarget = 90\n',
            _BANDS,
            r"model 'core', measure 2 \(kpi 'csat'\), weight: .*greater than 0",
            "positive",
        ),
        (
            'kpi = "csat"\nweight = -5\nfloor = 50\ntarget = 90\n',
            _BANDS,
            r"measure 2 \(kpi 'csat'\), weight",
            "positive",
        ),
        (
            'kpi = "csat"\nweight = 5\nfloor = 70\ntarget = 70\n',
            _BANDS,
            r"measure 2 \(kpi 'csat'\): floor and target are both 70",
            "default model",
        ),
        (
            'kpi = "nps"\nweight = 5\nfloor = 0\ntarget = 1\n',
            _BANDS,
            r"model 'core', measures: kpi 'nps' is listed twice",
            "one per KPI",
        ),
        (
            'kpi = "csat"\nweight = 5\nfloor = 0\ntarget = 1\nscale = 3\n',
            _BANDS,
            r"measure 2 \(kpi 'csat'\), scale: Extra inputs",
            "default model",
        ),
        (
            _VALID_MEASURE.replace("nps", "csat"),
            _band("hi", 80) + _band("lo", 40) + _band("top", 100),
            r"model 'core', bands: band 'lo' \(upper 40\) does not come after band 'hi'",
            "ascending",
        ),
        (
            _VALID_MEASURE.replace("nps", "csat"),
            _band("red", 50) + _band("green", 90),
            r"bands: the last band 'green' must end at upper = 100",
            "upper = 100",
        ),
    ],
)
def test_invalid_configs_name_the_file_model_and_measure(
    tmp_path: Path, measure: str, bands: str, expected: str, hint: str
) -> None:
    path = _write(tmp_path, measure, bands=bands)
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(path)
    assert str(path) in str(caught.value)
    assert caught.value.hint is not None
    assert hint in caught.value.hint


def test_missing_version_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"health\.toml: version: Field required") as caught:
        load_config(_write(tmp_path, _VALID_MEASURE.replace("nps", "csat"), head=""))
    assert caught.value.hint is not None
    assert "bump" in caught.value.hint


def test_unknown_kpi_is_an_error_only_when_known_kpis_are_given(tmp_path: Path) -> None:
    path = _write(tmp_path, _VALID_MEASURE.replace("nps", "csta"))
    assert load_config(path).default.measures[1].kpi == "csta"
    with pytest.raises(ConfigError, match=r"model 'core', measure 2: unknown KPI 'csta'") as caught:
        load_config(path, known_kpis=KNOWN_KPIS)
    assert "did you mean 'csat'?" in (caught.value.hint or "")


def test_segment_errors_name_the_segment(tmp_path: Path) -> None:
    path = _write(tmp_path, _VALID_MEASURE.replace("nps", "csat"))
    path.write_text(
        path.read_text() + "[segments.Enterprise]\nname = 'ent'\n"
        "[[segments.Enterprise.measures]]\nkpi = 'fcr'\nweight = 1\nfloor = 1\ntarget = 1\n"
    )
    with pytest.raises(
        ConfigError, match=r"model 'ent' \(segment 'Enterprise'\), measure 1 \(kpi 'fcr'\)"
    ):
        load_config(path)


def test_unreadable_or_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be read"):
        load_config(tmp_path / "nope.toml")
    broken = tmp_path / "broken.toml"
    broken.write_text("version = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken\.toml: not valid TOML.*line 1"):
        load_config(broken)
