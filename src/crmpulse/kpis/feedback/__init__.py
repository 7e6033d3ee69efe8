"""Sentiment and recurring themes of survey comments, in Portuguese and English, offline.

Pipeline per comment: guess the language (:mod:`.language`), score it with VADER (English) or
LeIA (Portuguese) after patching their lexicons with customer-service words (:mod:`.lexicon`,
:mod:`.sentiment`), label it by the ±0.05 compound thresholds, and find the themes of a small
curated dictionary on lemmatized, accent-folded words (:mod:`.themes`). :func:`summarize` rolls
the results up per theme.

The analyzers are the optional ``text`` extra (``pip install 'crmpulse[text]'``); this package
imports them only when a :class:`FeedbackAnalyzer` is built, so the core works without them.
"""

from crmpulse.kpis.feedback.analyzer import CommentAnalysis, FeedbackAnalyzer, Label, label_for
from crmpulse.kpis.feedback.language import detect_language
from crmpulse.kpis.feedback.sentiment import available
from crmpulse.kpis.feedback.summary import FeedbackSummary, ThemeSummary, summarize
from crmpulse.kpis.feedback.text import Language
from crmpulse.kpis.feedback.themes import THEMES

__all__ = [
    "THEMES",
    "CommentAnalysis",
    "FeedbackAnalyzer",
    "FeedbackSummary",
    "Label",
    "Language",
    "ThemeSummary",
    "available",
    "detect_language",
    "label_for",
    "summarize",
]
