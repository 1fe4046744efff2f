"""Queued backfills, run by the leader's scheduler between cycles.

``BackfillJob.run_next`` is a periodic job on the scheduler's single worker, so a backfill
never overlaps a connector's cycle: it claims the next request (one a dead leader left
running first), runs a full cycle (``CycleRequest(full=True, ...)``) with the request's
options, and records start, finish, status and the cycle's report on the request. A backfill
the service stops (SIGTERM, or this replica losing the lease) ends its pull at a batch
boundary like any cycle and goes back in the queue for whoever leads next, who carries on from
its last committed page (the engine's checkpoints, keyed by the request).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Protocol

import structlog

from jobs.runner import CycleOutcome, Observer
from leadsync.engine.cycle import CycleReport
from leadsync.engine.request import CycleRequest
from leadsync.errors import CycleBusy, FatalSyncError, LeadSyncError
from leadsync.store import Store
from leadsync.store.queue import BackfillRequest, claim_next, finish_request, requeue

log = structlog.get_logger(__name__)

#: The scheduler's name for the job, and how often it looks at the queue.
JOB_NAME = "backfills"
#: A request the service died in this many times is failed instead of run again.
MAX_ATTEMPTS = 3


class BackfillEngine(Protocol):
    def run(self, request: CycleRequest) -> CycleReport: ...


class BackfillJob:
    """Runs queued backfill requests, one per call, and tells observers how each went.

    ``observers`` get the outcome once, as connector ``backfill`` (metrics: the report's
    pulled and written counts land on each connector's series). ``per_connector`` observers
    get it once per connector it covered, under that name: a backfill pulled and re-scored
    them, so it counts as their cycle for readiness. ``connectors`` is what "every
    connector" (a request naming none) means.
    """

    def __init__(
        self,
        store: Store,
        engine: BackfillEngine,
        halt: threading.Event,
        connectors: Sequence[str],
        *,
        observers: Sequence[Observer] = (),
        per_connector: Sequence[Observer] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        max_attempts: int = MAX_ATTEMPTS,
    ) -> None:
        self._store = store
        self._engine = engine
        self._halt = halt
        self._connectors = tuple(connectors)
        self._observers = list(observers)
        self._per_connector = list(per_connector)
        self._clock = clock
        self._max_attempts = max_attempts

    def run_next(self) -> bool:
        """Run the next queued request; ``False`` when there was none (or we are stopping)."""
        if self._halt.is_set():
            return False
        try:
            with self._store.transaction() as conn:
                request = claim_next(conn, self._clock(), max_attempts=self._max_attempts)
        except Exception:  # the store is down: the next tick tries again
            log.exception("backfill.claim_failed")
            return False
        if request is None:
            return False
        self._run(request)
        return True

    def _run(self, request: BackfillRequest) -> None:
        started, began = self._clock(), time.monotonic()
        log.info("backfill.started", request=request.id, what=request.describe())
        report: CycleReport | None = None
        error: str | None = None
        try:
            report = self._engine.run(
                CycleRequest(
                    only=tuple(request.connectors),
                    dry_run=request.dry_run,
                    full=True,
                    since=request.since,
                    no_actions=request.no_actions,
                    # A request the service died in (or stopped) carries on from its last page.
                    resume_key=f"queue:{request.id}",
                )
            )
            status = report.status
            error = "; ".join(report.errors) or None
        except CycleBusy as exc:
            # Another cycle holds the store (a manual backfill, say): back in line, untouched.
            log.warning("backfill.busy", request=request.id, reason=str(exc))
            with self._store.transaction() as conn:
                requeue(conn, request.id)
            return
        except FatalSyncError as exc:
            status, error = "failed", str(exc)
        except LeadSyncError as exc:
            status, error = "error", str(exc)
        except Exception as exc:  # the worker must survive any bug in a backfill
            log.exception("backfill.crashed", request=request.id)
            status, error = "error", f"{type(exc).__name__}: {exc}"
        finished = self._clock()
        stopped = self._halt.is_set() and (report is None or report.status != "ok")
        with self._store.transaction() as conn:
            if stopped:
                requeue(conn, request.id)
            else:
                finish_request(
                    conn,
                    request.id,
                    finished,
                    status=status,
                    report=report.to_dict() if report is not None else None,
                    run_id=report.run_id if report is not None else None,
                    error=error,
                )
        log.info(
            "backfill.finished",
            request=request.id,
            status=status,
            requeued=stopped,
            seconds=round(time.monotonic() - began, 3),
            error=error,
        )
        self._observe(request, report, status, error, started, finished, time.monotonic() - began)

    def _observe(
        self,
        request: BackfillRequest,
        report: CycleReport | None,
        status: str,
        error: str | None,
        started: datetime,
        finished: datetime,
        seconds: float,
    ) -> None:
        outcome = CycleOutcome(
            connector=JOB_NAME,
            status=status,
            started_at=started,
            finished_at=finished,
            duration_seconds=seconds,
            errors=(error,) if error else (),
            report=report,
        )
        calls = [(observer, outcome) for observer in self._observers]
        for name in request.connectors or self._connectors:
            mine = replace(outcome, connector=name)
            calls.extend((observer, mine) for observer in self._per_connector)
        for observer, seen in calls:
            try:
                observer(seen)
            except Exception:
                log.exception("backfill.observer_failed", request=request.id)
