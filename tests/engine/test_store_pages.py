"""How pulled batches reach the store: activity batches commit two at a time on PostgreSQL,
a record in two batches lands in pull order, and a checkpoint never passes an uncommitted
batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from leadsync.engine.cycle import EngineSettings, SyncEngine
from leadsync.engine.pages import PageMarks, Resumption
from leadsync.engine.pulls import Reading, Stored, store_pages
from leadsync.store import Store, checkpoints
from leadsync.store.ingest import IngestCounts
from tests.engine.test_cycle import Clock, points_scorer

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Item:
    ref: str
    modified_at: datetime = T0


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _engine(store: Store) -> SyncEngine:
    settings = EngineSettings(pull_batch=100, score_batch=64, write_chunk=1000)
    return SyncEngine(store, {}, points_scorer, settings, Clock())


class Tracker:
    """A fake upsert that records which batches were committing at the same time."""

    def __init__(self, slow_first: float = 0.0) -> None:
        self.lock = threading.Lock()
        self.running: set[int] = set()
        self.together: set[frozenset[int]] = set()
        self.peak = 0
        self.slow_first = slow_first
        self.order: list[int] = []

    def __call__(self, conn: sa.Connection, batch: list[Item], now: datetime) -> IngestCounts:
        first = int(batch[0].ref.split("-")[0])
        with self.lock:
            self.running.add(first)
            self.peak = max(self.peak, len(self.running))
            self.together.update(frozenset({first, o}) for o in self.running if o != first)
        try:
            time.sleep(self.slow_first if first == 0 else 0.02)
            return IngestCounts(inserted=len(batch))
        finally:
            with self.lock:
                self.running.discard(first)
                self.order.append(first)


def _items(batches: int, repeat: dict[int, str] | None = None) -> list[Item]:
    items = [Item(f"{b * 100}-{i}") for b in range(batches) for i in range(100)]
    for batch, ref in (repeat or {}).items():
        items[batch * 100 + 1] = Item(f"{batch * 100}-{ref}")
    return items


def test_two_batches_commit_at_once_on_postgresql_one_at_a_time_on_sqlite(store: Store) -> None:
    track = Tracker()
    engine = _engine(store)
    items = _items(8)
    reading = Reading(iter(items), Resumption(None, "mem", "activities", 0), PageMarks())
    counts, _, stored = store_pages(engine, reading, Stored(track), 2)
    assert (counts.inserted, stored) == (800, 800)
    assert track.peak == (2 if store.concurrent_writers else 1)


def test_a_record_in_two_batches_never_commits_in_both_at_once(store: Store) -> None:
    track = Tracker()
    # Batch 1 (refs 100-*) also carries a record of batch 0 ("0-5"), batch 3 one of batch 2.
    items = _items(6)
    items[100 + 7] = Item("0-5")
    items[300 + 7] = Item("200-9")
    reading = Reading(iter(items), Resumption(None, "mem", "activities", 0), PageMarks())
    store_pages(_engine(store), reading, Stored(track), 2)
    assert frozenset({0, 100}) not in track.together
    assert frozenset({200, 300}) not in track.together
    if store.concurrent_writers:
        assert track.together  # the other batches did overlap


def test_a_checkpoint_is_saved_only_once_every_batch_before_it_committed(store: Store) -> None:
    marks = PageMarks()
    seen_while_first_ran: list[object] = []

    def pull() -> Iterator[Item]:
        for page in range(4):
            yield from _items(4)[page * 100 : (page + 1) * 100]
            marks.mark(f"page{page}")

    class SlowFirst(Tracker):
        def __call__(self, conn: sa.Connection, batch: list[Item], now: datetime) -> IngestCounts:
            counts = super().__call__(conn, batch, now)
            if batch[0].ref.startswith("0-") and store.concurrent_writers:
                # The later batches have committed by now; their checkpoints must wait.
                with store.reading() as other:
                    seen_while_first_ran.append(checkpoints.read(other, "bf", "mem", "activities"))
            return counts

    track = SlowFirst(slow_first=0.5 if store.concurrent_writers else 0.0)
    reading = Reading(pull(), Resumption("bf", "mem", "activities", 0), marks)
    store_pages(_engine(store), reading, Stored(track), 2)
    if store.concurrent_writers:
        assert seen_while_first_ran == [None]
        assert track.order[0] != 0  # the first batch really committed after a later one
    with store.reading() as conn:
        point = checkpoints.read(conn, "bf", "mem", "activities")
    assert point is not None and (point.token, point.records) == ("page3", 400)


def test_a_batch_is_prepared_in_the_pulling_thread_and_stored_as_prepared(store: Store) -> None:
    """People batches commit one at a time: their rows are prepared by the pulling thread
    (while the batch before commits), and the commit stores what was prepared."""
    prepared_in: list[str] = []
    stored: list[tuple[str, ...]] = []

    def prepare(batch: list[Item], now: datetime) -> tuple[str, ...]:
        prepared_in.append(threading.current_thread().name)
        return tuple(item.ref for item in batch)

    def store_rows(conn: sa.Connection, rows: tuple[str, ...], now: datetime) -> IngestCounts:
        stored.append(rows)
        return IngestCounts(inserted=len(rows))

    reading = Reading(iter(_items(3)), Resumption(None, "mem", "people", 0), PageMarks())
    counts, _, _ = store_pages(_engine(store), reading, Stored(store_rows, prepare), 1)
    assert prepared_in == [threading.current_thread().name] * 3
    assert stored == [
        tuple(item.ref for item in _items(3)[i * 100 : (i + 1) * 100]) for i in range(3)
    ]
    assert counts.inserted == 300
