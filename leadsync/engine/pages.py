"""Tying a connector's page checkpoints to the store's commits during a resumable pull.

A connector reports a checkpoint token when every record before it has been handed over; the
engine commits records in its own batches, which do not line up with the CRM's pages. A token
may therefore be saved only by the commit that holds the last record before it: saved any
earlier, a crash would resume past records the store never got.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from leadsync.store import Connection, checkpoints

T = TypeVar("T")


class PageMarks:
    """Counts records as they are pulled and releases each checkpoint once they are committed."""

    def __init__(self) -> None:
        self._received = 0
        self._marks: deque[tuple[int, str]] = deque()

    def batches(self, items: Iterable[T], size: int) -> Iterator[list[T]]:
        """``items`` in lists of ``size``, counting each as it is taken.

        A full list is handed out only once the item after it has been fetched: a page that
        ends exactly there reports its checkpoint during that fetch, so the list's commit can
        carry it (otherwise it would wait for the next commit, and a crash in between would
        re-read a page the store already holds).
        """
        batch: list[T] = []
        for item in items:
            if len(batch) >= size:
                yield batch
                batch = []
            self._received += 1
            batch.append(item)
        if batch:
            yield batch

    def mark(self, token: str) -> None:
        """The connector's callback: every record taken so far comes before ``token``."""
        self._marks.append((self._received, token))

    def released(self, committed: int) -> str | None:
        """The newest token whose records are all among the first ``committed``, if any."""
        latest = None
        while self._marks and self._marks[0][0] <= committed:
            latest = self._marks.popleft()[1]
        return latest


@dataclass(frozen=True, slots=True)
class Resumption:
    """Where one stream's checkpoints go during a pull; ``key`` None: not resumable."""

    key: str | None
    connector: str
    stream: str
    before: int  # records an earlier, interrupted run of this pull already stored

    def saves(self, token: str | None) -> bool:
        """Whether ``save`` would write anything: a resumable pull that completed a page."""
        return self.key is not None and token is not None

    def save(self, conn: Connection, token: str | None, records: int, now: datetime) -> None:
        """Save ``token`` with the records stored so far; nothing when not resumable or when
        no page was completed (``token`` None)."""
        if self.key is None or token is None:
            return
        checkpoints.save(
            conn, self.key, self.connector, self.stream, token=token, records=records, now=now
        )
