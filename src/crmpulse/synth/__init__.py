"""A deterministic synthetic CRM world for the sandbox emulators, the demo, tests and benchmarks.

``generate(seed, scale, as_of)`` describes a world of accounts (SMB, Mid-Market, Enterprise) with
contacts, deals, tickets, activities and NPS / CSAT / CES answers over the 18 months before
``as_of``. Each account has a hidden health that drives its tickets, service times, survey scores,
comments and churn, so the KPIs computed from the world tell a recognisable story. Records are
generated lazily, account by account, and are identical for the same ``(seed, scale, as_of)``.
A :class:`Scenario` continues a world past ``as_of``, one ``advance(hours)`` at a time.
"""

from crmpulse.synth.scale import SCALES, ScaleSpec
from crmpulse.synth.scenario import Scenario
from crmpulse.synth.world import World, generate

__all__ = ["SCALES", "ScaleSpec", "Scenario", "World", "generate"]
