"""Running one connector's cycle as a job: timing, outcome, and stopping at a safe point.

The engine commits every pulled batch as it goes and moves a cursor only once its stream is
done, so a pull may stop after any batch and the next cycle resumes exactly there. On
shutdown the runner therefore ends the pull at the next batch boundary (the engine records
the cycle as partial), lets scoring and writes of what was pulled finish, and starts nothing
new. Scoring and write-back are never interrupted: a write the CRM accepted but the store
has not recorded would be sent again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import structlog

from leadsync.engine.cycle import CycleReport, LogProgress, Progress
from leadsync.engine.request import CycleRequest
from leadsync.errors import CycleBusy, FatalSyncError, LeadSyncError, RetriableSyncError
from leadsync.records import RecordRef

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class CycleOutcome:
    """How one scheduled cycle ended. ``report`` is ``None`` when the cycle raised."""

    connector: str
    status: str
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    errors: tuple[str, ...]
    report: CycleReport | None

    @property
    def fatal(self) -> bool:
        """The CRM refused us in a way retrying cannot fix (credentials, permissions)."""
        return self.status == "failed"

    @property
    def credentials_refused(self) -> bool:
        """The CRM refused this connector's credentials in this cycle."""
        return self.report is not None and self.connector in self.report.auth_failed


class ShuttingDown(RetriableSyncError):
    """Raised inside a pull when the service stops; the next cycle resumes from the cursor."""


class StopAwareProgress:
    """Wraps the engine's progress sink and ends pulls at a batch boundary once stopping."""

    def __init__(self, stopping: threading.Event, inner: Progress | None = None) -> None:
        self._stopping = stopping
        self._inner: Progress = inner or LogProgress()
        self._pulling = False

    def phase(self, name: str, total: int | None = None) -> None:
        self._pulling = name.startswith("pull ")
        self._check()
        self._inner.phase(name, total)

    def advance(self, n: int) -> None:
        self._inner.advance(n)
        self._check()

    def _check(self) -> None:
        if self._pulling and self._stopping.is_set():
            raise ShuttingDown("service is stopping; the pull resumes from its cursor next run")


class CycleEngine(Protocol):
    """What the runner needs of ``SyncEngine``."""

    def run(self, request: CycleRequest) -> CycleReport: ...


Observer = Callable[[CycleOutcome], None]


class CycleRunner:
    """Runs one connector's cycle and tells every observer how it went.

    Never raises: a failed cycle is an outcome, and the scheduler must keep its jobs.
    """

    def __init__(
        self,
        engine: CycleEngine,
        stopping: threading.Event,
        observers: Sequence[Observer] = (),
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._stopping = stopping
        self._observers = list(observers)
        self._clock = clock

    def add_observer(self, observer: Observer) -> None:
        self._observers.append(observer)

    def run(self, connector: str, notified: Sequence[RecordRef] = ()) -> CycleOutcome | None:
        """One cycle for ``connector`` (reading the ``notified`` people by id instead of
        polling people); ``None`` when skipped because the service is stopping."""
        if self._stopping.is_set():
            log.info("service.cycle_skipped", connector=connector, reason="stopping")
            return None
        started_at, began = self._clock(), time.monotonic()
        log.info("service.cycle_started", connector=connector, notified=len(notified))
        report: CycleReport | None = None
        try:
            request = CycleRequest(only=(connector,), notified=tuple(notified))
            report = self._engine.run(request)
            status, errors = report.status, tuple(report.errors)
        except CycleBusy as exc:
            # A manual sync or backfill holds the store: this run is skipped, not failed;
            # the next interval (or webhook) runs it.
            log.warning("service.cycle_skipped", connector=connector, reason=str(exc))
            return None
        except FatalSyncError as exc:
            status, errors = "failed", (str(exc),)
        except LeadSyncError as exc:
            status, errors = "error", (str(exc),)
        except Exception as exc:  # the scheduler thread must survive any bug in a cycle
            log.exception("service.cycle_crashed", connector=connector)
            status, errors = "error", (f"{type(exc).__name__}: {exc}",)
        outcome = CycleOutcome(
            connector=connector,
            status=status,
            started_at=started_at,
            finished_at=self._clock(),
            duration_seconds=time.monotonic() - began,
            errors=errors,
            report=report,
        )
        log.info(
            "service.cycle_finished",
            connector=connector,
            status=status,
            seconds=round(outcome.duration_seconds, 3),
            errors=list(errors),
        )
        for observer in self._observers:
            try:
                observer(outcome)
            except Exception:
                log.exception("service.observer_failed", connector=connector)
        return outcome
