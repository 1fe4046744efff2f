"""Scoring batches in worker processes, for score phases big enough to pay for them.

A scoring batch loads its people's inputs, runs the model and saves the results, in one
transaction. The model and the row handling around it are pure Python, so in one process
two batches in flight take turns on one core: in a backfill the score phase ran leadsync's
process at ~85 % of a core and the database at under half of one. Batches that share no rows
(no account roll-up, no hand-offs routed: see ``leadsync.engine.score_phase.in_flight``) can
instead each run whole in a worker process with its own connection, and then both cores work.

Only the people's ids go to a worker and only the batch's counts come back: sending the inputs
themselves was tried, and pickling them cost more than the model saves.
Workers are started with ``spawn``: the engine's process has database connections and threads,
which a forked child must not inherit.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.util
import pickle
import signal
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType

from leadsync import interpreter
from leadsync.engine.moves import QuietMoves
from leadsync.store import Connection, Store
from leadsync.store.scoring import PersonInputs, SaveCounts, ScoreRow, load_inputs, save_scores

ScoreFn = Callable[[PersonInputs, datetime], ScoreRow]


@dataclass(frozen=True)
class ScoreWork:
    """Everything a worker needs to score a batch on its own (sent to it pickled)."""

    store_url: str
    score: ScoreFn
    #: Moves to record without acting (a ``--no-actions`` cycle with hand-offs configured).
    moves: QuietMoves | None = None

    def picklable(self) -> bool:
        """Whether this can go to a worker (a score function that is a closure cannot)."""
        try:
            pickle.dumps(self)
        except (pickle.PicklingError, AttributeError, TypeError):
            return False
        return True


def score_and_save(
    conn: Connection, ids: Sequence[int], now: datetime, score: ScoreFn
) -> tuple[list[PersonInputs], list[ScoreRow], SaveCounts]:
    """The part of a scoring batch every runner shares: inputs, model, saved results, in
    ``conn``'s transaction; the inputs and rows go on to whatever acts on them."""
    inputs = load_inputs(conn, ids)
    rows = [score(item, now) for item in inputs]
    return inputs, rows, save_scores(conn, rows, ids, now)


def score_batch(
    conn: Connection,
    ids: Sequence[int],
    now: datetime,
    score: ScoreFn,
    moves: QuietMoves | None,
) -> SaveCounts:
    """One independent batch: inputs, model, saved results (and quiet moves), in ``conn``'s
    transaction."""
    inputs, rows, saved = score_and_save(conn, ids, now, score)
    if moves is not None:
        moves.record(conn, inputs, rows)
    return saved


_work: ScoreWork | None = None
_store: Store | None = None


def _start(work: ScoreWork) -> None:
    global _work, _store
    # Ctrl-C reaches the whole process group and a service manager may signal every process
    # of the service: the engine's process decides when to stop, and stopping the pool lets
    # the batch in hand commit (one batch, about a second) before a worker exits.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _work = work
    _store = Store(work.store_url, migrate=False)
    # Close the connections when the pool stops the worker (multiprocessing runs its
    # finalizers then; atexit handlers would not run).
    multiprocessing.util.Finalize(None, _store.close, exitpriority=10)
    interpreter.tune()


def _run(ids: Sequence[int], now: datetime) -> SaveCounts:
    assert _work is not None and _store is not None  # set by the pool's initializer
    with _store.transaction() as conn:
        return score_batch(conn, ids, now, _work.score, _work.moves)


class ScoreWorkers:
    """``workers`` processes scoring batches; use as a context manager (leaving stops them)."""

    def __init__(self, work: ScoreWork, workers: int) -> None:
        self.workers = workers
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(work,),
        )

    def score(self, ids: Sequence[int], now: datetime) -> SaveCounts:
        """Score one batch in a worker and wait for its counts (call from several threads to
        keep several workers busy)."""
        return self._pool.submit(_run, list(ids), now).result()

    def pids(self) -> list[int]:
        """The worker processes' ids (for ops tooling and tests)."""
        return sorted(self._pool._processes or {})

    def __enter__(self) -> ScoreWorkers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
