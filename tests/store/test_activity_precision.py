"""The store keeps how precise each activity's time is, and the scorer gets it (issue 22)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from alembic import command

from leadsync.engine.scoring import to_activities
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.store import Store, db
from leadsync.store.ingest import _activity_row, upsert_activities, upsert_people
from leadsync.store.scoring import dirty_people, load_inputs

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
LEAD = RecordRef("sf", "Lead", "00Q1")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def member(ext: str, early_s: int = 0, late_s: int = 0, at: datetime = T0) -> ActivityRecord:
    return ActivityRecord(
        RecordRef("sf", "CampaignMember", ext),
        "unsubscribe",
        at,
        T0,
        person=LEAD,
        name="Newsletter",
        member_status="Unsubscribed",
        early_s=early_s,
        late_s=late_s,
    )


def _seed_lead(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [PersonRecord(LEAD, "a@x.com", T0)], T0)


def test_bounds_go_through_the_store_to_the_model(store: Store) -> None:
    rng = random.Random(22)
    _seed_lead(store)
    sent = [
        member(f"00v{i}", rng.choice((0, 93_600, rng.randrange(10**6))), rng.randrange(10**6))
        for i in range(40)
    ]
    with store.transaction() as conn:
        upsert_activities(conn, sent, T0)
        person = dirty_people(conn, 0, 10)
        (inputs,) = load_inputs(conn, person)
    got = {a.id: (a.early_s, a.late_s) for a in to_activities(inputs)}
    assert got == {str(r.ref): (r.early_s, r.late_s) for r in sent}


def test_a_changed_precision_is_a_change_and_requeues_the_person(store: Store) -> None:
    _seed_lead(store)
    with store.transaction() as conn:
        upsert_activities(conn, [member("00v1")], T0)
        person = dirty_people(conn, 0, 10)
        conn.execute(sa.text("UPDATE people SET dirty = false"))
        again = upsert_activities(conn, [member("00v1")], T0)
        assert again.unchanged == 1 and dirty_people(conn, 0, 10) == []
        bounded = upsert_activities(conn, [member("00v1", 50_400, 39_600)], T0)
        assert bounded.updated == 1 and dirty_people(conn, 0, 10) == person


def test_an_exact_activity_keeps_the_fingerprint_it_had_before_bounds_existed() -> None:
    """Else the upgrade would re-score everyone at the first pull of each activity."""
    rec = member("00v1")  # the value computed by the store of the previous revision
    assert _activity_row(rec, str(rec.ref))["fingerprint"] == (
        "ce42ef92c1d1519de0e7522f936dd77fb371f7ca"
    )
    assert _activity_row(member("00v1", 0, 1), str(rec.ref))["fingerprint"] != (
        "ce42ef92c1d1519de0e7522f936dd77fb371f7ca"
    )


def test_nonsense_bounds_are_stored_as_a_column_holds_them(store: Store) -> None:
    _seed_lead(store)
    with store.transaction() as conn:
        upsert_activities(conn, [member("00v1", -5, 10**12)], T0)
        row = conn.execute(sa.text("SELECT early_s, late_s FROM activities")).one()
    assert tuple(row) == (0, 2**31 - 1)


def test_migration_bounds_campaign_members_stored_before_it(store_url: str) -> None:
    """Old members were timed by a date read as midnight, or by CreatedDate; their bounds
    run from 14 hours before (the date began at UTC+14) to their SystemModstamp."""
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(db._alembic_config(conn), "0013")
            conn.execute(
                sa.text(
                    "INSERT INTO people (id, active, dirty, recycle_count, created_at, "
                    "updated_at) VALUES (1, true, false, 0, :t, :t)"
                ),
                {"t": T0.replace(tzinfo=None)},
            )
            for uid, occurred, modified in (
                ("sf:CampaignMember:00v1", T0, T0 + timedelta(hours=20, seconds=1)),
                ("sf:CampaignMember:00v2", T0, T0),
                ("sf:Form_Submission__c:a001", T0, T0 + timedelta(days=3)),
            ):
                conn.execute(
                    sa.text(
                        "INSERT INTO activities (uid, person_id, kind, occurred_at, "
                        "modified_at, deleted, fingerprint) "
                        "VALUES (:uid, 1, 'unsubscribe', :o, :m, false, 'x')"
                    ),
                    {
                        "uid": uid,
                        "o": occurred.replace(tzinfo=None),
                        "m": modified.replace(tzinfo=None),
                    },
                )
        db.upgrade(engine)
        with engine.connect() as conn:
            rows = dict(
                (uid, (early, late))
                for uid, early, late in conn.execute(
                    sa.text("SELECT uid, early_s, late_s FROM activities")
                )
            )
            dirty = conn.execute(sa.text("SELECT dirty FROM people")).scalar_one()
    finally:
        engine.dispose()
    assert rows == {
        "sf:CampaignMember:00v1": (14 * 3600, 20 * 3600 + 1),
        "sf:CampaignMember:00v2": (14 * 3600, 0),
        "sf:Form_Submission__c:a001": (0, 0),
    }
    assert dirty
