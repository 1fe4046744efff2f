"""A person back after ``forget`` is read whole before scoring (issue 21 #6).

``forget`` removes every row about a person. If the CRM still holds them, an incremental pull
reads back only what changed lately; scored on that they got a wrong score written to both
CRMs, and a backfill then handed them off a second time. Now they are re-read whole, by id,
and keep what LeadSync had done about them.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.engine.request import CycleRequest
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.store import Store
from leadsync.store.privacy import forget
from leadsync.store.schema import handoffs, metadata
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_act import Clock, config


class ByIdConnector(MemoryConnector):
    """The memory CRM with ``read_activities``: every activity of the given records."""

    def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
        self.calls += 1
        wanted = {p.ref.external_id for p in people}
        return [
            ActivityRecord(
                RecordRef(self.name, "Activity", aid),
                a["kind"],
                datetime.fromisoformat(a["at"]),
                datetime.fromisoformat(a["modified"]),
                person=RecordRef(self.name, "Lead", a["person"]),
                name=a["name"] or None,
                actor_id=a.get("actor"),
            )
            for aid, a in self.crm.activities.items()
            if a["person"] in wanted
        ]


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def test_a_forgotten_person_who_comes_back_is_read_whole_and_not_handed_off_twice(
    store: Store,
) -> None:
    clock = Clock()
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann Rep", manager="mgr-1")
    crm.add_user("rep-b", "Bob Rep", manager="mgr-1")
    crm.add_user("00G-sales", "Sales queue", queue=True)
    crm.add_user("00G-nurture", "Nurture queue", queue=True)
    crm.add_person("R1", "r1@r1corp.com", country="United Kingdom")
    for n in range(6):
        crm.add_activity(f"price-{n}", "R1", "form_submission", "Price sheet")
        crm.activities[f"price-{n}"]["at"] = (clock.now - timedelta(days=n)).isoformat()
    crm.add_activity("form-R1", "R1", "form_submission", "Contact Us")
    crm.activities["form-R1"]["at"] = clock.now.isoformat()
    connector = ByIdConnector(crm, "salesforce")
    engine = build_engine(
        settings_from_dict(config(), "test"), store, {"salesforce": connector}, clock=clock
    )
    engine.run()
    assert crm.owners["R1"] == "rep-a" and len(crm.tasks) == 1
    whole = dict(crm.fields["R1"])

    with store.transaction() as conn:
        assert forget(conn, "r1@r1corp.com", clock.now).people == 1
    # The store keeps no trace of the address or the CRM id; only a hash of the id.
    with store.reading() as conn:
        dumped = repr([list(conn.execute(sa.select(table))) for table in metadata.sorted_tables])
    assert "r1@r1corp.com" not in dumped and "salesforce:Lead:R1" not in dumped

    # Sales edits the lead: the incremental pull sees the record and no activity.
    clock.now += timedelta(minutes=30)
    crm.set_status("R1", "Working")
    report = engine.run()
    assert report.status == "ok", report.errors
    assert crm.fields["R1"]["score"] == whole["score"]
    assert crm.fields["R1"]["readiness"] == whole["readiness"]
    # Back whole, in sales' hands already: no second hand-off, no second task.
    assert len(crm.tasks) == 1 and len(crm.owner_log) == 1

    clock.now += timedelta(minutes=5)
    engine.run(CycleRequest(full=True))
    assert len(crm.tasks) == 1 and len(crm.owner_log) == 1
    with store.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(handoffs)).scalar_one() == 0


def test_a_returning_person_waits_while_their_re_read_fails(store: Store) -> None:
    class Failing(ByIdConnector):
        def read_activities(self, people: Sequence[PersonRecord]) -> list[ActivityRecord]:
            from leadsync.errors import RetriableSyncError

            raise RetriableSyncError("503 Service Unavailable", connector=self.name)

    clock = Clock()
    crm = MemoryCRM()
    crm.add_person("R2", "r2@r2corp.com", country="United Kingdom")
    crm.add_activity("form-R2", "R2", "form_submission", "Contact Us")
    good = ByIdConnector(crm, "salesforce")
    settings = settings_from_dict({}, "test")
    build_engine(settings, store, {"salesforce": good}, clock=clock).run()
    with store.transaction() as conn:
        forget(conn, "r2@r2corp.com", clock.now)
    crm.set_status("R2", "Working")
    crm.fields.clear()
    failing = build_engine(settings, store, {"salesforce": Failing(crm, "salesforce")}, clock=clock)
    report = failing.run()
    assert report.status == "failed" and report.people_waiting == 1
    assert "returning" in report.waiting_for and crm.fields == {}
    healed = build_engine(settings, store, {"salesforce": good}, clock=clock).run()
    assert healed.status == "ok" and healed.people_waiting == 0
    assert crm.fields["R2"]["readiness"] == "hand_raiser"
