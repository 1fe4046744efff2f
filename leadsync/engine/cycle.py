"""One sync cycle: pull, store, score, write back. The engine never asks which CRM it talks to.

Order matters for crash safety. Pulled batches are committed as they arrive; cursors move
only after every batch they cover is committed (and never past the cycle's start); scoring
clears a person's dirty flag in the same transaction that queues their writes; a write leaves
the outbox only in the transaction that records the CRM's confirmation. A process killed at
any point therefore re-does, on the next run, exactly what was not yet durable.
"""

from __future__ import annotations

import csv
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import structlog

from connectors.base import Connector
from leadsync.engine.act import Actor
from leadsync.engine.pages import PageMarks, Resumption
from leadsync.engine.pipeline import CommitPipeline
from leadsync.engine.request import CycleRequest
from leadsync.engine.riders import OwnerRiders
from leadsync.engine.score_workers import ScoreWork, ScoreWorkers, score_and_save
from leadsync.errors import (
    AuthError,
    CycleRefused,
    FatalSyncError,
    ModelMismatch,
    SyncError,
)
from leadsync.records import RecordRef, RecordUpdate
from leadsync.store import Store, checkpoints
from leadsync.store.actions import DueAction, replay_parked
from leadsync.store.cycle_lock import NO_LOCK, HeldLock
from leadsync.store.ingest import IngestCounts, people_rows, store_people, upsert_activities
from leadsync.store.model_state import adopt_model, scored_with
from leadsync.store.returning import (
    any_forgotten,
    any_returning,
    find_returning,
    returning_people_of,
    welcome_back,
)
from leadsync.store.runs import (
    Cursor,
    close_gap,
    finish_run,
    open_gap,
    pull_gaps_of,
    read_cursor,
    set_cursor,
    settle_cursor,
    start_run,
)
from leadsync.store.scoring import (
    NO_HOLDS,
    Holds,
    PersonInputs,
    ScoreRow,
    cell_moves,
    dirty_count,
    dirty_people,
    history_mark,
    load_inputs,
    mark_all_dirty,
    save_scores,
    scored_people,
    waiting_people,
)
from leadsync.store.writes import (
    SCORED_AT,
    DueWrite,
    due_writes,
    record_outcomes,
    replay_failed,
    values_digest,
    writes_by_id,
    written_values,
)

log = structlog.get_logger(__name__)

#: Scoring batches running at once where they are independent (see ``_score_in_flight``): one
#: runs the model while the other waits on the store.
SCORE_BATCHES_IN_FLIGHT = 2

ScoreFn = Callable[[PersonInputs, datetime], ScoreRow]
Clock = Callable[[], datetime]


@dataclass(frozen=True, slots=True)
class EngineSettings:
    overlap: timedelta = timedelta(minutes=2)
    pull_batch: int = 5_000
    score_batch: int = 1_000
    #: How many due writes are handed to a connector at once (it batches inside).
    write_chunk: int = 50_000
    max_write_attempts: int = 5
    retry_backoff: timedelta = timedelta(minutes=1)
    #: The decay pass writes a person only when their score moved at least this much (or
    #: their cell changed): the Reason's ages change daily, and that alone is not news.
    score_change_threshold: int = 5
    #: Worker processes that score batches in a score phase of at least
    #: ``score_workers_from`` people (a backfill), where batches are independent; 0: none.
    score_workers: int = 2
    score_workers_from: int = 20_000
    #: Fingerprint of the model's config (``leadsync.wiring.model_fingerprint``); "": a
    #: scorer without one (tests), whose scores are not checked against the store's model.
    model: str = ""


class AccountSettler(Protocol):
    """Brings account roll-ups up to date after the people in ``person_ids`` were scored,
    leaving alone members ``held`` in this cycle (see ``leadsync.store.scoring.Holds``)."""

    def settle(self, conn: Any, person_ids: Iterable[int], now: datetime, held: Holds) -> int: ...


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
    #: The model's fingerprint, and the store's when they differ (``_check_model``).
    model: dict[str, str] = field(default_factory=dict)
    #: People left queued this cycle because they wait for such a connector.
    people_waiting: int = 0

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
        }


@dataclass
class _Cycle:
    """What the running cycle was asked and what it found; lives only for that cycle."""

    request: CycleRequest
    report: CycleReport
    started: datetime
    lock: HeldLock = NO_LOCK
    #: Some records were forgotten (``leadsync forget``): watch for them coming back.
    forgotten: bool = False
    #: Who is neither scored nor acted on in this cycle (half-pulled CRMs, returning people).
    held: Holds = NO_HOLDS
    #: This cycle's model is not the one the store was scored with (see ``_check_model``).
    model_changed: bool = False

    @property
    def resume_key(self) -> str | None:
        """Names a backfill's full pull for its checkpoints (``None``: not resumable)."""
        request = self.request
        return request.resume_key if request.full and not request.dry_run else None


@dataclass(frozen=True, slots=True)
class _StreamPull:
    """One stream of one connector to pull and store."""

    connector: str
    stream: str
    pull: Callable[..., Iterator[Any]]
    stored: Stored
    #: How many of its batches may commit at once (see ``SyncEngine._store_pages``).
    in_flight: int
    #: The people a webhook named, read by id: says nothing of what else changed.
    by_id: bool = False


@dataclass(frozen=True, slots=True)
class Stored:
    """How a pulled stream is stored: ``store(conn, prepared, now)`` in a batch's transaction,
    after ``prepare(batch, now)`` (pure, run while the batch before commits; None: the batch
    itself is stored)."""

    store: Callable[[Any, Any, datetime], IngestCounts]
    prepare: Callable[[list[Any], datetime], Any] | None = None


class SyncEngine:
    def __init__(
        self,
        store: Store,
        connectors: Mapping[str, Connector],
        score: ScoreFn,
        settings: EngineSettings,
        clock: Clock,
        progress: Progress | None = None,
        accounts: AccountSettler | None = None,
        actor: Actor | None = None,
    ) -> None:
        self.accounts = accounts
        self.actor = actor
        self._cycle = _Cycle(CycleRequest(), CycleReport(run_id=None), datetime.min)
        self.store = store
        self.connectors = dict(connectors)
        self.score = score
        self.settings = settings
        self.clock = clock
        self.progress: Progress = progress or LogProgress()

    def cycle(self, only: Sequence[str] | None = None, **request: Any) -> CycleReport:
        """``run`` a ``CycleRequest`` given as keywords (see its fields)."""
        if "notified" in request:
            request["notified"] = tuple(request["notified"])
        return self.run(CycleRequest(only=tuple(only or ()), **request))

    def run(self, request: CycleRequest) -> CycleReport:
        """Run one cycle as ``request`` asks; whatever ends it is recorded in the runs table."""
        names = list(request.only) or list(self.connectors)
        unknown = [n for n in names if n not in self.connectors]
        if unknown:
            raise FatalSyncError(
                f"no connector named {', '.join(unknown)}; configured: {', '.join(self.connectors)}"
            )
        # One cycle at a time per store, from any process (see leadsync.store.cycle_lock).
        with self.store.one_cycle() as lock:
            return self._locked_cycle(request, names, lock)

    def _locked_cycle(self, request: CycleRequest, names: list[str], lock: HeldLock) -> CycleReport:
        started = self.clock()
        calls_before = {n: c.usage().calls for n, c in self.connectors.items()}
        dry_run, full = request.dry_run, request.full
        resume_key = request.resume_key if full and not dry_run else None
        with self.store.transaction() as conn:
            run_id = start_run(conn, "+".join(names), request.kind, started)
            if request.retry_failed and not dry_run:
                for name in names:
                    replay_failed(conn, name, started)
                    replay_parked(conn, name, started)
            began = None
            if resume_key is not None:
                began = checkpoints.begin(conn, resume_key, started)
            if began is not None:
                # Marked when it began; whoever was scored since is done, the rest still dirty.
                log.info("backfill.resuming", key=resume_key, began=began.isoformat())
            elif request.rescores_everyone and not dry_run:
                mark_all_dirty(conn, started)
            forgotten = any_forgotten(conn)
        report = CycleReport(run_id=run_id, dry_run=dry_run)
        cycle = self._cycle = _Cycle(request, report, started, lock, forgotten)
        if self.actor is not None:
            self.actor.begin_cycle()
        try:
            self._check_model(cycle)
            # One CRM failing must not stop the others: each step is guarded per connector.
            for name in names if request.pulls else ():
                self._guarded(report, name, self._pull, name, request.notified)
            if not dry_run:
                self._reread_returning(report)
            self._find_held(cycle)
            lock.verify()
            if dry_run:
                everyone = request.rescores_everyone or cycle.model_changed
                self._dry_score(report, rescore_all=everyone, diff_csv=request.diff_csv)
            else:
                self._score_act_write(cycle)
            if resume_key is not None and not report.failed_connectors:
                with self.store.transaction() as conn:
                    checkpoints.clear(conn, resume_key)
            report.status = _status(names, report)
        except BaseException as exc:
            # Whatever escapes (a bug, a lost lock, the store gone, Ctrl-C) is a failed cycle,
            # recorded with its error: never "ok".
            what = "interrupted" if isinstance(exc, KeyboardInterrupt) else "crashed"
            if isinstance(exc, CycleRefused):
                what = "refused"
            error = f"cycle {what}: {type(exc).__name__}: {exc}"
            report.status = "failed"
            report.errors.append(error)
            for name in names:
                report.failed_connectors.setdefault(name, error)
            log.error("sync.cycle_failed", error=error, exc_info=not isinstance(exc, CycleRefused))
            raise
        finally:
            if self.actor is not None:
                report.actions = self.actor.report.to_dict()
            report.api_calls = {
                n: c.usage().calls - calls_before[n] for n, c in self.connectors.items()
            }
            with self.store.transaction() as conn:
                finish_run(
                    conn,
                    run_id,
                    self.clock(),
                    status=report.status,
                    counts=report.to_dict(),
                    api_calls=sum(report.api_calls.values()),
                    error="; ".join(report.errors) or None,
                )
        return report

    def _score_act_write(self, cycle: _Cycle) -> None:
        request, report, lock = cycle.request, cycle.report, cycle.lock
        acting = self.actor is not None and not request.no_actions
        if acting:
            assert self.actor is not None
            # Inactivity and cool-downs re-queue people, so they are scored now.
            for name in self.connectors:
                self._guarded(report, name, self.actor.sweep, self.store, name, cycle.held)
        self._score(report)
        if request.decay:
            self._decay(report)
        if acting:
            assert self.actor is not None
            # Before the field writes: speed-to-lead is the point of a hand-off.
            for name in self.connectors:
                self._guarded(report, name, self.actor.act, self.store, name, cycle.held, lock)
        lock.verify()
        for name in self.connectors:
            self._guarded(report, name, self._flush, name, report)
        if acting:
            assert self.actor is not None
            # The tasks of owner changes that rode in the field write (see engine.riders).
            for name in self.connectors:
                self._guarded(report, name, self.actor.after_write, self.store, name, lock)

    def _check_model(self, cycle: _Cycle) -> None:
        """Scores from two models never mix. The store records the model (a fingerprint of
        the model's config) it is scored with. A cycle with another model re-scores everyone
        from the store when asked to adopt it; a dry run previews the whole effect; any other
        cycle refuses to write (a replica with a stale file, a hand-run command with another
        config)."""
        model = self.settings.model
        if not model:
            return
        request, report = cycle.request, cycle.report
        with self.store.transaction() as conn:
            current = scored_with(conn)
            if current is None and not request.dry_run:
                adopt_model(conn, model, cycle.started)
            if current is None or current.fingerprint == model:
                report.model = {"fingerprint": model}
                return
            report.model = {"fingerprint": model, "store": current.fingerprint}
            cycle.model_changed = True
            if request.dry_run:
                return
            if not request.adopt_model:
                raise ModelMismatch(
                    f"this config's model ({model}) is not the one the store is scored with "
                    f"({current.fingerprint}, since {current.adopted_at:%Y-%m-%d %H:%M} UTC): "
                    "preview it with `leadsync sync --dry-run`, apply it with `leadsync "
                    "rescore` (or --adopt-model); a replica with an old file must be updated"
                )
            adopt_model(conn, model, cycle.started)
            marked = mark_all_dirty(conn, cycle.started)
        log.warning(
            "sync.model_changed",
            model=model,
            was=current.fingerprint,
            rescoring=marked,
            why="a new model re-scores everyone from the store; hand-offs keep their cap",
        )

    def _find_held(self, cycle: _Cycle) -> None:
        """Who waits this cycle: people with data from a CRM whose last pull did not
        complete (judged on half the truth otherwise), and people back after ``forget`` not
        yet re-read whole. They stay queued and are scored once that is over."""
        with self.store.reading() as conn:
            gaps = pull_gaps_of(conn, list(self.connectors))
            sources = tuple(sorted({gap.connector for gap in gaps}))
            # A CRM that never completed a pull may hold anyone: nobody is judged without it.
            never = any(not gap.ever_completed for gap in gaps)
            cycle.held = Holds(sources, any_returning(conn), everyone=never)
            count, sample = waiting_people(conn, cycle.held)
        for gap in gaps:
            cycle.report.waiting_for.setdefault(
                gap.connector, f"{gap.stream} pull incomplete since {gap.since:%Y-%m-%d %H:%M} "
                f"UTC: {gap.error}"
            )  # fmt: skip
        if cycle.held.everyone:
            cycle.report.waiting_for.setdefault(
                "everyone", "a CRM whose pull failed has never completed one: nobody is scored "
                "or acted on until it has"
            )  # fmt: skip
        if cycle.held.returning:
            cycle.report.waiting_for.setdefault(
                "returning", "people back after `forget` wait to be re-read whole by id"
            )
        cycle.report.people_waiting = count
        if count:
            log.warning(
                "sync.people_waiting",
                people=count,
                waiting_for=list(cycle.report.waiting_for),
                sample=sample,
                why="they are scored once what they wait for is complete",
            )

    def _reread_returning(self, report: CycleReport) -> None:
        """People back after ``forget`` are read again whole from every CRM: their records
        by id, their other records by address (those were forgotten too), and every activity
        of them all; then they are welcomed back (``leadsync.store.returning``). If a CRM
        fails, they all wait for the next cycle: a person read from half their CRMs is not
        whole."""
        with self.store.reading() as conn:
            if not any_returning(conn):
                return
            found = returning_people_of(conn)
        emails = sorted({r.email for r in found if r.email})
        errors = len(report.errors)
        for name, connector in self.connectors.items():
            refs = sorted({ref for r in found for ref in r.refs if ref.source == name})
            self._guarded(report, name, self._reread, connector, refs, emails)
        if len(report.errors) > errors:
            return
        with self.store.transaction() as conn:
            welcome_back(conn, [r.person_id for r in found], self.clock())
        log.info("sync.returning_reread", people=len(found))

    def _reread(
        self, connector: Connector, refs: Sequence[RecordRef], emails: Sequence[str]
    ) -> None:
        people = {p.ref: p for p in connector.read_people(refs)} if refs else {}
        for person in connector.find_people(emails) if emails else ():
            people.setdefault(person.ref, person)
        history = connector.read_activities(list(people.values())) if people else []
        with self.store.transaction() as conn:
            now = self.clock()
            store_people(conn, people_rows(list(people.values()), now), now)
            upsert_activities(conn, history, now)

    def _guarded(
        self, report: CycleReport, name: str, step: Callable[..., None], *args: Any
    ) -> None:
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

    # -- pull -----------------------------------------------------------------------------

    def _pull(self, name: str, notified: Sequence[RecordRef] = ()) -> None:
        connector = self.connectors[name]
        named = [ref for ref in notified if ref.source == name]
        # People batches create and merge people by email, so they commit one at a time, in
        # order (each batch's rows are prepared while the batch before commits); activity
        # batches only link to people, so two may commit at once.
        people = Stored(self._store_people, people_rows)
        streams = [
            _StreamPull(name, "people", connector.pull_people, people, 1),
            _StreamPull(
                name, "activities", connector.pull_activities, Stored(upsert_activities), 2
            ),
        ]
        if named and not self._cycle.request.full:

            def read_named(_since: datetime | None) -> Iterator[Any]:
                return iter(connector.read_people(named))

            streams[0] = _StreamPull(name, "people", read_named, streams[0].stored, 1, by_id=True)
        for spec in streams:
            try:
                self._pull_stream(spec)
            except BaseException as exc:
                # What this stream stored so far may be half of what changed. A read by id
                # that failed leaves people a webhook said had changed unread: a gap too,
                # closed by the next complete poll.
                self._record_gap(name, spec.stream, exc)
                raise
            if not spec.by_id:
                with self.store.transaction() as conn:
                    close_gap(conn, name, spec.stream, self.clock())

    def _store_people(self, conn: Any, prepared: Any, now: datetime) -> IngestCounts:
        counts = store_people(conn, prepared, now)
        if self._cycle.forgotten:
            find_returning(conn, {u: r["email_norm"] for u, r in prepared.rows.items()}, now)
        return counts

    def _record_gap(self, name: str, stream: str, exc: BaseException) -> None:
        try:
            with self.store.transaction() as conn:
                open_gap(conn, name, stream, f"{type(exc).__name__}: {exc}", self.clock())
        except Exception:  # the store itself failing: the original error is what matters
            log.exception("sync.gap_not_recorded", connector=name, stream=stream)

    def _pull_stream(self, spec: _StreamPull) -> None:
        cycle, report = self._cycle, self._cycle.report
        name, stream, key = spec.connector, spec.stream, cycle.resume_key
        cursor: Cursor | None = None
        if cycle.request.full or spec.by_id:
            since = cycle.request.since
        else:
            with self.store.reading() as conn:
                cursor = read_cursor(conn, name, stream)
            since = self._since(cursor)
            window = cycle.request.reread
            if since is not None and window is not None:
                # Late commits: stamped before the cursor, committed after it moved.
                since = min(since, cycle.started - window)
        self.progress.phase(f"pull {name} {stream}")
        marks = PageMarks()
        if key is None:
            items = spec.pull(since)
            before = 0
        else:
            with self.store.reading() as conn:
                point = checkpoints.read(conn, key, name, stream)
            if point is not None and point.done:
                report.pulled[f"{name}.{stream}"] = {"resumed_done": point.records}
                return
            before = point.records if point is not None else 0
            resume = point.token if point is not None else None
            if resume is not None:
                log.info("sync.pull_resumed", connector=name, stream=stream, records=before)
            items = spec.pull(since, resume=resume, checkpoint=marks.mark)
        counts, newest, committed = self._store_pages(
            items, marks, spec.stored, Resumption(key, name, stream, before), spec.in_flight
        )
        if key is not None:
            with self.store.transaction() as conn:
                checkpoints.save(
                    conn,
                    key,
                    name,
                    stream,
                    token=None,
                    records=before + committed,
                    now=self.clock(),
                    done=True,
                )
        pulled = {
            "inserted": counts.inserted,
            "updated": counts.updated,
            "unchanged": counts.unchanged,
        }
        if counts.skipped:
            pulled["skipped"] = counts.skipped
        if counts.unreadable:
            pulled["unreadable"] = counts.unreadable
        if counts.clipped:
            pulled["clipped"] = counts.clipped
        report.pulled[f"{name}.{stream}"] = pulled
        log.info("sync.pulled", connector=name, stream=stream, since=since, **pulled)
        if cycle.request.dry_run or spec.by_id:
            # A read by id says nothing about what else changed: the cursor stays put.
            return
        position = None if newest is None else min(newest, cycle.started)
        if position is not None and (cursor is None or position > cursor.position):
            # Never past the cycle's start: a record modified while we paged may carry
            # an earlier stamp than one already seen (Singer's bookmark rule).
            with self.store.transaction() as conn:
                set_cursor(conn, name, stream, position, self.clock())
        elif (
            cursor is not None
            and not cursor.settled
            and cycle.started - cursor.moved_at >= self.settings.overlap
        ):
            # This pull began an overlap after the cursor last moved and re-read the
            # overlap behind it: any late-committed record there is seen by now.
            with self.store.transaction() as conn:
                settle_cursor(conn, name, stream, cursor.position)

    def _store_pages(
        self,
        items: Iterator[Any],
        marks: PageMarks,
        upsert: Stored,
        resumption: Resumption,
        in_flight: int = 1,
    ) -> tuple[IngestCounts, datetime | None, int]:
        """Store pulled ``items`` a batch a transaction, with the newest checkpoint their
        records complete. On PostgreSQL batches commit while the next is read, up to
        ``in_flight`` at once (see :mod:`leadsync.engine.pipeline`). Returns the counts, the
        newest modification stamp and how many records were stored.

        With one commit in flight a checkpoint is saved in its batch's transaction. With more,
        a later batch may commit first, so a checkpoint is saved once every batch before it has
        committed, in a transaction of its own: a crash between the two re-reads that batch,
        which stores nothing twice (an unchanged record is a no-op). A batch holding a record
        that a batch in flight also holds waits for it, so that record lands in pull order."""
        counts = IngestCounts()
        newest: datetime | None = None
        committed = 0
        in_flight = in_flight if self.store.concurrent_writers else 0
        ordered_saves = in_flight > 1
        pending_refs: deque[set[Any]] = deque()

        def commit(prepared: Any, token: str | None, records: int) -> IngestCounts:
            with self.store.transaction() as conn:
                stored = upsert.store(conn, prepared, self.clock())
                if not ordered_saves:
                    # Same transaction as the page's last records: never ahead of them.
                    resumption.save(conn, token, records, self.clock())
            return stored

        def account(
            batch: list[Any], token: str | None, records: int, stored: IngestCounts
        ) -> None:
            nonlocal newest
            if ordered_saves:
                pending_refs.popleft()
                if resumption.saves(token):
                    with self.store.transaction() as conn:
                        resumption.save(conn, token, records, self.clock())
            counts.add(stored)
            latest = max(item.modified_at for item in batch)
            newest = latest if newest is None else max(newest, latest)
            self.progress.advance(len(batch))

        with CommitPipeline[IngestCounts](in_flight) as commits:
            for batch in marks.batches(items, self.settings.pull_batch):
                committed += len(batch)
                token = marks.released(committed)
                records = resumption.before + committed
                if ordered_saves:
                    refs = {item.ref for item in batch}
                    if any(not refs.isdisjoint(other) for other in pending_refs):
                        commits.drain()
                    pending_refs.append(refs)
                prepared = batch if upsert.prepare is None else upsert.prepare(batch, self.clock())
                commits.submit(
                    partial(commit, prepared, token, records),
                    partial(account, batch, token, records),
                )
        return counts, newest, committed

    def _since(self, cursor: Cursor | None) -> datetime | None:
        """Where an incremental pull starts: an overlap behind the cursor, so a record that
        was committed late (stamped before the newest one seen) is not missed; at the cursor
        once that overlap has been re-read by a pull that began an overlap later. Without the
        second rule a quiet CRM would re-read the last overlap of records every cycle."""
        if cursor is None:
            return None
        return cursor.position if cursor.settled else cursor.position - self.settings.overlap

    # -- score ----------------------------------------------------------------------------

    def _score(self, report: CycleReport) -> None:
        held = self._cycle.held
        with self.store.reading() as conn:
            total = dirty_count(conn, held)
        self.progress.phase("score", total=total)

        def account(size: int, saved: Any) -> None:
            report.scored += saved.scored
            report.changed += saved.changed
            report.queued += saved.writes_queued
            self.progress.advance(size)

        with ExitStack() as stack:
            in_flight, run = self._score_runner(total, stack)
            # A recycle decided while scoring re-queues the person (new engagement baseline
            # and recycle count): a second pass scores them in this cycle.
            for _ in range(2):
                after = 0
                with CommitPipeline[Any](in_flight, name="leadsync-score") as batches:
                    while True:
                        with self.store.reading() as conn:
                            ids = dirty_people(conn, after, self.settings.score_batch, held)
                        if not ids:
                            break
                        # Scores decide hand-offs: never beside another cycle.
                        self._cycle.lock.verify()
                        batches.submit(partial(run, ids, self.clock()), partial(account, len(ids)))
                        after = ids[-1]
                with self.store.reading() as conn:
                    if not dirty_people(conn, 0, 1, held):
                        return

    def _score_runner(
        self, people: int, stack: ExitStack
    ) -> tuple[int, Callable[[list[int], datetime], Any]]:
        """How many batches run at once, and what runs one: in worker processes when batches
        are independent and the phase scores at least ``score_workers_from`` people (see
        :mod:`leadsync.engine.score_workers`), else in this process."""
        in_flight = self._score_in_flight()
        workers = self.settings.score_workers
        if in_flight < 2 or workers < 1 or people < self.settings.score_workers_from:
            return in_flight, self._score_committed
        moves = self.actor.quiet_moves() if self.actor is not None else None
        work = ScoreWork(self.store.url, self.score, moves)
        if not work.picklable():
            log.info("sync.score.in_process", reason="the score function cannot be pickled")
            return in_flight, self._score_committed
        log.info("sync.score.workers", workers=workers, people=people)
        pool = stack.enter_context(ScoreWorkers(work, workers))
        # One batch more than workers: the next is queued while the others run.
        return workers + 1, pool.score

    def _score_in_flight(self) -> int:
        """How many scoring batches may run at once: two on a store that takes concurrent
        writers, when batches share nothing they write. Account roll-ups and hand-off routing
        (round-robin turns, owner capacity) read and update rows that people in different
        batches share, so with either of those the batches run one at a time."""
        if not self.store.concurrent_writers or self.accounts is not None:
            return 0
        if self.actor is not None and not self._cycle.request.no_actions:
            return 0
        return SCORE_BATCHES_IN_FLIGHT

    def _score_committed(self, ids: list[int], now: datetime) -> Any:
        with self.store.transaction() as conn:
            return self._score_batch(conn, ids, now)

    def _decay(self, report: CycleReport) -> None:
        """Re-score everyone for the time that passed; keep only real moves.

        A person is saved (and written, and acted on) when the score moved by at least
        ``score_change_threshold`` or the cell changed; otherwise the stored result stays.
        """
        self.progress.phase("decay")
        threshold = self.settings.score_change_threshold
        after = 0
        while True:
            now = self.clock()
            self._cycle.lock.verify()
            with self.store.transaction() as conn:
                ids = scored_people(conn, after, self.settings.score_batch, self._cycle.held)
                if not ids:
                    return
                inputs = load_inputs(conn, ids)
                kept_inputs, kept_rows = [], []
                for item in inputs:
                    row = self.score(item, now)
                    before = item.previous
                    if (
                        before is None
                        or abs(row.score - int(before["score"])) >= threshold
                        or row.cell != before["cell"]
                    ):
                        kept_inputs.append(item)
                        kept_rows.append(row)
                saved = save_scores(conn, kept_rows, [], now)
                if self.actor is not None and kept_rows:
                    quiet = self._cycle.request.no_actions
                    self.actor.decide(conn, kept_inputs, kept_rows, now, no_actions=quiet)
            after = ids[-1]
            report.scored += len(inputs)
            report.changed += saved.changed
            report.queued += saved.writes_queued
            self.progress.advance(len(ids))

    def _score_batch(self, conn: Any, ids: list[int], now: datetime) -> Any:
        inputs, rows, saved = score_and_save(conn, ids, now, self.score)
        if self.actor is not None:
            # Same transaction: a transition is decided exactly once with the score behind it.
            self.actor.decide(conn, inputs, rows, now, no_actions=self._cycle.request.no_actions)
        if self.accounts is not None:
            # Same transaction: the roll-up is never left half-applied by a crash.
            saved.changed += self.accounts.settle(conn, ids, now, self._cycle.held)
        return saved

    def _dry_score(
        self, report: CycleReport, *, rescore_all: bool, diff_csv: Path | None = None
    ) -> None:
        """Score and queue inside a transaction that is rolled back: report, change nothing."""
        self.progress.phase("score (dry run)")
        now = self.clock()
        per_field: dict[str, int] = {}
        sample: list[dict[str, Any]] = []
        with self.store.engine.connect() as conn:
            trans = conn.begin()
            try:
                if rescore_all:
                    mark_all_dirty(conn, now)
                mark = history_mark(conn)
                after = 0
                held = self._cycle.held
                while ids := dirty_people(conn, after, self.settings.score_batch, held):
                    saved = self._score_batch(conn, ids, now)
                    report.scored += saved.scored
                    report.changed += saved.changed
                    report.queued += saved.writes_queued
                    after = ids[-1]
                    self.progress.advance(len(ids))
                moves = cell_moves(conn, mark)
                with ExitStack() as files:
                    writer = None
                    if diff_csv is not None:
                        handle = files.enter_context(diff_csv.open("w", newline=""))
                        writer = csv.writer(handle)
                        writer.writerow(["record", "field", "old", "new"])
                    for name in self.connectors:
                        due = due_writes(conn, name, now, 10**9)
                        before = written_values(conn, [item.record_id for item in due])
                        for item in due:
                            old = before.get(item.record_id, {})
                            for key, value in item.values.items():
                                if key == SCORED_AT:
                                    continue
                                per_field[key] = per_field.get(key, 0) + 1
                                if writer is not None:
                                    writer.writerow([str(item.ref), key, old.get(key, ""), value])
                            if len(sample) < 10:
                                sample.append(
                                    {"record": str(item.ref), "values": dict(item.values)}
                                )
            finally:
                trans.rollback()
        report.would_write = {"per_field": per_field, "sample": sample, "cell_moves": moves}
        if self.actor is not None:
            decided = self.actor.report
            report.would_write["handoffs"] = decided.handoffs_queued
            report.would_write["recycles"] = decided.recycled

    # -- write back -----------------------------------------------------------------------

    def _flush(self, name: str, report: CycleReport) -> None:
        """Hand every due write to the connector, page by page, and record each page's
        outcomes when the connector gives them (it may hold pages to send them in one job).

        A page is remembered by its writes' ids and a digest of the values sent, not the
        values: a backfill hands over a million writes. When a page is answered its writes
        are read again; one whose values were merged into since it was sent is left owed, to
        go again with the newer values. If the connector raises (budget spent, CRM down),
        pages already answered stay recorded and the rest stay owed for the next cycle;
        re-sending values already applied is harmless. Owner changes that ride in the write
        (``engine.riders``) go beside their record's values, settled with the same page.
        """
        connector = self.connectors[name]
        self.progress.phase(f"write {name}")
        now = self.clock()
        riders = None
        if self.actor is not None and not self._cycle.request.no_actions:
            riders = self.actor.riders(self.store, name)
        handed: deque[tuple[list[tuple[int, bytes]], list[DueAction]]] = deque()

        def pages() -> Iterator[list[RecordUpdate]]:
            after = 0
            while True:
                with self.store.reading() as conn:
                    due = due_writes(conn, name, now, self.settings.write_chunk, after=after)
                if not due:
                    break
                # Before every page: if another cycle may be running, write nothing more.
                self._cycle.lock.verify()
                after = due[-1].record_id
                riding = riders.take(item.ref for item in due) if riders else []
                handed.append(([(item.id, values_digest(item.values)) for item in due], riding))
                page = [RecordUpdate(item.ref, _for_connector(item.values)) for item in due]
                yield page + OwnerRiders.updates(riding)
                if len(due) < self.settings.write_chunk:
                    break
            rest = riders.rest() if riders else []
            if rest:
                self._cycle.lock.verify()
                handed.append(([], rest))
                yield OwnerRiders.updates(rest)

        def record(
            sent: list[tuple[int, bytes]], riding: list[DueAction], answers: list[Any]
        ) -> Any:
            outcomes, owner_outcomes = answers[: len(sent)], answers[len(sent) :]
            with self.store.transaction() as conn:
                if riders is not None:
                    riders.add(riders.record(conn, riding, owner_outcomes, self.clock()))
                current = writes_by_id(conn, [write_id for write_id, _ in sent])
                due, answered = [], []
                for (write_id, digest), outcome in zip(sent, outcomes, strict=True):
                    item = current.get(write_id)
                    if item is not None and values_digest(item.values) == digest:
                        due.append(item)
                        answered.append(outcome)
                counts = record_outcomes(
                    conn,
                    due,
                    answered,
                    self.clock(),
                    max_attempts=self.settings.max_write_attempts,
                    backoff=self.settings.retry_backoff,
                )
            return len(sent), due, answered, counts

        def account(recorded: Any) -> None:
            sent, due, answered, counts = recorded
            _bump(report.written, name, counts.written)
            _bump(report.rejected, name, counts.rejected)
            _bump(report.parked, name, counts.parked)
            self.progress.advance(sent)
            _log_rejections(name, due, answered)

        # On PostgreSQL a page's outcomes are recorded while the connector places the next.
        # (Two pages at a time was measured: 0.5 s less at 100k leads and 142 MiB more peak
        # memory, which at 1M leads would pass the 1.5 GiB target.)
        in_flight = 1 if self.store.concurrent_writers else 0
        with CommitPipeline[Any](in_flight, name="leadsync-write") as recorder:
            for outcomes in connector.write_pages(pages()):
                sent, riding = handed.popleft()
                if len(outcomes) != len(sent) + len(riding):
                    raise ValueError(
                        f"{name} answered {len(outcomes)} outcomes for "
                        f"{len(sent) + len(riding)} writes"
                    )
                recorder.submit(partial(record, sent, riding, outcomes), account)
        if riders is not None:
            riders.finished = True


def _status(names: Sequence[str], report: CycleReport) -> str:
    """``ok``; ``partial`` when some connectors failed and the rest did their work; ``failed``
    when every connector asked for failed or one failed for good (credentials, permissions)."""
    if not report.failed_connectors:
        return "ok"
    if report.status == "failed" or set(names) <= set(report.failed_connectors):
        return "failed"
    return "partial"


def _for_connector(values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    stamp = out.get(SCORED_AT)
    if isinstance(stamp, str):
        out[SCORED_AT] = datetime.fromisoformat(stamp)
    return out


def _bump(counter: dict[str, int], key: str, n: int) -> None:
    if n:
        counter[key] = counter.get(key, 0) + n


def _log_rejections(name: str, due: Sequence[DueWrite], outcomes: Sequence[Any]) -> None:
    for item, outcome in zip(due, outcomes, strict=True):
        if not outcome.ok and outcome.error is not None:
            log.warning(
                "sync.rejected",
                connector=name,
                record=str(item.ref),
                code=outcome.error.code,
                message=outcome.error.message,
                fields=list(outcome.error.fields),
                attempt=item.attempts + 1,
            )
