"""Survey-comment sentiment and themes: published vectors, labelled fixtures, synthetic comments."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Final

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmpulse.errors import ConfigError
from crmpulse.kpis.feedback import (
    THEMES,
    CommentAnalysis,
    FeedbackAnalyzer,
    Label,
    Language,
    available,
    detect_language,
    label_for,
    summarize,
)
from crmpulse.model import SurveyKind
from crmpulse.synth import generate
from crmpulse.synth.text import FRAGMENTS

pytestmark = pytest.mark.skipif(not available(), reason="the 'text' extra is not installed")


@cache
def analyzer() -> FeedbackAnalyzer:
    """One analyzer for the module: loading the lemmatizer's dictionaries takes about a second."""
    return FeedbackAnalyzer()


# ------------------------------------------------------------------ published vectors (kpis.md)


@pytest.mark.parametrize(
    ("text", "language", "compound"),
    [
        ("VADER is smart, handsome, and funny.", "en", 0.8316),  # V36
        ("VADER is VERY SMART, uber handsome, and FRIGGIN FUNNY!!!", "en", 0.9469),  # V36
        ("Today SUX!", "en", -0.5461),  # V36
        ("Eu estou feliz", "pt", 0.6249),  # V37
        ("Eu estou feliz :)", "pt", 0.7964),  # V37
    ],
)
def test_published_vectors_survive_the_domain_patch(
    text: str, language: Language, compound: float
) -> None:
    result = analyzer().analyze(text)
    assert result.language == language
    assert result.compound == pytest.approx(compound, abs=5e-5)


# ------------------------------------------------------------------ the LeIA caveats, fixed


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("Eu não estou feliz", "negative"),  # stock LeIA: +0.44
        ("O atendimento não foi ruim", "positive"),  # stock LeIA: -0.70
        ("Péssimo", "negative"),  # stock LeIA: 0.0
        ("Demorou", "negative"),  # stock LeIA: 0.0
        ("O preço aumentou", "neutral"),  # stock LeIA: positive
    ],
)
def test_leia_negation_and_missing_words(text: str, label: Label) -> None:
    assert analyzer().analyze(text).label == label


# ------------------------------------------------------------------ labelled fixtures

LABELLED: Final[tuple[tuple[str, Language, Label], ...]] = (
    ("O atendimento não foi ruim", "pt", "positive"),
    ("Eu não estou feliz com o suporte", "pt", "negative"),
    ("pessimo atendimento, nao resolveram nada", "pt", "negative"),
    ("PÉSSIMO SERVIÇO!!!", "pt", "negative"),
    ("nao resolveu meu problema", "pt", "negative"),
    ("Não resolveu meu problema", "pt", "negative"),
    ("A entrega atrasou de novo", "pt", "negative"),
    ("Entrega rápida, chegou antes do prazo", "pt", "positive"),
    ("Produto chegou quebrado e com defeito", "pt", "negative"),
    ("Cobrança indevida na minha fatura", "pt", "negative"),
    ("Fui cobrado duas vezes este mês", "pt", "negative"),
    ("Demorou muito para responder", "pt", "negative"),
    ("Atendente muito atencioso, resolveu na hora", "pt", "positive"),
    ("Excelente atendimento", "pt", "positive"),
    ("Nunca mais compro com vocês", "pt", "negative"),
    ("O sistema não funciona desde ontem", "pt", "negative"),
    ("Nada a reclamar, tudo certo", "pt", "positive"),
    ("Sem dúvida o melhor fornecedor", "pt", "positive"),
    ("Fiquei sem resposta por uma semana", "pt", "negative"),
    ("Recebi a fatura hoje", "pt", "neutral"),
    ("Muito caro para o que oferece", "pt", "negative"),
    ("Interface intuitiva e fácil de usar", "pt", "positive"),
    ("Produto bom, mas muito caro", "pt", "negative"),
    ("Não gostei do atendimento", "pt", "negative"),
    ("Atendimento nota 10", "pt", "positive"),
    ("Vocês são ótimos, obrigado!", "pt", "positive"),
    ("Não recomendo", "pt", "negative"),
    ("Entregaram no prazo", "pt", "positive"),
    ("Poderia ser melhor", "pt", "negative"),
    ("Prazo de entrega não foi cumprido", "pt", "negative"),
    ("Nunca tive problemas com vocês", "pt", "positive"),
    ("The support was not bad", "en", "positive"),
    ("not bad at all", "en", "positive"),
    ("Billing charged me twice", "en", "negative"),
    ("Delivery was late again", "en", "negative"),
    ("Great product, fast delivery", "en", "positive"),
    ("The app doesn't work after the update", "en", "negative"),
    ("Terrible customer service, nobody answers", "en", "negative"),
    ("Support never replied to my ticket", "en", "negative"),
    ("Really happy with the onboarding", "en", "positive"),
    ("I received the invoice", "en", "neutral"),
    ("Too expensive and the interface is clunky", "en", "negative"),
    ("EXCELLENT SUPPORT, VERY HELPFUL", "en", "positive"),
    ("Good product but too expensive", "en", "negative"),
    ("Not happy with the response time", "en", "negative"),
    ("Waited two weeks for a refund", "en", "negative"),
    ("Easy to use and reliable", "en", "positive"),
    ("They didn't fix my problem", "en", "negative"),
    ("Worst support ever", "en", "negative"),
    ("Refund took 3 weeks", "en", "negative"),
    ("Nothing to complain about", "en", "positive"),
)
"""Short comments with the label a reader gives them, incl. negation and accent-less spellings."""


def test_labelled_fixtures_agree_at_least_90_percent() -> None:
    results = analyzer().analyze_many(text for text, _, _ in LABELLED)
    wrong = [
        f"{text!r}: expected {label}, got {result.label} ({result.compound:+.4f})"
        for (text, _, label), result in zip(LABELLED, results, strict=True)
        if result.label != label
    ]
    assert len(LABELLED) >= 30
    assert {language for _, language, _ in LABELLED} == {"pt", "en"}
    assert len(wrong) <= 0.1 * len(LABELLED), "\n".join(wrong)


def test_language_of_every_labelled_fixture() -> None:
    wrong = [
        f"{text!r}: expected {language}, got {result.language}"
        for (text, language, _), result in zip(
            LABELLED, analyzer().analyze_many(t for t, _, _ in LABELLED), strict=True
        )
        if result.language != language
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("Eu estou feliz", "pt"),
        ("nao gostei", "pt"),
        ("Péssimo", "pt"),
        ("The support was great", "en"),
        ("", "en"),
        ("ok", "en"),
    ],
)
def test_detect_language_without_vocabulary(text: str, language: Language) -> None:
    assert detect_language(text) == language


# ------------------------------------------------------------------ themes


@pytest.mark.parametrize(
    ("text", "theme"),
    [
        ("A entrega atrasou de novo", "delivery"),
        ("billing charged me twice", "billing"),
        ("Cobrança indevida no cartão", "billing"),
        ("O boleto veio errado", "billing"),
        ("Atendimento péssimo", "support"),
        ("atendimento pessimo", "support"),
        ("The support team was great", "support"),
        ("O tempo de resposta é muito alto", "response_time"),
        ("Slow replies every time", "response_time"),
        ("Preço muito alto", "price"),
        ("Way too expensive", "price"),
        ("Produto veio com defeito", "product_quality"),
        ("The app keeps crashing", "product_quality"),
        ("Muito fácil de usar", "ease_of_use"),
        ("The interface is clunky", "ease_of_use"),
        ("A implantação foi tranquila", "onboarding"),
        ("Our account manager is great", "account_team"),
        ("Shipping took forever", "delivery"),
    ],
)
def test_clear_themes_are_found(text: str, theme: str) -> None:
    assert theme in analyzer().analyze(text).themes


@pytest.mark.parametrize("text", ["Eu estou feliz", "VADER is smart, handsome, and funny.", ""])
def test_no_theme_where_none_is_named(text: str) -> None:
    assert analyzer().analyze(text).themes == ()


def test_themes_are_listed_once_in_catalogue_order() -> None:
    themes = analyzer().analyze("Entrega atrasada, entrega errada, e a cobrança também.").themes
    assert themes == ("delivery", "billing")
    assert all(key == key.lower() and " " not in key for key in THEMES)


# ------------------------------------------------------------------ synthetic comments

# Which of our themes the synthetic world's theme names; a fragment must mention one of them.
SYNTH_THEMES: Final[dict[str, set[str]]] = {
    "support": {"support", "response_time"},
    "price": {"price"},
    "onboarding": {"onboarding"},
    "bugs": {"product_quality"},
    "product": {"product_quality", "ease_of_use"},
    "team": {"account_team"},
}


def test_every_synthetic_fragment_gets_its_language_polarity_and_theme() -> None:
    wrong: list[str] = []
    total = 0
    for language, by_theme in FRAGMENTS.items():
        for theme, by_polarity in by_theme.items():
            for polarity, sentences in by_polarity.items():
                for sentence in sentences:
                    total += 1
                    result = analyzer().analyze(sentence)
                    if (
                        result.language != language
                        or result.label != polarity
                        or not SYNTH_THEMES[theme] & set(result.themes)
                    ):
                        wrong.append(f"{sentence!r} ({language}, {theme}, {polarity}): {result}")
    assert len(wrong) <= 0.1 * total, "\n".join(wrong)


# The generator's rule (crmpulse.synth.surveys): praise at or above, complaint at or below.
PRAISE_FROM: Final = {SurveyKind.NPS: 9, SurveyKind.CSAT: 4, SurveyKind.CES: 6}
COMPLAINT_UPTO: Final = {SurveyKind.NPS: 6, SurveyKind.CSAT: 2, SurveyKind.CES: 3}


@pytest.mark.parametrize("seed", [7, 8])
def test_recovers_the_polarity_of_generated_survey_comments(seed: int) -> None:
    world = generate(seed=seed, scale="small", as_of=datetime(2025, 6, 1, tzinfo=UTC))
    sample: list[tuple[str, Label]] = []
    for survey in world.surveys():
        if survey.comment is None:
            continue
        if survey.score >= PRAISE_FROM[survey.survey_kind]:
            sample.append((survey.comment, "positive"))
        elif survey.score <= COMPLAINT_UPTO[survey.survey_kind]:
            sample.append((survey.comment, "negative"))
    assert len(sample) >= 100
    results = analyzer().analyze_many(comment for comment, _ in sample)
    wrong = [
        f"{comment!r}: expected {expected}, got {result.label} ({result.compound:+.4f})"
        for (comment, expected), result in zip(sample, results, strict=True)
        if result.label != expected
    ]
    assert len(wrong) <= 0.1 * len(sample), "\n".join(wrong[:20])


# ------------------------------------------------------------------ summarize


def _analysis(compound: float, *themes: str) -> CommentAnalysis:
    return CommentAnalysis("en", compound, label_for(compound), themes)


def test_summarize_arithmetic() -> None:
    analyses = [
        _analysis(-0.5, "billing"),
        _analysis(-0.3, "billing", "support"),
        _analysis(0.6, "support"),
        _analysis(0.0),
        _analysis(0.2, "billing"),
    ]
    summary = summarize(analyses)
    assert summary.n == 5
    assert summary.mean_compound == pytest.approx(0.0)
    assert summary.share_negative == pytest.approx(2 / 5)
    assert summary.share_positive == pytest.approx(2 / 5)
    assert [theme.theme for theme in summary.themes] == ["billing", "support"]
    billing, support = summary.themes
    assert billing.mentions == 3
    assert billing.mean_compound == pytest.approx(-0.2)
    assert (billing.negative, billing.positive, billing.label) == (2, 1, "negative")
    assert billing.name == THEMES["billing"]
    assert support.mentions == 2
    assert support.mean_compound == pytest.approx(0.15)
    assert support.label == "positive"


def test_summarize_ties_follow_the_catalogue_and_empty_is_undefined() -> None:
    summary = summarize([_analysis(0.1, "billing"), _analysis(0.1, "support")])
    assert [theme.theme for theme in summary.themes] == ["support", "billing"]
    empty = summarize([])
    assert (empty.n, empty.mean_compound, empty.share_negative, empty.share_positive) == (
        0,
        None,
        None,
        None,
    )
    assert empty.themes == ()


analyses_strategy = st.lists(
    st.builds(
        _analysis,
        st.floats(min_value=-1, max_value=1, allow_nan=False),
        *[st.sampled_from(sorted(THEMES))] * 2,
    ),
    max_size=30,
)


@given(analyses_strategy, st.data())
def test_summarize_does_not_depend_on_order(
    analyses: list[CommentAnalysis], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(analyses))
    assert summarize(shuffled) == summarize(analyses)


# ------------------------------------------------------------------ determinism, cache, bounds

TEXTS: Final[Sequence[str]] = [text for text, _, _ in LABELLED]


def test_analyze_is_deterministic_and_order_independent() -> None:
    forward = analyzer().analyze_many(TEXTS)
    backward = FeedbackAnalyzer(cache_size=0).analyze_many(reversed(TEXTS))
    assert forward == list(reversed(backward))


def test_identical_texts_are_served_from_the_cache() -> None:
    fresh = FeedbackAnalyzer(cache_size=8)
    first = fresh.analyze("A entrega atrasou de novo")
    assert fresh.analyze("A entrega atrasou de novo") is first
    assert fresh.analyze("a entrega atrasou de novo") is not first


def test_negative_cache_size_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="cache_size"):
        FeedbackAnalyzer(cache_size=-1)


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_text_gets_a_bounded_score_and_a_consistent_label(text: str) -> None:
    result = analyzer().analyze(text)
    assert -1.0 <= result.compound <= 1.0
    assert result.label == label_for(result.compound)
    assert result.language in ("pt", "en")
    assert set(result.themes) <= set(THEMES)


@pytest.mark.parametrize(
    ("compound", "label"),
    [(0.05, "positive"), (0.0499, "neutral"), (-0.0499, "neutral"), (-0.05, "negative")],
)
def test_label_thresholds(compound: float, label: Label) -> None:
    assert label_for(compound) == label


# ------------------------------------------------------------------ the optional extra


def test_missing_extra_is_a_config_error_with_the_install_hint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "LeIA", None)  # what the import system sees when absent
    assert not available()
    with pytest.raises(ConfigError) as raised:
        FeedbackAnalyzer()
    assert raised.value.hint == "pip install 'crmpulse[text]'"
    assert "LeIA" in str(raised.value)


def test_importing_the_package_does_not_import_the_extra() -> None:
    code = (
        "import sys, crmpulse.kpis.feedback\n"
        "loaded = {'vaderSentiment', 'LeIA', 'simplemma'} & set(sys.modules)\n"
        "assert not loaded, loaded\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
