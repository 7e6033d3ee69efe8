"""Evaluate a parsed SOQL :class:`~.soql_parse.Query` over in-memory rows.

Semantics (matching Salesforce where it matters to clients):

* field names are case-insensitive; with a describe (``fields``) unknown names raise
  ``INVALID_FIELD`` and literals must match the field's type;
* text ``=``/``!=``/``<``/``>``/``IN``/``LIKE`` and text ordering are case-insensitive;
* logic is two-valued: ``x != v`` and ``x NOT IN (...)`` are true when ``x`` is null, ``x = v``,
  ``<``, ``>``, ``IN`` and ``LIKE`` are false; ``= null``/``!= null`` test for null;
* numbers compare by their decimal value (a stored float ``99.99`` equals the literal ``99.99``);
  an id matches its 15-character (case-sensitive) form as well as its 18-character one;
* relationship paths come back under the relationship's canonical name whatever the query's case;
* ORDER BY puts nulls first for ASC and last for DESC unless NULLS FIRST/LAST is given; ties keep
  input order;
* ``COUNT()`` returns the number of matches after OFFSET and LIMIT (as ``totalSize`` does).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from .org import case_safe_id
from .soql_parse import (
    And,
    Comparison,
    Condition,
    FieldRef,
    InList,
    Literal,
    Not,
    Or,
    Query,
    SoqlError,
)

ParentResolver = Callable[[str, str], Mapping[str, Any] | None]

TEXT_TYPES = frozenset(
    {"id", "string", "picklist", "multipicklist", "combobox", "textarea", "email", "phone",
     "url", "reference", "encryptedstring"}
)  # fmt: skip
NUMBER_TYPES = frozenset({"double", "currency", "int", "percent", "long"})
_EXPECTED_KIND = {"boolean": "boolean", "date": "date", "datetime": "datetime"}


def _relationship_id_field(relationship: str) -> str:
    """``Account`` -> ``AccountId``; ``Parent__r`` -> ``Parent__c``."""
    if relationship.lower().endswith("__r"):
        return relationship[:-3] + "__c"
    return relationship + "Id"


def _get(row: Mapping[str, Any], name: str) -> Any:
    """Case-insensitive field lookup; missing fields read as null."""
    if name in row:
        return row[name]
    low = name.lower()
    for key, value in row.items():
        if key.lower() == low:
            return value
    return None


def _canonical_key(row: Mapping[str, Any], name: str) -> str:
    low = name.lower()
    return next((k for k in row if k.lower() == low), name)


class _Evaluator:
    def __init__(
        self,
        query: Query,
        fields: Mapping[str, str] | None,
        resolve_parent: ParentResolver | None,
    ) -> None:
        self.query = query
        self.types = {k.lower(): v.lower() for k, v in fields.items()} if fields else None
        self.names = {k.lower(): k for k in fields} if fields else {}
        self.resolve_parent = resolve_parent
        self._in_sets: dict[int, frozenset[str] | None] = {}

    # -- validation ---------------------------------------------------------------------------
    def invalid(self, ref: FieldRef) -> SoqlError:
        if len(ref.path) > 1:
            return SoqlError(
                f"Didn't understand relationship '{ref.path[0]}' in field path. If you are "
                "attempting to use a custom relationship, be sure to append the '__r' after the "
                "custom relationship name. Please reference your WSDL or the describe call for "
                "the appropriate names.",
                "INVALID_FIELD",
            )
        return SoqlError(
            f"No such column '{ref.name}' on entity '{self.query.sobject}'. If you are attempting "
            "to use a custom field, be sure to append the '__c' after the custom field name. "
            "Please reference your WSDL or the describe call for the appropriate names.",
            "INVALID_FIELD",
        )

    def check_field(self, ref: FieldRef) -> None:
        if self.types is None:
            return
        key = ref.path[0] if len(ref.path) == 1 else _relationship_id_field(ref.path[0])
        if key.lower() not in self.types:
            raise self.invalid(ref)
        if len(ref.path) > 1 and self.types[key.lower()] != "reference":
            raise self.invalid(ref)

    def field_type(self, ref: FieldRef) -> str | None:
        if self.types is None or len(ref.path) > 1:
            return None
        return self.types.get(ref.path[0].lower())

    def check_literal(self, ref: FieldRef, lit: Literal) -> None:
        ftype = self.field_type(ref)
        if ftype is None or lit.kind == "null":
            return
        if ftype in TEXT_TYPES:
            ok, expected, quoted = lit.kind == "string", "string", True
        elif ftype in NUMBER_TYPES:
            ok, expected, quoted = lit.kind == "number", ftype, False
        elif ftype in _EXPECTED_KIND:
            ok, expected, quoted = lit.kind == _EXPECTED_KIND[ftype], ftype, False
            expected = "dateTime" if ftype == "datetime" else expected
        else:
            return
        if not ok:
            how = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
            raise SoqlError(
                f"value of filter criterion for field '{ref.name}' must be of type {expected} "
                f"and {how}",
                "INVALID_FIELD",
            )

    def validate(self, cond: Condition | None) -> None:
        if cond is None:
            return
        if isinstance(cond, (And, Or)):
            for item in cond.items:
                self.validate(item)
        elif isinstance(cond, Not):
            self.validate(cond.operand)
        else:
            self.check_field(cond.field)
            if isinstance(cond, Comparison):
                self.check_literal(cond.field, cond.value)
            elif isinstance(cond, InList):
                for lit in cond.values:
                    self.check_literal(cond.field, lit)
            else:
                ftype = self.field_type(cond.field)
                if ftype is not None and ftype not in TEXT_TYPES:
                    raise SoqlError(
                        f"invalid operator on field '{cond.field.name}'", "INVALID_FIELD"
                    )

    # -- values -------------------------------------------------------------------------------
    def parent(self, row: Mapping[str, Any], relationship: str) -> Mapping[str, Any] | None:
        parent_id = _get(row, _relationship_id_field(relationship))
        if parent_id is None or self.resolve_parent is None:
            return None
        canonical = self.relationship_key(row, relationship, top=False)
        return self.resolve_parent(canonical, str(parent_id))

    def relationship_key(self, row: Mapping[str, Any], rel: str, *, top: bool) -> str:
        """The relationship's canonical spelling, from its id field (``account`` -> ``Account``),
        so that differently cased paths land in one nested record, as Salesforce returns it."""
        id_field = _relationship_id_field(rel)
        if top and id_field.lower() in self.names:
            canonical = self.names[id_field.lower()]
        else:
            canonical = _canonical_key(row, id_field)
        if canonical.lower().endswith("__c"):
            return canonical[:-3] + "__r"
        return canonical[:-2]

    def value(self, row: Mapping[str, Any], ref: FieldRef) -> Any:
        current: Mapping[str, Any] | None = row
        for rel in ref.path[:-1]:
            current = self.parent(current, rel) if current is not None else None
        return None if current is None else _get(current, ref.path[-1])

    def test(self, cond: Condition, row: Mapping[str, Any]) -> bool:
        if isinstance(cond, And):
            return all(self.test(c, row) for c in cond.items)
        if isinstance(cond, Or):
            return any(self.test(c, row) for c in cond.items)
        if isinstance(cond, Not):
            return not self.test(cond.operand, row)
        value = self.value(row, cond.field)
        if isinstance(cond, Comparison):
            return _compare(value, cond.op, cond.value.value)
        if isinstance(cond, InList):
            hit = self._in(cond, value)
            return not hit if cond.negated else hit
        return isinstance(value, str) and _like_regex(cond.pattern.raw).fullmatch(value) is not None

    def _in(self, cond: InList, value: Any) -> bool:
        # Long id lists make IN the hot path: a set of lower-cased string literals rules most
        # rows out at once. Any match implies equal lower-cased text (15-character ids aside,
        # which take the exact path), so only candidates go through the full comparison.
        key = id(cond)
        if key not in self._in_sets:
            texts = [lit.value for lit in cond.values]
            strings = [t for t in texts if isinstance(t, str) and len(t) != 15]
            exact = len(strings) == len(texts)
            self._in_sets[key] = frozenset(t.lower() for t in strings) if exact else None
        lowered = self._in_sets[key]
        if lowered is not None and isinstance(value, str) and value.lower() not in lowered:
            return False
        return any(_compare(value, "=", lit.value) for lit in cond.values)

    # -- output -------------------------------------------------------------------------------
    def project(self, row: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for ref in self.query.fields:
            if len(ref.path) == 1:
                key = self.names.get(ref.path[0].lower()) or _canonical_key(row, ref.path[0])
                out[key] = _get(row, ref.path[0])
                continue
            target: dict[str, Any] = out
            current: Mapping[str, Any] | None = row
            for depth, rel in enumerate(ref.path[:-1]):
                assert current is not None
                key = self.relationship_key(current, rel, top=depth == 0)
                if key in target and target[key] is None:
                    break
                current = self.parent(current, rel)
                if current is None:
                    target[key] = None
                    break
                nested = target.get(key)
                if not isinstance(nested, dict):
                    nested = target[key] = {}
                target = nested
            else:
                if current is not None:
                    target[_canonical_key(current, ref.path[-1])] = _get(current, ref.path[-1])
        return out


def _comparable(value: Any, literal: Any) -> tuple[Any, Any] | None:
    """Normalise two values for comparison, or None when their types do not compare."""
    if isinstance(value, bool) or isinstance(literal, bool):
        return (value, literal) if isinstance(value, bool) and isinstance(literal, bool) else None
    if isinstance(value, (int, float, Decimal)) and isinstance(literal, (int, float, Decimal)):
        return _decimal(value), _decimal(literal)
    if isinstance(value, str) and isinstance(literal, str):
        return value.lower(), literal.lower()
    if isinstance(value, datetime) and isinstance(literal, datetime):
        return _aware(value), _aware(literal)
    if isinstance(value, date) and isinstance(literal, date):
        if isinstance(value, datetime) or isinstance(literal, datetime):
            return None
        return value, literal
    return None


def _same_id(value: Any, literal: Any) -> bool:
    """Whether ``literal`` is the 15-character (case-sensitive) form of the 18-character id
    ``value``: SOQL accepts either form of an id."""
    return (
        isinstance(value, str)
        and isinstance(literal, str)
        and len(literal) == 15
        and len(value) == 18
        and value[:15] == literal
        and literal.isalnum()
        and case_safe_id(literal) == value
    )


def _decimal(number: int | float | Decimal) -> Decimal:
    """A number as the decimal it was written as: a stored float ``99.99`` equals the literal
    ``99.99`` (comparing the binary float with the exact decimal would say they differ)."""
    return Decimal(repr(number)) if isinstance(number, float) else Decimal(number)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _compare(value: Any, op: str, literal: Any) -> bool:
    if literal is None:
        return (value is None) == (op == "=") if op in ("=", "!=") else False
    if value is None:
        return op == "!="
    if op in ("=", "!=") and _same_id(value, literal):
        return op == "="
    pair = _comparable(value, literal)
    if pair is None:
        return op == "!="
    a, b = pair
    if op == "=":
        return bool(a == b)
    if op == "!=":
        return bool(a != b)
    if isinstance(a, bool):
        return False
    return bool({"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op])


@functools.lru_cache(maxsize=512)
def _like_regex(raw: str) -> re.Pattern[str]:
    """Compile a LIKE pattern from its escaped source text (``\\%``/``\\_`` are literal)."""
    escapes = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b",
               "f": "\f", "%": "%", "_": "_"}  # fmt: skip
    parts: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i + 1 < len(raw):
            parts.append(re.escape(escapes.get(raw[i + 1], raw[i + 1])))
            i += 2
            continue
        parts.append(".*" if ch == "%" else "." if ch == "_" else re.escape(ch))
        i += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _sort_key_value(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _order_cmp(keys: list[tuple[Any, ...]], query: Query) -> Callable[[int, int], int]:
    def cmp(i: int, j: int) -> int:
        for item, a, b in zip(query.order_by, keys[i], keys[j], strict=True):
            if a is None and b is None:
                continue
            if a is None or b is None:
                first = item.effective_nulls_first
                return (-1 if first else 1) if a is None else (1 if first else -1)
            pair = _comparable(a, b)
            if pair is None:
                pair = (type(a).__name__, type(b).__name__)
            x, y = pair
            if x == y:
                continue
            result = -1 if x < y else 1
            return -result if item.descending else result
        return 0

    return cmp


def evaluate(
    query: Query,
    rows: Iterable[Mapping[str, Any]],
    *,
    fields: Mapping[str, str] | None = None,
    resolve_parent: ParentResolver | None = None,
) -> list[dict[str, Any]] | int:
    """Run ``query`` over ``rows``: filter, order, offset, limit and project.

    ``fields`` (field name -> Salesforce type) enables INVALID_FIELD checks and literal type
    checks; ``resolve_parent(relationship, id)`` returns the parent row for dotted paths (the id
    comes from ``<Relationship>Id`` or ``<name>__c`` for ``<name>__r``). Returns the projected rows,
    or an int for ``COUNT()`` queries.
    """
    ev = _Evaluator(query, fields, resolve_parent)
    for ref in query.fields:
        ev.check_field(ref)
    for item in query.order_by:
        ev.check_field(item.field)
    ev.validate(query.where)

    matched = [r for r in rows if query.where is None or ev.test(query.where, r)]
    if query.order_by:
        keys = [
            tuple(_sort_key_value(ev.value(r, item.field)) for item in query.order_by)
            for r in matched
        ]
        order = sorted(range(len(matched)), key=functools.cmp_to_key(_order_cmp(keys, query)))
        matched = [matched[i] for i in order]
    start = query.offset or 0
    stop = None if query.limit is None else start + query.limit
    selected = matched[start:stop]
    if query.count:
        return len(selected)
    return [ev.project(r) for r in selected]
