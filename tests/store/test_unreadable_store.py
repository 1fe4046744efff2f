"""Unreadable values in the store: kept per record and field, in the batch's transaction,
cleared when read fine, when the record is deleted, and by ``forget``; long attribute text is
stored clipped and the clip recorded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from leadsync.records import ActivityRecord, PersonRecord, RecordRef, UnreadableValue
from leadsync.store import Store
from leadsync.store.ingest import (
    ATTRIBUTE_CHARS,
    people_rows,
    store_people,
    upsert_activities,
    upsert_people,
)
from leadsync.store.privacy import forget
from leadsync.store.schema import crm_records, unreadable_values
from leadsync.store.unreadable import summary

T0 = datetime(2026, 3, 1, 12, tzinfo=UTC)
LEAD = RecordRef("salesforce", "Lead", "00Q000000000001AAA")
FORM = RecordRef("salesforce", "Form_Submission__c", "a0F000000000001AAA")


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _lead(*notes: tuple[str, str], deleted: bool = False) -> PersonRecord:
    found = tuple(
        UnreadableValue(LEAD, field, raw, "not a date-time; left empty") for field, raw in notes
    )
    return replace(
        PersonRecord(LEAD, "ann@acme.example", T0, {"industry": "Software"}),
        unreadable=found,
        deleted=deleted,
    )


def _rows(store: Store) -> dict[tuple[str, str], tuple[str, datetime, datetime]]:
    with store.reading() as conn:
        return {
            (r.record_uid, r.field): (r.raw, r.first_seen, r.last_seen)
            for r in conn.execute(sa.select(unreadable_values))
        }


def test_a_value_is_kept_until_read_fine_and_keeps_when_it_was_first_seen(store: Store) -> None:
    with store.transaction() as conn:
        counts = upsert_people(conn, [_lead(("ConvertedDate", "yesterday"))], T0)
    assert counts.unreadable == 1
    assert _rows(store) == {(str(LEAD), "ConvertedDate"): ("yesterday", T0, T0)}
    later = T0 + timedelta(hours=1)
    with store.transaction() as conn:
        upsert_people(conn, [_lead(("ConvertedDate", "tomorrow"), ("Email", "nope"))], later)
    assert _rows(store) == {
        (str(LEAD), "ConvertedDate"): ("tomorrow", T0, later),
        (str(LEAD), "Email"): ("nope", later, later),
    }
    with store.transaction() as conn:
        upsert_people(conn, [_lead(("Email", "nope"))], later)  # the date now reads fine
    assert set(_rows(store)) == {(str(LEAD), "Email")}
    with store.transaction() as conn:
        upsert_people(conn, [_lead()], later)
    assert _rows(store) == {}


def test_a_deleted_record_clears_its_values(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [_lead(("Status", "x" * 300))], T0)
    # Connectors report nothing unreadable for a record the CRM deleted.
    with store.transaction() as conn:
        upsert_people(conn, [_lead(deleted=True)], T0 + timedelta(minutes=1))
    assert _rows(store) == {}


def test_an_activity_that_cannot_be_placed_is_stored_uncounted_with_its_problem(
    store: Store,
) -> None:
    note = UnreadableValue(FORM, "Submitted_At__c", "2024-13-45T99:99:99Z", "not a date-time")
    bad = ActivityRecord(
        FORM, "form_submission", T0, T0, person=LEAD, deleted=True, unreadable=(note,)
    )
    with store.transaction() as conn:
        upsert_people(conn, [_lead()], T0)
        counts = upsert_activities(conn, [bad], T0)
    assert counts.unreadable == 1
    assert _rows(store) == {(str(FORM), "Submitted_At__c"): ("2024-13-45T99:99:99Z", T0, T0)}
    with store.reading() as conn:
        latest = summary(conn).latest
    assert [(r.crm_id, r.field, r.object_type) for r in latest] == [
        (FORM.external_id, "Submitted_At__c", "Form_Submission__c")
    ]
    fixed = replace(bad, deleted=False, unreadable=())
    with store.transaction() as conn:
        upsert_activities(conn, [fixed], T0 + timedelta(minutes=5))
    assert _rows(store) == {}


def test_a_megabyte_attribute_is_stored_clipped_and_the_clip_recorded(store: Store) -> None:
    huge = "a" * 1_000_000
    record = PersonRecord(LEAD, "ann@acme.example", T0, {"title": huge, "city": "Berlin"})
    prepared = people_rows([record], T0)
    with store.transaction() as conn:
        counts = store_people(conn, prepared, T0)
    assert (counts.clipped, counts.unreadable) == (1, 0)
    with store.reading() as conn:
        attributes = conn.execute(sa.select(crm_records.c.attributes)).scalar_one()
    assert attributes == {"title": "a" * ATTRIBUTE_CHARS, "city": "Berlin"}
    ((field, (raw, _, _)),) = [(k[1], v) for k, v in _rows(store).items()]
    assert field == "attributes.title" and raw.endswith("(1,000,000 characters)")


def test_a_record_whose_id_cannot_be_stored_is_skipped_and_shown(store: Store) -> None:
    bad = PersonRecord(RecordRef("salesforce", "Lead", "\x00" + "9" * 500), None, T0)
    with store.transaction() as conn:
        counts = upsert_people(conn, [bad, _lead()], T0)
    assert counts.skipped == 1 and counts.inserted == 1
    with store.reading() as conn:
        (row,) = summary(conn).latest
    assert row.field == "Id" and "record skipped" in row.problem and "\x00" not in row.raw


def test_forget_removes_the_persons_unreadable_values_only(store: Store) -> None:
    other = RecordRef("salesforce", "Lead", "00Q000000000002AAA")
    note = UnreadableValue(FORM, "Submitted_At__c", "ann@acme.example?", "not a date-time")
    with store.transaction() as conn:
        upsert_people(
            conn,
            [
                _lead(("Email", "x")),
                PersonRecord(
                    other,
                    "bob@acme.example",
                    T0,
                    unreadable=(UnreadableValue(other, "Status", "[]", "not text"),),
                ),
            ],
            T0,
        )
        upsert_activities(
            conn,
            [ActivityRecord(FORM, "form_submission", T0, T0, person=LEAD, unreadable=(note,))],
            T0,
        )
    with store.transaction() as conn:
        gone = forget(conn, "ann@acme.example", T0)
    assert gone.rows["unreadable_values"] == 2
    assert set(_rows(store)) == {(str(other), "Status")}


def test_a_record_read_again_unchanged_is_only_seen_again(store: Store) -> None:
    with store.transaction() as conn:
        upsert_people(conn, [_lead(("ConvertedDate", "yesterday"))], T0)
    later = T0 + timedelta(days=1)
    with store.transaction() as conn:
        counts = upsert_people(conn, [_lead(("ConvertedDate", "yesterday"))], later)
    assert counts.unchanged == 1
    assert _rows(store) == {(str(LEAD), "ConvertedDate"): ("yesterday", T0, later)}
