"""A tokenizer and recursive-descent parser for the SOQL subset the sandbox serves.

Grammar (keywords case-insensitive)::

    query     := SELECT select FROM name [WHERE expr] [ORDER BY order {, order}]
                 [LIMIT int] [OFFSET int] [;]
    select    := COUNT ( ) | path {, path}
    path      := name {. name}
    expr      := term {AND term} | term {OR term}     -- mixing needs parentheses, as in SOQL
    term      := NOT term | ( expr ) | condition
    condition := path op value | path [NOT] IN ( value {, value} ) | path LIKE string
    value     := string | number | NULL | TRUE | FALSE | datetime | date | date-literal[:n]
    order     := path [ASC|DESC] [NULLS (FIRST|LAST)]

Errors raise :class:`SoqlError` carrying the API's error code and a message in the shape the
real API uses (the query, a caret under the offending column, then the reason).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

KEYWORDS = frozenset(
    {
        "SELECT",
        "FROM",
        "WHERE",
        "AND",
        "OR",
        "NOT",
        "IN",
        "LIKE",
        "ORDER",
        "BY",
        "ASC",
        "DESC",
        "NULLS",
        "FIRST",
        "LAST",
        "LIMIT",
        "OFFSET",
        "NULL",
        "TRUE",
        "FALSE",
        "COUNT",
    }
)
#: Relative date literals; ``N`` ones take ``:n``.
DATE_LITERALS = frozenset(
    {
        "TODAY",
        "YESTERDAY",
        "TOMORROW",
        "LAST_N_DAYS",
        "NEXT_N_DAYS",
        "THIS_WEEK",
        "LAST_WEEK",
        "THIS_MONTH",
        "LAST_MONTH",
    }
)
_ESCAPES = {
    "'": "'",
    '"': '"',
    "\\": "\\",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "b": "\b",
    "f": "\f",
    "_": "\\_",
    "%": "\\%",
}
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")


class SoqlError(Exception):
    """A query the API refuses: ``code`` is MALFORMED_QUERY, INVALID_FIELD or INVALID_TYPE."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code}: {message}")


@dataclass(frozen=True, slots=True)
class Token:
    kind: str  # IDENT KEYWORD STRING NUMBER DATETIME DATE OP PUNCT EOF
    text: str
    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class Literal:
    kind: str  # string number null boolean datetime date range
    value: Any
    column: int


@dataclass(frozen=True, slots=True)
class Condition:
    path: tuple[str, ...]
    op: str  # = != < <= > >= IN NOT IN LIKE
    value: Literal | tuple[Literal, ...]
    column: int


@dataclass(frozen=True, slots=True)
class BoolOp:
    op: str  # AND OR NOT
    items: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class OrderItem:
    path: tuple[str, ...]
    descending: bool
    nulls_last: bool
    column: int


@dataclass(frozen=True, slots=True)
class Query:
    text: str
    count: bool
    fields: tuple[tuple[tuple[str, ...], int], ...]
    sobject: str
    sobject_column: int
    where: Condition | BoolOp | None
    order: tuple[OrderItem, ...]
    limit: int | None
    offset: int | None


def error_at(text: str, column: int, reason: str) -> str:
    """The API's message shape: the query, a caret under the column, then the reason."""
    return f"\n{text}\n{' ' * column}^\nERROR at Row:1:Column:{column + 1}\n{reason}"


def tokenize(text: str) -> list[Token]:
    """Split a query into tokens; raises MALFORMED_QUERY on a character SOQL does not allow."""
    tokens: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "'":
            value, end = _string(text, i)
            tokens.append(Token("STRING", text[i:end], value, i))
            i = end
        elif char.isdigit() or (char == "-" and i + 1 < n and text[i + 1].isdigit()):
            token = _number_or_date(text, i)
            tokens.append(token)
            i += len(token.text)
        elif char.isalpha() or char == "_":
            end = i
            while end < n and (text[end].isalnum() or text[end] == "_"):
                end += 1
            word = text[i:end]
            kind = "KEYWORD" if word.upper() in KEYWORDS else "IDENT"
            tokens.append(Token(kind, word, word.upper() if kind == "KEYWORD" else word, i))
            i = end
        elif char in "(),.:;":
            tokens.append(Token("PUNCT", char, char, i))
            i += 1
        else:
            op = next((o for o in _OPERATORS if text.startswith(o, i)), None)
            if op is None:
                raise SoqlError("MALFORMED_QUERY", error_at(text, i, f"unexpected token: '{char}'"))
            tokens.append(Token("OP", op, "!=" if op == "<>" else op, i))
            i += len(op)
    tokens.append(Token("EOF", "<EOF>", None, n))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == "\\":
            if i + 1 >= len(text) or text[i + 1] not in _ESCAPES:
                bad = text[i : i + 2]
                raise SoqlError(
                    "MALFORMED_QUERY",
                    error_at(
                        text,
                        i,
                        f"Invalid string literal '{bad}'. Illegal character sequence "
                        f"'{bad}' in string literal.",
                    ),
                )
            out.append(_ESCAPES[text[i + 1]])
            i += 2
        elif char == "'":
            return "".join(out), i + 1
        else:
            out.append(char)
            i += 1
    raise SoqlError("MALFORMED_QUERY", error_at(text, start, "unterminated string literal"))


def _number_or_date(text: str, start: int) -> Token:
    end = start + 1
    while end < len(text) and (text[end].isalnum() or text[end] in ".:+-_"):
        end += 1
    word = text[start:end]
    if len(word) >= 10 and word[4:5] == "-" and word[7:8] == "-" and word[0] != "-":
        if len(word) == 10:
            try:
                return Token("DATE", word, date.fromisoformat(word), start)
            except ValueError:
                pass
        else:
            parsed = _datetime(word)
            if parsed is not None:
                return Token("DATETIME", word, parsed, start)
        raise SoqlError(
            "MALFORMED_QUERY",
            error_at(text, start, f"line 1:{start} no viable alternative at character '{word}'"),
        )
    end = start + 1
    while end < len(text) and (text[end].isdigit() or text[end] == "."):
        end += 1
    word = text[start:end]
    try:
        number: float | int = int(word) if "." not in word else float(word)
    except ValueError:
        raise SoqlError(
            "MALFORMED_QUERY", error_at(text, start, f"unexpected token: '{word}'")
        ) from None
    return Token("NUMBER", word, number, start)


def _datetime(word: str) -> datetime | None:
    """SOQL dateTime literal: YYYY-MM-DDThh:mm:ss[.sss](Z|±hh:mm|±hhmm)."""
    if len(word) < 20 or word[10] != "T":
        return None
    body, zone = word, None
    if body.endswith("Z"):
        body, zone = body[:-1], UTC
    else:
        for sign_at in (len(body) - 6, len(body) - 5):
            if sign_at > 10 and body[sign_at] in "+-":
                offset = body[sign_at + 1 :].replace(":", "")
                if len(offset) == 4 and offset.isdigit():
                    minutes = int(offset[:2]) * 60 + int(offset[2:])
                    sign = 1 if body[sign_at] == "+" else -1
                    zone = timezone(timedelta(minutes=sign * minutes))
                    body = body[:sign_at]
                break
    if zone is None:
        return None
    seconds, _, fraction = body.partition(".")
    if len(seconds) != 19 or (fraction and not (fraction.isdigit() and len(fraction) <= 3)):
        return None
    try:
        moment = datetime.strptime(seconds, "%Y-%m-%dT%H:%M:%S").replace(tzinfo=zone)
    except ValueError:
        return None
    millis = int(fraction.ljust(3, "0")) if fraction else 0
    return (moment + timedelta(milliseconds=millis)).astimezone(UTC)


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.pos = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def fail(self, token: Token | None = None, reason: str | None = None) -> SoqlError:
        token = token or self.tok
        why = reason or f"unexpected token: '{token.text}'"
        return SoqlError("MALFORMED_QUERY", error_at(self.text, token.column, why))

    def take(self) -> Token:
        token = self.tok
        self.pos += 1
        return token

    def accept(self, kind: str, value: str | None = None) -> Token | None:
        token = self.tok
        if token.kind == kind and (value is None or token.value == value):
            self.pos += 1
            return token
        return None

    def expect(self, kind: str, value: str | None = None) -> Token:
        token = self.accept(kind, value)
        if token is None:
            raise self.fail()
        return token

    def query(self) -> Query:
        self.expect("KEYWORD", "SELECT")
        count = False
        fields: list[tuple[tuple[str, ...], int]] = []
        if self.tok.value == "COUNT" and self.tokens[self.pos + 1].value == "(":
            self.pos += 1
            self.expect("PUNCT", "(")
            self.expect("PUNCT", ")")
            count = True
        else:
            while True:
                column = self.tok.column
                fields.append((self.path(), column))
                if not self.accept("PUNCT", ","):
                    break
        self.expect("KEYWORD", "FROM")
        sobject = self.tok
        if sobject.kind != "IDENT":
            raise self.fail()
        self.pos += 1
        where = self.expr() if self.accept("KEYWORD", "WHERE") else None
        order: list[OrderItem] = []
        if self.accept("KEYWORD", "ORDER"):
            self.expect("KEYWORD", "BY")
            while True:
                order.append(self.order_item())
                if not self.accept("PUNCT", ","):
                    break
        limit = self.integer() if self.accept("KEYWORD", "LIMIT") else None
        offset = self.integer() if self.accept("KEYWORD", "OFFSET") else None
        self.accept("PUNCT", ";")
        if self.tok.kind != "EOF":
            raise self.fail()
        return Query(
            self.text,
            count,
            tuple(fields),
            sobject.text,
            sobject.column,
            where,
            tuple(order),
            limit,
            offset,
        )

    def path(self) -> tuple[str, ...]:
        parts = [self.name()]
        while self.accept("PUNCT", "."):
            parts.append(self.name())
        return tuple(parts)

    def name(self) -> str:
        token = self.tok
        # SOQL lets a few keywords double as field names (a field called "Last" is legal).
        if token.kind == "IDENT" or (token.kind == "KEYWORD" and token.value in ("FIRST", "LAST")):
            self.pos += 1
            return token.text
        raise self.fail()

    def integer(self) -> int:
        token = self.expect("NUMBER")
        if not isinstance(token.value, int) or token.value < 0:
            raise self.fail(token)
        return token.value

    def order_item(self) -> OrderItem:
        column = self.tok.column
        path = self.path()
        descending = bool(self.accept("KEYWORD", "DESC"))
        if not descending:
            self.accept("KEYWORD", "ASC")
        nulls_last = descending
        if self.accept("KEYWORD", "NULLS"):
            if self.accept("KEYWORD", "LAST"):
                nulls_last = True
            else:
                self.expect("KEYWORD", "FIRST")
                nulls_last = False
        return OrderItem(path, descending, nulls_last, column)

    def expr(self) -> Condition | BoolOp:
        first = self.term()
        joiner: str | None = None
        items = [first]
        while self.tok.kind == "KEYWORD" and self.tok.value in ("AND", "OR"):
            word = self.tok
            if joiner is not None and word.value != joiner:
                raise self.fail(word, f"unexpected token: '{word.text}'")
            joiner = word.value
            self.pos += 1
            items.append(self.term())
        return first if joiner is None else BoolOp(joiner, tuple(items))

    def term(self) -> Condition | BoolOp:
        if self.accept("KEYWORD", "NOT"):
            return BoolOp("NOT", (self.term(),))
        if self.accept("PUNCT", "("):
            inner = self.expr()
            self.expect("PUNCT", ")")
            return inner
        return self.condition()

    def condition(self) -> Condition:
        column = self.tok.column
        path = self.path()
        token = self.tok
        if token.kind == "OP":
            self.pos += 1
            return Condition(path, token.value, self.value(), column)
        if self.accept("KEYWORD", "LIKE"):
            value = self.value()
            if value.kind != "string":
                raise self.fail(token, "LIKE needs a quoted string")
            return Condition(path, "LIKE", value, column)
        negate = bool(self.accept("KEYWORD", "NOT"))
        if self.accept("KEYWORD", "IN"):
            self.expect("PUNCT", "(")
            values = [self.value()]
            while self.accept("PUNCT", ","):
                values.append(self.value())
            self.expect("PUNCT", ")")
            return Condition(path, "NOT IN" if negate else "IN", tuple(values), column)
        raise self.fail()

    def value(self) -> Literal:
        token = self.take()
        kinds = {"STRING": "string", "NUMBER": "number", "DATETIME": "datetime", "DATE": "date"}
        if token.kind in kinds:
            return Literal(kinds[token.kind], token.value, token.column)
        if token.kind == "KEYWORD" and token.value in ("NULL", "TRUE", "FALSE"):
            if token.value == "NULL":
                return Literal("null", None, token.column)
            return Literal("boolean", token.value == "TRUE", token.column)
        if token.kind == "IDENT" and token.text.upper() in DATE_LITERALS:
            word = token.text.upper()
            if word.endswith("_N_DAYS"):
                self.expect("PUNCT", ":")
                days = self.integer()
                return Literal("range", (word, days), token.column)
            return Literal("range", (word, 0), token.column)
        raise self.fail(token)


def parse(text: str) -> Query:
    """Parse one SOQL query (syntax only; names are checked against the schema later)."""
    return _Parser(text).query()


def date_range(literal: tuple[str, int], today: date) -> tuple[date, date]:
    """The [start, end) day range a relative date literal stands for."""
    word, n = literal
    if word == "TODAY":
        return today, today + timedelta(days=1)
    if word == "YESTERDAY":
        return today - timedelta(days=1), today
    if word == "TOMORROW":
        return today + timedelta(days=1), today + timedelta(days=2)
    if word == "LAST_N_DAYS":
        return today - timedelta(days=n), today + timedelta(days=1)
    if word == "NEXT_N_DAYS":
        return today + timedelta(days=1), today + timedelta(days=n + 1)
    monday = today - timedelta(days=today.weekday())
    if word == "THIS_WEEK":
        return monday, monday + timedelta(days=7)
    if word == "LAST_WEEK":
        return monday - timedelta(days=7), monday
    first = today.replace(day=1)
    next_month = (first + timedelta(days=32)).replace(day=1)
    if word == "THIS_MONTH":
        return first, next_month
    previous = (first - timedelta(days=1)).replace(day=1)
    return previous, first
