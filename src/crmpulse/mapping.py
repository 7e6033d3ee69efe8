"""What every connector's mappers share: typed readers over string properties, and turning a
payload that cannot be normalized into ``InvalidRecordError`` that names the stream and record.

Vendor APIs hand values over as strings (or null); a value that does not parse makes the record
invalid, never a silently wrong number.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from typing import TypeVar

from pydantic import ValidationError

from crmpulse.errors import InvalidRecordError

R = TypeVar("R")


class PropertyReader:
    """Typed readers over one payload's string values; errors name the property."""

    def __init__(self, values: Mapping[str, str | None]) -> None:
        self.values = values

    def text(self, name: str) -> str | None:
        """The value, ``None`` when absent or empty."""
        value = self.values.get(name)
        return value if value not in (None, "") else None

    def number(self, name: str) -> Decimal | None:
        """The value as a decimal number."""
        value = self.text(name)
        if value is None:
            return None
        try:
            return Decimal(value)
        except InvalidOperation:
            raise ValueError(f"{name}={value!r} is not a number") from None

    def flag(self, name: str) -> bool:
        """Whether the value is ``true`` (any case)."""
        return (self.text(name) or "").lower() == "true"


def normalized(build: Callable[[], R], *, stream: str, record_id: str | None) -> R:
    """Run a mapper, turning any parse or validation failure into ``InvalidRecordError``."""
    try:
        return build()
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'record'}: {e['msg']}" for e in exc.errors()
        )
        raise InvalidRecordError(problems, stream=stream, record_id=record_id) from None
    except ValueError as exc:
        raise InvalidRecordError(str(exc), stream=stream, record_id=record_id) from None
