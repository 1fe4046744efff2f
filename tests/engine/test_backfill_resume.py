"""A backfill killed midway resumes from its last committed page, and only from there."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.engine.cycle import EngineSettings, SyncEngine
from leadsync.engine.pages import PageMarks
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.store.schema import backfill_checkpoints, people
from leadsync.store.scoring import PersonInputs, ScoreRow
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import Clock, points_scorer

KEY = "cli:mem:all"


class Killed(BaseException):
    """Stands in for the process dying: nothing in the engine catches it."""


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _crm(people_count: int = 520) -> MemoryCRM:
    crm = MemoryCRM()
    for i in range(people_count):
        crm.add_person(f"L{i:04d}", f"p{i}@acme.com", industry="Retail")
    for i in range(0, people_count, 4):
        crm.add_activity(f"A{i:04d}", f"L{i:04d}", "form_submission", "Contact Us")
    return crm


def _engine(store: Store, connector: MemoryConnector, score: Any = points_scorer) -> SyncEngine:
    settings = EngineSettings(pull_batch=100, score_batch=64, write_chunk=1000)
    return SyncEngine(store, {connector.name: connector}, score, settings, Clock())


def _dies_after(pull: Any, n: int) -> Any:
    def pulling(since: datetime | None, **kwargs: Any) -> Iterator[Any]:
        for i, item in enumerate(pull(since, **kwargs)):
            if i == n:
                raise Killed
            yield item

    return pulling


def _count(store: Store, table: sa.Table) -> int:
    with store.reading() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_a_backfill_killed_in_its_pull_carries_on_from_the_last_committed_page(
    store: Store,
) -> None:
    crm = _crm()
    connector = MemoryConnector(crm)
    pull_people = connector.pull_people
    connector.pull_people = _dies_after(pull_people, 270)  # type: ignore[method-assign]
    with pytest.raises(Killed):
        _engine(store, connector).run(CycleRequest(full=True, resume_key=KEY))
    # Pages of 50, commits of 100: the commit of the first 200 carried the "200" checkpoint;
    # records 200-269 were in the batch that died with the process.
    assert _count(store, people) == 200
    assert connector.pages_read == 6

    connector.pull_people = pull_people  # type: ignore[method-assign]
    connector.pages_read = 0
    report = _engine(store, connector).run(CycleRequest(full=True, resume_key=KEY))

    assert report.status == "ok"
    assert report.pulled["mem.people"] == {"inserted": 320, "updated": 0, "unchanged": 0}
    # People from offset 200 on (7 pages of 50), then the activities' 3 pages.
    assert connector.pages_read == 7 + 3
    assert _count(store, people) == 520
    assert report.scored == 520
    assert _count(store, backfill_checkpoints) == 0


def test_a_backfill_killed_while_scoring_does_not_pull_or_score_again_what_it_finished(
    store: Store,
) -> None:
    crm = _crm()
    connector = MemoryConnector(crm)
    scored: list[int] = []

    def dies_at_300(inputs: PersonInputs, now: datetime) -> ScoreRow:
        if len(scored) == 300:
            raise Killed
        scored.append(inputs.person_id)
        return points_scorer(inputs, now)

    with pytest.raises(Killed):
        _engine(store, connector, dies_at_300).run(CycleRequest(full=True, resume_key=KEY))
    pages_first = connector.pages_read

    report = _engine(store, connector).run(CycleRequest(full=True, resume_key=KEY))

    assert report.status == "ok"
    assert connector.pages_read == pages_first  # both streams were done: nothing re-pulled
    assert report.pulled == {
        "mem.people": {"resumed_done": 520},
        "mem.activities": {"resumed_done": 130},
    }
    # Batches of 64: four (256 people) were committed before the kill; the rest is scored now.
    assert report.scored == 520 - 256
    assert _count(store, backfill_checkpoints) == 0


def test_another_backfill_or_a_finished_one_starts_from_the_beginning(store: Store) -> None:
    connector = MemoryConnector(_crm(120))
    first = _engine(store, connector).run(CycleRequest(full=True, resume_key=KEY))
    again = _engine(store, connector).run(CycleRequest(full=True, resume_key=KEY))
    other = _engine(store, connector).run(CycleRequest(full=True, resume_key="queue:7"))
    assert first.scored == again.scored == other.scored == 120
    assert again.pulled["mem.people"]["unchanged"] == 120


def test_a_checkpoint_is_released_only_with_the_commit_of_the_records_before_it() -> None:
    marks = PageMarks()

    def paged(page: int) -> Iterator[int]:
        for start in range(0, 10, page):
            yield from range(start, min(start + page, 10))
            if start + page < 10:
                marks.mark(f"at-{start + page}")

    def run(page: int, size: int) -> list[tuple[list[int], str | None]]:
        return [(b, marks.released(b[-1] + 1)) for b in marks.batches(paged(page), size)]

    # Pages ending exactly where a batch ends: each batch's commit carries its page's mark.
    assert run(3, 3) == [([0, 1, 2], "at-3"), ([3, 4, 5], "at-6"), ([6, 7, 8], "at-9"), ([9], None)]
    marks = PageMarks()
    # A page boundary inside a batch is released with that batch, never before it.
    assert run(4, 3) == [([0, 1, 2], None), ([3, 4, 5], "at-4"), ([6, 7, 8], "at-8"), ([9], None)]
