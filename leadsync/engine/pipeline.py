"""Commits that run while the next batch is being prepared.

A pull alternates two kinds of work: reading and converting the CRM's next rows (this
process's CPU) and storing the previous ones (mostly the database server's CPU). Taking turns
leaves one of them idle; with a second connection the store's commit of batch N can run while
batch N+1 is read. A people pull keeps one commit in flight, so its commits run one at a time
and in order (they create and merge people by email). An activity pull keeps two (three was
measured slower at 1M activities): activity batches only link to people, a batch holding a
record also in the batch in flight waits for it, and checkpoints are saved as results are
handed on, in order (``leadsync.engine.pulls.store_pages``).

Scoring batches are independent of each other (disjoint people, each batch clears its own dirty
flags), so scoring keeps two in flight: while one batch waits on the store, the other runs the
model, and both cores work (a large score phase runs them in worker processes instead:
:mod:`leadsync.engine.score_workers`).

Only a store that takes writes from several connections at once (PostgreSQL) overlaps; on
SQLite (one writer, and an in-memory database is private to its connection) every commit runs
in the caller's thread, as before.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class CommitPipeline(Generic[R]):
    """At most ``in_flight`` commits running at once (0: each runs in the caller's thread);
    their results go to their ``then`` in the caller's thread, in the order submitted.

    Use as a context manager: leaving it waits for the commits in flight (the first error, if
    any, is raised then, unless the block is already raising one).
    """

    def __init__(self, in_flight: int, *, name: str = "leadsync-commit") -> None:
        self._in_flight = in_flight
        self._pool = ThreadPoolExecutor(in_flight, thread_name_prefix=name) if in_flight else None
        self._pending: deque[tuple[Future[R], Callable[[R], None]]] = deque()

    def submit(self, commit: Callable[[], R], then: Callable[[R], None]) -> None:
        """Run ``commit`` once fewer than ``in_flight`` are running; ``then`` gets its result
        after the results of every commit submitted before it."""
        if self._pool is None:
            then(commit())
            return
        while len(self._pending) >= self._in_flight:
            self._hand_on_oldest()
        self._pending.append((self._pool.submit(commit), then))

    def drain(self) -> None:
        """Wait for the commits in flight and hand their results on (or raise an error)."""
        while self._pending:
            self._hand_on_oldest()

    def _hand_on_oldest(self) -> None:
        future, then = self._pending.popleft()
        then(future.result())

    def __enter__(self) -> CommitPipeline[R]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Any:
        try:
            if exc is None:
                self.drain()
            else:
                # The block failed (a CRM error mid-pull, say): batches already handed over
                # still commit, as they would have without the overlap, and are accounted for;
                # the block's error is the one raised.
                # Results are handed on in order up to the first failed commit: one after it
                # may carry a checkpoint that must not pass the batch that failed.
                while self._pending:
                    future, then = self._pending.popleft()
                    if future.exception() is not None:
                        break
                    then(future.result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        return None
