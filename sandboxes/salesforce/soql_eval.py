"""Check a parsed SOQL query against the org's schema, run it, and shape rows as the API does."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sandboxes.salesforce.ids import to18
from sandboxes.salesforce.org import OrgState
from sandboxes.salesforce.schema import NUMBER_TYPES, TEXT_TYPES, FieldDef, ObjectDef
from sandboxes.salesforce.soql_parse import (
    BoolOp,
    Condition,
    Literal,
    Query,
    SoqlError,
    date_range,
    error_at,
    parse,
)

Row = Mapping[str, Any]
_NO_COLUMN = (
    "No such column '{name}' on entity '{entity}'. If you are attempting to use a custom field, "
    "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
    "describe call for the appropriate names."
)
_NO_RELATION = (
    "Didn't understand relationship '{name}' in field path. If you are attempting to use a "
    "custom relationship, be sure to append the '__r' after the custom relationship name. "
    "Please reference your WSDL or the describe call for the appropriate names."
)
_NO_TYPE = (
    "sObject type '{name}' is not supported. If you are attempting to use a custom object, be "
    "sure to append the '__c' after the entity name. Please reference your WSDL or the describe "
    "call for the appropriate names."
)
_TYPE_WORD = {
    "datetime": "dateTime",
    "date": "date",
    "boolean": "boolean",
    "double": "double",
    "currency": "currency",
    "int": "int",
}


@dataclass(frozen=True, slots=True)
class ResolvedPath:
    """A field path bound to the schema: the relationship hops and the final field."""

    hops: tuple[tuple[str, str, tuple[str, ...]], ...]  # (reference field, relationship, targets)
    field: FieldDef

    def read(self, org: OrgState, row: Row) -> Any:
        current: Row | None = row
        for reference, _, _ in self.hops:
            ref = current.get(reference) if current else None
            current = org.lookup(ref) if ref else None
        return current.get(self.field.name) if current else None


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    """A query ready to run: the object, what to select, and how to filter and order."""

    query: Query
    sobject: ObjectDef
    select: tuple[ResolvedPath, ...]
    predicate: Callable[[Row], bool]
    order: tuple[tuple[ResolvedPath, bool, bool], ...]

    def run(self, org: OrgState, *, include_deleted: bool) -> list[Row]:
        """Matching rows, ordered, with OFFSET and LIMIT applied."""
        rows = [
            r
            for r in org.rows(self.sobject.name)
            if (include_deleted or not r.get("IsDeleted")) and self.predicate(r)
        ]
        for path, descending, nulls_last in reversed(self.order):
            rows.sort(
                key=functools.partial(_sort_key, org, path, nulls_last != descending),
                reverse=descending,
            )
        start = self.query.offset or 0
        end = start + self.query.limit if self.query.limit is not None else None
        return rows[start:end]

    def shape(self, org: OrgState, row: Row, version: str) -> dict[str, Any]:
        """One record as the REST query answer carries it, parents as nested objects."""
        out: dict[str, Any] = {"attributes": _attributes(self.sobject.name, row["Id"], version)}
        for path in self.select:
            target = out
            current: Row | None = row
            for reference, relationship, _ in path.hops:
                ref = current.get(reference) if current else None
                current = org.lookup(ref) if ref else None
                if current is None:
                    target[relationship] = target.get(relationship)
                    break
                nested = target.get(relationship)
                if nested is None:
                    nested = {
                        "attributes": _attributes(
                            org.type_of_id(current["Id"]) or "", current["Id"], version
                        )
                    }
                    target[relationship] = nested
                target = nested
            else:
                target[path.field.name] = json_value(
                    path.field, current.get(path.field.name) if current else None
                )
        return out


def _attributes(object_type: str, record_id: str, version: str) -> dict[str, str]:
    return {
        "type": object_type,
        "url": f"/services/data/v{version}/sobjects/{object_type}/{record_id}",
    }


def _sort_key(org: OrgState, path: ResolvedPath, nulls_high: bool, row: Row) -> tuple[int, Any]:
    value = path.read(org, row)
    if value is None:
        return (1 if nulls_high else -1, 0)
    if isinstance(value, str) and path.field.type not in ("id", "reference"):
        value = value.lower()
    return (0, value)


def json_value(spec: FieldDef, value: Any) -> Any:
    """A stored value as the REST API renders it in JSON."""
    if value is None:
        return None
    if spec.type == "datetime" and isinstance(value, datetime):
        return (
            value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.")
            + f"{value.microsecond // 1000:03d}+0000"
        )
    if spec.type == "date" and isinstance(value, date):
        return value.isoformat()
    if spec.type in ("double", "currency"):
        return float(value)
    return value


#: The documented maximum length of a SOQL statement (characters).
MAX_SOQL_LENGTH = 100_000


def compile_query(org: OrgState, text: str) -> CompiledQuery:
    """Parse ``text`` and bind it to the org's schema; raises :class:`SoqlError`."""
    if len(text) > MAX_SOQL_LENGTH:
        raise SoqlError(
            "MALFORMED_QUERY",
            f"SOQL statements can not be longer than {MAX_SOQL_LENGTH} characters.",
        )
    query = parse(text)
    sobject = org.object_def(query.sobject)
    if sobject is None:
        raise SoqlError(
            "INVALID_TYPE",
            error_at(text, query.sobject_column, _NO_TYPE.format(name=query.sobject)),
        )
    select: list[ResolvedPath] = []
    seen: set[tuple[str, ...]] = set()
    for path, column in query.fields:
        resolved = _resolve(org, sobject, path, text, column)
        key = tuple(p.lower() for p in path)
        if key in seen:
            raise SoqlError(
                "MALFORMED_QUERY",
                error_at(text, column, f"duplicate field selected: {'.'.join(path)}"),
            )
        seen.add(key)
        select.append(resolved)
    predicate = _compile(org, sobject, query.where, text) if query.where else _always
    order = []
    for item in query.order:
        resolved = _resolve(org, sobject, item.path, text, item.column)
        if resolved.field.type == "textarea":
            raise SoqlError(
                "INVALID_FIELD",
                error_at(
                    text,
                    item.column,
                    f"field '{resolved.field.name}' can not be sorted in a query call",
                ),
            )
        order.append((resolved, item.descending, item.nulls_last))
    if query.offset is not None and query.offset > 2000:
        raise SoqlError("NUMBER_OUTSIDE_VALID_RANGE", "Maximum SOQL offset allowed is 2000")
    return CompiledQuery(query, sobject, tuple(select), predicate, tuple(order))


def _always(row: Row) -> bool:
    return True


def _resolve(
    org: OrgState, sobject: ObjectDef, path: tuple[str, ...], text: str, column: int
) -> ResolvedPath:
    parts = list(path)
    # A path may start with the object's own name ("Lead.Email"), which SOQL allows.
    if len(parts) > 1 and parts[0].lower() == sobject.name.lower():
        parts = parts[1:]
    hops: list[tuple[str, str, tuple[str, ...]]] = []
    current = [sobject]
    for hop in parts[:-1]:
        reference = current[0].relationship(hop)
        if reference is None or len(hops) >= 5:
            raise SoqlError("INVALID_FIELD", error_at(text, column, _NO_RELATION.format(name=hop)))
        targets = tuple(t for t in reference.reference_to if org.object_def(t))
        if not targets:
            raise SoqlError("INVALID_FIELD", error_at(text, column, _NO_RELATION.format(name=hop)))
        hops.append((reference.name, reference.relationship_name or hop, targets))
        current = [d for t in targets if (d := org.object_def(t)) is not None]
    final = [obj.field(parts[-1]) for obj in current]
    if any(spec is None for spec in final):
        raise SoqlError(
            "INVALID_FIELD",
            error_at(text, column, _NO_COLUMN.format(name=parts[-1], entity=current[0].name)),
        )
    spec = final[0]
    assert spec is not None
    return ResolvedPath(tuple(hops), spec)


def _compile(
    org: OrgState, sobject: ObjectDef, node: Condition | BoolOp, text: str
) -> Callable[[Row], bool]:
    if isinstance(node, BoolOp):
        parts = [_compile(org, sobject, item, text) for item in node.items]
        if node.op == "NOT":
            inner = parts[0]
            return lambda row: not inner(row)
        if node.op == "AND":
            return lambda row: all(p(row) for p in parts)
        return lambda row: any(p(row) for p in parts)
    path = _resolve(org, sobject, node.path, text, node.column)
    spec = path.field
    if spec.type == "textarea":
        raise SoqlError(
            "INVALID_FIELD",
            error_at(text, node.column, f"field '{spec.name}' can not be filtered in a query call"),
        )
    literals = node.value if isinstance(node.value, tuple) else (node.value,)
    values = [_coerce(spec, lit, node.op, text) for lit in literals]
    read = path.read if path.hops else None
    name = spec.name

    fold = spec.type not in ("id", "reference")  # ids compare case-sensitively, text does not

    def get(row: Row) -> Any:
        value = read(org, row) if read else row.get(name)
        return value.lower() if fold and isinstance(value, str) else value

    test = _operator(node.op, values, spec)
    return lambda row: test(get(row))


def _coerce(spec: FieldDef, literal: Literal, op: str, text: str) -> Any:
    kind = literal.kind
    if kind == "null":
        if op not in ("=", "!=", "IN", "NOT IN"):
            raise SoqlError(
                "MALFORMED_QUERY", error_at(text, literal.column, "unexpected token: 'null'")
            )
        return None
    field_type = spec.type
    if field_type in ("id", "reference"):
        if kind != "string":
            raise _type_error(spec, literal, text, quoted=True)
        if op == "LIKE":
            return literal.value.lower()
        full = to18(literal.value)
        if full is None:
            raise SoqlError(
                "INVALID_QUERY_FILTER_OPERATOR",
                error_at(text, literal.column, f"invalid ID field: {literal.value}"),
            )
        return full
    if field_type in TEXT_TYPES:
        if kind != "string":
            raise _type_error(spec, literal, text, quoted=True)
        return literal.value.lower()
    if op == "LIKE":
        raise SoqlError(
            "INVALID_FIELD",
            error_at(text, literal.column, f"invalid operator on field: {spec.name}"),
        )
    if field_type in NUMBER_TYPES and kind == "number":
        return literal.value
    if field_type == "boolean" and kind == "boolean":
        return literal.value
    if field_type == "datetime" and kind in ("datetime", "range"):
        return literal
    if field_type == "date" and kind in ("date", "range"):
        return literal
    raise _type_error(spec, literal, text, quoted=False)


def _type_error(spec: FieldDef, literal: Literal, text: str, *, quoted: bool) -> SoqlError:
    word = _TYPE_WORD.get(spec.type, "string")
    hint = "should be enclosed in quotes" if quoted else "should not be enclosed in quotes"
    return SoqlError(
        "INVALID_FIELD",
        error_at(
            text,
            literal.column,
            f"value of filter criterion for field '{spec.name}' must be of type {word} and {hint}",
        ),
    )


def _operator(op: str, values: list[Any], spec: FieldDef) -> Callable[[Any], bool]:
    if spec.type in ("datetime", "date"):
        return _temporal(op, values, spec)
    if op in ("IN", "NOT IN"):
        members = set(values)
        if op == "IN":
            return lambda v: v in members
        return lambda v: v not in members
    value = values[0]
    if op == "=":
        return lambda v: v == value
    if op == "!=":
        return lambda v: v != value
    if op == "LIKE":
        matcher = _like(value)
        return lambda v: v is not None and matcher(str(v))
    compare = {
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }[op]
    return lambda v: v is not None and compare(v, value)


def _temporal(op: str, values: list[Any], spec: FieldDef) -> Callable[[Any], bool]:
    """Date/datetime comparison; a relative literal (TODAY, LAST_N_DAYS:n) is a day range."""
    tests = [_temporal_one("=" if op in ("IN", "NOT IN") else op, v, spec) for v in values]
    if op == "IN":
        return lambda v: any(t(v) for t in tests)
    if op == "NOT IN":
        return lambda v: not any(t(v) for t in tests)
    return tests[0]


def _temporal_one(op: str, literal: Literal | None, spec: FieldDef) -> Callable[[Any], bool]:
    if literal is None:
        return (lambda v: v is None) if op == "=" else (lambda v: v is not None)
    if literal.kind == "range":
        start, end = date_range(literal.value, datetime.now(UTC).date())

        def day(v: Any) -> date:
            return v.astimezone(UTC).date() if isinstance(v, datetime) else v

        tests: dict[str, Callable[[Any], bool]] = {
            "=": lambda v: start <= day(v) < end,
            "!=": lambda v: not start <= day(v) < end,
            "<": lambda v: day(v) < start,
            "<=": lambda v: day(v) < end,
            ">": lambda v: day(v) >= end,
            ">=": lambda v: day(v) >= start,
        }
        inner = tests[op]
        if op == "!=":
            return lambda v: v is None or inner(v)
        return lambda v: v is not None and inner(v)
    point = literal.value
    compare: dict[str, Callable[[Any, Any], bool]] = {
        "=": lambda a, b: a == b,
        "!=": lambda a, b: a != b,
        "<": lambda a, b: a < b,
        "<=": lambda a, b: a <= b,
        ">": lambda a, b: a > b,
        ">=": lambda a, b: a >= b,
    }
    fn = compare[op]
    if op == "!=":
        return lambda v: v is None or fn(v, point)
    return lambda v: v is not None and fn(v, point)


def _like(pattern: str) -> Callable[[str], bool]:
    """SOQL LIKE: % any run, _ one character, \\% and \\_ literal; case-insensitive."""
    pieces: list[tuple[str, str]] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "%_":
            pieces.append(("lit", pattern[i + 1]))
            i += 2
            continue
        pieces.append(("any" if char == "%" else "one" if char == "_" else "lit", char))
        i += 1

    @functools.lru_cache(maxsize=4096)
    def match(text: str) -> bool:
        memo: dict[tuple[int, int], bool] = {}

        def go(p: int, t: int) -> bool:
            key = (p, t)
            if key in memo:
                return memo[key]
            if p == len(pieces):
                result = t == len(text)
            else:
                kind, char = pieces[p]
                if kind == "any":
                    result = go(p + 1, t) or (t < len(text) and go(p, t + 1))
                elif t < len(text) and (kind == "one" or text[t] == char):
                    result = go(p + 1, t + 1)
                else:
                    result = False
            memo[key] = result
            return result

        return go(0, 0)

    return lambda text: match(text.lower())
