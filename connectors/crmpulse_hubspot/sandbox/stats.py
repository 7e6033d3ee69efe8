"""Call counting per (method, route, status) for benchmarks and quota tests."""

from __future__ import annotations

from collections import Counter
from typing import Any


class CallStats:
    """Counts calls; routes are path templates with ids as ``{id}`` and object types kept."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str, int]] = Counter()

    def record(self, method: str, route: str, status: int) -> None:
        """Count one call."""
        self._counts[(method, route, status)] += 1

    @property
    def total(self) -> int:
        """All calls counted."""
        return sum(self._counts.values())

    def to_json(self) -> dict[str, Any]:
        """``{"total": n, "calls": [{"method", "route", "status", "count"}]}``."""
        calls = [
            {"method": m, "route": r, "status": s, "count": c}
            for (m, r, s), c in sorted(self._counts.items())
        ]
        return {"total": self.total, "calls": calls}

    def reset(self) -> None:
        """Forget all counts."""
        self._counts.clear()
