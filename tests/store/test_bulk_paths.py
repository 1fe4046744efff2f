"""The store's bulk paths keep the per-record rules: batches larger than one chunk, shared
emails inside a batch, orphans claimed in batch order, outcomes settled in bulk, and planner
statistics refreshed on PostgreSQL as tables grow. Run over SQLite and PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from leadsync.records import (
    ActivityRecord,
    PersonRecord,
    RecordError,
    RecordRef,
    WriteOutcome,
)
from leadsync.store import Store
from leadsync.store.identity import refresh_planner_stats
from leadsync.store.ingest import upsert_activities, upsert_people
from leadsync.store.schema import activities, crm_records, ledger, pending_writes, people
from leadsync.store.scoring import ScoreRow, save_scores
from leadsync.store.writes import due_writes, queue_writes, record_outcomes

T0 = datetime(2026, 2, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def lead(ext: str, email: str | None, minute: int = 0, **kw: object) -> PersonRecord:
    return PersonRecord(
        ref=RecordRef("sf", "Lead", ext),
        email=email,
        modified_at=T0 + timedelta(minutes=minute),
        attributes={"industry": "Manufacturing", "n": ext},
        **kw,  # type: ignore[arg-type]
    )


def act(ext: str, person: RecordRef | None = None, email: str | None = None) -> ActivityRecord:
    return ActivityRecord(
        ref=RecordRef("sf", "Task", ext),
        kind="email_open",
        occurred_at=T0,
        modified_at=T0,
        person=person,
        email=email,
    )


def person_of(conn: sa.Connection, uid: str) -> int:
    query = sa.select(crm_records.c.person_id).where(crm_records.c.uid == uid)
    return int(conn.execute(query).scalar_one())


def test_new_people_get_ids_in_batch_order_across_chunks(store: Store) -> None:
    batch = [lead(str(n), f"p{n}@x.com") for n in range(1_234)]
    with store.transaction() as conn:
        counts = upsert_people(conn, batch, T0)
        pairs = conn.execute(
            sa.select(crm_records.c.email_norm, people.c.email_norm, people.c.dirty).join(
                people, people.c.id == crm_records.c.person_id
            )
        ).all()
    assert counts.inserted == 1_234
    assert len(pairs) == 1_234
    assert all(record == person and dirty for record, person, dirty in pairs)


def test_records_sharing_an_email_in_one_batch_are_one_person(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "A@x.com"), lead("2", "a@x.com"), lead("3", None)], T0)
        first, second, third = (person_of(conn, f"sf:Lead:{n}") for n in "123")
        total = conn.execute(sa.select(sa.func.count()).select_from(people)).scalar_one()
    assert first == second != third
    assert total == 2


def test_new_record_joins_a_stored_person_by_email(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com")], T0)
        upsert_people(conn, [lead("2", "a@x.com"), lead("3", "b@x.com")], T0)
        assert person_of(conn, "sf:Lead:1") == person_of(conn, "sf:Lead:2")
        assert person_of(conn, "sf:Lead:3") != person_of(conn, "sf:Lead:1")


def test_orphans_are_claimed_by_record_id_then_by_the_first_record_with_their_email(
    store: Store,
) -> None:
    with store.transaction() as conn:
        upsert_activities(
            conn,
            [
                act("t1", person=RecordRef("sf", "Lead", "2")),
                act("e1", email="shared@x.com"),
                act("e2", email="nobody@x.com"),
            ],
            T0,
        )
        upsert_people(
            conn,
            [lead("1", "shared@x.com"), lead("2", "other@x.com"), lead("3", "shared@x.com")],
            T0,
        )
        owners = dict(conn.execute(sa.select(activities.c.uid, activities.c.person_id)).all())
        shared = person_of(conn, "sf:Lead:1")
        assert owners["sf:Task:t1"] == person_of(conn, "sf:Lead:2")
        assert owners["sf:Task:e1"] == shared == person_of(conn, "sf:Lead:3")
        assert owners["sf:Task:e2"] is None


def test_updates_in_bulk_keep_an_email_change_relinking(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com"), lead("2", "b@x.com")], T0)
        counts = upsert_people(
            conn,
            [lead("1", "b@x.com", minute=1), lead("2", "b@x.com", minute=1, status="Working")],
            T0,
        )
        assert counts.updated == 2
        assert person_of(conn, "sf:Lead:1") == person_of(conn, "sf:Lead:2")
        status = conn.execute(
            sa.select(crm_records.c.status).where(crm_records.c.uid == "sf:Lead:2")
        ).scalar_one()
        total = conn.execute(sa.select(sa.func.count()).select_from(people)).scalar_one()
    assert status == "Working"
    assert total == 1


def _row(pid: int, score: int) -> ScoreRow:
    outputs = {"fit": "good", "score": score, "readiness": "unready", "team": "marketing"}
    return ScoreRow(pid, "good", score, "unready", "marketing", "good/unready", outputs, {})


def test_outcomes_settle_in_bulk_and_keep_newer_values(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead(str(n), f"p{n}@x.com") for n in range(700)], T0)
        ids = list(conn.execute(sa.select(people.c.id).order_by(people.c.id)).scalars())
        assert save_scores(conn, [_row(pid, 10) for pid in ids], ids, T0).writes_queued == 700
        due = due_writes(conn, "sf", T0, 1_000)
        # A newer decision for the first person lands while the writes are in flight.
        queue_writes(conn, {ids[0]: {"score": 99}}, T0)
        rejected = {due[1].id, due[2].id}
        outcomes = [
            WriteOutcome(d.ref, True)
            if d.id not in rejected
            else WriteOutcome(d.ref, False, RecordError("LOCKED", "row locked", ("Score__c",)))
            for d in due
        ]
        counts = record_outcomes(
            conn, due, outcomes, T0, max_attempts=1, backoff=timedelta(minutes=1)
        )
        left = {
            row.record_id: row
            for row in conn.execute(
                sa.select(
                    pending_writes.c.record_id,
                    pending_writes.c["values"],
                    pending_writes.c.state,
                    pending_writes.c.error_code,
                )
            )
        }
        written = conn.execute(sa.select(sa.func.count()).select_from(ledger)).scalar_one()
    assert (counts.written, counts.rejected, counts.parked) == (698, 2, 2)
    assert written == 698
    assert set(left) == {due[0].record_id, due[1].record_id, due[2].record_id}
    assert left[due[0].record_id].values["score"] == 99
    assert left[due[1].record_id].state == "parked"
    assert left[due[1].record_id].error_code == "LOCKED"


def test_planner_statistics_refresh_once_a_table_doubled(store: Store) -> None:
    if store.dialect != "postgresql":
        pytest.skip("plan caching and ANALYZE are PostgreSQL's; SQLite plans every statement")
    with store.transaction() as conn:
        upsert_people(conn, [lead(str(n), f"p{n}@x.com") for n in range(6_000)], T0)
    analyzed = False
    # Table statistics reach pg_stat_user_tables within about a second of the commit.
    deadline = time.monotonic() + 10
    while not analyzed and time.monotonic() < deadline:
        with store.transaction() as conn:
            refresh_planner_stats(conn, [crm_records])
        with store.reading() as conn:
            analyzed = conn.execute(
                sa.text(
                    "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables "
                    "WHERE relname = 'crm_records'"
                )
            ).scalar_one()
        time.sleep(0.2)
    assert analyzed
