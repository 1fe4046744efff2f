"""Commits that run while the next batch is being prepared.

A pull alternates two kinds of work: reading and converting the CRM's next rows (this
process's CPU) and storing the previous ones (mostly the database server's CPU). Taking turns
leaves one of them idle; with a second connection the store's commit of batch N can run while
batch N+1 is read. Commits still run one at a time and in order, so a later change to a record
lands after an earlier one and a checkpoint never passes a batch that is not committed.

Only a store that takes writes from several connections at once (PostgreSQL) overlaps; on
SQLite (one writer, and an in-memory database is private to its connection) every commit runs
in the caller's thread, as before.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from types import TracebackType
from typing import Any, Generic, TypeVar

R = TypeVar("R")


class CommitPipeline(Generic[R]):
    """At most one commit in flight; its result goes to ``then`` in the caller's thread.

    Use as a context manager: leaving it waits for the commit in flight (its error, if any,
    is raised then, unless the block is already raising one).
    """

    def __init__(self, overlap: bool, *, name: str = "leadsync-commit") -> None:
        self._pool = ThreadPoolExecutor(1, thread_name_prefix=name) if overlap else None
        self._pending: tuple[Future[R], Callable[[R], None]] | None = None

    def submit(self, commit: Callable[[], R], then: Callable[[R], None]) -> None:
        """Run ``commit`` once the one before it has finished; ``then`` gets its result."""
        self.drain()
        if self._pool is None:
            then(commit())
            return
        self._pending = (self._pool.submit(commit), then)

    def drain(self) -> None:
        """Wait for the commit in flight and hand its result on (or raise its error)."""
        if self._pending is None:
            return
        future, then = self._pending
        self._pending = None
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
            elif self._pending is not None:
                # The block failed (a CRM error mid-pull, say): the batch already handed over
                # still commits, as it would have without the overlap, and is accounted for;
                # the block's error is the one raised.
                future, then = self._pending
                self._pending = None
                if future.exception() is None:
                    then(future.result())
        finally:
            if self._pool is not None:
                self._pool.shutdown(wait=True)
        return None
