"""One survey comment in, its language, sentiment and themes out."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

from crmpulse.errors import ConfigError
from crmpulse.kpis.feedback.language import Vocabulary, detect_language
from crmpulse.kpis.feedback.sentiment import load_scorers
from crmpulse.kpis.feedback.text import Language
from crmpulse.kpis.feedback.themes import ThemeMatcher

Label = Literal["positive", "neutral", "negative"]

POSITIVE_FROM: Final = 0.05
"""Compound at or above this is positive (VADER's published threshold)."""
NEGATIVE_UPTO: Final = -0.05
"""Compound at or below this is negative."""


def label_for(compound: float) -> Label:
    """``positive`` if compound ≥ 0.05, ``negative`` if ≤ -0.05, else ``neutral``."""
    if compound >= POSITIVE_FROM:
        return "positive"
    if compound <= NEGATIVE_UPTO:
        return "negative"
    return "neutral"


@dataclass(frozen=True, slots=True)
class CommentAnalysis:
    """What one comment says: its language, VADER compound (-1..1), label and themes."""

    language: Language
    compound: float
    label: Label
    themes: tuple[str, ...]


class FeedbackAnalyzer:
    """Analyzes survey comments offline in Portuguese and English.

    Build it once: construction loads and patches both lexicons and compiles the theme
    dictionary. Results are cached per exact text (an LRU of ``cache_size`` entries) because
    survey comments repeat ("ok", "Ótimo atendimento"). Raises :class:`ConfigError` when the
    optional ``text`` extra is not installed.
    """

    def __init__(self, *, cache_size: int = 65_536) -> None:
        if cache_size < 0:
            raise ConfigError(
                f"FeedbackAnalyzer cache_size must be 0 or more, got {cache_size}",
                hint="pass cache_size=0 to turn the cache off",
            )
        self._scorers = load_scorers()
        simplemma = importlib.import_module("simplemma")

        def lemmatize(token: str, language: Language) -> str:
            return str(simplemma.lemmatize(token, lang=language))

        self._themes = ThemeMatcher(lemmatize)
        self._vocabulary = Vocabulary.from_words(
            pt=self._scorers["pt"].vocabulary | self._themes.vocabulary("pt"),
            en=self._scorers["en"].vocabulary | self._themes.vocabulary("en"),
        )
        self._cached = lru_cache(maxsize=cache_size)(self._analyze)

    def _analyze(self, text: str) -> CommentAnalysis:
        language = detect_language(text, self._vocabulary)
        compound = self._scorers[language].compound(text)
        return CommentAnalysis(
            language=language,
            compound=compound,
            label=label_for(compound),
            themes=self._themes.themes(text, language),
        )

    def analyze(self, text: str) -> CommentAnalysis:
        """Language, sentiment and themes of one comment (cached by exact text)."""
        return self._cached(text)

    def analyze_many(self, texts: Iterable[str]) -> list[CommentAnalysis]:
        """:meth:`analyze` for each text, in input order."""
        return [self._cached(text) for text in texts]
