"""Per-connector cursors and the record of every cycle (runs)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.store.schema import cursors, runs


def get_cursor(conn: sa.Connection, connector: str, stream: str) -> datetime | None:
    query = sa.select(cursors.c.position).where(
        cursors.c.connector == connector, cursors.c.stream == stream
    )
    return conn.execute(query).scalar_one_or_none()


@dataclass(frozen=True, slots=True)
class Cursor:
    position: datetime
    #: Our clock when ``position`` was last moved.
    moved_at: datetime
    settled: bool


def read_cursor(conn: sa.Connection, connector: str, stream: str) -> Cursor | None:
    row = conn.execute(
        sa.select(cursors.c.position, cursors.c.updated_at, cursors.c.settled).where(
            cursors.c.connector == connector, cursors.c.stream == stream
        )
    ).first()
    return None if row is None else Cursor(row.position, row.updated_at, bool(row.settled))


def settle_cursor(conn: sa.Connection, connector: str, stream: str, position: datetime) -> None:
    """Everything stamped up to ``position`` is known seen (unless the cursor moved since)."""
    conn.execute(
        sa.update(cursors)
        .where(
            cursors.c.connector == connector,
            cursors.c.stream == stream,
            cursors.c.position == position,
        )
        .values(settled=True)
    )


def set_cursor(
    conn: sa.Connection, connector: str, stream: str, position: datetime, now: datetime
) -> None:
    """Move a cursor forward; never backwards (a late, older page cannot rewind it)."""
    current = get_cursor(conn, connector, stream)
    if current is None:
        conn.execute(
            sa.insert(cursors).values(
                connector=connector, stream=stream, position=position, updated_at=now
            )
        )
    elif position > current:
        conn.execute(
            sa.update(cursors)
            .where(cursors.c.connector == connector, cursors.c.stream == stream)
            .values(position=position, updated_at=now, settled=False)
        )


def reset_cursors(conn: sa.Connection, connector: str) -> None:
    conn.execute(sa.delete(cursors).where(cursors.c.connector == connector))


def start_run(conn: sa.Connection, connector: str, kind: str, now: datetime) -> int:
    # A run still marked running for this connector died with its process.
    conn.execute(
        sa.update(runs)
        .where(runs.c.connector == connector, runs.c.status == "running")
        .values(status="interrupted", finished_at=now)
    )
    inserted = conn.execute(
        sa.insert(runs).values(
            connector=connector, kind=kind, started_at=now, status="running", counts={}, api_calls=0
        )
    ).inserted_primary_key
    assert inserted is not None
    return int(inserted[0])


def finish_run(
    conn: sa.Connection,
    run_id: int,
    now: datetime,
    *,
    status: str,
    counts: Mapping[str, Any],
    api_calls: int,
    error: str | None = None,
) -> None:
    conn.execute(
        sa.update(runs)
        .where(runs.c.id == run_id)
        .values(
            finished_at=now, status=status, counts=dict(counts), api_calls=api_calls, error=error
        )
    )


def recent_runs(conn: sa.Connection, limit: int = 20) -> list[dict[str, Any]]:
    query = sa.select(runs).order_by(runs.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def last_finished(conn: sa.Connection, kind: str) -> datetime | None:
    """When the latest run of ``kind`` that did not fail outright finished."""
    query = sa.select(sa.func.max(runs.c.finished_at)).where(
        runs.c.kind == kind, runs.c.status.in_(("ok", "partial"))
    )
    value: datetime | None = conn.execute(query).scalar()
    return value


def first_finished(conn: sa.Connection) -> datetime | None:
    """When the first run of any kind that did not fail outright finished."""
    query = sa.select(sa.func.min(runs.c.finished_at)).where(runs.c.status.in_(("ok", "partial")))
    value: datetime | None = conn.execute(query).scalar()
    return value
