"""The backfill queue (SQLite and PostgreSQL) and the job that runs it between cycles."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from jobs.backfills import JOB_NAME, BackfillJob
from jobs.runner import CycleOutcome
from jobs.scheduler import Periodic, SyncScheduler
from leadsync.engine.cycle import CycleReport
from leadsync.engine.request import CycleRequest
from leadsync.errors import AuthError, CycleBusy
from leadsync.store import Store
from leadsync.store.queue import (
    claim_next,
    enqueue_backfill,
    finish_request,
    recent_requests,
    requeue,
)
from leadsync.store.schema import backfill_requests

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SINCE = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _queue(store: Store, **kw: object) -> tuple[int, bool]:
    options: dict[str, object] = {
        "connectors": ["salesforce"],
        "since": None,
        "dry_run": False,
        "no_actions": True,
        "requested_by": "test",
        "now": T0,
    }
    options.update(kw)
    with store.transaction() as conn:
        return enqueue_backfill(conn, **options)  # type: ignore[arg-type]


def _row(store: Store, request_id: int) -> sa.Row[tuple[object, ...]]:
    with store.reading() as conn:
        query = sa.select(backfill_requests).where(backfill_requests.c.id == request_id)
        return conn.execute(query).one()


class FakeEngine:
    """Records each backfill's options; ``result`` is a report or an exception to raise."""

    def __init__(self, result: CycleReport | Exception | None = None) -> None:
        self.result = result
        self.calls: list[dict[str, object]] = []
        self.resume_keys: list[str | None] = []
        self.during: Callable[[], None] = lambda: None

    def run(self, request: CycleRequest) -> CycleReport:
        self.calls.append(
            {
                "only": request.only,
                "dry_run": request.dry_run,
                "full": request.full,
                "since": request.since,
                "no": request.no_actions,
            }
        )
        self.resume_keys.append(request.resume_key)
        self.during()
        if isinstance(self.result, Exception):
            raise self.result
        return self.result or CycleReport(run_id=41, pulled={"salesforce.people": {"inserted": 3}})


def test_queue_joins_the_same_waiting_request_and_claims_in_order(store: Store) -> None:
    first, new = _queue(store, connectors=["salesforce", "hubspot"], since=SINCE)
    joined, again = _queue(store, connectors=["hubspot", "salesforce"], since=SINCE)
    other, _ = _queue(store, dry_run=True)
    assert new and not again and joined == first and other != first
    with store.transaction() as conn:
        claimed = claim_next(conn, T0, max_attempts=3)
    assert claimed is not None and claimed.id == first
    assert claimed.connectors == ("hubspot", "salesforce") and claimed.since == SINCE
    assert claimed.describe() == "backfill of hubspot, salesforce since 2026-01-01 without actions"
    # Running now, so the same options queue a new request.
    assert _queue(store, connectors=["salesforce", "hubspot"], since=SINCE)[1]
    row = _row(store, first)
    assert (row.state, row.attempts, row.started_at) == ("running", 1, T0)


def test_a_request_left_running_is_claimed_again_first_then_given_up(store: Store) -> None:
    left, _ = _queue(store)
    later, _ = _queue(store, connectors=["hubspot"])
    with store.transaction() as conn:
        assert claim_next(conn, T0, max_attempts=2).id == left  # type: ignore[union-attr]
    # The process died in it: the next leader runs it again before anything else.
    with store.transaction() as conn:
        again = claim_next(conn, T0 + timedelta(minutes=1), max_attempts=2)
    assert again is not None and (again.id, again.attempts) == (left, 2)
    # Died twice: failed with a reason, and the queue moves on.
    with store.transaction() as conn:
        nxt = claim_next(conn, T0 + timedelta(minutes=2), max_attempts=2)
    assert nxt is not None and nxt.id == later
    gone = _row(store, left)
    assert gone.state == "failed" and "died during this backfill 2 times" in gone.error


def test_finish_and_requeue(store: Store) -> None:
    done, _ = _queue(store)
    stopped, _ = _queue(store, connectors=["hubspot"])
    with store.transaction() as conn:
        claim_next(conn, T0, max_attempts=3)
        finish_request(
            conn, done, T0, status="partial", report={"errors": ["x"]}, run_id=9, error="x"
        )
        claim_next(conn, T0, max_attempts=3)
        requeue(conn, stopped)
        listed = recent_requests(conn)
    assert [(r["id"], r["state"], r["status"]) for r in listed] == [
        (stopped, "queued", None),
        (done, "done", "partial"),
    ]
    assert listed[0]["attempts"] == 0 and listed[1]["report"] == {"errors": ["x"]}


def test_job_runs_a_request_with_its_options_and_records_the_report(store: Store) -> None:
    request_id, _ = _queue(store, since=SINCE, dry_run=True)
    engine = FakeEngine()
    seen: list[CycleOutcome] = []
    per: list[CycleOutcome] = []
    job = BackfillJob(
        store,
        engine,
        threading.Event(),
        ["salesforce", "hubspot"],
        observers=[seen.append],
        per_connector=[per.append],
    )
    assert job.run_next() is True
    assert job.run_next() is False
    assert engine.calls == [
        {"only": ("salesforce",), "dry_run": True, "full": True, "since": SINCE, "no": True}
    ]
    row = _row(store, request_id)
    assert (row.state, row.status, row.run_id, row.error) == ("done", "ok", 41, None)
    assert row.report["pulled"] == {"salesforce.people": {"inserted": 3}}
    assert row.started_at is not None and row.finished_at >= row.started_at
    assert [o.connector for o in seen] == [JOB_NAME]
    assert [o.connector for o in per] == ["salesforce"]


def test_job_with_no_connectors_named_covers_every_connector(store: Store) -> None:
    _queue(store, connectors=[])
    engine, per = FakeEngine(), list[CycleOutcome]()
    job = BackfillJob(
        store, engine, threading.Event(), ["salesforce", "hubspot"], per_connector=[per.append]
    )
    job.run_next()
    assert engine.calls[0]["only"] == ()  # every connector
    assert [o.connector for o in per] == ["salesforce", "hubspot"]


def test_job_records_a_raised_error_as_failed(store: Store) -> None:
    request_id, _ = _queue(store)
    job = BackfillJob(
        store, FakeEngine(AuthError("token refused", connector="salesforce")), threading.Event(), []
    )
    job.run_next()
    row = _row(store, request_id)
    assert (row.state, row.status) == ("failed", "failed") and "token refused" in row.error


def test_a_backfill_that_finds_another_cycle_running_waits_in_line_without_an_attempt(
    store: Store,
) -> None:
    request_id, _ = _queue(store)
    engine = FakeEngine(CycleBusy("another cycle is running on this store"))
    job = BackfillJob(store, engine, threading.Event(), ["salesforce"])
    assert job.run_next() is True
    row = _row(store, request_id)
    assert (row.state, row.attempts, row.error) == ("queued", 0, None)
    engine.result = None
    assert job.run_next() is True and _row(store, request_id).state == "done"


def test_a_backfill_the_service_stops_goes_back_in_the_queue(store: Store) -> None:
    request_id, _ = _queue(store)
    halt = threading.Event()
    engine = FakeEngine(CycleReport(run_id=3, status="partial", errors=["service is stopping"]))
    engine.during = halt.set
    job = BackfillJob(store, engine, halt, ["salesforce"])
    job.run_next()
    row = _row(store, request_id)
    assert (row.state, row.attempts) == ("queued", 0)
    # While halted nothing is claimed; once leading again it runs.
    assert job.run_next() is False
    halt.clear()
    engine.result, engine.during = None, lambda: None
    assert job.run_next() is True and _row(store, request_id).state == "done"
    # Both runs are the same backfill to the engine: the second resumes the first's pages.
    assert engine.resume_keys == [f"queue:{request_id}"] * 2


def test_the_queue_shares_the_worker_with_cycles_and_never_overlaps_them() -> None:
    active, most, ran = [0], [0], []
    lock = threading.Lock()

    def work(name: str) -> None:
        with lock:
            active[0] += 1
            most[0] = max(most[0], active[0])
            ran.append(name)
        time.sleep(0.15)
        with lock:
            active[0] -= 1

    scheduler = SyncScheduler(
        work,
        ["salesforce", "hubspot"],
        timedelta(seconds=0.2),
        periodic=[Periodic(JOB_NAME, lambda: work(JOB_NAME), timedelta(seconds=0.2))],
    )
    scheduler.start()
    _wait_until(lambda: {"salesforce", "hubspot", JOB_NAME} <= set(ran))
    _wait_until(lambda: scheduler.running != JOB_NAME)
    before = ran.count(JOB_NAME)
    assert scheduler.trigger(JOB_NAME) is True
    _wait_until(lambda: ran.count(JOB_NAME) > before)
    assert scheduler.shutdown(timeout=2)
    assert most[0] == 1
    assert {"salesforce", "hubspot", JOB_NAME} <= set(ran)
    with pytest.raises(ValueError, match="named like a connector"):
        SyncScheduler(work, ["hubspot"], timedelta(1), periodic=[Periodic("hubspot", int, 1)])  # type: ignore[arg-type]


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)
