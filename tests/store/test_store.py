"""One store suite, run over SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from leadsync.errors import StoreError
from leadsync.records import ActivityRecord, PersonRecord, RecordError, RecordRef, WriteOutcome
from leadsync.store import Store, db
from leadsync.store.ingest import upsert_activities, upsert_people
from leadsync.store.lookup import find_person, matrix_counts
from leadsync.store.runs import get_cursor, set_cursor, start_run
from leadsync.store.schema import activities, crm_records, pending_writes, people
from leadsync.store.scoring import ScoreRow, dirty_people, load_inputs, save_scores
from leadsync.store.writes import due_writes, pending_counts, record_outcomes, replay_failed

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


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
        attributes=kw.pop("attributes", {"industry": "Manufacturing"}),  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def act(
    ext: str, person: RecordRef | None = None, email: str | None = None, **kw: object
) -> ActivityRecord:
    return ActivityRecord(
        ref=RecordRef("sf", "CampaignMember", ext),
        kind=str(kw.pop("kind", "form_submission")),
        occurred_at=T0,
        modified_at=T0,
        person=person,
        email=email,
        **kw,  # type: ignore[arg-type]
    )


def count(store: Store, table: sa.Table) -> int:
    with store.reading() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def test_repull_is_a_no_op_and_marks_nobody_dirty(store: Store) -> None:
    with store.transaction() as conn:
        first = upsert_people(conn, [lead("1", "a@x.com"), lead("2", "b@x.com")], T0)
        upsert_activities(conn, [act("m1", RecordRef("sf", "Lead", "1"))], T0)
        conn.execute(sa.update(people).values(dirty=False))
    with store.transaction() as conn:
        again = upsert_people(conn, [lead("1", "a@x.com"), lead("2", "b@x.com")], T0)
        acts = upsert_activities(conn, [act("m1", RecordRef("sf", "Lead", "1"))], T0)
        assert dirty_people(conn, 0, 10) == []
    assert (first.inserted, again.unchanged, acts.unchanged) == (2, 2, 1)
    assert count(store, activities) == 1


def test_same_email_across_crms_is_one_person(store: Store) -> None:
    hs = PersonRecord(RecordRef("hs", "contact", "901"), " A@X.com ", T0)
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com")], T0)
        upsert_people(conn, [hs], T0)
        assert find_person(conn, "a@x.com") == find_person(conn, "901")
    assert count(store, people) == 1


def test_email_change_relinks_without_duplicating(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(
            conn,
            [
                lead("1", "old@x.com"),
                PersonRecord(RecordRef("hs", "contact", "9"), "new@x.com", T0),
            ],
            T0,
        )
    assert count(store, people) == 2
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "new@x.com", minute=5)], T0)
        assert find_person(conn, "1") == find_person(conn, "9")
    assert count(store, people) == 1


def test_email_change_moves_the_record_with_its_own_activities_only(store: Store) -> None:
    """Lead 1 shares a person with HubSpot contact 7 until its email changes to contact 9's:
    it moves to 9's person with its own activity; 7's activity stays where it was."""
    lead_ref, seven = RecordRef("sf", "Lead", "1"), RecordRef("hs", "contact", "7")
    with store.transaction() as conn:
        upsert_people(
            conn,
            [
                lead("1", "old@x.com"),
                PersonRecord(seven, "old@x.com", T0),
                PersonRecord(RecordRef("hs", "contact", "9"), "new@x.com", T0),
            ],
            T0,
        )
        upsert_activities(conn, [act("m1", lead_ref), act("m7", seven)], T0)
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "new@x.com", minute=5)], T0)
        old, new = find_person(conn, "7"), find_person(conn, "9")
        assert find_person(conn, "1") == new != old
        owners = dict(conn.execute(sa.select(activities.c.uid, activities.c.person_id)).all())
    assert owners == {"sf:CampaignMember:m1": new, "sf:CampaignMember:m7": old}


def test_conversion_moves_history_to_the_surviving_contact(store: Store) -> None:
    contact_ref = RecordRef("sf", "Contact", "c1")
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "lead@x.com")], T0)
        upsert_activities(conn, [act("m1", RecordRef("sf", "Lead", "1"))], T0)
        upsert_people(conn, [PersonRecord(contact_ref, "other@x.com", T0)], T0)
    assert count(store, people) == 2
    with store.transaction() as conn:
        converted = lead("1", "lead@x.com", minute=9, merged_into=contact_ref, converted_at=T0)
        upsert_people(conn, [converted], T0)
        person = find_person(conn, "c1")
        owned = conn.execute(
            sa.select(activities.c.person_id).where(activities.c.uid == "sf:CampaignMember:m1")
        ).scalar_one()
        (inputs,) = load_inputs(conn, [person])  # type: ignore[list-item]
    assert owned == person and count(store, people) == 1
    assert [r.uid for r in inputs.records] == [
        "sf:Contact:c1"
    ]  # the converted lead takes no writes


def test_orphan_activity_links_when_its_person_arrives(store: Store) -> None:
    with store.transaction() as conn:
        upsert_activities(conn, [act("e1", email="late@x.com", kind="email_open")], T0)
        upsert_people(conn, [lead("7", "LATE@x.com")], T0)
        person = find_person(conn, "late@x.com")
        (inputs,) = load_inputs(conn, [person])  # type: ignore[list-item]
    assert [a.uid for a in inputs.activities] == ["sf:CampaignMember:e1"]


def test_deleted_record_deactivates_person_and_drops_pending_writes(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com")], T0)
        pid = find_person(conn, "a@x.com")
        assert pid is not None
        save_scores(conn, [_row(pid, 40)], [pid], T0)
        assert count_in(conn, pending_writes) == 1
        upsert_people(conn, [lead("1", "a@x.com", minute=3, deleted=True)], T0)
        assert count_in(conn, pending_writes) == 0
        assert load_inputs(conn, [pid]) == []


def count_in(conn: sa.Connection, table: sa.Table) -> int:
    return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()


def _row(pid: int, score: int, cell: str = "good/unready") -> ScoreRow:
    fit, readiness = cell.split("/")
    outputs = {"fit": fit, "score": score, "readiness": readiness, "team": "marketing"}
    return ScoreRow(pid, fit, score, readiness, "marketing", cell, outputs, {"score": score})


def test_only_changed_values_are_queued_and_ledger_follows_outcomes(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com")], T0)
        pid = find_person(conn, "a@x.com")
        assert pid is not None
        assert save_scores(conn, [_row(pid, 40)], [pid], T0).writes_queued == 1
        (due,) = due_writes(conn, "sf", T0, 100)
        assert due.values["score"] == 40 and "scored_at" in due.values
        record_outcomes(
            conn,
            [due],
            [WriteOutcome(due.ref, True)],
            T0,
            max_attempts=3,
            backoff=timedelta(minutes=1),
        )
        # same result again: nothing owed
        assert save_scores(conn, [_row(pid, 40)], [pid], T0).writes_queued == 0
        # only the score moves: only the score (and scored_at) is owed
        save_scores(conn, [_row(pid, 55)], [pid], T0)
        (due,) = due_writes(conn, "sf", T0, 100)
        assert set(due.values) == {"score", "scored_at"}


def test_due_writes_come_in_record_order_and_page_by_record(store: Store) -> None:
    """Queued for lead 3, then 1, then 2 (people scored in that order): handed out 1, 2, 3, so
    the records of one object, stored together, come out together; ``after`` is a record id."""
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com"), lead("2", "b@x.com"), lead("3", "c@x.com")], T0)
        pids = [find_person(conn, e) for e in ("c@x.com", "a@x.com", "b@x.com")]
        for pid in pids:
            assert pid is not None
            save_scores(conn, [_row(pid, 40)], [pid], T0)
        first = due_writes(conn, "sf", T0, 2)
        rest = due_writes(conn, "sf", T0, 2, after=first[-1].record_id)
    assert [d.ref.external_id for d in first + rest] == ["1", "2", "3"]
    assert first[0].id > rest[0].id  # lead 3's write was queued first


def test_rejections_back_off_then_park_then_replay(store: Store) -> None:
    error = RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Company is required", ("Company",))
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com")], T0)
        pid = find_person(conn, "a@x.com")
        assert pid is not None
        save_scores(conn, [_row(pid, 40)], [pid], T0)
        now = T0
        for attempt in (1, 2):
            (due,) = due_writes(conn, "sf", now, 10)
            record_outcomes(
                conn,
                [due],
                [WriteOutcome(due.ref, False, error)],
                now,
                max_attempts=2,
                backoff=timedelta(minutes=1),
            )
            if attempt == 1:
                assert due_writes(conn, "sf", now, 10) == []  # backing off
                now += timedelta(minutes=1)
        assert pending_counts(conn) == {"sf": {"pending": 0, "retrying": 0, "parked": 1}}
        row = conn.execute(sa.select(pending_writes)).one()
        assert (row.error_code, row.error_message, row.error_fields) == (
            error.code,
            error.message,
            ["Company"],
        )
        assert due_writes(conn, "sf", now + timedelta(days=9), 10) == []  # parked: not retried
        assert replay_failed(conn, "sf", now) == 1
        assert len(due_writes(conn, "sf", now, 10)) == 1


def test_cursor_only_moves_forward(store: Store) -> None:
    with store.transaction() as conn:
        set_cursor(conn, "sf", "people", T0, T0)
        set_cursor(conn, "sf", "people", T0 - timedelta(hours=1), T0)
        assert get_cursor(conn, "sf", "people") == T0


def test_matrix_counts_and_interrupted_runs(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead("1", "a@x.com"), lead("2", "b@x.com")], T0)
        ids = [find_person(conn, "a@x.com"), find_person(conn, "b@x.com")]
        save_scores(conn, [_row(ids[0], 1), _row(ids[1], 2, "poor/unready")], ids, T0)  # type: ignore[arg-type]
        assert matrix_counts(conn) == {"good/unready": 1, "poor/unready": 1}
        first = start_run(conn, "sf", "sync", T0)
        start_run(conn, "sf", "sync", T0)
        status = conn.execute(
            sa.text("select status from runs where id = :i"), {"i": first}
        ).scalar_one()
    assert status == "interrupted"


def test_store_refuses_a_schema_from_a_newer_leadsync(store: Store) -> None:
    with store.transaction() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(StoreError, match="newer LeadSync"):
        db.upgrade(store.engine)


def test_crm_records_count_matches_inputs(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [lead(str(i), f"p{i}@x.com") for i in range(1200)], T0)
    assert count(store, crm_records) == 1200 and count(store, people) == 1200
