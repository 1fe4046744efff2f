"""Update many rows by key at once: one set-based UPDATE on PostgreSQL, executemany otherwise.

An ``executemany`` UPDATE is one statement per row on the wire and in the server (parse,
plan, index lookup, each on its own); scoring a backfill updated every person's row that way,
twice a batch. On PostgreSQL the rows go as one array per column, unnested in lockstep
and joined to the table by key: one statement a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from leadsync.store.identity import chunks

#: Below this many rows an executemany costs no more than building the arrays.
SET_BASED_MIN_ROWS = 100
#: Rows a statement: bounds the size of one statement's parameters.
ROWS_PER_STATEMENT = 5_000


def update_rows(
    conn: sa.Connection, table: sa.Table, key: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    """Set each row's other values on the table row whose ``key`` column equals its ``key``.

    Rows all have the same keys; of rows naming the same key value the last one wins.
    """
    rows = list({row[key]: row for row in rows}.values())
    if not rows:
        return
    names = [name for name in rows[0] if name != key]
    if not names:
        return
    if conn.dialect.name != "postgresql" or len(rows) < SET_BASED_MIN_ROWS:
        statement = (
            sa.update(table)
            .where(table.c[key] == sa.bindparam("_key"))
            .values({name: sa.bindparam(f"_{name}") for name in names})
        )
        for part in chunks(rows, 1_000):
            conn.execute(
                statement,
                [{"_key": row[key], **{f"_{name}": row[name] for name in names}} for row in part],
            )
        return
    for part in chunks(rows, ROWS_PER_STATEMENT):
        columns = [key, *names]
        # Several set-returning functions in one select list run in lockstep (PostgreSQL 10+).
        values = sa.select(
            *(
                sa.func.unnest(
                    sa.bindparam(
                        None,
                        [row[name] for row in part],
                        type_=postgresql.ARRAY(table.c[name].type),
                    )
                ).label(name)
                for name in columns
            )
        ).subquery("v")
        conn.execute(
            sa.update(table)
            .where(table.c[key] == values.c[key])
            .values({name: values.c[name] for name in names})
        )
