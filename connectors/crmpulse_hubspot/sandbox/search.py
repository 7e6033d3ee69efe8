"""CRM search: request validation, filter evaluation and ordering.

Semantics follow HubSpot's documented behaviour: filter groups are ORed, the filters of a group
ANDed; datetimes compare as epoch ms (filter values may be epoch-ms strings or ISO), numbers
numerically, strings case-insensitively, enumerations exactly; one sort at most; results in
creation (id) order by default; 10,000 results reachable per query.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from . import errors
from .values import parse_instant_ms, parse_number

if TYPE_CHECKING:
    from .portal import Portal, StoredObject

MAX_LIMIT = 200
MAX_RESULTS = 10_000
MAX_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_BODY_CHARS = 3_000
OPERATORS = frozenset(
    {
        "EQ",
        "NEQ",
        "LT",
        "LTE",
        "GT",
        "GTE",
        "BETWEEN",
        "IN",
        "NOT_IN",
        "HAS_PROPERTY",
        "NOT_HAS_PROPERTY",
        "CONTAINS_TOKEN",
        "NOT_CONTAINS_TOKEN",
    }
)
# Operators that match objects lacking a value. [UNVERIFIED for NEQ / NOT_IN]
_MATCH_MISSING = frozenset({"NEQ", "NOT_IN", "NOT_HAS_PROPERTY", "NOT_CONTAINS_TOKEN"})
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)

Predicate = Callable[["StoredObject"], bool]


@dataclass(frozen=True)
class SearchQuery:
    """A validated ``PublicObjectSearchRequest``."""

    groups: tuple[tuple[dict[str, Any], ...], ...]
    sort: tuple[str, bool] | None
    """(property, descending)."""
    query: str | None
    properties: tuple[str, ...] | None
    limit: int
    after: int
    cache_key: str
    uses_associations: bool


def parse(body: Any, raw_length: int) -> SearchQuery:
    """Validate a search body; 400 VALIDATION_ERROR for anything HubSpot rejects."""
    if raw_length > MAX_BODY_CHARS:
        raise errors.validation(
            f"Search request body is {raw_length} characters; the maximum is {MAX_BODY_CHARS}."
        )
    if not isinstance(body, dict):
        raise errors.validation("Invalid input JSON: expected an object.")
    groups_in = body.get("filterGroups") or []
    if not isinstance(groups_in, list):
        raise errors.validation("filterGroups must be a list.")
    if len(groups_in) > MAX_GROUPS:
        raise errors.validation(
            f"Too many filter groups ({len(groups_in)}); the maximum is {MAX_GROUPS}."
        )
    groups: list[tuple[dict[str, Any], ...]] = []
    total = 0
    for group in groups_in:
        filters = (group.get("filters") or []) if isinstance(group, dict) else None
        if not isinstance(filters, list):
            raise errors.validation("Each filter group needs a list of filters.")
        if len(filters) > MAX_FILTERS_PER_GROUP:
            raise errors.validation(
                f"Too many filters in a group ({len(filters)}); the maximum is "
                f"{MAX_FILTERS_PER_GROUP}."
            )
        total += len(filters)
        groups.append(tuple(_check_filter(f) for f in filters))
    if total > MAX_FILTERS:
        raise errors.validation(f"Too many filters ({total}); the maximum is {MAX_FILTERS}.")

    sorts = body.get("sorts") or []
    if not isinstance(sorts, list):
        raise errors.validation("sorts must be a list.")
    if len(sorts) > 1:
        raise errors.validation("Only one sort is supported.")
    sort = _check_sort(sorts[0]) if sorts else None

    limit = _int(body.get("limit", 10), "limit", 10)
    if not 1 <= limit <= MAX_LIMIT:
        raise errors.validation(f"limit must be between 1 and {MAX_LIMIT}; got {limit}.")
    after = _int(body.get("after", 0), "after", 0)
    if after < 0:
        raise errors.validation("after must be a non-negative integer.")
    if after >= MAX_RESULTS:
        raise errors.validation(
            f"Paging beyond {MAX_RESULTS} results is not supported: after={after}."
        )
    props = body.get("properties")
    query = body.get("query") or None
    key = json.dumps([groups, sort, query], sort_keys=True, default=str)
    return SearchQuery(
        groups=tuple(groups),
        sort=sort,
        query=str(query) if query else None,
        properties=tuple(str(p) for p in props) if isinstance(props, list) and props else None,
        limit=limit,
        after=after,
        cache_key=key,
        uses_associations=any(
            f["propertyName"].startswith("associations.") for g in groups for f in g
        ),
    )


def _int(value: Any, name: str, default: int) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise errors.validation(f"{name} must be an integer.")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise errors.validation(f"{name} must be an integer; got {value!r}.") from None


def _check_filter(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not raw.get("propertyName"):
        raise errors.validation("Each filter needs a propertyName.")
    op = str(raw.get("operator") or "EQ").upper()
    if op not in OPERATORS:
        raise errors.validation(f"Unknown filter operator {op}.")
    out: dict[str, Any] = {"propertyName": str(raw["propertyName"]), "operator": op}
    if op in ("IN", "NOT_IN"):
        values = raw.get("values")
        if not isinstance(values, list) or not values:
            raise errors.validation(f"Operator {op} needs a non-empty values list.")
        out["values"] = [_text(v) for v in values]
    elif op not in ("HAS_PROPERTY", "NOT_HAS_PROPERTY"):
        if raw.get("value") is None:
            raise errors.validation(f"Operator {op} needs a value.")
        out["value"] = _text(raw["value"])
        if op == "BETWEEN":
            if raw.get("highValue") is None:
                raise errors.validation("Operator BETWEEN needs a highValue.")
            out["highValue"] = _text(raw["highValue"])
    return out


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _check_sort(raw: Any) -> tuple[str, bool]:
    # The SDK types sorts as list[str]; the API documents objects. Accept both forms.
    if isinstance(raw, str):
        return (raw[1:], True) if raw.startswith("-") else (raw, False)
    if isinstance(raw, dict) and raw.get("propertyName"):
        direction = str(raw.get("direction") or "ASCENDING").upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise errors.validation(f"Unknown sort direction {direction}.")
        return str(raw["propertyName"]), direction == "DESCENDING"
    raise errors.validation("A sort needs a propertyName.")


# --------------------------------------------------------------------- evaluation
def matching_ids(portal: Portal, object_type: str, query: SearchQuery) -> list[int]:
    """Ids of active objects matching the query, in result order."""
    props = portal.properties.names(object_type)
    group_preds = [
        [_compile(portal, object_type, props, f) for f in group] for group in query.groups
    ]
    text = _text_predicate(portal, object_type, query.query)
    table = portal.table(object_type)
    objs = [table.active[i] for i in table.ids(False)]
    if group_preds:
        objs = [o for o in objs if any(all(p(o) for p in g) for g in group_preds)]
    if text is not None:
        objs = [o for o in objs if text(o)]
    if query.sort is not None:
        name, descending = query.sort
        objs = _sorted(portal, object_type, props, objs, name=name, descending=descending)
    return [o.id for o in objs]


def _value_key(
    portal: Portal, object_type: str, ptype: str, name: str
) -> Callable[[StoredObject], Any]:
    """A function from object to comparable value (None when missing)."""
    otype = portal.table(object_type).otype
    if name == otype.modified_property:
        return lambda o: o.updated_ms
    if name == otype.created_property:
        return lambda o: o.created_ms
    if name == "hs_object_id":
        return lambda o: o.id

    def raw(o: StoredObject) -> str | None:
        value = o.props.get(name)
        return value if value else None

    if ptype in ("datetime", "date"):
        return lambda o: _opt(raw(o), parse_instant_ms)
    if ptype == "number":
        return lambda o: _opt(raw(o), parse_number)
    if ptype == "enumeration":
        return raw
    return lambda o: _opt(raw(o), str.lower)


def _opt(value: str | None, fn: Callable[[str], Any]) -> Any:
    return None if value is None else fn(value)


def _coerce(ptype: str, value: str) -> Any:
    if ptype in ("datetime", "date"):
        ms = parse_instant_ms(value)
        if ms is None:
            raise errors.validation(f"{value} is not a valid datetime (epoch ms or ISO-8601).")
        return ms
    if ptype == "number":
        number = parse_number(value)
        if number is None:
            raise errors.validation(f"{value} is not a valid number.")
        return number
    if ptype == "enumeration":
        return value
    if ptype == "bool":
        return value.lower()
    return value.lower()


def _compile(
    portal: Portal, object_type: str, props: Mapping[str, Any], f: dict[str, Any]
) -> Predicate:
    name, op = str(f["propertyName"]), str(f["operator"])
    if name.startswith("associations."):
        return _association_predicate(portal, object_type, name, op, f)
    prop = props.get(name)
    if prop is None:
        # [UNVERIFIED] HubSpot rejects filters on properties the object type does not define.
        raise errors.validation(f"Property {name} does not exist on {object_type}.")
    ptype: str = prop.type
    key = _value_key(portal, object_type, ptype, name)
    if op == "HAS_PROPERTY":
        return lambda o: key(o) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda o: key(o) is None
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        pattern = f["value"].lower()
        negate = op == "NOT_CONTAINS_TOKEN"

        def tokens(o: StoredObject) -> bool:
            value = o.props.get(name)
            if not value:
                return negate
            found = any(fnmatch.fnmatchcase(t, pattern) for t in _TOKEN.findall(value.lower()))
            return found != negate

        return tokens
    if op in ("IN", "NOT_IN"):
        wanted = {_coerce(ptype, v) for v in f["values"]}
        if op == "IN":
            return lambda o: bool((v := key(o)) is not None and v in wanted)
        return lambda o: bool((v := key(o)) is None or v not in wanted)
    low = _coerce(ptype, f["value"])
    compare: Callable[[Any], bool]
    if op == "EQ":
        compare = lambda v: v == low  # noqa: E731
    elif op == "NEQ":
        compare = lambda v: v != low  # noqa: E731
    elif op == "LT":
        compare = lambda v: v < low  # noqa: E731
    elif op == "LTE":
        compare = lambda v: v <= low  # noqa: E731
    elif op == "GT":
        compare = lambda v: v > low  # noqa: E731
    elif op == "GTE":
        compare = lambda v: v >= low  # noqa: E731
    else:  # BETWEEN, inclusive on both ends
        high = _coerce(ptype, f["highValue"])
        compare = lambda v: low <= v <= high  # noqa: E731
    missing = op in _MATCH_MISSING

    def predicate(o: StoredObject) -> bool:
        value = key(o)
        if value is None:
            return missing
        try:
            return bool(compare(value))
        except TypeError:
            return False

    return predicate


def _association_predicate(
    portal: Portal, object_type: str, name: str, op: str, f: dict[str, Any]
) -> Predicate:
    # Pseudo-property associations.{singular}: "objects associated with this id".
    target = portal.object_type(name.split(".", 1)[1]).name
    if op == "EQ":
        ids = {int(f["value"])} if f["value"].isdigit() else set()
    elif op == "IN":
        ids = {int(v) for v in f["values"] if v.isdigit()}
    else:
        raise errors.validation(f"Operator {op} is not supported on {name}.")
    store = portal.associations
    return lambda o: any(i in store.targets(object_type, o.id, target) for i in ids)


def _text_predicate(portal: Portal, object_type: str, query: str | None) -> Predicate | None:
    if not query:
        return None
    needle = query.lower()
    fields = portal.table(object_type).otype.searchable

    def match(o: StoredObject) -> bool:
        return any(needle in (o.props.get(f) or "").lower() for f in fields)

    return match


def _sorted(
    portal: Portal,
    object_type: str,
    props: Mapping[str, Any],
    objs: list[StoredObject],
    *,
    name: str,
    descending: bool,
) -> list[StoredObject]:
    prop = props.get(name)
    if prop is None:
        raise errors.validation(f"Cannot sort on {name}: the property does not exist.")
    key = _value_key(portal, object_type, prop.type, name)
    keyed = [(key(o), o) for o in objs]
    present = [(k, o) for k, o in keyed if k is not None]
    # Objects without a value come last in either direction. [UNVERIFIED]
    absent = [o for k, o in keyed if k is None]
    # Input is in id order and sort is stable, so ties stay in creation order.
    present.sort(key=lambda pair: pair[0], reverse=descending)
    return [o for _, o in present] + absent
