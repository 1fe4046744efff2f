"""A cycle never acts on half the truth (issue 21 #5).

When one CRM's pull stops half-way, people with data from that CRM are neither scored,
written nor handed off until a pull of it completes; people who live only in the other CRM
carry on. The gap is kept in the store, so a later cycle (another process, another
connector's scheduled cycle) holds them too, and ``status`` says who waits and why.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.engine.cycle import SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.errors import RetriableSyncError
from leadsync.records import ActivityRecord, PersonRecord
from leadsync.store import Store
from leadsync.store.runs import pull_gaps_of
from leadsync.store.schema import handoffs, runs
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM

MONDAY_10 = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = MONDAY_10

    def __call__(self) -> datetime:
        return self.now


class Flaky(MemoryConnector):
    """A memory CRM whose pull of a stream fails after ``fail_after`` records, as an outage
    in the middle of paging does (some pages stored, the rest not read)."""

    def __init__(self, crm: MemoryCRM, name: str) -> None:
        super().__init__(crm, name)
        self.fail: dict[str, int] = {}

    def _cut(self, stream: str, items: Iterator[Any]) -> Iterator[Any]:
        limit = self.fail.get(stream)
        for n, item in enumerate(items):
            if limit is not None and n >= limit:
                raise RetriableSyncError("503 Service Unavailable", connector=self.name)
            yield item
        if limit is not None and limit >= 0:
            raise RetriableSyncError("503 Service Unavailable", connector=self.name)

    def pull_people(self, since: datetime | None, **kw: Any) -> Iterator[PersonRecord]:
        return self._cut("people", super().pull_people(since, **kw))

    def pull_activities(self, since: datetime | None, **kw: Any) -> Iterator[ActivityRecord]:
        return self._cut("activities", super().pull_activities(since, **kw))


CONFIG: dict[str, Any] = {
    "identity": {"fit_source": "salesforce", "sales_crm": "salesforce"},
    "handoff": {
        "enabled": True,
        "owner_status": "Working",
        "pools": [{"name": "UK", "match": {"countries": ["United Kingdom"]},
                   "members": ["rep-a"]}],
        "fallback_owner": "rep-a",
    },
}  # fmt: skip


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def two_crms(store: Store, clock: Clock) -> tuple[SyncEngine, MemoryCRM, MemoryCRM, Flaky]:
    sf, hs = MemoryCRM(), MemoryCRM()
    sf.add_user("rep-a", "Ann Rep")
    hubspot = Flaky(hs, "hubspot")
    settings = settings_from_dict(CONFIG, "test")
    engine = build_engine(
        settings,
        store,
        {"salesforce": MemoryConnector(sf, "salesforce"), "hubspot": hubspot},
        clock=clock,
    )
    return engine, sf, hs, hubspot


def at(crm: MemoryCRM, aid: str, when: datetime) -> None:
    crm.activities[aid]["at"] = when.isoformat()


def tasks_for(crm: MemoryCRM, pid: str) -> list[str]:
    return [key for key, task in crm.tasks.items() if task["record"] == pid]


@pytest.mark.parametrize("stream", ["people", "activities"])
def test_a_half_pulled_crm_holds_its_people_and_the_rest_carry_on(
    store: Store, stream: str
) -> None:
    clock = Clock()
    engine, sf, hs, hubspot = two_crms(store, clock)
    sf.add_person("L1", "both@acme.co.uk", country="United Kingdom")
    hs.add_person("H1", "both@acme.co.uk")
    sf.add_person("L2", "only-sf@beta.co.uk", country="United Kingdom")
    assert engine.run().status == "ok"

    # In the same morning: both raise a hand in Salesforce, and the first unsubscribes in
    # HubSpot later. HubSpot's pull then breaks half-way through.
    clock.now += timedelta(hours=1)
    for pid in ("L1", "L2"):
        sf.add_activity(f"form-{pid}", pid, "form_submission", "Contact Us")
        at(sf, f"form-{pid}", clock.now - timedelta(minutes=30))
    hs.add_activity("unsub-H1", "H1", "unsubscribe", "Unsubscribed")
    at(hs, "unsub-H1", clock.now - timedelta(minutes=10))
    hs.people["H1"]["modified"] = hs.tick().isoformat()
    hubspot.fail[stream] = 0
    report = engine.run()

    assert report.status == "partial" and list(report.failed_connectors) == ["hubspot"]
    assert "hubspot" in report.waiting_for and report.people_waiting == 1
    # The person HubSpot knows was not judged on Salesforce's half: no owner, no task, no
    # field written; the Salesforce-only lead was handed off as usual.
    assert "L1" not in sf.owners and tasks_for(sf, "L1") == []
    assert sf.fields["L1"].get("team") != "sales"
    assert sf.owners["L2"] == "rep-a" and len(tasks_for(sf, "L2")) == 1
    with store.reading() as conn:
        [gap] = pull_gaps_of(conn, ["salesforce", "hubspot"])
    assert (gap.connector, gap.stream) == ("hubspot", stream) and "503" in gap.error

    # A later cycle of Salesforce alone (the service runs one connector a cycle) still
    # holds them: the gap is in the store, not in the cycle that saw it.
    clock.now += timedelta(minutes=5)
    assert engine.run(CycleRequest(only=("salesforce",))).people_waiting == 1
    assert "L1" not in sf.owners

    # HubSpot answers again: the whole truth says "unsubscribed after the form": nobody is
    # handed to sales, and the person is scored and written at last.
    del hubspot.fail[stream]
    clock.now += timedelta(minutes=5)
    healed = engine.run()
    assert healed.status == "ok" and healed.people_waiting == 0 and not healed.waiting_for
    assert "L1" not in sf.owners and tasks_for(sf, "L1") == []
    assert sf.fields["L1"]["team"] == "marketing"
    with store.reading() as conn:
        assert pull_gaps_of(conn, ["salesforce", "hubspot"]) == []
        assert conn.execute(sa.select(sa.func.count()).select_from(handoffs)).scalar_one() == 1


def test_a_queued_hand_off_waits_while_its_person_is_half_pulled(store: Store) -> None:
    """A hand-off decided on whole data but still queued (the per-cycle cap) is not routed
    while a later pull of the person's other CRM is incomplete."""
    clock = Clock()
    settings = settings_from_dict({**CONFIG, "sync": {"handoffs_per_cycle": 1}}, "test")
    sf, hs = MemoryCRM(), MemoryCRM()
    sf.add_user("rep-a", "Ann Rep")
    hubspot = Flaky(hs, "hubspot")
    engine = build_engine(
        settings,
        store,
        {"salesforce": MemoryConnector(sf, "salesforce"), "hubspot": hubspot},
        clock=clock,
    )
    for pid in ("Q1", "Q2"):
        sf.add_person(pid, f"{pid.lower()}@gamma.co.uk", country="United Kingdom")
        hs.add_person(f"H{pid}", f"{pid.lower()}@gamma.co.uk")
        sf.add_activity(f"form-{pid}", pid, "form_submission", "Contact Us")
    engine.run()
    assert len(sf.owners) == 1
    hubspot.fail["activities"] = 0
    clock.now += timedelta(minutes=5)
    report = engine.run()
    assert report.actions["handed_off"] == 0 and report.actions["waiting"] == 1
    assert len(sf.owners) == 1
    del hubspot.fail["activities"]
    clock.now += timedelta(minutes=5)
    assert engine.run().actions["handed_off"] == 1 and len(sf.owners) == 2


def test_a_failed_pull_is_recorded_per_connector_in_the_runs_table(store: Store) -> None:
    clock = Clock()
    engine, sf, _hs, hubspot = two_crms(store, clock)
    sf.add_person("L1", "a@acme.co.uk")
    hubspot.fail["people"] = 0
    engine.run()
    with store.reading() as conn:
        [row] = conn.execute(sa.select(runs)).all()
    assert row.status == "partial" and "hubspot" in row.counts["failed_connectors"]
    assert "salesforce" not in row.counts["failed_connectors"]
