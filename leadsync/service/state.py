"""What the service knows about its cycles, and whether it is ready to serve.

``readiness`` is a pure function of values so it can be tested with fixed clocks; the app
(and ``leadsync status``) gather the values (the store probe, each connector's health from
the runs table) and call it.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from jobs.runner import CycleOutcome
from leadsync.store import Connection
from leadsync.store.runs import ConnectorHealth, connector_health

#: Without ``[health] freshness_seconds``: a connector whose last good cycle is older than
#: this many intervals is unhealthy.
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


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class HealthRules:
    """When a connector counts as unhealthy (``[health]`` in the config)."""

    #: Its last good cycle is older than this.
    freshness: timedelta
    #: It failed this many cycles in a row.
    unready_after_failures: int = 2


def health_from_store(conn: Connection, connectors: Sequence[str]) -> dict[str, ConnectorHealth]:
    """Each connector's recent cycles, as every replica and ``leadsync status`` read them:
    the runs table is the one record of how cycles went, whoever ran them."""
    return connector_health(conn, connectors)


def readiness(
    now: datetime,
    started_at: datetime | None,
    connectors: Sequence[str],
    health: Mapping[str, ConnectorHealth],
    store_problem: str | None,
    rules: HealthRules,
) -> list[Check]:
    """One check for the store and, per connector, its credentials, its recent failures and
    the age of its last good cycle.

    ``started_at`` is when the service started (``None``: a command, not the service). A
    service gives its connectors one freshness window from its start to finish a good cycle,
    so a fresh or restarted service is ready while its first (possibly long) cycle runs; a
    command has no such grace: a connector that never completed a cycle is unhealthy.
    """
    checks = [Check("store", store_problem is None, store_problem or "reachable")]
    limit = int(rules.freshness.total_seconds())
    for name in connectors:
        seen = health.get(name) or ConnectorHealth(name)
        error = seen.last_error or "see logs"
        if seen.credentials_refused:
            checks.append(
                Check(f"{name}.credentials", False, f"{error} (fix the connection settings)")
            )
        else:
            checks.append(Check(f"{name}.credentials", True, "last cycle not refused"))
        failing = seen.failures_in_a_row >= rules.unready_after_failures
        if seen.failures_in_a_row:
            detail = (
                f"{seen.failures_in_a_row} failed cycle(s) in a row (unhealthy from "
                f"{rules.unready_after_failures}); last error: {error}"
            )
        else:
            detail = "last cycle ok" if seen.last_status else "no cycle yet"
        checks.append(Check(f"{name}.last_cycle", not failing, detail))
        good = seen.last_good_at
        since = good if started_at is None else max(filter(None, (good, started_at)))
        if since is None:
            checks.append(Check(f"{name}.freshness", False, "no good cycle yet"))
            continue
        age = int((now - since).total_seconds())
        what = "last good cycle" if since == good else "no good cycle since the service started"
        checks.append(
            Check(f"{name}.freshness", age <= limit, f"{what} {age} s ago (limit {limit} s)")
        )
    return checks
