"""The score phase: everyone dirty is scored (and acted on, and queued for writing) in
batches; the daily decay pass re-scores everyone for the time that passed; a dry run does
it all in a transaction that is rolled back, and reports what would change.

Scoring clears a person's dirty flag in the same transaction that queues their writes and
decides their hand-off, so a crash re-scores exactly who was not yet saved.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import structlog

from leadsync.engine.context import Cycle
from leadsync.engine.pipeline import CommitPipeline
from leadsync.engine.score_workers import ScoreWork, ScoreWorkers, score_and_save
from leadsync.store import Connection
from leadsync.store.handoffs import queued_handoffs, results_of
from leadsync.store.scoring import (
    cell_moves,
    dirty_count,
    dirty_people,
    held_among,
    history_mark,
    load_inputs,
    mark_all_dirty,
    save_scores,
    scored_people,
)
from leadsync.store.writes import SCORED_AT, due_writes, written_values

log = structlog.get_logger(__name__)

#: Scoring batches running at once where they are independent (see ``in_flight``): one
#: runs the model while the other waits on the store.
SCORE_BATCHES_IN_FLIGHT = 2


def score(cycle: Cycle) -> None:
    """Score everyone dirty (and not held), a batch a transaction."""
    parts, report, held = cycle.parts, cycle.report, cycle.held
    with parts.store.reading() as conn:
        total = dirty_count(conn, held)
    parts.progress.phase("score", total=total)

    def account(size: int, saved: Any) -> None:
        report.count_saved(saved)
        parts.progress.advance(size)

    with ExitStack() as stack:
        in_flight, run = _runner(cycle, total, stack)
        # A recycle decided while scoring re-queues the person (new engagement baseline
        # and recycle count): a second pass scores them in this cycle.
        for _ in range(2):
            after = 0
            with CommitPipeline[Any](in_flight, name="leadsync-score") as batches:
                while True:
                    with parts.store.reading() as conn:
                        ids = dirty_people(conn, after, parts.settings.score_batch, held)
                    if not ids:
                        break
                    # Scores decide hand-offs: never beside another cycle.
                    cycle.lock.verify()
                    batches.submit(partial(run, ids, parts.clock()), partial(account, len(ids)))
                    after = ids[-1]
            with parts.store.reading() as conn:
                if not dirty_people(conn, 0, 1, held):
                    return


def _runner(
    cycle: Cycle, people: int, stack: ExitStack
) -> tuple[int, Callable[[list[int], datetime], Any]]:
    """How many batches run at once, and what runs one: in worker processes when batches
    are independent and the phase scores at least ``score_workers_from`` people (see
    :mod:`leadsync.engine.score_workers`), else in this process."""
    parts = cycle.parts
    in_flight_here = in_flight(cycle)
    in_process = partial(_score_committed, cycle)
    workers = parts.settings.score_workers
    if in_flight_here < 2 or workers < 1 or people < parts.settings.score_workers_from:
        return in_flight_here, in_process
    moves = parts.actor.quiet_moves() if parts.actor is not None else None
    work = ScoreWork(parts.store.url, parts.score, moves)
    if not work.picklable():
        log.info("sync.score.in_process", reason="the score function cannot be pickled")
        return in_flight_here, in_process
    log.info("sync.score.workers", workers=workers, people=people)
    pool = stack.enter_context(ScoreWorkers(work, workers))
    # One batch more than workers: the next is queued while the others run.
    return workers + 1, pool.score


def in_flight(cycle: Cycle) -> int:
    """How many scoring batches may run at once: two on a store that takes concurrent
    writers, when batches share nothing they write. Account roll-ups and hand-off routing
    (round-robin turns, owner capacity) read and update rows that people in different
    batches share, so with either of those the batches run one at a time."""
    parts = cycle.parts
    if not parts.store.concurrent_writers or parts.accounts is not None:
        return 0
    if parts.actor is not None and not cycle.request.no_actions:
        return 0
    return SCORE_BATCHES_IN_FLIGHT


def _score_committed(cycle: Cycle, ids: list[int], now: datetime) -> Any:
    with cycle.parts.store.transaction() as conn:
        return score_batch(cycle, conn, ids, now)


def score_batch(cycle: Cycle, conn: Connection, ids: list[int], now: datetime) -> Any:
    """Score and save ``ids`` in ``conn``'s transaction, deciding their transitions and
    settling their accounts with them."""
    parts = cycle.parts
    inputs, rows, saved = score_and_save(conn, ids, now, parts.score)
    if cycle.acting is not None:
        # Same transaction: a transition is decided exactly once with the score behind it.
        cycle.acting.decide(conn, inputs, rows, now, no_actions=cycle.request.no_actions)
    if parts.accounts is not None:
        # Same transaction: the roll-up is never left half-applied by a crash.
        saved.changed += parts.accounts.settle(conn, ids, now, cycle.held)
    return saved


def decay(cycle: Cycle) -> None:
    """Re-score everyone for the time that passed; keep only real moves.

    A person is saved (and written, and acted on) when the score moved by at least
    ``score_change_threshold`` or the cell changed; otherwise the stored result stays.
    """
    parts, report = cycle.parts, cycle.report
    parts.progress.phase("decay")
    threshold = parts.settings.score_change_threshold
    after = 0
    while True:
        now = parts.clock()
        cycle.lock.verify()
        with parts.store.transaction() as conn:
            ids = scored_people(conn, after, parts.settings.score_batch, cycle.held)
            if not ids:
                return
            inputs = load_inputs(conn, ids)
            kept_inputs, kept_rows = [], []
            for item in inputs:
                row = parts.score(item, now)
                before = item.previous
                if (
                    before is None
                    or abs(row.score - int(before["score"])) >= threshold
                    or row.cell != before["cell"]
                ):
                    kept_inputs.append(item)
                    kept_rows.append(row)
            saved = save_scores(conn, kept_rows, [], now)
            if cycle.acting is not None and kept_rows:
                quiet = cycle.request.no_actions
                cycle.acting.decide(conn, kept_inputs, kept_rows, now, no_actions=quiet)
        after = ids[-1]
        report.scored += len(inputs)
        report.changed += saved.changed
        report.queued += saved.writes_queued
        parts.progress.advance(len(ids))


def dry_score(cycle: Cycle) -> None:
    """Score and queue inside a transaction that is rolled back: report, change nothing.

    Everyone is re-scored when the request re-scores everyone or the model changed; the
    request's ``diff_csv`` gets one row per field that would change."""
    parts, report, request = cycle.parts, cycle.report, cycle.request
    parts.progress.phase("score (dry run)")
    now = parts.clock()
    with parts.store.engine.connect() as conn:
        trans = conn.begin()
        try:
            if request.rescores_everyone or cycle.model_changed:
                mark_all_dirty(conn, now)
            mark = history_mark(conn)
            after = 0
            while ids := dirty_people(conn, after, parts.settings.score_batch, cycle.held):
                report.count_saved(score_batch(cycle, conn, ids, now))
                after = ids[-1]
                parts.progress.advance(len(ids))
            moves = cell_moves(conn, mark)
            per_field, sample = _would_write(cycle, conn, now, request.diff_csv)
            acting = parts.actor is not None and not request.no_actions
            handoffs = _would_hand_off(cycle, conn) if acting else (0, 0)
        finally:
            trans.rollback()
    report.would_write = {"per_field": per_field, "sample": sample, "cell_moves": moves}
    if parts.actor is not None:
        report.would_write["handoffs"], report.would_write["handoffs_waiting"] = handoffs
        report.would_write["recycles"] = cycle.acted.recycled


def _would_hand_off(cycle: Cycle, conn: Connection) -> tuple[int, int]:
    """What the real cycle's routing would do with the hand-offs queued now (this dry run's
    and any left from earlier cycles): ``(handed off, waiting)``. As routing does, per CRM:
    a hand-off whose person left the sales cells is dropped, a held person's waits, and at
    most ``[sync] handoffs_per_cycle`` go, the rest waiting for the cap."""
    assert cycle.parts.actor is not None
    cap = cycle.parts.actor.settings.handoffs_per_cycle
    now = waiting = 0
    for name in cycle.parts.connectors:
        queued = queued_handoffs(conn, name)
        results = results_of(conn, [q.person_id for q in queued])
        sales = [q for q in queued if _still_sales(results.get(q.person_id))]
        held = held_among(conn, [q.person_id for q in sales], cycle.held)
        ready = len(sales) - sum(1 for q in sales if q.person_id in held)
        now += min(ready, cap)
        waiting += len(sales) - min(ready, cap)
    return now, waiting


def _still_sales(result: Mapping[str, Any] | None) -> bool:
    return result is None or (
        result.get("team") == "sales" and result.get("readiness") != "do_not_contact"
    )


def _would_write(
    cycle: Cycle, conn: Connection, now: datetime, diff_csv: Path | None
) -> tuple[dict[str, int], list[dict[str, Any]]]:
    """How many writes each field would get, and a sample of them; every one also goes to
    ``diff_csv`` (with the value written before) when given."""
    per_field: dict[str, int] = {}
    sample: list[dict[str, Any]] = []
    with ExitStack() as files:
        writer = None
        if diff_csv is not None:
            handle = files.enter_context(diff_csv.open("w", newline=""))
            writer = csv.writer(handle)
            writer.writerow(["record", "field", "old", "new"])
        for name in cycle.parts.connectors:
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
                    sample.append({"record": str(item.ref), "values": dict(item.values)})
    return per_field, sample
