"""The daily decay job: due a day after the last pass (or the first cycle), never raises."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jobs.decay import DecayJob
from leadsync.engine.cycle import CycleReport
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.store.runs import finish_run, start_run

T0 = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)


class Engine:
    def __init__(self, store: Store, clock: list[datetime], fail: bool = False) -> None:
        self.store, self.clock, self.fail, self.calls = store, clock, fail, 0
        self.rereads: list[timedelta | None] = []

    def run(self, request: CycleRequest) -> Any:
        assert request.decay
        self.calls += 1
        self.rereads.append(request.reread)
        if self.fail:
            raise RuntimeError("model blew up")
        with self.store.transaction() as conn:
            run = start_run(conn, "salesforce", "decay", self.clock[0])
            finish_run(conn, run, self.clock[0], status="ok", counts={}, api_calls=0)
        return CycleReport(run_id=run)


def finished_cycle(store: Store, at: datetime) -> None:
    with store.transaction() as conn:
        run = start_run(conn, "salesforce", "sync", at)
        finish_run(conn, run, at, status="ok", counts={}, api_calls=0)


def test_due_a_day_after_the_first_cycle_then_daily(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    now = [T0]
    engine = Engine(store, now)
    job = DecayJob(
        store, engine, threading.Event(), clock=lambda: now[0], reread=timedelta(hours=24)
    )
    assert job.run() is None and engine.calls == 0  # nothing scored yet
    finished_cycle(store, T0)
    now[0] = T0 + timedelta(hours=23)
    assert job.run() is None and engine.calls == 0
    now[0] = T0 + timedelta(hours=24)
    assert job.run() is not None and engine.calls == 1
    now[0] += timedelta(hours=5)
    assert job.run() is None and engine.calls == 1  # a restart does not run it again
    now[0] += timedelta(hours=19)
    assert job.run() is not None and engine.calls == 2
    assert engine.rereads == [timedelta(hours=24)] * 2  # each pass also re-reads the last day
    store.close()


def test_a_crashing_pass_is_logged_not_raised_and_stopping_skips(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 's.db'}")
    finished_cycle(store, T0)
    now = [T0 + timedelta(days=2)]
    stopping = threading.Event()
    engine = Engine(store, now, fail=True)
    job = DecayJob(store, engine, stopping, clock=lambda: now[0])
    assert job.run() is None and engine.calls == 1
    stopping.set()
    assert job.run() is None and engine.calls == 1
    store.close()
