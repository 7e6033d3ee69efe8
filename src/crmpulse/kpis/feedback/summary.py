"""Roll analysed comments up into the figures a report shows."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from crmpulse.kpis.feedback.analyzer import CommentAnalysis, Label, label_for
from crmpulse.kpis.feedback.themes import THEMES


@dataclass(frozen=True, slots=True)
class ThemeSummary:
    """One theme across comments: how often it was named and how those comments felt.

    ``name`` is the theme's display label from :data:`THEMES`; ``negative`` and ``positive``
    count the mentioning comments by their own label.
    ``mean_compound`` is the mean compound of the comments naming the theme, and ``label`` its
    reading by the same ±0.05 thresholds ("billing: 12 mentions, mostly negative").
    """

    theme: str
    name: str
    mentions: int
    mean_compound: float
    negative: int
    positive: int

    @property
    def label(self) -> Label:
        """``positive`` / ``neutral`` / ``negative`` reading of :attr:`mean_compound`."""
        return label_for(self.mean_compound)


@dataclass(frozen=True, slots=True)
class FeedbackSummary:
    """Comments counted: n, mean compound, shares negative/positive, themes by mentions.

    Shares are ``count / n``; with no comments every mean and share is ``None`` (undefined).
    """

    n: int
    mean_compound: float | None
    share_negative: float | None
    share_positive: float | None
    themes: tuple[ThemeSummary, ...]


def summarize(analyses: Sequence[CommentAnalysis]) -> FeedbackSummary:
    """Aggregate analyses; themes ordered by mentions (desc), then in :data:`THEMES` order.

    Means use ``math.fsum`` so the result does not depend on the order of ``analyses``.
    """
    n = len(analyses)
    if n == 0:
        return FeedbackSummary(0, None, None, None, ())
    totals: dict[str, list[float]] = {}
    for analysis in analyses:
        for theme in analysis.themes:
            totals.setdefault(theme, []).append(analysis.compound)
    order = {theme: index for index, theme in enumerate(THEMES)}

    def rank(item: tuple[str, list[float]]) -> tuple[int, int, str]:
        return (-len(item[1]), order.get(item[0], len(order)), item[0])

    themes = tuple(
        ThemeSummary(
            theme=theme,
            name=THEMES.get(theme, theme),
            mentions=len(scores),
            mean_compound=math.fsum(scores) / len(scores),
            negative=sum(label_for(score) == "negative" for score in scores),
            positive=sum(label_for(score) == "positive" for score in scores),
        )
        for theme, scores in sorted(totals.items(), key=rank)
    )
    negatives = sum(analysis.label == "negative" for analysis in analyses)
    positives = sum(analysis.label == "positive" for analysis in analyses)
    return FeedbackSummary(
        n=n,
        mean_compound=math.fsum(analysis.compound for analysis in analyses) / n,
        share_negative=negatives / n,
        share_positive=positives / n,
        themes=themes,
    )
