"""Engagement score per active customer over a window.

Each activity of the window earns points by kind (``engagement_weights``, default email 1, call 3,
meeting 5, note 0.5, task 0.5), times ``inbound_factor`` (1.5) when the customer reached out. An
account's score = 100 * min(1, points / target), target = ``engagement_target`` points per 30 days
scaled to the window's length — so 100 means "at least the engagement we aim for", 0 "none".
It is defined for accounts that are active customers at the end of the window (with or without
activities); segment and portfolio values are the mean over their active customers, so a silent
customer pulls the mean down instead of disappearing from it.
"""

from __future__ import annotations

import numpy as np

from crmpulse.kpis.frame import ACTIVITY_KINDS, Floats
from crmpulse.kpis.groups import order_by, slot_means
from crmpulse.kpis.measures.base import Column, Context
from crmpulse.kpis.measures.retention import active_at
from crmpulse.kpis.values import Level


def engagement_columns(ctx: Context) -> list[Column]:
    """``engagement_score`` for active customers, their segments and the portfolio."""
    f = ctx.frame
    a = f.activities
    levels: tuple[Level, ...] = ("portfolio", "segment", "account")
    size = ctx.slots.end_of(levels)
    weights = np.array([ctx.config.engagement_weights.get(k, 0.0) for k in ACTIVITY_KINDS])
    points = weights[a.kind] if len(a.kind) else np.empty(0)
    points = np.where(a.inbound, points * ctx.config.inbound_factor, points)
    counted = ctx.within(a.occurred) & (a.account >= 0)
    account_points: Floats = np.zeros(f.n_accounts)
    if counted.any():
        account, earned = a.account[counted], points[counted]
        order = order_by(account, earned)
        account_points = np.bincount(
            account[order], weights=earned[order], minlength=f.n_accounts
        ).astype(np.float64)
    target = ctx.config.engagement_target * ctx.days / 30.0
    score = 100 * np.minimum(1.0, account_points / target)
    active = active_at(ctx, ctx.end)
    pairs = ctx.slots.account_pairs(active, levels=levels)
    value, n = slot_means(pairs, score, size)
    return [Column.of("engagement_score", value, n)]
