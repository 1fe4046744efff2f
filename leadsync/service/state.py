"""What the service knows about its cycles, and whether it is ready to serve.

``readiness`` is a pure function of values so it can be tested with fixed clocks; the app
gathers the values (the store probe, the last outcomes) and calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from jobs.runner import CycleOutcome

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
