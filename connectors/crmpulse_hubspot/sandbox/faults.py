"""Fault injection: make the next N calls matching a path prefix fail in a chosen way."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import errors

_MESSAGES = {
    429: "You have reached your ten_secondly_rolling limit.",
    500: "internal error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


@dataclass
class Fault:
    """One armed fault."""

    path_prefix: str
    status: int
    remaining: int
    method: str | None = None
    delay_ms: int = 0
    retry_after: int | None = None
    body: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """JSON form for ``GET /_sandbox/faults``."""
        return {
            "path_prefix": self.path_prefix,
            "status": self.status,
            "count": self.remaining,
            "method": self.method,
            "delay_ms": self.delay_ms,
            "retry_after": self.retry_after,
            "body": self.body,
        }


class FaultInjector:
    """Armed faults, consumed first-match in arming order."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def arm(self, spec: dict[str, Any]) -> Fault:
        """Arm a fault from ``{"path_prefix", "status", "count"=1, "method"?, "delay_ms"?,
        "retry_after"?, "body"?}``; ``status`` 0 means "only delay, then serve normally"."""
        try:
            fault = Fault(
                path_prefix=str(spec.get("path_prefix") or spec.get("path") or "/"),
                status=int(spec["status"]),
                remaining=int(spec.get("count", 1)),
                method=str(spec["method"]).upper() if spec.get("method") else None,
                delay_ms=int(spec.get("delay_ms", 0)),
                retry_after=int(spec["retry_after"]) if spec.get("retry_after") else None,
                body=spec.get("body"),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise errors.validation(f"Invalid fault spec: {exc}") from None
        self.faults.append(fault)
        return fault

    def take(self, method: str, path: str) -> Fault | None:
        """The fault that applies to this call, consuming one use."""
        for fault in self.faults:
            if path.startswith(fault.path_prefix) and fault.method in (None, method):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def clear(self) -> None:
        """Disarm everything."""
        self.faults.clear()


def fault_error(fault: Fault) -> errors.ApiError:
    """The error response a fault produces."""
    headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else {}
    if fault.body is not None:
        return errors.ApiError(fault.status, fault.body, headers)
    if fault.status == 429:
        return errors.ApiError(
            429,
            {
                "status": "error",
                "message": _MESSAGES[429],
                "errorType": "RATE_LIMIT",
                "policyName": "TEN_SECONDLY_ROLLING",
                "requestId": errors.correlation_id(),
            },
            headers,
        )
    message = _MESSAGES.get(fault.status, "injected fault")
    return errors.ApiError(
        fault.status, {"status": "error", "message": message, "category": "INTERNAL_ERROR"}, headers
    )
