"""The scheduler runs only while this process holds the lease.

Elected: a fresh ``SyncScheduler`` starts (its first cycles at once). Deposed: the running
cycle is told to halt (its pull ends at the next batch boundary; scoring and writes of what
was pulled finish), the scheduler starts nothing new, and the lease is not sought again until
that cycle is over, so one process never runs two cycles and a re-elected process never
overlaps its own previous cycle. On shutdown the scheduler stops before the lease is given
up, so a standby cannot start a cycle while ours still runs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from datetime import datetime

import structlog

from jobs.lease import Lease
from jobs.scheduler import SyncScheduler
from leadsync.records import RecordRef

log = structlog.get_logger(__name__)


class LeaderScheduler:
    """Starts and stops a scheduler as ``lease`` elects and deposes this process.

    ``halt`` is the event cycles watch to stop at a safe point; it is set on deposition and
    on shutdown (``stopping``), and cleared again once a deposed scheduler has wound down.
    """

    def __init__(
        self,
        lease: Lease,
        make_scheduler: Callable[[], SyncScheduler],
        *,
        halt: threading.Event,
        stopping: threading.Event,
        grace: float,
    ) -> None:
        self._lease = lease
        self._make = make_scheduler
        self._halt = halt
        self._stopping = stopping
        self._grace = grace
        self._lock = threading.Lock()
        self._scheduler: SyncScheduler | None = None
        self._stopped = False

    @property
    def role(self) -> str:
        return self._lease.role

    @property
    def since(self) -> datetime:
        return self._lease.since

    @property
    def scheduler(self) -> SyncScheduler | None:
        """The running scheduler while leading, else ``None``."""
        return self._scheduler

    def start(self) -> None:
        self._lease.start(self._elected, self._deposed)

    def trigger(self, connector: str, refs: Sequence[RecordRef] = ()) -> bool:
        """Ask the leader's scheduler for a cycle now; ``False`` when standing by (or joined)."""
        scheduler = self._scheduler
        if scheduler is None:
            log.info("scheduler.trigger_on_standby", connector=connector)
            return False
        return scheduler.trigger(connector, refs)

    def shutdown(self, timeout: float) -> bool:
        """Stop the scheduler (waiting up to ``timeout`` s for its cycle), then the lease."""
        with self._lock:
            self._stopped = True
            scheduler, self._scheduler = self._scheduler, None
        finished = scheduler.shutdown(timeout) if scheduler is not None else True
        self._lease.stop()
        return finished

    def _elected(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._halt.clear()
            self._scheduler = self._make()
            self._scheduler.start()
        log.info("scheduler.leading")

    def _deposed(self) -> None:
        self._halt.set()
        with self._lock:
            scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        # Not seeking the lease again until our cycle is over: wait as long as it takes,
        # unless the whole process is stopping (then ``shutdown`` bounds the wait).
        while not scheduler.shutdown(self._grace) and not self._stopping.is_set():
            log.warning("scheduler.deposed_cycle_still_running", waited_seconds=self._grace)
        if not self._stopping.is_set():
            self._halt.clear()
        log.info("scheduler.standing_by")
