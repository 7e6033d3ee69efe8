"""SOQL tokenizer and recursive-descent parser producing an immutable query tree.

Supported: ``SELECT`` plain fields, dotted parent paths and ``COUNT()``; ``FROM``; ``WHERE`` with
``AND``/``OR``/``NOT`` and parentheses (mixing ``AND`` and ``OR`` without parentheses is rejected,
as Salesforce does); ``= != <> < <= > >=``, ``[NOT] IN (...)``, ``LIKE``; string, number, boolean,
``null``, date and dateTime literals; ``ORDER BY ... ASC|DESC NULLS FIRST|LAST``; ``LIMIT``;
``OFFSET`` (at most 2000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal as TypingLiteral

MAX_OFFSET = 2000
KEYWORDS = frozenset(
    {
        "select", "from", "where", "and", "or", "not", "in", "like", "order", "by", "asc",
        "desc", "nulls", "first", "last", "limit", "offset", "true", "false", "null",
    }
)  # fmt: skip


class SoqlError(Exception):
    """A query error carrying a Salesforce ``errorCode`` (e.g. ``MALFORMED_QUERY``)."""

    def __init__(self, message: str, code: str = "MALFORMED_QUERY") -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


LiteralKind = TypingLiteral["string", "number", "boolean", "null", "date", "datetime"]
LiteralValue = str | int | Decimal | bool | date | datetime | None


@dataclass(frozen=True)
class Literal:
    """A literal value; ``raw`` keeps a string's escaped source text (used by ``LIKE``)."""

    kind: LiteralKind
    value: LiteralValue
    raw: str = ""


@dataclass(frozen=True)
class FieldRef:
    """A field, possibly reached through parent relationships (``Owner.Profile.Name``)."""

    path: tuple[str, ...]

    @property
    def name(self) -> str:
        """The dotted spelling as written in the query."""
        return ".".join(self.path)


@dataclass(frozen=True)
class Comparison:
    """``field op literal`` with op one of ``= != < <= > >=``."""

    field: FieldRef
    op: str
    value: Literal


@dataclass(frozen=True)
class InList:
    """``field IN (...)`` or, with ``negated``, ``field NOT IN (...)``."""

    field: FieldRef
    values: tuple[Literal, ...]
    negated: bool = False


@dataclass(frozen=True)
class Like:
    """``field LIKE 'pattern'`` (``%`` any run, ``_`` one character, case-insensitive)."""

    field: FieldRef
    pattern: Literal


@dataclass(frozen=True)
class And:
    """Conjunction of two or more conditions."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Or:
    """Disjunction of two or more conditions."""

    items: tuple[Condition, ...]


@dataclass(frozen=True)
class Not:
    """Negation of a condition."""

    operand: Condition


Condition = Comparison | InList | Like | And | Or | Not


@dataclass(frozen=True)
class OrderItem:
    """One ``ORDER BY`` key; ``nulls_first`` is None when not written (direction default)."""

    field: FieldRef
    descending: bool = False
    nulls_first: bool | None = None

    @property
    def effective_nulls_first(self) -> bool:
        """Nulls go first for ASC and last for DESC unless NULLS FIRST/LAST says otherwise."""
        return (not self.descending) if self.nulls_first is None else self.nulls_first


@dataclass(frozen=True)
class Query:
    """A parsed SOQL query; ``count`` is True for ``SELECT COUNT() FROM ...``."""

    sobject: str
    fields: tuple[FieldRef, ...] = ()
    count: bool = False
    where: Condition | None = None
    order_by: tuple[OrderItem, ...] = ()
    limit: int | None = None
    offset: int | None = None


@dataclass(frozen=True)
class Token:
    """A lexical token with its source offset."""

    kind: str  # ident, string, number, date, datetime, op, lparen, rparen, comma, eof
    text: str
    pos: int
    value: LiteralValue = None


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,3}))?"
    r"(Z|[+-]\d{2}:?\d{2}))?(?![A-Za-z0-9_:.])"
)
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?![A-Za-z0-9_.])")
_OPS = ("!=", "<>", "<=", ">=", "=", "<", ">")
_ESCAPES = {"'": "'", '"': '"', "\\": "\\", "n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}


def _error(text: str, pos: int, detail: str) -> SoqlError:
    """Build a MALFORMED_QUERY error in Salesforce's caret-and-position style."""
    line_start = text.rfind("\n", 0, pos) + 1
    line_end = text.find("\n", pos)
    line = text[line_start : line_end if line_end >= 0 else len(text)]
    row = text.count("\n", 0, pos) + 1
    col = pos - line_start
    return SoqlError(f"\n{line}\n{' ' * col}^\nERROR at Row:{row}:Column:{col + 1}\n{detail}")


def _date_value(text: str, pos: int, m: re.Match[str]) -> date | datetime:
    try:
        year, month, day = int(m[1]), int(m[2]), int(m[3])
        if m[4] is None:
            return date(year, month, day)
        tz = m[8]
        if tz == "Z":
            tzinfo = UTC
        else:
            digits = tz[1:].replace(":", "")
            offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
            tzinfo = timezone(-offset if tz[0] == "-" else offset)
        micro = int((m[7] or "0").ljust(3, "0")) * 1000
        return datetime(year, month, day, int(m[4]), int(m[5]), int(m[6]), micro, tzinfo)
    except ValueError as exc:
        raise _error(text, pos, f"invalid date/dateTime literal: {m[0]}") from exc


def _read_string(text: str, pos: int) -> tuple[Token, int]:
    i = pos + 1
    out: list[str] = []
    while i < len(text):
        ch = text[i]
        if ch == "'":
            return Token("string", text[pos : i + 1], pos, "".join(out)), i + 1
        if ch == "\\":
            nxt = text[i + 1 : i + 2]
            if nxt in _ESCAPES:
                out.append(_ESCAPES[nxt])
            elif nxt in ("%", "_"):
                out.append("\\" + nxt)  # only meaningful in LIKE; kept verbatim elsewhere
            else:
                raise _error(text, i, "Invalid string literal: invalid escape sequence")
            i += 2
            continue
        out.append(ch)
        i += 1
    raise _error(text, pos, "unexpected token: unterminated string literal")


def tokenize(text: str) -> list[Token]:
    """Split SOQL text into tokens, ending with an ``eof`` token."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace():
            i += 1
            continue
        if ch == "'":
            tok, i = _read_string(text, i)
            tokens.append(tok)
            continue
        if ch in "(),":
            kind = {"(": "lparen", ")": "rparen", ",": "comma"}[ch]
            tokens.append(Token(kind, ch, i))
            i += 1
            continue
        m = _DATETIME.match(text, i)
        if m:
            value = _date_value(text, i, m)
            kind = "datetime" if isinstance(value, datetime) else "date"
            tokens.append(Token(kind, m[0], i, value))
            i = m.end()
            continue
        m = _NUMBER.match(text, i)
        if m:
            num: int | Decimal = Decimal(m[0]) if "." in m[0] else int(m[0])
            tokens.append(Token("number", m[0], i, num))
            i = m.end()
            continue
        op = next((o for o in _OPS if text.startswith(o, i)), None)
        if op:
            tokens.append(Token("op", "!=" if op == "<>" else op, i))
            i += len(op)
            continue
        m = _IDENT.match(text, i)
        if m:
            tokens.append(Token("ident", m[0], i))
            i = m.end()
            continue
        end = i
        while end < n and not text[end].isspace():
            end += 1
        raise _error(text, i, f"unexpected token: {text[i:end]}")
    tokens.append(Token("eof", "<EOF>", n))
    return tokens


class _Parser:
    """Recursive-descent parser over a token list."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def fail(self, tok: Token | None = None) -> SoqlError:
        tok = tok or self.tok
        return _error(self.text, tok.pos, f"unexpected token: {tok.text}")

    def is_kw(self, *words: str) -> bool:
        return self.tok.kind == "ident" and self.tok.text.lower() in words

    def accept_kw(self, word: str) -> bool:
        if self.is_kw(word):
            self.i += 1
            return True
        return False

    def expect_kw(self, word: str) -> None:
        if not self.accept_kw(word):
            raise self.fail()

    def expect(self, kind: str) -> Token:
        tok = self.tok
        if tok.kind != kind:
            raise self.fail()
        self.i += 1
        return tok

    def field(self) -> FieldRef:
        tok = self.tok
        if tok.kind != "ident" or any(p.lower() in KEYWORDS for p in tok.text.split(".")):
            raise self.fail()
        self.i += 1
        return FieldRef(tuple(tok.text.split(".")))

    def query(self) -> Query:
        self.expect_kw("select")
        fields: list[FieldRef] = []
        count = False
        if self.is_kw("count") and self.tokens[self.i + 1].kind == "lparen":
            self.i += 1
            self.expect("lparen")
            self.expect("rparen")
            count = True
        else:
            seen: set[str] = set()
            while True:
                start = self.tok
                ref = self.field()
                if ref.name.lower() in seen:
                    raise _error(self.text, start.pos, f"duplicate field selected: {ref.name}")
                seen.add(ref.name.lower())
                fields.append(ref)
                if self.tok.kind != "comma":
                    break
                self.i += 1
        self.expect_kw("from")
        sobject = self.field()
        if len(sobject.path) != 1:
            raise self.fail(self.tokens[self.i - 1])
        where = None
        if self.accept_kw("where"):
            where = self.condition()
        order: list[OrderItem] = []
        if self.accept_kw("order"):
            self.expect_kw("by")
            order.append(self.order_item())
            while self.tok.kind == "comma":
                self.i += 1
                order.append(self.order_item())
        limit = self.int_clause("limit")
        offset = self.int_clause("offset")
        if offset is not None and offset > MAX_OFFSET:
            raise SoqlError(
                f"Maximum SOQL offset allowed is {MAX_OFFSET}", "NUMBER_OUTSIDE_VALID_RANGE"
            )
        if self.tok.kind != "eof":
            raise self.fail()
        return Query(sobject.path[0], tuple(fields), count, where, tuple(order), limit, offset)

    def int_clause(self, word: str) -> int | None:
        if not self.accept_kw(word):
            return None
        tok = self.tok
        if tok.kind != "number" or not isinstance(tok.value, int) or tok.value < 0:
            raise self.fail()
        self.i += 1
        return tok.value

    def order_item(self) -> OrderItem:
        ref = self.field()
        descending = False
        if self.accept_kw("desc"):
            descending = True
        else:
            self.accept_kw("asc")
        nulls_first: bool | None = None
        if self.accept_kw("nulls"):
            if self.accept_kw("first"):
                nulls_first = True
            else:
                self.expect_kw("last")
                nulls_first = False
        return OrderItem(ref, descending, nulls_first)

    def condition(self) -> Condition:
        first = self.unary()
        if not self.is_kw("and", "or"):
            return first
        joiner = self.tok.text.lower()
        items = [first]
        while self.is_kw("and", "or"):
            if self.tok.text.lower() != joiner:
                raise self.fail()
            self.i += 1
            items.append(self.unary())
        return And(tuple(items)) if joiner == "and" else Or(tuple(items))

    def unary(self) -> Condition:
        if self.accept_kw("not"):
            return Not(self.unary())
        if self.tok.kind == "lparen":
            self.i += 1
            inner = self.condition()
            self.expect("rparen")
            return inner
        return self.predicate()

    def predicate(self) -> Condition:
        ref = self.field()
        if self.tok.kind == "op":
            op = self.tok.text
            self.i += 1
            return Comparison(ref, op, self.literal())
        if self.accept_kw("like"):
            tok = self.expect("string")
            return Like(ref, Literal("string", tok.value, tok.text[1:-1]))
        negated = self.accept_kw("not")
        if not self.accept_kw("in"):
            raise self.fail()
        self.expect("lparen")
        values = [self.literal()]
        while self.tok.kind == "comma":
            self.i += 1
            values.append(self.literal())
        self.expect("rparen")
        return InList(ref, tuple(values), negated)

    def literal(self) -> Literal:
        tok = self.tok
        self.i += 1
        if tok.kind == "string":
            return Literal("string", tok.value, tok.text[1:-1])
        if tok.kind == "number":
            return Literal("number", tok.value)
        if tok.kind == "date":
            return Literal("date", tok.value)
        if tok.kind == "datetime":
            return Literal("datetime", tok.value)
        if tok.kind == "ident":
            word = tok.text.lower()
            if word in ("true", "false"):
                return Literal("boolean", word == "true")
            if word == "null":
                return Literal("null", None)
        raise self.fail(tok)


def parse(text: str) -> Query:
    """Parse SOQL text into a :class:`Query`; raise :class:`SoqlError` (MALFORMED_QUERY)."""
    return _Parser(text).query()
