"""The daily pass: engagement fades with time, so scores are re-computed once a day; and
records committed late (stamped before a cursor that had moved on) are read, by re-reading
everything modified within ``reread`` before the pass.

The job is checked every hour and runs when the last decay pass finished more than ``every``
ago (read from the store's runs, so a restart or a new leader does not run it again early);
the first pass comes ``every`` after LeadSync's first finished cycle, which scored everyone.
It shares the scheduler's single worker, so it never overlaps a connector's cycle.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import structlog

from leadsync.engine.request import CycleRequest
from leadsync.errors import CycleBusy
from leadsync.store import Store
from leadsync.store.runs import first_finished, last_finished

log = structlog.get_logger(__name__)

JOB_NAME = "decay"
CHECK_EVERY = timedelta(hours=1)


class DecayEngine(Protocol):
    def run(self, request: CycleRequest) -> Any: ...


class DecayJob:
    def __init__(
        self,
        store: Store,
        engine: DecayEngine,
        stopping: threading.Event,
        every: timedelta = timedelta(hours=24),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        reread: timedelta | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._stopping = stopping
        self._every = every
        self._clock = clock
        self._reread = reread

    def due(self) -> bool:
        """A day after the last pass; the first one a day after LeadSync first scored."""
        with self._store.reading() as conn:
            last = last_finished(conn, "decay") or first_finished(conn)
        return last is not None and self._clock() - last >= self._every

    def run(self) -> Any:
        """One decay pass if it is due; never raises (the scheduler must keep its jobs)."""
        if self._stopping.is_set() or not self.due():
            return None
        log.info("decay.started")
        try:
            report = self._engine.run(CycleRequest(decay=True, reread=self._reread))
        except CycleBusy as exc:
            log.warning("decay.skipped", reason=str(exc))  # still due: the next tick runs it
            return None
        except Exception:
            log.exception("decay.crashed")
            return None
        log.info(
            "decay.finished",
            status=report.status,
            scored=report.scored,
            changed=report.changed,
            written=report.written,
        )
        return report
