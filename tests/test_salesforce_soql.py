"""SOQL parser and evaluator of the Salesforce emulator: parsing, errors, and a property test
checking parse+evaluate against a reference predicate built from the same random WHERE tree."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmpulse_salesforce.sandbox import soql_eval as E
from crmpulse_salesforce.sandbox import soql_parse as P

parse, evaluate, SoqlError = P.parse, E.evaluate, P.SoqlError

SYNC = (
    "SELECT Id, Name, SystemModstamp FROM Account WHERE SystemModstamp > 2026-10-01T00:00:00Z "
    "OR (SystemModstamp = 2026-10-01T00:00:00Z AND Id > '001000000000001AAA') "
    "ORDER BY SystemModstamp, Id LIMIT 2000"
)
T0 = datetime(2026, 10, 1, tzinfo=UTC)


# -- parsing ---------------------------------------------------------------------------------
def test_parse_incremental_sync_shape() -> None:
    q = parse(SYNC)
    assert q.sobject == "Account"
    assert [f.name for f in q.fields] == ["Id", "Name", "SystemModstamp"]
    assert q.where == P.Or(
        (
            P.Comparison(P.FieldRef(("SystemModstamp",)), ">", P.Literal("datetime", T0)),
            P.And(
                (
                    P.Comparison(P.FieldRef(("SystemModstamp",)), "=", P.Literal("datetime", T0)),
                    P.Comparison(
                        P.FieldRef(("Id",)),
                        ">",
                        P.Literal("string", "001000000000001AAA", "001000000000001AAA"),
                    ),
                )
            ),
        )
    )
    assert [(o.field.name, o.descending, o.effective_nulls_first) for o in q.order_by] == [
        ("SystemModstamp", False, True),
        ("Id", False, True),
    ]
    assert (q.limit, q.offset, q.count) == (2000, None, False)


def test_parse_misc_shapes() -> None:
    q = parse(
        "select Name, Account.Name, Owner.Profile.Name from Contact where not Amount__c <= -1.5 "
        "and Stage in ('A', 'B') and Email not in ('x@y.z') and Name like 'Ac_e%' "
        "order by Account.Name desc nulls first, Name asc nulls last limit 10 offset 5"
    )
    assert [f.path for f in q.fields] == [
        ("Name",),
        ("Account", "Name"),
        ("Owner", "Profile", "Name"),
    ]
    assert isinstance(q.where, P.And)
    first, in_list, not_in, like = q.where.items
    assert first == P.Not(
        P.Comparison(P.FieldRef(("Amount__c",)), "<=", P.Literal("number", Decimal("-1.5")))
    )
    assert [v.value for v in in_list.values] == ["A", "B"]
    assert not in_list.negated
    assert not_in.negated
    assert like.pattern.value == "Ac_e%"
    assert [(o.descending, o.effective_nulls_first) for o in q.order_by] == [
        (True, True),
        (False, False),
    ]
    assert (q.limit, q.offset) == (10, 5)
    assert parse("SELECT COUNT() FROM Lead").count


@pytest.mark.parametrize(
    ("literal", "expected"),
    [
        ("2024-01-31", date(2024, 1, 31)),
        ("2024-01-31T10:00:00Z", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T10:00:00.000+0000", datetime(2024, 1, 31, 10, tzinfo=UTC)),
        ("2024-01-31T10:00:00-03:00", datetime(2024, 1, 31, 13, tzinfo=UTC)),
        ("42", 42),
        ("-7", -7),
        ("3.25", Decimal("3.25")),
        ("TRUE", True),
        ("false", False),
        ("NULL", None),
        (r"'it\'s \\ a\nline'", "it's \\ a\nline"),
    ],
)
def test_literals(literal: str, expected: Any) -> None:
    cond = parse(f"SELECT Id FROM X WHERE F = {literal}").where
    assert cond.value.value == expected


@pytest.mark.parametrize(
    ("soql", "token"),
    [
        ("SELECT Id FROMM Account", "Account"),
        ("SELECT Id, FROM Account", "FROM"),
        ("SELECT Id FROM Account WHERE", "<EOF>"),
        ("SELECT Id FROM Account WHERE Name = 'a' AND Id = 'b' OR Id = 'c'", "OR"),
        ("SELECT Id FROM Account WHERE Name == 'a'", "="),
        ("SELECT Id FROM Account LIMIT -1", "-1"),
        ("SELECT Id FROM Account ORDER Id", "Id"),
        ("SELECT Id FROM Account WHERE Name IN 'a'", "'a'"),
        ("SELECT Id FROM Account WHERE (Name = 'a'", "<EOF>"),
        ("SELECT Id FROM Account extra", "extra"),
        ("SELECT Id FROM Account WHERE Name = 'open", "unterminated"),
        ("SELECT Id FROM Account WHERE Name = 'a\\q'", "escape"),
        ("SELECT Id FROM Account WHERE Name ~ 'a'", "~"),
        ("SELECT Id, id FROM Account", "duplicate field selected: id"),
    ],
)
def test_malformed(soql: str, token: str) -> None:
    with pytest.raises(SoqlError) as info:
        parse(soql)
    assert info.value.code == "MALFORMED_QUERY"
    assert token in info.value.message
    assert "ERROR at Row:1:Column:" in info.value.message


def test_error_points_at_token() -> None:
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM Account\nWHERE Name = = 'x'")
    assert info.value.message.endswith("ERROR at Row:2:Column:14\nunexpected token: =")


def test_offset_cap() -> None:
    assert parse("SELECT Id FROM A OFFSET 2000").offset == 2000
    with pytest.raises(SoqlError) as info:
        parse("SELECT Id FROM A OFFSET 2001")
    assert info.value.code == "NUMBER_OUTSIDE_VALID_RANGE"


# -- evaluation ------------------------------------------------------------------------------
ACCOUNTS = {"001A": {"Id": "001A", "Name": "Acme", "OwnerId": "005U"}}
USERS = {"005U": {"Id": "005U", "Name": "Jo", "ProfileId": "00eP"}}
PROFILES = {"00eP": {"Id": "00eP", "Name": "Admin"}}
CONTACTS = [
    {"Id": "003a", "LastName": "Smith", "AccountId": "001A", "Score": 5, "Active": True},
    {"Id": "003b", "LastName": "smythe", "AccountId": None, "Score": None, "Active": False},
    {"Id": "003c", "LastName": None, "AccountId": "001Z", "Score": 2.5, "Active": None},
]
CONTACT_FIELDS = {
    "Id": "id",
    "LastName": "string",
    "AccountId": "reference",
    "Score": "double",
    "Active": "boolean",
    "Birthdate": "date",
    "SystemModstamp": "datetime",
}


def resolve(relationship: str, ident: str) -> dict[str, Any] | None:
    table = {"Account": ACCOUNTS, "Owner": USERS, "Profile": PROFILES}[relationship]
    return table.get(ident)


def run(soql: str, **kw: Any) -> Any:
    return evaluate(parse(soql), CONTACTS, fields=CONTACT_FIELDS, resolve_parent=resolve, **kw)


def test_parent_paths_nested_shape() -> None:
    rows = run("SELECT id, Account.Name, Account.Owner.Profile.Name FROM Contact ORDER BY Id")
    assert rows == [
        {"Id": "003a", "Account": {"Name": "Acme", "Owner": {"Profile": {"Name": "Admin"}}}},
        {"Id": "003b", "Account": None},
        {"Id": "003c", "Account": None},
    ]
    assert run("SELECT Id FROM Contact WHERE Account.Owner.Name = 'JO'") == [{"Id": "003a"}]


def test_null_semantics_and_case_insensitive_text() -> None:
    assert run("SELECT Id FROM Contact WHERE lastname = 'SMITH'") == [{"Id": "003a"}]
    assert run("SELECT Id FROM Contact WHERE LastName != 'smith'") == [
        {"Id": "003b"},
        {"Id": "003c"},
    ]
    assert run("SELECT Id FROM Contact WHERE LastName = null") == [{"Id": "003c"}]
    assert run("SELECT Id FROM Contact WHERE Score != null AND Score > 2") == [
        {"Id": "003a"},
        {"Id": "003c"},
    ]
    assert run("SELECT Id FROM Contact WHERE LastName LIKE 'sm_th%'") == [
        {"Id": "003a"},
        {"Id": "003b"},
    ]
    assert run("SELECT Id FROM Contact WHERE Active = false") == [{"Id": "003b"}]
    assert run("SELECT COUNT() FROM Contact WHERE Score < 100") == 2
    assert run("SELECT COUNT() FROM Contact LIMIT 2") == 2
    assert run("SELECT COUNT() FROM Contact OFFSET 2") == 1


@pytest.mark.parametrize(
    ("soql", "fragment"),
    [
        ("SELECT Id, Foo FROM Contact", "No such column 'Foo' on entity 'Contact'"),
        ("SELECT Id FROM Contact ORDER BY Bar", "No such column 'Bar'"),
        ("SELECT Id FROM Contact WHERE Baz = 1", "No such column 'Baz'"),
        ("SELECT Nope.Name FROM Contact", "Didn't understand relationship 'Nope'"),
        (
            "SELECT Id FROM Contact WHERE LastName = 5",
            "must be of type string and should be enclosed",
        ),
        ("SELECT Id FROM Contact WHERE Score = '5'", "must be of type double"),
        ("SELECT Id FROM Contact WHERE Active = 'true'", "must be of type boolean"),
        ("SELECT Id FROM Contact WHERE Birthdate > 2024-01-01T00:00:00Z", "type date"),
        ("SELECT Id FROM Contact WHERE SystemModstamp > 2024-01-01", "type dateTime"),
        ("SELECT Id FROM Contact WHERE Score LIKE '5%'", "invalid operator"),
    ],
)
def test_invalid_field(soql: str, fragment: str) -> None:
    with pytest.raises(SoqlError) as info:
        run(soql)
    assert info.value.code == "INVALID_FIELD"
    assert fragment in info.value.message


def test_datetime_offsets_compare_as_instants() -> None:
    rows = [{"Id": "1", "SystemModstamp": datetime(2024, 1, 31, 13, tzinfo=UTC)}]
    q = parse("SELECT Id FROM Contact WHERE SystemModstamp = 2024-01-31T10:00:00-03:00")
    assert evaluate(q, rows, fields=CONTACT_FIELDS) == [{"Id": "1"}]


def test_relationship_keys_are_canonical_whatever_the_query_case() -> None:
    rows = run("SELECT Id, account.Name, ACCOUNT.ownerid, Account.owner.NAME FROM Contact LIMIT 1")
    assert rows == [
        {"Id": "003a", "Account": {"Name": "Acme", "OwnerId": "005U", "Owner": {"Name": "Jo"}}}
    ]
    assert run("SELECT account.Name FROM Contact WHERE Id = '003b'") == [{"Account": None}]


def test_stored_float_equals_its_decimal_literal() -> None:
    rows = [{"Id": "1", "Score": 99.99}, {"Id": "2", "Score": 0.1 + 0.2}]
    for soql in (
        "SELECT Id FROM Contact WHERE Score = 99.99",
        "SELECT Id FROM Contact WHERE Score IN (1, 99.99)",
        "SELECT Id FROM Contact WHERE Score >= 99.99 AND Score <= 99.99",
    ):
        assert evaluate(parse(soql), rows, fields=CONTACT_FIELDS) == [{"Id": "1"}], soql
    assert evaluate(parse("SELECT Id FROM Contact WHERE Score != 99.99"), rows) == [{"Id": "2"}]


def test_fifteen_character_id_literals() -> None:
    long_id = "001000000000001AAA"
    rows = [{"Id": long_id}, {"Id": "001000000000002AAA"}]
    assert evaluate(parse("SELECT Id FROM A WHERE Id = '001000000000001'"), rows) == [
        {"Id": long_id}
    ]
    assert evaluate(parse("SELECT Id FROM A WHERE Id IN ('001000000000001')"), rows) == [
        {"Id": long_id}
    ]
    assert evaluate(parse("SELECT Id FROM A WHERE Id != '001000000000001'"), rows) == [
        {"Id": "001000000000002AAA"}
    ]
    mixed = [{"Id": "001A0000006Vm9rIAC"}]
    assert evaluate(parse("SELECT Id FROM A WHERE Id = '001A0000006Vm9r'"), mixed) == mixed
    # the 15-character form is case-sensitive; the 18-character form is not
    assert evaluate(parse("SELECT Id FROM A WHERE Id = '001a0000006vm9r'"), mixed) == []
    assert evaluate(parse("SELECT Id FROM A WHERE Id = '001a0000006vm9riac'"), mixed) == mixed


# -- property test: parser + evaluator vs. a reference predicate -----------------------------
ALPHABET = "aAbB%_'\\ "
texts = st.text(alphabet=ALPHABET, max_size=4)
ints = st.integers(-3, 3)
times = st.integers(0, 4).map(lambda h: T0 + timedelta(hours=h))
ROW = st.fixed_dictionaries(
    {
        "N": st.none() | ints,
        "S": st.none() | texts,
        "B": st.none() | st.booleans(),
        "T": st.none() | times,
    }
)
TYPES = {"Id": "id", "N": "int", "S": "string", "B": "boolean", "T": "datetime"}


@dataclass(frozen=True)
class Cmp:
    field: str
    op: str
    value: Any


@dataclass(frozen=True)
class In:
    field: str
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Lk:
    field: str
    pattern: tuple[str, ...]  # items: "%" / "_" wildcards or ("=", ch) literal chars encoded "=c"


@dataclass(frozen=True)
class Node:
    kind: str  # "and" | "or" | "not"
    items: tuple[Any, ...]


OPS = ["=", "!=", "<", "<=", ">", ">="]
leaves = st.one_of(
    st.builds(Cmp, st.just("N"), st.sampled_from(OPS), ints),
    st.builds(Cmp, st.just("S"), st.sampled_from(OPS), texts),
    st.builds(Cmp, st.just("T"), st.sampled_from(OPS), times),
    st.builds(Cmp, st.just("B"), st.sampled_from(["=", "!="]), st.booleans()),
    st.builds(Cmp, st.sampled_from("NSBT"), st.sampled_from(["=", "!="]), st.none()),
    st.builds(In, st.just("N"), st.lists(ints, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(In, st.just("S"), st.lists(texts, min_size=1, max_size=3).map(tuple), st.booleans()),
    st.builds(
        Lk,
        st.just("S"),
        st.lists(
            st.sampled_from(["%", "_"]) | st.sampled_from(ALPHABET).map("=".__add__), max_size=4
        ).map(tuple),
    ),
)
trees = st.recursive(
    leaves,
    lambda kids: st.one_of(
        st.builds(
            Node, st.sampled_from(["and", "or"]), st.lists(kids, min_size=2, max_size=3).map(tuple)
        ),
        st.builds(Node, st.just("not"), st.tuples(kids)),
    ),
    max_leaves=8,
)


def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_value(value: Any, style: int) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "TRUE" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if style == 0:
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if style == 1:
        return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    return value.astimezone(timezone(timedelta(hours=-3))).isoformat()


def render(node: Any, style: int) -> str:
    if isinstance(node, Cmp):
        return f"{node.field} {node.op} {render_value(node.value, style)}"
    if isinstance(node, In):
        values = ", ".join(render_value(v, style) for v in node.values)
        return f"{node.field} {'NOT IN' if node.negated else 'in'} ({values})"
    if isinstance(node, Lk):
        body = "".join(
            p if p in ("%", "_") else "\\" + p[1] if p[1] in "%_\\'" else p[1] for p in node.pattern
        )
        return f"{node.field} LIKE '{body}'"
    if node.kind == "not":
        return f"NOT ({render(node.items[0], style)})"
    joiner = " AND " if node.kind == "and" else " or "
    return "(" + joiner.join(render(i, style) for i in node.items) + ")"


def like_match(pattern: tuple[str, ...], text: str) -> bool:
    """Brute-force wildcard matcher (no regex), case-insensitive."""
    if not pattern:
        return not text
    head, rest = pattern[0], pattern[1:]
    if head == "%":
        return any(like_match(rest, text[k:]) for k in range(len(text) + 1))
    if not text:
        return False
    if head == "_" or head[1].lower() == text[0].lower():
        return like_match(rest, text[1:])
    return False


def reference(node: Any, row: dict[str, Any]) -> bool:
    if isinstance(node, Node):
        results = [reference(i, row) for i in node.items]
        return {"and": all, "or": any}[node.kind](results) if node.kind != "not" else not results[0]
    value = row[node.field]
    if isinstance(node, Lk):
        return value is not None and like_match(node.pattern, value)
    if isinstance(node, In):
        hit = value is not None and any(equal(value, v) for v in node.values)
        return hit != node.negated
    if node.value is None:
        return (value is None) == (node.op == "=")
    if value is None:
        return node.op == "!="
    a, b = (value.lower(), node.value.lower()) if isinstance(value, str) else (value, node.value)
    return {
        "=": a == b,
        "!=": a != b,
        "<": a < b,
        "<=": a <= b,
        ">": a > b,
        ">=": a >= b,
    }[node.op]


def equal(a: Any, b: Any) -> bool:
    return a.lower() == b.lower() if isinstance(a, str) else bool(a == b)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(tree=trees, rows=st.lists(ROW, max_size=12), style=st.integers(0, 2), typed=st.booleans())
def test_where_matches_reference(
    tree: Any, rows: list[dict[str, Any]], style: int, typed: bool
) -> None:
    rows = [{"Id": f"a{i:02d}", **r} for i, r in enumerate(rows)]
    soql = f"SELECT Id FROM Thing WHERE {render(tree, style)}"
    got = evaluate(parse(soql), rows, fields=TYPES if typed else None)
    assert got == [{"Id": r["Id"]} for r in rows if reference(tree, r)], soql


order_items = st.tuples(
    st.sampled_from(["N", "S"]), st.booleans(), st.sampled_from([None, True, False])
)


@settings(max_examples=200, deadline=None)
@given(
    rows=st.lists(ROW, max_size=15),
    order=st.lists(order_items, min_size=1, max_size=3),
    limit=st.none() | st.integers(0, 20),
    offset=st.none() | st.integers(0, 20),
)
def test_order_limit_offset_matches_sorted(
    rows: list[dict[str, Any]],
    order: list[tuple[str, bool, bool | None]],
    limit: int | None,
    offset: int | None,
) -> None:
    rows = [{"Id": f"a{i:02d}", **r} for i, r in enumerate(rows)]
    clauses = []
    for name, desc, nulls in order:
        nulls_sql = "" if nulls is None else (" NULLS FIRST" if nulls else " nulls last")
        clauses.append(f"{name}{' DESC' if desc else ''}{nulls_sql}")
    soql = "SELECT Id, N FROM Thing ORDER BY " + ", ".join(clauses)
    soql += "" if limit is None else f" LIMIT {limit}"
    soql += "" if offset is None else f" OFFSET {offset}"

    expected = list(rows)
    for name, desc, nulls in reversed(order):
        nulls_first = (not desc) if nulls is None else nulls
        non_null = sorted(
            (r for r in expected if r[name] is not None),
            key=lambda r, n=name: r[n].lower() if isinstance(r[n], str) else r[n],
            reverse=desc,
        )
        nulls_part = [r for r in expected if r[name] is None]
        expected = nulls_part + non_null if nulls_first else non_null + nulls_part
    start = offset or 0
    expected = expected[start : None if limit is None else start + limit]
    got = evaluate(parse(soql), rows, fields=TYPES)
    assert got == [{"Id": r["Id"], "N": r["N"]} for r in expected], soql
    count = evaluate(parse(soql.replace("SELECT Id, N", "SELECT COUNT()")), rows)
    assert count == len(expected)


def test_keywords_and_field_names_are_case_insensitive() -> None:
    words = r"\b(SELECT|FROM|WHERE|OR|AND|ORDER BY|LIMIT|Name)\b"
    mixed = re.sub(words, lambda m: m[0].swapcase(), SYNC)
    assert mixed != SYNC
    rows = [{"Id": "001000000000002AAA", "Name": "n", "SystemModstamp": T0}]
    assert evaluate(parse(mixed), rows) == evaluate(parse(SYNC), rows) == rows
