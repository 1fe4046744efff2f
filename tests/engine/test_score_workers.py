"""A big score phase on PostgreSQL scores its batches in worker processes, with the same results."""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.engine.cycle import EngineSettings, SyncEngine
from leadsync.engine.score_workers import ScoreWork, ScoreWorkers
from leadsync.interpreter import GC_THRESHOLDS
from leadsync.store import Store
from leadsync.store.schema import scores
from leadsync.store.scoring import PersonInputs, ScoreRow
from tests.conftest import fresh_store_url
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import Clock, points_scorer

pytestmark = pytest.mark.postgres


def scorer_with_pid(inputs: PersonInputs, now: datetime) -> ScoreRow:
    """``points_scorer`` that also says which process scored the person (kept in ``result``)."""
    row = points_scorer(inputs, now)
    return ScoreRow(
        row.person_id, row.fit, row.score, row.readiness, row.team, row.cell, row.outputs,
        {**row.result, "pid": os.getpid()},
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    for url in fresh_store_url("postgresql", tmp_path):
        s = Store(url)
        yield s
        s.close()


def _crm() -> MemoryCRM:
    crm = MemoryCRM()
    for i in range(300):
        crm.add_person(f"L{i}", f"p{i}@acme.com", industry="Manufacturing" if i % 3 else "Retail")
    for i in range(0, 300, 4):
        crm.add_activity(f"A{i}", f"L{i}", "form_submission", "Contact Us")
    return crm


def _run(store: Store, crm: MemoryCRM, score: Any, **settings: Any) -> dict[str, Any]:
    values = {"pull_batch": 100, "score_batch": 64, **settings}
    engine = SyncEngine(
        store, {"mem": MemoryConnector(crm)}, score, EngineSettings(**values), Clock()
    )
    report = engine.run()
    assert report.status == "ok" and report.scored == 300
    with store.reading() as conn:
        return {row.person_id: dict(row.result) for row in conn.execute(sa.select(scores))}


def test_a_big_score_phase_scores_in_workers_with_the_same_results(
    store: Store, tmp_path_factory: pytest.TempPathFactory
) -> None:
    pooled = _run(store, _crm(), scorer_with_pid, score_workers=2, score_workers_from=300)
    pids = {result.pop("pid") for result in pooled.values()}
    assert os.getpid() not in pids and 1 <= len(pids) <= 2
    assert len(pooled) == 300

    for url in fresh_store_url("postgresql", tmp_path_factory.mktemp("here")):
        other = Store(url)
        try:
            here = _run(other, _crm(), scorer_with_pid, score_workers=2, score_workers_from=301)
        finally:
            other.close()
    assert {result.pop("pid") for result in here.values()} == {os.getpid()}
    assert pooled == here  # the same people (ids given in the same order), the same results


def scorer_with_collector(inputs: PersonInputs, now: datetime) -> ScoreRow:
    """``points_scorer`` that also keeps the scoring process's collector thresholds."""
    row = points_scorer(inputs, now)
    return ScoreRow(
        row.person_id, row.fit, row.score, row.readiness, row.team, row.cell, row.outputs,
        {**row.result, "gc": list(gc.get_threshold())},
    )  # fmt: skip


def test_workers_run_with_leadsyncs_interpreter_settings(store: Store) -> None:
    """A spawned worker does not run the ``leadsync`` entry point, so it tunes its own
    collector: with Python's defaults it kept walking the batch it was building."""
    results = _run(store, _crm(), scorer_with_collector, score_workers=2, score_workers_from=300)
    assert {tuple(result["gc"]) for result in results.values()} == {GC_THRESHOLDS}


def test_a_score_function_that_cannot_be_pickled_scores_in_process(store: Store) -> None:
    def local(inputs: PersonInputs, now: datetime) -> ScoreRow:
        return scorer_with_pid(inputs, now)

    results = _run(store, _crm(), local, score_workers=2, score_workers_from=1)
    assert {result["pid"] for result in results.values()} == {os.getpid()}


def test_workers_leave_stopping_to_the_engine(store: Store) -> None:
    """Ctrl-C (the whole process group) or a service manager's SIGTERM does not kill a worker
    mid-batch: the engine's process decides, and the pool finishes the batch in hand."""
    _run(store, _crm(), points_scorer)  # a migrated store with people to score
    work = ScoreWork(store.url, points_scorer)
    with ScoreWorkers(work, 1) as workers:
        workers.score([], datetime.now(UTC))  # the worker is up
        (pid,) = workers.pids()
        os.kill(pid, signal.SIGINT)
        os.kill(pid, signal.SIGTERM)
        with store.reading() as conn:
            ids = list(conn.execute(sa.select(scores.c.person_id).limit(10)).scalars())
        saved = workers.score(ids, datetime.now(UTC))
        assert saved.scored == 10
        assert workers.pids() == [pid]
