"""Call counting per (method, route, status) for benchmarks and quota tests."""

from __future__ import annotations

from crmpulse.httpserver import RouteStats as CallStats

__all__ = ["CallStats"]
