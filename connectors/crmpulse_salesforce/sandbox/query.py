"""SOQL against an :class:`Org`, with records shaped as the REST API returns them.

Shared by the REST ``query`` routes and Bulk API 2.0 query jobs.
"""

from __future__ import annotations

import dataclasses
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from .org import Org
from .soql_eval import evaluate
from .soql_parse import FieldRef, Query, SoqlError, parse


def format_value(value: Any) -> Any:
    """Render a row value the way the REST API serializes it."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}+0000"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


class QueryRunner:
    """Runs one SOQL text against an org; shapes records as the REST API does."""

    def __init__(self, org: Org, version: str) -> None:
        self.org = org
        self.version = version

    def attributes(self, sobject: str, record_id: Any) -> dict[str, str]:
        attrs = {"type": sobject}
        if record_id is not None:
            attrs["url"] = f"/services/data/v{self.version}/sobjects/{sobject}/{record_id}"
        return attrs

    def run(self, text: str, *, include_deleted: bool) -> list[dict[str, Any]] | int:
        query = parse(text)
        org = self.org
        sobject = org.sobject_name(query.sobject)
        if sobject is None:
            raise SoqlError(
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
                "INVALID_TYPE",
            )
        if query.count:
            return evaluate(
                query,
                org.scan(sobject, include_deleted=include_deleted),
                fields=org.describes[sobject],
                resolve_parent=org.resolve_parent,
            )
        # Select the Ids needed for attributes.url too, then drop the ones not asked for.
        wanted = {tuple(p.lower() for p in ref.path) for ref in query.fields}
        extra: list[tuple[str, ...]] = []
        for ref in query.fields:
            for depth in range(len(ref.path)):
                path = (*ref.path[:depth], "Id")
                key = tuple(p.lower() for p in path)
                if key not in wanted:
                    wanted.add(key)
                    extra.append(path)
        augmented = dataclasses.replace(
            query, fields=query.fields + tuple(FieldRef(p) for p in extra)
        )
        rows = evaluate(
            augmented,
            org.scan(sobject, include_deleted=include_deleted),
            fields=org.describes[sobject],
            resolve_parent=org.resolve_parent,
        )
        assert isinstance(rows, list)
        return [self.shape(sobject, row, query) for row in rows]

    def shape(self, sobject: str, row: dict[str, Any], query: Query) -> dict[str, Any]:
        asked = {tuple(p.lower() for p in ref.path) for ref in query.fields}
        return self._shape(sobject, row, (), asked)

    def _shape(
        self,
        sobject: str,
        row: dict[str, Any],
        prefix: tuple[str, ...],
        asked: set[tuple[str, ...]],
    ) -> dict[str, Any]:
        record_id = row.get("Id")
        out: dict[str, Any] = {"attributes": self.attributes(sobject, record_id)}
        for key, value in row.items():
            path = (*prefix, key.lower())
            if isinstance(value, dict):
                parent_id = value.get("Id")
                parent_type = self.org.sobject_for_id(str(parent_id)) if parent_id else None
                out[key] = self._shape(parent_type or key, value, path, asked)
            elif value is None and any(
                a[: len(path)] == path and len(a) > len(path) for a in asked
            ):
                out[key] = None
            elif path in asked:
                out[key] = format_value(value)
        return out
