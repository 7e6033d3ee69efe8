"""Property: simple-salesforce pointed at the emulator runs random SOQL of the supported subset
and gets what a brute-force filter over the org's rows says it should.

Queries are generated as small trees, rendered to SOQL text (random keyword and field-name case,
every literal form) and evaluated independently here in plain Python over a snapshot of the
org's rows; the emulator answers through the real client over HTTP.
"""

from __future__ import annotations

import copy
import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from simple_salesforce import Salesforce

from crmpulse_salesforce.sandbox.org import Org
from crmpulse_salesforce.sandbox.server import SandboxServer

T0 = datetime(2024, 1, 1, tzinfo=UTC)

FIELDS: dict[str, dict[str, str]] = {
    "Account": {
        "Id": "id",
        "Name": "string",
        "Industry": "picklist",
        "AnnualRevenue": "currency",
        "NumberOfEmployees": "int",
        "Customer_Since__c": "datetime",
        "IsDeleted": "boolean",
        "CreatedDate": "datetime",
    },
    "Contact": {
        "Id": "id",
        "LastName": "string",
        "Email": "email",
        "AccountId": "reference",
        "Became_Customer_At__c": "datetime",
        "IsDeleted": "boolean",
    },
    "Case": {
        "Id": "id",
        "Subject": "string",
        "Status": "picklist",
        "IsClosed": "boolean",
        "ClosedDate": "datetime",
        "AccountId": "reference",
        "ContactId": "reference",
        "IsDeleted": "boolean",
    },
    "Opportunity": {
        "Id": "id",
        "Name": "string",
        "Amount": "currency",
        "CloseDate": "date",
        "IsWon": "boolean",
        "Probability": "percent",
        "AccountId": "reference",
        "IsDeleted": "boolean",
    },
}
PARENTS: dict[str, dict[str, str]] = {
    "Contact": {"Account": "Account"},
    "Case": {"Account": "Account", "Contact": "Contact"},
    "Opportunity": {"Account": "Account"},
}
NUMBER_TYPES = {"currency", "int", "percent"}
TEXT_TYPES = {"id", "string", "picklist", "email", "reference"}

NAMES = ["Acme", "ACME", "acme corp", "Globex", "globex", "O'Brien", "100% Tea", "under_score",
         "back\\slash", "Zed", "zebra", "Émile", None]  # fmt: skip
INDUSTRIES = ["Tech", "tech", "Retail", "Energy", None]
STATUSES = ["New", "Working", "Closed", "closed"]
STAMPS = [T0 + timedelta(days=d, hours=h) for d in (0, 3, 10, 40) for h in (0, 5, 23)]
DATES = [date(2024, 1, 1) + timedelta(days=d) for d in (0, 15, 31, 90)]


def _number(k: int) -> int:
    """An id number whose base-62 digits are all decimal, so ids sort the same in any case."""
    return sum(int(d) * 62**i for i, d in enumerate(reversed(f"{k:04d}")))


def build_org(seed: int = 7) -> Org:
    """A few hundred Accounts, Contacts, Cases and Opportunities with nulls, ties and deletes."""
    rnd = random.Random(seed)
    org = Org()
    counter = iter(range(1, 10_000))

    def add(sobject: str, values: dict[str, Any]) -> str:
        full = {f: None for f in FIELDS[sobject] if f not in ("Id", "IsDeleted")}
        full.update(values)
        created = full.pop("CreatedDate", None) or rnd.choice(STAMPS)
        return org.insert(sobject, full, created=created, number=_number(next(counter)))

    accounts = [
        add(
            "Account",
            {
                "Name": rnd.choice(NAMES),
                "Industry": rnd.choice(INDUSTRIES),
                "AnnualRevenue": rnd.choice([None, 0.0, 1500.5, 250000.0, -3.25]),
                "NumberOfEmployees": rnd.choice([None, 0, 5, 10, 120]),
                "Customer_Since__c": rnd.choice([None, *STAMPS]),
                "CreatedDate": rnd.choice(STAMPS),
            },
        )
        for _ in range(80)
    ]
    contacts = [
        add(
            "Contact",
            {
                "LastName": rnd.choice([n for n in NAMES if n]),
                "Email": rnd.choice([None, "a@x.io", "B@X.io", "c_d@y.org"]),
                "AccountId": rnd.choice([None, *accounts[:60]]),
                "Became_Customer_At__c": rnd.choice([None, *STAMPS]),
            },
        )
        for _ in range(90)
    ]
    for _ in range(90):
        add(
            "Case",
            {
                "Subject": rnd.choice(NAMES),
                "Status": rnd.choice(STATUSES),
                "IsClosed": rnd.random() < 0.4,
                "ClosedDate": rnd.choice([None, *STAMPS]),
                "AccountId": rnd.choice([None, *accounts[:60]]),
                "ContactId": rnd.choice([None, *contacts]),
            },
        )
    for _ in range(60):
        add(
            "Opportunity",
            {
                "Name": rnd.choice(NAMES),
                "Amount": rnd.choice([None, 10.0, 99.99, 1500.5, 5000.0]),
                "CloseDate": rnd.choice([None, *DATES]),
                "IsWon": rnd.random() < 0.5,
                "Probability": rnd.choice([None, 0.0, 10.0, 50.0, 100.0]),
                "AccountId": rnd.choice([None, *accounts[:60]]),
            },
        )
    # Deleted rows have no live children: Salesforce would cascade the delete to them.
    for record_id in accounts[60:70]:
        org.delete(record_id, when=T0 + timedelta(days=50))
    for sobject in ("Case", "Opportunity"):
        for record_id in list(org.rows[sobject])[::9]:
            org.delete(record_id, when=T0 + timedelta(days=50))
    return org


# -- the query tree ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Path:
    parts: tuple[str, ...]  # canonical spelling
    ftype: str
    written: tuple[str, ...]  # as rendered in the query


@dataclass(frozen=True)
class Cmp:
    path: Path
    op: str
    value: Any
    form: int = 0


@dataclass(frozen=True)
class InList:
    path: Path
    values: tuple[Any, ...]
    negated: bool


@dataclass(frozen=True)
class Like:
    path: Path
    pattern: tuple[str, ...]  # "%" / "_" wildcards, or "=c" for the literal character c


@dataclass(frozen=True)
class Node:
    kind: str  # and / or / not
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Order:
    path: Path
    desc: bool
    nulls: bool | None


@dataclass(frozen=True)
class Spec:
    sobject: str
    fields: tuple[Path, ...]
    count: bool
    where: Any
    order: tuple[Order, ...]
    limit: int | None
    offset: int | None
    all_rows: bool
    small_batches: bool
    written_sobject: str


def paths_of(sobject: str) -> list[tuple[tuple[str, ...], str]]:
    out = [((f,), t) for f, t in FIELDS[sobject].items()]
    for rel, parent in PARENTS.get(sobject, {}).items():
        out += [((rel, f), t) for f, t in FIELDS[parent].items() if f != "IsDeleted"]
    if sobject == "Case":
        out += [(("Contact", "Account", "Name"), "string")]
    return out


def mangle(draw: st.DrawFn, word: str) -> str:
    style = draw(st.integers(0, 5))
    return word.lower() if style == 0 else word.upper() if style == 1 else word


@st.composite
def paths(draw: st.DrawFn, sobject: str) -> Path:
    parts, ftype = draw(st.sampled_from(paths_of(sobject)))
    return Path(parts, ftype, tuple(mangle(draw, p) for p in parts))


def literal_pool(ftype: str, world: World) -> st.SearchStrategy[Any]:
    if ftype in ("string", "picklist", "email"):
        base = [n for n in NAMES + INDUSTRIES + STATUSES if n] + ["a@x.io", "b", "Zz"]
        return st.sampled_from(base).flatmap(lambda s: st.sampled_from([s, s.lower(), s.upper()]))
    if ftype in ("id", "reference"):
        return st.sampled_from(world.ids)
    if ftype in NUMBER_TYPES:
        return st.sampled_from([0, 5, 10, 120, -4]) | st.sampled_from(
            [Decimal("1500.5"), Decimal("99.99"), Decimal("-3.25"), Decimal("0.5")]
        )
    if ftype == "datetime":
        return st.sampled_from(STAMPS) | st.builds(
            lambda s, m: s + timedelta(minutes=m), st.sampled_from(STAMPS), st.integers(-90, 90)
        )
    if ftype == "date":
        return st.sampled_from(DATES) | st.builds(
            lambda d, n: d + timedelta(days=n), st.sampled_from(DATES), st.integers(-2, 2)
        )
    return st.booleans()


@st.composite
def leaves(draw: st.DrawFn, sobject: str, world: World) -> Any:
    path = draw(paths(sobject))
    pool = literal_pool(path.ftype, world)
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return Cmp(path, draw(st.sampled_from(["=", "!="])), None)
    if path.ftype == "boolean":
        return Cmp(path, draw(st.sampled_from(["=", "!="])), draw(st.booleans()))
    if kind in (1, 2) and path.ftype != "datetime":
        values = tuple(draw(st.lists(pool, min_size=1, max_size=4)))
        return InList(path, values, draw(st.booleans()))
    if kind == 3 and path.ftype in ("string", "picklist", "email"):
        text = draw(literal_pool(path.ftype, world))
        pieces = [f"={c}" for c in text]
        for i in range(len(pieces)):
            if draw(st.integers(0, 3)) == 0:
                pieces[i] = draw(st.sampled_from(["%", "_"]))
        if draw(st.booleans()):
            pieces.append("%")
        if draw(st.booleans()):
            pieces.insert(0, "%")
        return Like(path, tuple(pieces))
    op = draw(st.sampled_from(["=", "!=", "<", "<=", ">", ">="]))
    value = draw(pool)
    if path.ftype in ("id", "reference") and op in ("=", "!=") and draw(st.booleans()):
        value = value[:15]
    return Cmp(path, op, value, draw(st.integers(0, 3)))


def conditions(sobject: str, world: World) -> st.SearchStrategy[Any]:
    return st.recursive(
        leaves(sobject, world),
        lambda kids: st.one_of(
            st.builds(
                Node,
                st.sampled_from(["and", "or"]),
                st.lists(kids, min_size=2, max_size=3).map(tuple),
            ),
            st.builds(Node, st.just("not"), st.tuples(kids)),
        ),
        max_leaves=6,
    )


@st.composite
def specs(draw: st.DrawFn, world: World) -> Spec:
    sobject = draw(st.sampled_from(sorted(FIELDS)))
    count = draw(st.integers(0, 9)) == 0
    fields: list[Path] = []
    if not count:
        for path in draw(st.lists(paths(sobject), min_size=1, max_size=5)):
            if all(p.parts != path.parts for p in fields):
                fields.append(path)
    where = draw(st.none() | conditions(sobject, world))
    order: list[Order] = []
    if not count and draw(st.booleans()):
        for path in draw(st.lists(paths(sobject), min_size=1, max_size=3)):
            if all(o.path.parts != path.parts for o in order):
                order.append(
                    Order(path, draw(st.booleans()), draw(st.sampled_from([None, True, False])))
                )
        if all(o.path.parts != ("Id",) for o in order):
            order.append(Order(Path(("Id",), "id", ("Id",)), draw(st.booleans()), None))
    limit = draw(st.none() | st.integers(1, 60))
    offset = draw(st.none() | st.integers(0, 80)) if order else None
    return Spec(
        sobject,
        tuple(fields),
        count,
        where,
        tuple(order),
        limit,
        offset,
        draw(st.booleans()),
        draw(st.booleans()),
        mangle(draw, sobject),
    )


# -- rendering --------------------------------------------------------------------------------
def quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def render_value(value: Any, form: int = 0) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return ["true", "FALSE", "True", "false"][form] if form else str(value).lower()
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, str):
        return quote(value)
    if isinstance(value, datetime):
        if form == 1:
            return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")
        if form == 2:
            return value.astimezone(timezone(timedelta(hours=5, minutes=30))).isoformat()
        if form == 3:
            return value.astimezone(timezone(timedelta(hours=-3))).isoformat()
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert isinstance(value, date)
    return value.isoformat()


def render_cond(node: Any) -> str:
    if isinstance(node, Cmp):
        op = "<>" if node.op == "!=" and node.form == 3 else node.op
        return f"{'.'.join(node.path.written)} {op} {render_value(node.value, node.form)}"
    if isinstance(node, InList):
        values = ", ".join(render_value(v) for v in node.values)
        return f"{'.'.join(node.path.written)} {'NOT IN' if node.negated else 'in'} ({values})"
    if isinstance(node, Like):
        body = ""
        for piece in node.pattern:
            if piece in ("%", "_"):
                body += piece
            elif piece[1] in "%_'\\":
                body += "\\" + piece[1]
            else:
                body += piece[1]
        return f"{'.'.join(node.path.written)} LIKE '{body}'"
    if node.kind == "not":
        operand = node.items[0]
        bare = (isinstance(operand, Node) and operand.kind != "not") or (
            isinstance(operand, Cmp) and operand.form % 2 == 0
        )
        inner = render_cond(operand)
        return f"NOT {inner}" if bare else f"NOT ({inner})"
    joiner = " AND " if node.kind == "and" else " or "
    return "(" + joiner.join(render_cond(i) for i in node.items) + ")"


def render(spec: Spec) -> str:
    select = "COUNT()" if spec.count else ", ".join(".".join(p.written) for p in spec.fields)
    text = f"SELECT {select} FROM {spec.written_sobject}"
    if spec.where is not None:
        text += f" WHERE {render_cond(spec.where)}"
    if spec.order:
        keys = []
        for item in spec.order:
            key = ".".join(item.path.written) + (" DESC" if item.desc else " asc")
            if item.nulls is not None:
                key += " NULLS FIRST" if item.nulls else " nulls last"
            keys.append(key)
        text += " ORDER BY " + ", ".join(keys)
    if spec.limit is not None:
        text += f" LIMIT {spec.limit}"
    if spec.offset is not None:
        text += f" OFFSET {spec.offset}"
    return text


# -- the reference evaluator ------------------------------------------------------------------
class World:
    """A snapshot of the org's rows and a brute-force evaluator over them."""

    def __init__(self, org: Org) -> None:
        self.rows = {name: copy.deepcopy(list(org.rows[name].values())) for name in FIELDS}
        self.by_id = {r["Id"]: r for rows in self.rows.values() for r in rows}
        self.ids = sorted(self.by_id)[::7]

    def value(self, row: dict[str, Any], path: tuple[str, ...]) -> Any:
        current: dict[str, Any] | None = row
        for rel in path[:-1]:
            assert current is not None
            parent_id = current.get(rel + "Id")
            current = self.by_id.get(parent_id) if parent_id else None
            if current is None:
                return None
        return current.get(path[-1])

    def test(self, node: Any, row: dict[str, Any]) -> bool:
        if isinstance(node, Node):
            results = [self.test(i, row) for i in node.items]
            if node.kind == "not":
                return not results[0]
            return all(results) if node.kind == "and" else any(results)
        value = self.value(row, node.path.parts)
        if isinstance(node, Like):
            return value is not None and like(node.pattern, value)
        if isinstance(node, InList):
            hit = value is not None and any(same(value, v) for v in node.values)
            return hit != node.negated
        if node.value is None:
            return (value is None) == (node.op == "=")
        if value is None:
            return node.op == "!="
        if node.op == "=":
            return same(value, node.value)
        if node.op == "!=":
            return not same(value, node.value)
        a, b = key_of(value), key_of(node.value)
        return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[node.op]

    def run(self, spec: Spec) -> tuple[list[tuple[Any, ...]] | int, bool]:
        """Expected projected rows (or the count) and whether their order is determined."""
        rows = [
            r
            for r in self.rows[spec.sobject]
            if (spec.all_rows or not r["IsDeleted"])
            and (spec.where is None or self.test(spec.where, r))
        ]
        for item in reversed(spec.order):
            present = [r for r in rows if self.value(r, item.path.parts) is not None]
            missing = [r for r in rows if self.value(r, item.path.parts) is None]
            present.sort(
                key=lambda r, p=item.path.parts: key_of(self.value(r, p)), reverse=item.desc
            )
            nulls_first = (not item.desc) if item.nulls is None else item.nulls
            rows = missing + present if nulls_first else present + missing
        start = spec.offset or 0
        rows = rows[start : None if spec.limit is None else start + spec.limit]
        if spec.count:
            return len(rows), True
        projected = [tuple(rest_value(self.value(r, p.parts)) for p in spec.fields) for r in rows]
        return projected, bool(spec.order)


def key_of(value: Any) -> Any:
    if isinstance(value, str):
        return value.lower()
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    if isinstance(value, Decimal):
        return float(value)
    return value


def same(value: Any, literal: Any) -> bool:
    if isinstance(literal, str) and len(literal) == 15 and isinstance(value, str):
        return value[:15] == literal  # the 15-character form of an id
    if isinstance(value, bool) or isinstance(literal, bool):
        return value is literal
    if isinstance(value, datetime) != isinstance(literal, datetime):
        return False
    return bool(key_of(value) == key_of(literal))


def like(pattern: tuple[str, ...], text: str) -> bool:
    """Wildcard match by dynamic programming over (pattern prefix, text prefix)."""
    text = text.lower()
    reach = {0}
    for piece in pattern:
        nxt: set[int] = set()
        for i in reach:
            if piece == "%":
                nxt.update(range(i, len(text) + 1))
            elif i < len(text) and (piece == "_" or piece[1].lower() == text[i]):
                nxt.add(i + 1)
        reach = nxt
    return len(text) in reach


def rest_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")
    if isinstance(value, date):
        return value.isoformat()
    return value


def from_record(record: dict[str, Any], path: Path) -> Any:
    """Walk a REST record along a path, insisting on Salesforce's canonical key spelling."""
    current: Any = record
    for part in path.parts:
        if current is None:
            return None
        assert part in current, (part, sorted(current))
        current = current[part]
    return current


# -- the property -----------------------------------------------------------------------------
ORG = build_org()
WORLD = World(ORG)


@pytest.fixture(scope="module")
def sf() -> Iterator[Salesforce]:
    with SandboxServer(ORG) as server:
        yield Salesforce(
            instance_url=server.base_url,
            session_id=server.session_token,
            session=server.http_session(),
        )


def test_world_is_varied() -> None:
    live = [r for r in WORLD.rows["Account"] if not r["IsDeleted"]]
    assert 50 < len(live) < len(WORLD.rows["Account"])
    assert any(r["Name"] is None for r in live)
    assert sum(len(rows) for rows in WORLD.rows.values()) > 300


@settings(
    max_examples=400,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(spec=specs(WORLD))
def test_client_query_matches_brute_force(sf: Salesforce, spec: Spec) -> None:
    soql = render(spec)
    headers = {"Sforce-Query-Options": "batchSize=200"} if spec.small_batches else {}
    expected, ordered = WORLD.run(spec)
    size = expected if isinstance(expected, int) else len(expected)
    event("matches: " + ("0" if size == 0 else "1-9" if size < 10 else "10+"))
    if spec.count:
        # query_all rebuilds totalSize from the records it collected, so COUNT() needs query.
        result = sf.query(soql, include_deleted=spec.all_rows)
    else:
        result = sf.query_all(soql, include_deleted=spec.all_rows, headers=headers)
    if isinstance(expected, int):
        assert result["totalSize"] == expected, soql
        assert result["records"] == []
        return
    records = result["records"]
    assert result["totalSize"] == len(records), soql
    for record in records:
        assert record["attributes"]["type"] == spec.sobject
        assert set(record) - {"attributes"} == {p.parts[0] for p in spec.fields}, soql
    got = [tuple(from_record(r, p) for p in spec.fields) for r in records]
    if ordered:
        assert got == expected, soql
    elif spec.limit is None:
        assert Counter(got) == Counter(expected), soql
    else:
        whole, _ = WORLD.run(Spec(**{**spec.__dict__, "limit": None}))
        assert isinstance(whole, list)
        assert len(got) == len(expected), soql
        assert not Counter(got) - Counter(whole), soql
