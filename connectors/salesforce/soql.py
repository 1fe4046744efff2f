"""A small SOQL builder: every literal quoted, every identifier validated.

No value from a config file or a CLI argument is ever pasted into a query as text. Literals go
through :func:`literal` (string escaping per the SOQL reference: ``\\ ' " \\n \\r \\t \\b \\f``,
plus ``% _`` only inside a LIKE pattern); field and object names go through
:func:`identifier`, which accepts only API names (``Name``, ``Lead__c``, ``Account.Industry``,
``Lead__r.Email``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(__[cr])?(\.[A-Za-z][A-Za-z0-9_]*(__[cr])?)*$")

_STRING_ESCAPES = {
    "\\": "\\\\",
    "'": "\\'",
    '"': '\\"',
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\b",
    "\f": "\\f",
}
_LIKE_ESCAPES = {"%": "\\%", "_": "\\_"}


class SoqlError(ValueError):
    """A name or value cannot be put into a SOQL query safely."""


def identifier(name: str) -> str:
    """Return ``name`` if it is a valid (possibly dotted) API name, else raise ``SoqlError``."""
    if not isinstance(name, str) or not IDENTIFIER.fullmatch(name):
        raise SoqlError(
            f"{name!r} is not a Salesforce API name (letters, digits and underscores, starting "
            f"with a letter, optionally ending in __c or __r, dotted for relationships)"
        )
    return name


def escape_string(value: str, *, like: bool = False) -> str:
    """Escape the characters SOQL treats specially inside a quoted string."""
    table = {**_STRING_ESCAPES, **_LIKE_ESCAPES} if like else _STRING_ESCAPES
    return "".join(table.get(ch, ch) for ch in value)


def format_datetime(value: datetime) -> str:
    """A dateTime literal in UTC: ``2024-01-01T00:00:00Z`` (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def literal(value: object, *, like: bool = False) -> str:
    """Render a Python value as a SOQL literal."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, Decimal)):
        return str(value)
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise SoqlError(f"{value!r} has no SOQL literal")
        return repr(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + escape_string(value, like=like) + "'"
    raise SoqlError(f"cannot render {type(value).__name__} as a SOQL literal")


def in_list(values: Iterable[object]) -> str:
    """``('a', 'b')`` for an ``IN`` clause; an empty list is an error, not an empty clause."""
    rendered = [literal(v) for v in values]
    if not rendered:
        raise SoqlError("an IN list needs at least one value")
    return "(" + ", ".join(rendered) + ")"


@dataclass(frozen=True, slots=True)
class Condition:
    """One rendered ``WHERE`` term; build it only through the helpers below."""

    text: str


def eq(field: str, value: object) -> Condition:
    return Condition(f"{identifier(field)} = {literal(value)}")


def ne(field: str, value: object) -> Condition:
    return Condition(f"{identifier(field)} != {literal(value)}")


def ge(field: str, value: object) -> Condition:
    return Condition(f"{identifier(field)} >= {literal(value)}")


def gt(field: str, value: object) -> Condition:
    return Condition(f"{identifier(field)} > {literal(value)}")


def is_in(field: str, values: Iterable[object]) -> Condition:
    return Condition(f"{identifier(field)} IN {in_list(values)}")


def any_of(*conditions: Condition) -> Condition:
    """``(a OR b)``: SOQL needs the parentheses beside an AND."""
    if not conditions:
        raise SoqlError("an OR needs at least one condition")
    return Condition("(" + " OR ".join(c.text for c in conditions) + ")")


def like(field: str, pattern_prefix: str) -> Condition:
    """``field LIKE 'prefix%'``: the prefix's own ``%`` and ``_`` match only themselves."""
    return Condition(f"{identifier(field)} LIKE '{escape_string(pattern_prefix, like=True)}%'")


def select(
    fields: Sequence[str],
    sobject: str,
    where: Sequence[Condition] = (),
    order_by: Sequence[str] = (),
    limit: int | None = None,
) -> str:
    """``SELECT f1, f2 FROM Obj WHERE a AND b ORDER BY x, y LIMIT n``; duplicates removed."""
    names = list(dict.fromkeys(identifier(f) for f in fields))
    if not names:
        raise SoqlError("a SELECT needs at least one field")
    text = f"SELECT {', '.join(names)} FROM {identifier(sobject)}"
    if where:
        text += " WHERE " + " AND ".join(c.text for c in where)
    if order_by:
        text += " ORDER BY " + ", ".join(identifier(f) for f in order_by)
    if limit is not None:
        if limit < 1:
            raise SoqlError("LIMIT must be positive")
        text += f" LIMIT {int(limit)}"
    return text


def count(sobject: str, where: Sequence[Condition] = ()) -> str:
    """``SELECT COUNT() FROM Obj WHERE ...``."""
    text = f"SELECT COUNT() FROM {identifier(sobject)}"
    if where:
        text += " WHERE " + " AND ".join(c.text for c in where)
    return text
