"""Salesforce's error shapes: top-level ``[{"message", "errorCode", "fields"?}]`` bodies and the
per-record ``{"statusCode", "message", "fields"}`` entries of DML results."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


class ApiError(Exception):
    """An error rendered as Salesforce's ``[{"message", "errorCode"}]`` body."""

    def __init__(
        self, status: int, code: str, message: str, fields: Sequence[str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = None if fields is None else list(fields)

    def body(self) -> list[dict[str, Any]]:
        """The JSON array body."""
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]


class RecordError(Exception):
    """A DML failure of one record (a row of a collection, or a single-record call)."""

    def __init__(self, code: str, message: str, fields: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.fields = list(fields)

    def to_json(self) -> dict[str, Any]:
        """The entry in a result's ``errors`` list."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields}

    def as_api(self, status: int = 400) -> ApiError:
        """The same failure as a single-record call reports it."""
        return ApiError(status, self.code, self.message, self.fields)


def not_found() -> ApiError:
    """404 for an unknown record or resource."""
    return ApiError(404, "NOT_FOUND", "The requested resource does not exist")


def invalid_type(name: str) -> ApiError:
    """404 for an unknown sObject type in a REST path."""
    return ApiError(404, "NOT_FOUND", f"The requested resource does not exist: {name}")


def no_such_column(field: str, sobject: str) -> ApiError:
    """400 INVALID_FIELD for a field a write names that does not exist (or is not visible)."""
    return ApiError(400, "INVALID_FIELD", f"No such column '{field}' on sobject of type {sobject}")


def json_parser_error(message: str) -> ApiError:
    """400 JSON_PARSER_ERROR for a body that is not JSON or does not fit the field types."""
    return ApiError(400, "JSON_PARSER_ERROR", message)
