"""What a cycle tells: its progress while it runs, and its report when it ends."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from leadsync.errors import AuthError, CycleRefused, FatalSyncError, SyncError

log = structlog.get_logger(__name__)


class Progress(Protocol):
    """Where a cycle reports how far it got (a progress bar on a TTY, log lines otherwise)."""

    def phase(self, name: str, total: int | None = None) -> None: ...

    def advance(self, n: int) -> None: ...


class LogProgress:
    """Progress as structured log lines, at most one every few seconds per phase."""

    def __init__(self, every_seconds: float = 5.0) -> None:
        self._every = every_seconds
        self._name = ""
        self._done = 0
        self._last = 0.0

    def phase(self, name: str, total: int | None = None) -> None:
        self._name, self._done, self._last = name, 0, time.monotonic()
        log.info("sync.phase", phase=name, total=total)

    def advance(self, n: int) -> None:
        self._done += n
        if time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            log.info("sync.progress", phase=self._name, done=self._done)


@dataclass
class CycleReport:
    run_id: int | None
    status: str = "ok"
    dry_run: bool = False
    pulled: dict[str, dict[str, int]] = field(default_factory=dict)
    scored: int = 0
    changed: int = 0
    queued: int = 0
    written: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=dict)
    parked: dict[str, int] = field(default_factory=dict)
    would_write: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Connectors whose credentials the CRM refused in this cycle.
    auth_failed: list[str] = field(default_factory=list)
    api_calls: dict[str, int] = field(default_factory=dict)
    #: Hand-offs, recycles, SLA breaches and the CRM actions they sent.
    actions: dict[str, int] = field(default_factory=dict)
    #: Connectors that failed in this cycle, with their first error.
    failed_connectors: dict[str, str] = field(default_factory=dict)
    #: Connectors whose last pull did not complete: people with data from them wait.
    waiting_for: dict[str, str] = field(default_factory=dict)
    #: The model's fingerprint, and the store's when they differ (``holds.check_model``).
    model: dict[str, str] = field(default_factory=dict)
    #: People left queued this cycle because they wait for such a connector.
    people_waiting: int = 0
    #: What an admin should know of this cycle, in plain sentences (a large pull ...).
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "dry_run": self.dry_run,
            "pulled": self.pulled,
            "scored": self.scored,
            "changed": self.changed,
            "queued": self.queued,
            "written": self.written,
            "rejected": self.rejected,
            "parked": self.parked,
            "would_write": self.would_write,
            "errors": self.errors,
            "auth_failed": self.auth_failed,
            "api_calls": self.api_calls,
            "actions": self.actions,
            "failed_connectors": self.failed_connectors,
            "waiting_for": self.waiting_for,
            "people_waiting": self.people_waiting,
            "model": self.model,
            "notes": self.notes,
        }

    def count_saved(self, saved: Any) -> None:
        """Add a scoring batch's counts (``leadsync.store.scoring.save_scores``)."""
        self.scored += saved.scored
        self.changed += saved.changed
        self.queued += saved.writes_queued

    def fail(self, error: str, names: Sequence[str]) -> None:
        """The whole cycle failed with ``error``: every connector asked for failed with it."""
        self.status = "failed"
        self.errors.append(error)
        for name in names:
            self.failed_connectors.setdefault(name, error)


def guarded(report: CycleReport, name: str, step: Callable[..., None], *args: Any) -> None:
    """Run one connector's step; its failure is that connector's, never the others'.

    A refusal (a lost cycle lock: another cycle may be writing beside it) stops the
    whole cycle."""
    try:
        step(*args)
    except CycleRefused:
        raise
    except SyncError as exc:
        fatal = isinstance(exc, FatalSyncError)
        if fatal:
            report.status = "failed"
        report.errors.append(str(exc))
        report.failed_connectors.setdefault(name, str(exc))
        if isinstance(exc, AuthError):
            report.auth_failed.append(name)
        log.error("sync.connector_failed", connector=name, error=str(exc), fatal=fatal)
    except Exception as exc:
        # A bug in one connector's step: recorded as that connector's failure, with the
        # traceback in the log, so the other CRMs still sync.
        error = f"{name}: internal error in {getattr(step, '__name__', 'step')}: "
        error += f"{type(exc).__name__}: {exc}"
        report.errors.append(error)
        report.failed_connectors.setdefault(name, error)
        log.exception("sync.connector_crashed", connector=name, error=error)


def status(names: Sequence[str], report: CycleReport) -> str:
    """``ok``; ``partial`` when some connectors failed and the rest did their work; ``failed``
    when every connector asked for failed or one failed for good (credentials, permissions)."""
    if not report.failed_connectors:
        return "ok"
    if report.status == "failed" or set(names) <= set(report.failed_connectors):
        return "failed"
    return "partial"


def bump(counter: dict[str, int], key: str, n: int) -> None:
    if n:
        counter[key] = counter.get(key, 0) + n
