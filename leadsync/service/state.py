"""What the service knows about its cycles, and whether it is ready to serve.

``readiness`` is a pure function of values so it can be tested with fixed clocks; the app
gathers the values (the store probe, the last outcomes) and calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import sqlalchemy as sa

from jobs.runner import CycleOutcome
from leadsync.engine.cycle import CycleReport
from leadsync.store.schema import runs

#: A connector's last cycle older than this many intervals makes the service unready.
STALE_INTERVALS = 3


class CycleLog:
    """The last outcome per connector; written by the worker thread, read by HTTP handlers."""

    def __init__(self, started_at: datetime) -> None:
        self.started_at = started_at
        self._lock = threading.Lock()
        self._last: dict[str, CycleOutcome] = {}

    def record(self, outcome: CycleOutcome) -> None:
        with self._lock:
            self._last[outcome.connector] = outcome

    def last(self) -> dict[str, CycleOutcome]:
        with self._lock:
            return dict(self._last)


class Leadership(Protocol):
    """Whether this replica runs the scheduler (``leader``) or stands by, and since when."""

    @property
    def role(self) -> str: ...

    @property
    def since(self) -> datetime: ...


def outcomes_from_store(conn: sa.Connection, connectors: Sequence[str]) -> dict[str, CycleOutcome]:
    """Each connector's last finished scheduled cycle as the runs table has it.

    A standby replica runs no cycles of its own; its readiness follows the leader's, which
    every replica can read from the shared store.
    """
    out: dict[str, CycleOutcome] = {}
    for name in connectors:
        row = conn.execute(
            sa.select(runs)
            .where(runs.c.connector == name, runs.c.finished_at.is_not(None))
            .order_by(runs.c.id.desc())
            .limit(1)
        ).first()
        if row is None:
            continue
        counts = row.counts or {}
        out[name] = CycleOutcome(
            connector=name,
            status=row.status,
            started_at=row.started_at,
            finished_at=row.finished_at,
            duration_seconds=(row.finished_at - row.started_at).total_seconds(),
            errors=tuple(counts.get("errors") or ([row.error] if row.error else [])),
            report=CycleReport(
                run_id=row.id, status=row.status, auth_failed=list(counts.get("auth_failed", []))
            ),
        )
    return out


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


def readiness(
    now: datetime,
    started_at: datetime,
    interval: timedelta,
    connectors: Sequence[str],
    last: Mapping[str, CycleOutcome],
    store_problem: str | None,
) -> list[Check]:
    """One check for the store and, per connector, its credentials and its cycle's age.

    Before a connector's first cycle its age counts from the service's start, so a fresh
    service is ready while its first (possibly long) cycle runs.
    """
    checks = [Check("store", store_problem is None, store_problem or "reachable")]
    limit = interval * STALE_INTERVALS
    for name in connectors:
        outcome = last.get(name)
        detail = "; ".join(outcome.errors) if outcome is not None else ""
        if outcome is not None and outcome.credentials_refused:
            checks.append(
                Check(f"{name}.credentials", False, f"{detail} (fix the connection settings)")
            )
        else:
            checks.append(Check(f"{name}.credentials", True, "last cycle not refused"))
        if outcome is not None and outcome.fatal and not outcome.credentials_refused:
            checks.append(Check(f"{name}.last_cycle", False, f"{detail} (see logs)"))
        since = outcome.finished_at if outcome is not None else started_at
        age = now - since
        fresh = age <= limit
        what = "last cycle" if outcome is not None else "no cycle yet; started"
        checks.append(
            Check(
                f"{name}.freshness",
                fresh,
                f"{what} {int(age.total_seconds())} s ago (limit {int(limit.total_seconds())} s)",
            )
        )
    return checks
