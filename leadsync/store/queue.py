"""The backfill queue: requests from the CLI or the dashboard, run by the leading service.

A request goes ``queued`` -> ``running`` -> ``done`` (the cycle ran, whatever it reported)
or ``failed`` (it raised, or kept dying). Only the leader claims requests, one at a time, so
claiming needs no row locks. A request still ``running`` when a leader claims the next one
was left by a process that died in it: it is run again (a backfill re-pulls and re-scores,
so running it twice ends where running it once does), at most ``max_attempts`` times.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.store.schema import backfill_requests

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


@dataclass(frozen=True, slots=True)
class BackfillRequest:
    id: int
    connectors: tuple[str, ...]
    since: datetime | None
    dry_run: bool
    no_actions: bool
    attempts: int

    def describe(self) -> str:
        what = "dry-run backfill" if self.dry_run else "backfill"
        scope = ", ".join(self.connectors) or "every connector"
        since = f" since {self.since:%Y-%m-%d}" if self.since else ""
        return f"{what} of {scope}{since}" + (" without actions" if self.no_actions else "")


def enqueue_backfill(
    conn: sa.Connection,
    *,
    connectors: Sequence[str],
    since: datetime | None,
    dry_run: bool,
    no_actions: bool,
    requested_by: str,
    now: datetime,
) -> tuple[int, bool]:
    """Queue a backfill; ``(id, False)`` when the same request is already waiting (joined)."""
    wanted = sorted(set(connectors))
    waiting = conn.execute(
        sa.select(backfill_requests).where(backfill_requests.c.state == QUEUED)
    ).all()
    for row in waiting:
        if (
            sorted(row.connectors) == wanted
            and row.since == since
            and row.dry_run == dry_run
            and row.no_actions == no_actions
        ):
            return int(row.id), False
    inserted = conn.execute(
        sa.insert(backfill_requests)
        .values(
            connectors=wanted,
            since=since,
            dry_run=dry_run,
            no_actions=no_actions,
            requested_by=requested_by,
            state=QUEUED,
            attempts=0,
            requested_at=now,
        )
        .returning(backfill_requests.c.id)
    ).scalar_one()
    return int(inserted), True


def claim_next(conn: sa.Connection, now: datetime, *, max_attempts: int) -> BackfillRequest | None:
    """The next request to run, now marked ``running``: one a dead leader left first.

    A left-over request that already died ``max_attempts`` times is marked failed instead.
    """
    while True:
        row = conn.execute(
            sa.select(backfill_requests)
            .where(backfill_requests.c.state.in_((RUNNING, QUEUED)))
            # "running" sorts after "queued": left-overs first, then in order of request.
            .order_by(backfill_requests.c.state.desc(), backfill_requests.c.id)
            .limit(1)
        ).first()
        if row is None:
            return None
        if row.state == RUNNING and row.attempts >= max_attempts:
            conn.execute(
                sa.update(backfill_requests)
                .where(backfill_requests.c.id == row.id)
                .values(
                    state=FAILED,
                    finished_at=now,
                    status="error",
                    error=f"the service died during this backfill {row.attempts} times; "
                    "see its logs, then queue it again",
                )
            )
            continue
        conn.execute(
            sa.update(backfill_requests)
            .where(backfill_requests.c.id == row.id)
            .values(state=RUNNING, started_at=now, finished_at=None, attempts=row.attempts + 1)
        )
        return BackfillRequest(
            id=row.id,
            connectors=tuple(row.connectors),
            since=row.since,
            dry_run=row.dry_run,
            no_actions=row.no_actions,
            attempts=row.attempts + 1,
        )


def finish_request(
    conn: sa.Connection,
    request_id: int,
    now: datetime,
    *,
    status: str,
    report: Mapping[str, Any] | None,
    run_id: int | None,
    error: str | None,
) -> None:
    """Record how the request's cycle ended: ``done`` when it ran, ``failed`` when it raised."""
    conn.execute(
        sa.update(backfill_requests)
        .where(backfill_requests.c.id == request_id)
        .values(
            state=DONE if report is not None else FAILED,
            finished_at=now,
            status=status,
            report=dict(report) if report is not None else None,
            run_id=run_id,
            error=error,
        )
    )


def requeue(conn: sa.Connection, request_id: int) -> None:
    """Put a request the service stopped in back in line; a clean stop is not an attempt."""
    conn.execute(
        sa.update(backfill_requests)
        .where(backfill_requests.c.id == request_id)
        .values(state=QUEUED, attempts=backfill_requests.c.attempts - 1, started_at=None)
    )


def recent_requests(conn: sa.Connection, limit: int = 20) -> list[dict[str, Any]]:
    """The newest requests with their state, timing, status and error."""
    query = sa.select(backfill_requests).order_by(backfill_requests.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]
