"""Vectorized KPI families: each turns a :class:`~crmpulse.kpis.measures.base.Context` into columns.

One module per family (surveys, service, retention, revenue, engagement, prediction, feedback).
The formulas they vectorize are stated in the catalogue and, for the published ones, in the pure
functions next to them (:mod:`crmpulse.kpis.surveys`, :mod:`crmpulse.kpis.service_time`,
:mod:`crmpulse.kpis.retention`, :mod:`crmpulse.kpis.revenue`); tests keep the two in step.
"""
