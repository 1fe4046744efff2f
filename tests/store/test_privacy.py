"""``leadsync forget``: nothing about the person is left in any table; nobody else is touched."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa

from leadsync.config import settings_from_dict
from leadsync.store import Store
from leadsync.store.privacy import forget
from leadsync.store.schema import metadata, people
from leadsync.wiring import build_engine
from tests.engine.memory_crm import MemoryConnector, MemoryCRM
from tests.engine.test_act import MONDAY_10 as NOW
from tests.engine.test_act import Clock, config


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def dump(store: Store) -> str:
    """Every row of every table, as text."""
    with store.reading() as conn:
        return json.dumps(
            {
                table.name: [dict(r._mapping) for r in conn.execute(sa.select(table))]
                for table in metadata.sorted_tables
            },
            default=str,
        )


def test_forget_removes_every_trace_and_only_that_person(store: Store) -> None:
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann")
    crm.add_user("rep-b", "Bob")
    crm.add_user("00G-sales", "Sales", queue=True)
    crm.add_user("rep-c", "Cleo")
    # G1 and F1 share rep-c's daily digest (a task hung on G1's record that names F1)
    for pid, country in (("G1", "France"), ("F1", "France"), ("K1", "United Kingdom")):
        crm.add_person(pid, f"{pid.lower()}@acme-{pid.lower()}.com", country=country)
        crm.add_activity(f"form-{pid}", pid, "form_submission", "Contact Us")
    data = config(notify={"good_hand_raiser": "daily_digest", "poor_hand_raiser": "daily_digest"})
    data["handoff"]["sla"] = {"hand_raiser": 480, "sales_ready": 480}
    clock = Clock()
    engine = build_engine(
        settings_from_dict(data, "test"),
        store,
        {"salesforce": MemoryConnector(crm, "salesforce")},
        clock=clock,
    )
    assert engine.run().actions["handed_off"] == 3
    clock.now += timedelta(hours=8)  # past the reps' 17:00 close: the digest goes out
    engine.run()
    before = dump(store)
    assert "f1@acme-f1.com" in before and "salesforce:Lead:F1" in before
    [digest] = [t for k, t in crm.tasks.items() if k.startswith("ls-digest-rep-c")]
    assert digest["record"] == "G1" and "f1@acme-f1.com" in digest["body"]

    with store.transaction() as conn:
        done = forget(conn, " F1@Acme-F1.com ", NOW)
    assert done.people == 1
    assert done.rows["handoffs"] == 1 and done.rows["actions"] >= 2 and done.rows["scores"] == 1

    after = dump(store)
    for trace in ("f1@acme-f1.com", "salesforce:Lead:F1", "form-F1"):
        assert trace not in after
    assert "k1@acme-k1.com" in after and "salesforce:Lead:K1" in after
    with store.transaction() as conn:
        assert forget(conn, "f1@acme-f1.com", NOW).people == 0


def test_forget_refuses_something_that_is_not_an_address(store: Store) -> None:
    with store.transaction() as conn, pytest.raises(ValueError, match="not an email address"):
        forget(conn, "DROP TABLE people", NOW)


def test_forget_takes_the_activities_waiting_for_a_deleted_record_of_the_person(
    store: Store,
) -> None:
    """bench/life.py seed 2754: a deleted record's activities wait, unlinked, for it to come
    back, naming it only by its CRM id. ``forget`` left them behind (with that id in the
    clear), since it took activities by person and by address."""
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann")
    crm.add_person("D1", "d1@acme-d1.com", country="France")
    crm.add_activity("visit-D1", "D1", "page_view", "Pricing")
    engine = build_engine(
        settings_from_dict(config(), "test"),
        store,
        {"salesforce": MemoryConnector(crm, "salesforce")},
        clock=Clock(),
    )
    engine.run()
    crm.touch("D1", deleted=True)
    engine.run()
    assert "visit-D1" in dump(store)
    with store.transaction() as conn:
        assert forget(conn, "d1@acme-d1.com", NOW).people == 1
    after = dump(store)
    assert "visit-D1" not in after and "salesforce:Lead:D1" not in after


def test_a_new_person_never_gets_a_forgotten_persons_id(store: Store) -> None:
    """bench/life.py seed 3293: on SQLite the next person took the largest id + 1, so after
    the newest person was forgotten, the next one got their id, and with it their hand-off
    task key (``ls-<person>-1``): the CRM upserted the forgotten lead's task onto the new
    lead. PostgreSQL's sequence never reused ids; SQLite now keeps a mark."""
    crm = MemoryCRM()
    crm.add_user("rep-a", "Ann")
    crm.add_person("A1", "a1@acme-a1.com", country="France")
    engine = build_engine(
        settings_from_dict(config(), "test"),
        store,
        {"salesforce": MemoryConnector(crm, "salesforce")},
        clock=Clock(),
    )
    engine.run()
    with store.reading() as conn:
        first = conn.execute(sa.select(sa.func.max(people.c.id))).scalar_one()
    del crm.people["A1"]  # erased from the CRM too, as a GDPR request goes
    with store.transaction() as conn:
        assert forget(conn, "a1@acme-a1.com", NOW).people == 1
    crm.add_person("B1", "b1@acme-b1.com", country="France")
    engine.run()
    with store.reading() as conn:
        query = sa.select(people.c.id).where(people.c.email_norm == "b1@acme-b1.com")
        second = conn.execute(query).scalar_one()
    assert second > first
