"""Feedback-text KPIs: sentiment of survey comments and their recurring themes (optional extra).

Each comment of the window is analysed once (:class:`crmpulse.kpis.feedback.FeedbackAnalyzer`:
Portuguese or English, lexicon-based, offline). ``sentiment_score`` = 100 * mean compound
polarity (-100..100); ``negative_feedback_share`` = comments labelled negative / comments. Themes
are counted per account and for the portfolio (:func:`themes_of`).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from crmpulse.kpis.groups import ratio, slot_means, sums
from crmpulse.kpis.measures.base import Column, Context


def _analyses(ctx: Context, analyzer: Any) -> tuple[np.ndarray, list[Any]]:
    s = ctx.frame.surveys
    candidates = np.flatnonzero(ctx.within(s.answered))
    texts = [] if s.comments is None else s.comments.take(candidates)
    kept = [i for i, text in enumerate(texts) if (text or "").strip()]
    index = candidates[np.array(kept, np.int64)]
    return index, analyzer.analyze_many([texts[i] for i in kept])


def feedback_columns(ctx: Context, analyzer: Any) -> list[Column]:
    """``sentiment_score`` and ``negative_feedback_share`` for every slot with comments."""
    s = ctx.frame.surveys
    size = ctx.slots.size
    index, analyses = _analyses(ctx, analyzer)
    ctx.cache[("feedback", ctx.label)] = (index, analyses)
    mask = np.zeros(len(s.kind), np.bool_)
    mask[index] = True
    # ``index`` ascends, so the i-th analysis is the i-th answer the mask selects
    compound = np.array([analysis.compound for analysis in analyses], np.float64)
    negative = np.array([analysis.label == "negative" for analysis in analyses], np.float64)
    pairs = ctx.slots.pairs(s.account, s.contact, mask=mask, local=True, levels=ctx.at())
    mean, n = slot_means(pairs, compound, size)
    sentiment = 100 * mean
    share = ratio(sums(pairs, negative, size), n)
    return [
        Column.of("sentiment_score", sentiment, n),
        Column.of("negative_feedback_share", share, n),
    ]


def themes_of(ctx: Context, top: int = 5) -> dict[str, list[tuple[str, int, float]]]:
    """Top themes (theme, mentions, mean compound) for the portfolio (key ``""``) and accounts."""
    cached = ctx.cache.get(("feedback", ctx.label))
    if cached is None:
        return {}
    index, analyses = cached
    account = ctx.frame.surveys.account
    mentions: dict[str, Counter[str]] = {}
    polarity: dict[tuple[str, str], float] = {}
    for i, analysis in zip(index, analyses, strict=True):
        owners = [""]
        if account[i] >= 0:
            owners.append(ctx.frame.account_ids[account[i]])
        for owner in owners:
            for theme in analysis.themes:
                mentions.setdefault(owner, Counter())[theme] += 1
                polarity[owner, theme] = polarity.get((owner, theme), 0.0) + analysis.compound
    return {
        owner: [
            (theme, count, polarity[owner, theme] / count)
            for theme, count in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
        ]
        for owner, counter in mentions.items()
    }
