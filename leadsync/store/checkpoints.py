"""Where a backfill's full pull stands, so one killed midway resumes from its last page.

A checkpoint is written in the same transaction as the page of records it follows, so after a
crash the store never claims a page it does not hold. The token is the connector's own (a
Bulk job and locator, a paging cursor); the store keeps it as text and never reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.store.schema import backfill_checkpoints as table

#: The row that says a backfill began (its people were marked for re-scoring then).
_BEGUN = "*"


@dataclass(frozen=True, slots=True)
class StreamCheckpoint:
    token: str | None
    done: bool
    records: int


def begin(conn: sa.Connection, backfill: str, now: datetime) -> datetime | None:
    """Start ``backfill``, or find it begun: returns when it began, ``None`` if it is new."""
    began = conn.execute(
        sa.select(table.c.started_at).where(
            table.c.backfill == backfill, table.c.connector == _BEGUN, table.c.stream == _BEGUN
        )
    ).scalar_one_or_none()
    if began is None:
        conn.execute(
            sa.insert(table).values(
                backfill=backfill,
                connector=_BEGUN,
                stream=_BEGUN,
                done=False,
                records=0,
                started_at=now,
                updated_at=now,
            )
        )
    return began


def read(
    conn: sa.Connection, backfill: str, connector: str, stream: str
) -> StreamCheckpoint | None:
    row = conn.execute(
        sa.select(table.c.token, table.c.done, table.c.records).where(
            table.c.backfill == backfill, table.c.connector == connector, table.c.stream == stream
        )
    ).one_or_none()
    return None if row is None else StreamCheckpoint(row.token, bool(row.done), int(row.records))


def save(
    conn: sa.Connection,
    backfill: str,
    connector: str,
    stream: str,
    *,
    token: str | None,
    records: int,
    now: datetime,
    done: bool = False,
) -> None:
    """Record where ``stream`` stands (``done``: finished); ``records`` pulled so far."""
    values = {"token": token, "records": records, "done": done, "updated_at": now}
    key = (table.c.backfill == backfill, table.c.connector == connector, table.c.stream == stream)
    if conn.execute(sa.update(table).where(*key).values(**values)).rowcount == 0:
        conn.execute(
            sa.insert(table).values(
                backfill=backfill, connector=connector, stream=stream, started_at=now, **values
            )
        )


def clear(conn: sa.Connection, backfill: str) -> None:
    """Forget a finished backfill."""
    conn.execute(sa.delete(table).where(table.c.backfill == backfill))


def unfinished(conn: sa.Connection) -> list[tuple[str, datetime]]:
    """Backfills begun and not finished, with when they began (oldest first)."""
    rows = conn.execute(
        sa.select(table.c.backfill, table.c.started_at)
        .where(table.c.connector == _BEGUN, table.c.stream == _BEGUN)
        .order_by(table.c.started_at)
    )
    return [(row.backfill, row.started_at) for row in rows]
