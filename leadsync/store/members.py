"""``column IN (values)`` that PostgreSQL parses once, whatever the number of values."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

#: ASCII unit separator: joins text values for ``string_to_array`` (no CRM id, email or uid
#: has one; a value that does falls back to an array parameter).
SEPARATOR = "\x1f"


def among(conn: sa.Connection, column: Any, values: Sequence[Any]) -> sa.ColumnElement[bool]:
    """``column IN (values)``; on PostgreSQL ``column = ANY(...)`` with one parameter.

    An expanding ``IN`` renders one placeholder per value, so each batch size is a new
    statement text: SQLAlchemy re-renders it and psycopg re-parses it on every call, which
    cost a fifth of a backfill's client time. One parameter keeps the text fixed. That
    parameter is the values joined into one string and split by the server: psycopg builds an
    array parameter in Python, element by element, 5 to 12 times slower (0.6 ms per 1,000
    integers, 1.5 ms per 1,000 uids), and ingest asks this for every uid it stores.
    """
    if conn.dialect.name != "postgresql":
        return column.in_(values)
    joined = _joined(column.type, values)
    if joined is None:
        array = sa.bindparam(None, list(values), type_=postgresql.ARRAY(column.type))
        return column == sa.any_(array)
    split = sa.func.string_to_array(sa.bindparam(None, joined, type_=sa.Text), SEPARATOR)
    return column == sa.any_(sa.cast(split, postgresql.ARRAY(column.type)))


def _joined(column_type: Any, values: Sequence[Any]) -> str | None:
    """The values as one separated string, or None where that would not round-trip."""
    if isinstance(column_type, sa.Integer):
        if all(type(v) is int for v in values):
            return SEPARATOR.join(map(str, values))
        return None
    if not isinstance(column_type, sa.String) or isinstance(column_type, sa.Enum):
        return None
    # An empty string would split into nothing when it is the only value: arrays for it.
    if values and all(type(v) is str and v and SEPARATOR not in v for v in values):
        return SEPARATOR.join(values)
    return None
