"""SOQL built from values, safely: every literal goes through one of these functions.

Ids are checked against Salesforce's id alphabet, strings are quoted with SOQL's escapes, names
(objects, fields) must be plain identifiers (with dotted relationship paths), and datetimes are
rendered as unquoted UTC literals.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?:\.[A-Za-z][A-Za-z0-9_]*)*$")
_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", '"': '\\"'}


def name(value: str) -> str:
    """An object or field name, refused unless it is a plain (dotted) identifier."""
    if not _NAME.match(value):
        raise ValueError(f"not a Salesforce API name: {value!r}")
    return value


def quote(value: str) -> str:
    """A string literal: ``'O\\'Brien'``."""
    return "'" + "".join(_ESCAPES.get(c, c) for c in value) + "'"


def record_id(value: str) -> str:
    """A quoted record id, refused unless it is a 15- or 18-character id."""
    if not _ID.match(value):
        raise ValueError(f"not a Salesforce id: {value!r}")
    return f"'{value}'"


def id_list(values: Iterable[str]) -> str:
    """``('001...','001...')`` for an ``IN`` clause."""
    return "(" + ",".join(record_id(v) for v in values) + ")"


def when(value: datetime) -> str:
    """A datetime literal in UTC, whole seconds (rounded down): ``2024-01-15T10:30:00Z``."""
    if value.tzinfo is None:
        raise ValueError("datetime literals need an aware datetime")
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def select(fields: Iterable[str], sobject: str, where: str | None = None, order: str = "") -> str:
    """``SELECT f1, f2 FROM Obj [WHERE ...] [ORDER BY ...]`` with checked names."""
    text = f"SELECT {', '.join(name(f) for f in fields)} FROM {name(sobject)}"
    if where:
        text += f" WHERE {where}"
    if order:
        text += f" ORDER BY {order}"
    return text
