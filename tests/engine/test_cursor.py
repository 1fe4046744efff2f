"""Incremental pulls: the overlap catches late-committed records, and a quiet CRM stops being
re-read once that overlap has been covered an overlap later."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from connectors.base import Capabilities
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_cycle import Clock, engine


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def pulled(report: object, stream: str = "people") -> dict[str, int]:
    return report.pulled[f"mem.{stream}"]  # type: ignore[attr-defined,no-any-return]


def test_a_quiet_crm_is_not_re_read_forever_after_a_burst(store: Store) -> None:
    crm = MemoryCRM()
    for i in range(300):  # a burst: every stamp within seconds of the newest
        crm.add_person(f"L{i}", f"p{i}@acme.com", industry="Retail")
    clock = Clock()
    sync = engine(store, MemoryConnector(crm), clock=clock)
    assert pulled(sync.run())["inserted"] == 300

    # the memory CRM stamps a second apart: the last 2 minutes hold 121 of the 300
    clock.now += timedelta(minutes=1)  # within the overlap: its tail is read again
    assert pulled(sync.run())["unchanged"] == 121
    clock.now += timedelta(minutes=2)  # an overlap later: one last re-read settles it
    assert pulled(sync.run())["unchanged"] == 121
    clock.now += timedelta(minutes=1)
    quiet = pulled(sync.run())
    assert quiet["unchanged"] <= 1 and quiet["inserted"] == quiet["updated"] == 0

    crm.add_person("NEW", "new@acme.com", industry="Retail")  # a change starts it over
    assert pulled(sync.run())["inserted"] == 1


def test_a_record_committed_late_inside_the_overlap_is_still_pulled(store: Store) -> None:
    crm = MemoryCRM()
    for i in range(5):
        crm.add_person(f"L{i}", f"p{i}@acme.com", industry="Retail")
    clock = Clock()
    sync = engine(store, MemoryConnector(crm), clock=clock)
    sync.run()
    newest = max(datetime.fromisoformat(p["modified"]) for p in crm.people.values())
    # stamped before the newest record the first pull saw, visible only now
    crm.people["LATE"] = {
        "email": "late@acme.com",
        "attrs": {"industry": "Retail"},
        "modified": (newest - timedelta(seconds=30)).isoformat(),
    }
    clock.now += timedelta(seconds=30)
    assert pulled(sync.run())["inserted"] == 1


def test_a_notified_cycle_reads_the_named_people_and_leaves_their_cursor(store: Store) -> None:
    from leadsync.records import RecordRef
    from leadsync.store.runs import read_cursor

    crm = MemoryCRM()
    for i in range(50):
        crm.add_person(f"L{i}", f"p{i}@acme.com", industry="Retail")
    clock = Clock()
    # Webhooks are HubSpot's: a CRM that cannot leave LeadSync's own writes out of a pull,
    # so a cycle reads nothing more before it writes (see test_catch_up).
    connector = MemoryConnector(crm, capabilities=Capabilities(nurture="list"))
    sync = engine(store, connector, clock=clock)
    sync.run()
    with store.reading() as conn:
        people_before = read_cursor(conn, "mem", "people")
    clock.now += timedelta(minutes=10)
    crm.add_person("HOT", "hot@acme.com", industry="Retail")
    crm.add_person("COLD", "cold@acme.com", industry="Retail")  # changed, but not notified
    crm.add_activity("A1", "HOT", "form_submission", "Contact Us")

    named = RecordRef("mem", "Lead", "HOT")
    report = sync.run(CycleRequest(notified=(named, RecordRef("other", "contact", "1"))))

    assert connector.read_by_id == [[named]]
    assert pulled(report) == {"inserted": 1, "updated": 0, "unchanged": 0}
    assert pulled(report, "activities")["inserted"] == 1
    with store.reading() as conn:
        assert read_cursor(conn, "mem", "people") == people_before
        assert read_cursor(conn, "mem", "activities") is not None
    # The next poll still finds the record nobody named.
    assert pulled(sync.run())["inserted"] == 1


def test_a_record_committed_late_is_found_by_the_daily_reread(store: Store) -> None:
    """Issue 22 #8: a record stamped before the cursor settled but committed after it (a long
    transaction, a search index's lag) was never pulled incrementally, in either CRM; only a
    backfill found it. The daily pass re-reads the last day whatever the cursors."""
    crm = MemoryCRM()
    for i in range(5):
        crm.add_person(f"L{i}", f"p{i}@acme.com", industry="Retail")
    newest = max(datetime.fromisoformat(p["modified"]) for p in crm.people.values())
    clock = Clock()
    clock.now = newest + timedelta(minutes=5)  # the CRM's stamps and our clock agree
    sync = engine(store, MemoryConnector(crm), clock=clock)
    sync.run()
    for _ in range(3):  # the cursor settles: later cycles start at it, not an overlap before
        clock.now += timedelta(minutes=3)
        sync.run()
    crm.people["LATE"] = {
        "email": "late@acme.com",
        "attrs": {"industry": "Retail"},
        "modified": (newest - timedelta(hours=3)).isoformat(),
    }
    clock.now += timedelta(minutes=3)
    assert pulled(sync.run()).get("inserted", 0) == 0  # an incremental cycle misses it
    clock.now += timedelta(minutes=3)
    assert pulled(sync.run(CycleRequest(reread=timedelta(hours=24))))["inserted"] == 1
