"""Per-connector sync jobs on APScheduler 3, one cycle at a time.

The engine is not thread-safe, so every cycle runs on one worker thread (a thread pool of
one). Each connector's interval job has ``max_instances=1`` (a run still going when the next
is due is not stacked: APScheduler skips it) and ``coalesce=True`` (runs missed while the
process was busy or asleep collapse into one). ``trigger`` asks for a cycle now, for a
webhook: it adds a one-off job that shares the single worker, so it never overlaps the
scheduled one, and at most one such request waits per connector however many webhooks
arrive (a request made while that connector's cycle runs queues exactly one more). The
records the webhooks named accumulate with the waiting request, and its cycle reads just
those people (``run(connector, notified=refs)``) instead of polling.

``periodic`` jobs (the backfill queue) share that one worker too, so they never overlap a
cycle; ``trigger`` asks for one of them now the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from leadsync.records import RecordRef

log = structlog.get_logger(__name__)

#: ``run(connector)`` polls; ``run(connector, notified=refs)`` reads the named people.
RunFn = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Periodic:
    """A job other than a connector's cycle, run every ``every`` on the same worker."""

    name: str
    run: Callable[[], Any]
    every: timedelta


def interval_job_id(connector: str) -> str:
    return f"sync:{connector}"


def triggered_job_id(connector: str, n: int) -> str:
    # Unique per request: APScheduler counts running instances per id, so reusing the id of
    # a request still running would make it skip this one instead of running it next.
    return f"sync:{connector}:now:{n}"


class SyncScheduler:
    """Runs ``run(connector)`` for each connector every ``interval``, serially.

    ``first_run_delay`` is how long after ``start`` the first cycles begin (0: at once).
    ``misfire_grace`` is how late a run may still start; later ones are dropped, the next
    interval picks the work up.
    """

    def __init__(
        self,
        run: RunFn,
        connectors: Sequence[str],
        interval: timedelta,
        *,
        first_run_delay: timedelta = timedelta(0),
        misfire_grace: timedelta | None = None,
        periodic: Sequence[Periodic] = (),
    ) -> None:
        if not connectors:
            raise ValueError("a scheduler needs at least one connector")
        self._run = run
        self.connectors = tuple(connectors)
        self._periodic = {job.name: job for job in periodic}
        clash = set(self._periodic) & set(self.connectors)
        if clash:
            raise ValueError(f"periodic job named like a connector: {', '.join(sorted(clash))}")
        self.interval = interval
        self._first_run_delay = first_run_delay
        self._misfire_grace = misfire_grace or max(interval, timedelta(seconds=1))
        self._lock = threading.Lock()
        self._requested: set[str] = set()
        self._notified: dict[str, dict[RecordRef, None]] = {}
        self._triggers = 0
        self._running: str | None = None
        self._stopped = False
        self._idle = threading.Event()
        self._idle.set()
        self._scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=1)},
            job_defaults={
                "max_instances": 1,
                "coalesce": True,
                "misfire_grace_time": int(self._misfire_grace.total_seconds()) or 1,
            },
            timezone=UTC,
        )

    @property
    def running(self) -> str | None:
        """The connector whose cycle (or the periodic job) is running now, if any."""
        return self._running

    def start(self) -> None:
        """Schedule every connector's interval job and start the scheduler thread."""
        first = datetime.now(UTC) + self._first_run_delay
        for connector in self.connectors:
            self._scheduler.add_job(
                self._job,
                IntervalTrigger(seconds=self.interval.total_seconds(), timezone=UTC),
                args=[connector],
                id=interval_job_id(connector),
                name=f"sync {connector}",
                next_run_time=first,
                replace_existing=True,
            )
        for job in self._periodic.values():
            self._scheduler.add_job(
                self._job,
                IntervalTrigger(seconds=job.every.total_seconds(), timezone=UTC),
                args=[job.name],
                id=f"job:{job.name}",
                name=job.name,
                next_run_time=first,
                replace_existing=True,
            )
        self._scheduler.start()
        log.info(
            "scheduler.started",
            connectors=list(self.connectors),
            interval_seconds=self.interval.total_seconds(),
        )

    def trigger(self, connector: str, refs: Sequence[RecordRef] = ()) -> bool:
        """Ask for a cycle of ``connector`` (or a periodic job) as soon as the worker is free.

        ``refs`` are records a webhook named: the requested cycle reads them by id. Returns
        ``False`` when a request is already waiting (this one joins it, refs included).
        """
        if connector not in self.connectors and connector not in self._periodic:
            raise ValueError(f"no scheduled connector or job {connector!r}")
        with self._lock:
            if refs:
                self._notified.setdefault(connector, {}).update(dict.fromkeys(refs))
            if connector in self._requested:
                log.debug("scheduler.trigger_coalesced", connector=connector)
                return False
            self._requested.add(connector)
            self._triggers += 1
            job_id = triggered_job_id(connector, self._triggers)
        self._scheduler.add_job(
            self._job,
            args=[connector, True],
            id=job_id,
            name=f"sync {connector} (requested)",
            misfire_grace_time=None,
        )
        log.info("scheduler.triggered", connector=connector)
        return True

    def shutdown(self, timeout: float) -> bool:
        """Start no new cycle, wait up to ``timeout`` s for the one running; ``True`` if idle."""
        with self._lock:
            self._stopped = True
        if self._scheduler.running:
            # wait=False: APScheduler's own wait has no bound; we bound it ourselves below.
            self._scheduler.shutdown(wait=False)
        finished = self._idle.wait(timeout)
        if finished:
            log.info("scheduler.stopped")
        else:
            log.warning(
                "scheduler.stop_timed_out",
                connector=self._running,
                timeout_seconds=timeout,
                note="everything committed so far is kept; the next run redoes the rest",
            )
        return finished

    def _job(self, connector: str, requested: bool = False) -> None:
        with self._lock:
            if self._stopped:
                # Already handed to the worker before shutdown; the pool would still run it.
                return
            # Cleared as the cycle starts, so a webhook arriving during it queues one more.
            self._requested.discard(connector)
            # Only a requested cycle takes the named records: the interval poll leaves them
            # to the request already waiting behind it.
            notified = list(self._notified.pop(connector, {})) if requested else []
            self._running = connector
            self._idle.clear()
        try:
            periodic = self._periodic.get(connector)
            if periodic is not None:
                periodic.run()
            elif notified:
                self._run(connector, notified=notified)
            else:
                self._run(connector)
        finally:
            with self._lock:
                self._running = None
                self._idle.set()
