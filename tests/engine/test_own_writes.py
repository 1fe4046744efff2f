"""A cycle does not read back what LeadSync wrote, and no edit hides behind its writes.

The memory CRM here plays one that tells LeadSync's writes apart (Salesforce's
``LastModifiedById``): a write stamps the record and names LeadSync as its last changer.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from leadsync.engine.request import CycleRequest
from leadsync.errors import RetriableSyncError
from leadsync.records import ActivityRecord
from leadsync.store import Store
from leadsync.store.runs import pull_gaps_of
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import Clock, engine


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _world(people: int = 120) -> tuple[MemoryCRM, Clock]:
    clock = Clock()
    crm = MemoryCRM(stamp_writes=True)
    crm.set_clock(clock.now - timedelta(hours=1))  # the CRM's clock and ours agree
    for i in range(people):
        crm.add_person(f"L{i}", f"p{i}@acme{i % 7}.com", industry="Retail")
    return crm, clock


def _later(clock: Clock, crm: MemoryCRM) -> None:
    """Five minutes on, on both clocks."""
    clock.now += timedelta(minutes=5)
    crm.set_clock(clock.now)


def _read(report: Any, stream: str = "mem.people") -> int:
    return sum(report.pulled.get(stream, {}).values())


def test_a_sync_after_a_backfill_reads_none_of_the_backfills_own_writes(store: Store) -> None:
    crm, clock = _world()
    sync = engine(store, MemoryConnector(crm), clock=clock)
    backfill = sync.run(CycleRequest(full=True))
    assert backfill.written == {"mem": 120}

    _later(clock, crm)
    crm.set_attribute("L7", "industry", "Manufacturing")  # a rep's edit
    report = sync.run()

    # Before: the 120 write-backs were read again (stamped after the cursor), 121 records.
    assert report.pulled["mem.people"] == {"inserted": 0, "updated": 1, "unchanged": 0}
    assert crm.fields["L7"]["fit"] == "good"


def test_the_daily_reread_reads_own_writes_too(store: Store) -> None:
    crm, clock = _world(30)
    sync = engine(store, MemoryConnector(crm), clock=clock)
    sync.run(CycleRequest(full=True))
    _later(clock, crm)
    report = sync.run(CycleRequest(decay=True, reread=timedelta(hours=24)))
    assert _read(report) == 30  # what an edit hidden by a write could hide is read here


class _EditsWhilePulling(MemoryConnector):
    """A rep edits a lead after the cycle read the people, while it reads activities."""

    def __init__(self, crm: MemoryCRM, edit: Any) -> None:
        super().__init__(crm)
        self.edit = edit

    def pull_activities(self, since: Any, **kw: Any) -> Iterator[ActivityRecord]:
        yield from super().pull_activities(since, **kw)
        if self.edit is not None:
            self.edit()
            self.edit = None


def test_an_edit_made_while_a_cycle_runs_is_read_before_the_write_that_would_hide_it(
    store: Store,
) -> None:
    crm, clock = _world(50)
    sync = engine(store, MemoryConnector(crm), clock=clock)
    sync.run(CycleRequest(full=True))
    assert crm.fields["L3"]["fit"] == "poor"

    # Next cycle: L3 scores again (a form fill), and while the cycle runs a rep sets its
    # industry. The cycle's write to L3 would name LeadSync as its last changer.
    _later(clock, crm)
    crm.add_activity("A3", "L3", "form_submission", "Contact Us")
    connector = _EditsWhilePulling(
        crm, lambda: crm.set_attribute("L3", "industry", "Manufacturing")
    )
    sync = engine(store, connector, clock=clock)
    report = sync.run()
    assert report.status == "ok"

    # Before: the edit was never read (the write hid it from every later pull), and sales
    # kept seeing "poor" until the daily re-read.
    assert report.pulled["mem.people (changed while this cycle ran)"]["updated"] == 1
    assert crm.fields["L3"]["fit"] == "good" and crm.fields["L3"]["score"] == 50
    _later(clock, crm)
    assert sync.run().written == {}  # nothing left behind


def test_a_cycle_that_changes_nothing_in_the_crm_does_not_read_again(store: Store) -> None:
    crm, clock = _world(20)
    connector = MemoryConnector(crm)
    sync = engine(store, connector, clock=clock)
    sync.run(CycleRequest(full=True))
    _later(clock, crm)
    calls = connector.calls
    report = sync.run()
    assert report.written == {} and not report.actions.get("actions_done")
    assert connector.calls - calls == 2  # one people read, one activities read


def test_a_catch_up_that_fails_stops_that_crms_writes_for_the_cycle(store: Store) -> None:
    crm, clock = _world(20)
    connector = MemoryConnector(crm)
    sync = engine(store, connector, clock=clock)
    sync.run(CycleRequest(full=True))
    _later(clock, crm)
    crm.add_activity("A1", "L1", "form_submission", "Contact Us")
    writes = len(crm.write_log)

    real = connector.pull_people
    reads: list[Any] = []

    def refused_on_the_catch_up(since: Any, **kw: Any) -> Any:
        reads.append(since)
        if len(reads) == 2:  # the cycle's pull, then the read before its writes
            raise RetriableSyncError("cannot connect to the CRM", connector="mem")
        return real(since, **kw)

    connector.pull_people = refused_on_the_catch_up  # type: ignore[method-assign]
    report = sync.run()
    assert report.status != "ok" and "mem" in report.failed_connectors
    assert len(crm.write_log) == writes  # nothing written on what it could not check
    with store.reading() as conn:  # and what it stored of that read is half of it: a gap
        assert [(g.connector, g.stream) for g in pull_gaps_of(conn, ["mem"])] == [("mem", "people")]
    connector.pull_people = real  # type: ignore[method-assign]
    assert sync.run().written == {"mem": 1}


def test_a_large_pull_is_said_so_with_how_much_of_it_changed_nothing(store: Store) -> None:
    """Played as HubSpot (no pull leaves LeadSync's writes out): after a backfill of 1,000
    people the next sync reads them all back, and says so."""
    crm, clock = _world(1_000)
    sync = engine(store, MemoryConnector(crm, name="hubspot"), clock=clock)
    assert sync.run(CycleRequest(full=True)).notes == []  # a backfill reads everything anyway

    _later(clock, crm)
    report = sync.run()
    assert sum(report.pulled["hubspot.people"].values()) == 1_000
    (note,) = report.notes
    assert "hubspot people: a large pull, 1,000 records changed" in note
    assert "1,000 changed nothing LeadSync reads" in note

    _later(clock, crm)
    crm.set_attribute("L1", "industry", "Manufacturing")
    assert sync.run().notes == []  # one record is not news
