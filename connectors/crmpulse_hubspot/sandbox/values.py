"""HubSpot value formats: every property value travels as a string.

Datetimes are ISO-8601 with milliseconds and ``Z``; writes and search filters also accept epoch
milliseconds. Numbers are decimal strings, booleans ``"true"``/``"false"``.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iso(value: datetime) -> str:
    """``2024-01-17T19:55:04.281Z``."""
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(value: datetime) -> int:
    """Milliseconds since the epoch."""
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_epoch_ms(ms: int) -> datetime:
    """The UTC datetime of an epoch-ms value."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def parse_instant_ms(value: str) -> int | None:
    """Epoch ms of an epoch-ms string, an ISO datetime or an ISO date; None if unparseable."""
    text = value.strip()
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        if len(text) == 10:
            d = date.fromisoformat(text)
            return epoch_ms(datetime(d.year, d.month, d.day, tzinfo=UTC))
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return epoch_ms(parsed)


def parse_number(value: str) -> float | None:
    """The float of a numeric string; None if not a finite number."""
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def number(value: float | int | Decimal) -> str:
    """A number as HubSpot renders it: integers without ``.0``."""
    if isinstance(value, Decimal):
        try:
            text = format(value.normalize(), "f")
        except InvalidOperation:  # pragma: no cover - NaN/inf never reach here
            return str(value)
        return text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def boolean(value: bool) -> str:
    """``"true"`` / ``"false"``."""
    return "true" if value else "false"


def parse_bool(value: str | None) -> bool:
    """Query-string booleans, case-insensitive (the SDK sends ``True``/``False``)."""
    return value is not None and value.strip().lower() == "true"
