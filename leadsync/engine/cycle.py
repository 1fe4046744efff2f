"""One sync cycle: pull, store, score, write back. The engine never asks which CRM it talks to.

Order matters for crash safety. Pulled batches are committed as they arrive; cursors move
only after every batch they cover is committed (and never past the cycle's start); scoring
clears a person's dirty flag in the same transaction that queues their writes; a write leaves
the outbox only in the transaction that records the CRM's confirmation. A process killed at
any point therefore re-does, on the next run, exactly what was not yet durable.

The engine holds only its parts (``EngineParts``); each ``run`` gets a frozen
``CycleRequest`` (what to do) and builds a ``Cycle`` (what is happening) that every phase
works on and that is gone when the run returns. The phases live in their own modules:
:mod:`~leadsync.engine.pulls`, :mod:`~leadsync.engine.holds`,
:mod:`~leadsync.engine.score_phase`, :mod:`~leadsync.engine.writeback`.
"""

from __future__ import annotations

from dataclasses import dataclass

import structlog

from leadsync.engine import holds, pulls, score_phase, writeback
from leadsync.engine.context import (
    AccountSettler,
    Clock,
    Cycle,
    EngineParts,
    EngineSettings,
    ScoreFn,
)
from leadsync.engine.report import CycleReport, LogProgress, Progress, guarded, status
from leadsync.engine.request import CycleRequest
from leadsync.errors import CycleRefused, FatalSyncError
from leadsync.store import checkpoints
from leadsync.store.actions import replay_parked
from leadsync.store.cycle_lock import HeldLock
from leadsync.store.returning import any_forgotten
from leadsync.store.runs import finish_run, start_run
from leadsync.store.scoring import mark_all_dirty
from leadsync.store.writes import replay_failed

__all__ = [
    "AccountSettler",
    "Clock",
    "CycleReport",
    "CycleRequest",
    "EngineSettings",
    "LogProgress",
    "Progress",
    "ScoreFn",
    "SyncEngine",
]

log = structlog.get_logger(__name__)

#: A plain cycle: pull what changed from every connector, score, act, write.
PLAIN_SYNC = CycleRequest()


@dataclass
class SyncEngine(EngineParts):
    def run(self, request: CycleRequest = PLAIN_SYNC) -> CycleReport:
        """Run one cycle as ``request`` asks; whatever ends it is recorded in the runs table."""
        names = list(request.only) or list(self.connectors)
        unknown = [n for n in names if n not in self.connectors]
        if unknown:
            raise FatalSyncError(
                f"no connector named {', '.join(unknown)}; configured: {', '.join(self.connectors)}"
            )
        # One cycle at a time per store, from any process (see leadsync.store.cycle_lock).
        with self.store.one_cycle() as lock:
            cycle = self._begin(request, names, lock)
            self._run_phases(cycle, names)
            return cycle.report

    def _begin(self, request: CycleRequest, names: list[str], lock: HeldLock) -> Cycle:
        """Record the run, and do what the request asks before anything is pulled."""
        started = self.clock()
        with self.store.transaction() as conn:
            run_id = start_run(conn, "+".join(names), request.kind, started)
            if request.retry_failed and not request.dry_run:
                for name in names:
                    replay_failed(conn, name, started)
                    replay_parked(conn, name, started)
            report = CycleReport(run_id, dry_run=request.dry_run)
            cycle = Cycle(self, request, report, started, run_id)
            cycle.lock, cycle.forgotten = lock, any_forgotten(conn)
            key = cycle.resume_key
            began = None if key is None else checkpoints.begin(conn, key, started)
            cycle.read_began = began or started
            if began is not None:
                # Marked when it began; whoever was scored since is done, the rest still dirty.
                log.info("backfill.resuming", key=key, began=began.isoformat())
            elif request.rescores_everyone and not request.dry_run:
                mark_all_dirty(conn, started)
        return cycle

    def _run_phases(self, cycle: Cycle, names: list[str]) -> None:
        request, report = cycle.request, cycle.report
        calls_before = {n: c.usage().calls for n, c in self.connectors.items()}
        if self.actor is not None:
            cycle.acting = self.actor.begin_cycle(cycle.acted)
        try:
            holds.check_model(cycle)
            # One CRM failing must not stop the others: each step is guarded per connector.
            for name in names if request.pulls else ():
                guarded(report, name, pulls.pull_connector, cycle, name)
            if not request.dry_run:
                pulls.reread_returning(cycle)
            holds.find_held(cycle)
            cycle.lock.verify()
            if request.dry_run:
                score_phase.dry_score(cycle)
            else:
                self._score_act_write(cycle)
            key = cycle.resume_key
            if key is not None and not report.failed_connectors:
                with self.store.transaction() as conn:
                    checkpoints.clear(conn, key)
            report.status = status(names, report)
        except BaseException as exc:
            # Whatever escapes (a bug, a lost lock, the store gone, Ctrl-C) is a failed cycle,
            # recorded with its error: never "ok".
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "crashed"
            if isinstance(exc, CycleRefused):
                what = "refused"
            error = f"cycle {what}: {type(exc).__name__}: {exc}"
            report.fail(error, names)
            log.error("sync.cycle_failed", error=error, exc_info=not isinstance(exc, CycleRefused))
            raise
        finally:
            if self.actor is not None:
                report.actions = cycle.acted.to_dict()
            report.api_calls = {
                n: c.usage().calls - calls_before[n] for n, c in self.connectors.items()
            }
            with self.store.transaction() as conn:
                finish_run(
                    conn,
                    cycle.run_id,
                    self.clock(),
                    status=report.status,
                    counts=report.to_dict(),
                    api_calls=sum(report.api_calls.values()),
                    error="; ".join(report.errors) or None,
                )

    def _score_act_write(self, cycle: Cycle) -> None:
        report = cycle.report
        acting = None if cycle.request.no_actions else cycle.acting
        if acting is not None:
            # Inactivity and cool-downs re-queue people, so they are scored now.
            for name in self.connectors:
                guarded(report, name, acting.sweep, self.store, name, cycle.held)
        score_phase.score(cycle)
        if cycle.request.decay:
            score_phase.decay(cycle)
        # Edits made since the pull, read before they could hide behind LeadSync's writes.
        writing = []
        for name in self.connectors:
            errors = len(report.errors)
            guarded(report, name, pulls.catch_up, cycle, name)
            if len(report.errors) == errors:
                writing.append(name)  # else its writes could rest on an edit it missed
        # Whoever the catch-up found changed (none: a no-op); someone it found back after
        # ``forget`` waits to be re-read whole, as anyone held does.
        holds.find_held(cycle)
        score_phase.score(cycle)
        if acting is not None:
            # Before the field writes: speed-to-lead is the point of a hand-off.
            for name in writing:
                guarded(report, name, acting.act, self.store, name, cycle.held, cycle.lock)
        cycle.lock.verify()
        for name in writing:
            guarded(report, name, writeback.flush, cycle, name)
        if acting is not None:
            # The tasks of owner changes that rode in the field write (see engine.riders).
            for name in writing:
                guarded(report, name, acting.after_write, self.store, name, cycle.lock)
