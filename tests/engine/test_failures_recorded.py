"""A cycle that failed is recorded as failed, never "ok" (issue 21 #4 and #8).

Whatever escapes the engine (a bug in a connector, a score function that raises, Ctrl-C, a
lost cycle lock) ends in the runs table as ``failed`` with its error, and the connectors it
hit are named, so ``status``, the dashboard and ``/readyz`` see it.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.engine.cycle import EngineSettings, SyncEngine
from leadsync.errors import CycleLockLost
from leadsync.records import PersonRecord
from leadsync.store import Store
from leadsync.store.lock_file import beside_sqlite
from leadsync.store.runs import connector_health
from leadsync.store.schema import runs
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import points_scorer as score_fn

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


@pytest.fixture
def crm() -> MemoryCRM:
    crm = MemoryCRM()
    for i in range(30):
        crm.add_person(f"L{i}", f"p{i}@acme{i}.com", industry="Retail")
    return crm


def make(store: Store, *connectors: MemoryConnector, score: Any = score_fn) -> SyncEngine:
    return SyncEngine(
        store, {c.name: c for c in connectors}, score, EngineSettings(), clock=lambda: NOW
    )


def the_runs(store: Store) -> list[Any]:
    with store.reading() as conn:
        return list(conn.execute(sa.select(runs).order_by(runs.c.id)))


class Buggy(MemoryConnector):
    """A connector with a bug: its people pull raises something that is not a SyncError."""

    def pull_people(self, since: datetime | None, **kw: Any) -> Iterator[PersonRecord]:
        yield from list(super().pull_people(since, **kw))[:5]
        raise KeyError("Email")


def test_a_bug_in_one_connector_is_its_failure_and_the_other_still_syncs(
    store: Store, crm: MemoryCRM
) -> None:
    other = MemoryCRM()
    make(store, MemoryConnector(crm, "mem"), MemoryConnector(other, "hub")).run()
    other.add_person("H1", "h1@beta.com", industry="Retail")
    report = make(store, Buggy(crm, "mem"), MemoryConnector(other, "hub")).run()
    assert report.status == "partial"
    assert "KeyError" in report.failed_connectors["mem"]
    assert "hub" not in report.failed_connectors and report.written.get("hub") == 1
    row = the_runs(store)[-1]
    assert row.status == "partial" and "KeyError" in (row.error or "")


def test_an_exception_that_escapes_the_cycle_is_recorded_failed(
    store: Store, crm: MemoryCRM
) -> None:
    def broken_score(*_: Any) -> Any:
        raise ZeroDivisionError("division by zero")

    with pytest.raises(ZeroDivisionError):
        make(store, MemoryConnector(crm), score=broken_score).run()
    [row] = the_runs(store)
    assert row.status == "failed"
    assert "ZeroDivisionError" in (row.error or "")
    assert "mem" in row.counts["failed_connectors"]
    with store.reading() as conn:
        health = connector_health(conn, ["mem"])["mem"]
    assert health.failures_in_a_row == 1 and health.last_good_at is None


def test_ctrl_c_mid_cycle_is_recorded_interrupted_not_ok(store: Store, crm: MemoryCRM) -> None:
    class Interrupted(MemoryConnector):
        def pull_activities(self, since: datetime | None, **kw: Any) -> Iterator[Any]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        make(store, Interrupted(crm)).run()
    [row] = the_runs(store)
    assert row.status == "failed" and "interrupted" in (row.error or "")


def test_health_counts_failures_in_a_row_and_the_last_good_cycle(
    store: Store, crm: MemoryCRM
) -> None:
    good = MemoryConnector(crm)
    make(store, good).run()
    make(store, Buggy(crm)).run()
    make(store, Buggy(crm)).run()
    with store.reading() as conn:
        health = connector_health(conn, ["mem", "absent"])
    assert health["mem"].failures_in_a_row == 2 and health["mem"].last_good_at == NOW
    assert health["mem"].last_status == "failed"
    assert health["absent"].last_status is None


class Pausing(MemoryConnector):
    """Pulls people, then waits at the start of its activity pull until told to go on."""

    def __init__(self, crm: MemoryCRM) -> None:
        super().__init__(crm)
        self.reached = threading.Event()
        self.go_on = threading.Event()

    def pull_activities(self, since: datetime | None, **kw: Any) -> Iterator[Any]:
        self.reached.set()
        assert self.go_on.wait(30)
        yield from super().pull_activities(since, **kw)


def _lose_the_lock(store: Store) -> None:
    if store.dialect == "postgresql":
        with store.engine.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = 19539 AND objid = 2 AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
            # pg_terminate_backend only signals the backend: wait until its locks are gone,
            # or a second cycle started at once may still find the lock held.
            deadline = time.monotonic() + 20
            while conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                    "AND classid = 19539 AND objid = 2 AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            ).scalar_one():
                assert time.monotonic() < deadline, "the terminated backend kept the cycle lock"
                time.sleep(0.05)
    else:
        path = beside_sqlite(store.url, ".cycle.lock")
        assert path is not None
        os.unlink(path)


def test_a_lost_cycle_lock_stops_the_cycle_before_it_writes(store: Store, crm: MemoryCRM) -> None:
    connector = Pausing(crm)
    engine = make(store, connector)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            engine.run()
        except BaseException as exc:
            failure.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    assert connector.reached.wait(30)
    _lose_the_lock(store)
    # With the lock gone a second cycle can start beside the first: that must be the only
    # one that writes.
    second = make(store, MemoryConnector(crm)).run()
    assert second.written == {"mem": 30}
    connector.go_on.set()
    worker.join(30)
    assert failure and isinstance(failure[0], CycleLockLost)
    assert crm.write_log and len(crm.write_log) == 1  # the second cycle's one call
    first = the_runs(store)[0]
    assert first.status == "failed" and "lock was lost" in (first.error or "")


def test_lock_file_check_sees_a_replaced_file(tmp_path: Path) -> None:
    from leadsync.store.lock_file import LockFile

    lock = LockFile(tmp_path / "x.lock")
    lock.acquire()
    assert lock.still_held()
    os.unlink(tmp_path / "x.lock")
    (tmp_path / "x.lock").write_text("other")
    assert not lock.still_held()
    lock.release()
