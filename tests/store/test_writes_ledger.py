"""The outbox and the ledger over many decisions: whatever order decisions, sends,
confirmations and rejections come in, once the outbox is drained the CRM holds the last
decision, nothing is owed, and nothing is sent that the CRM already has."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.records import PersonRecord, RecordError, RecordRef, WriteOutcome
from leadsync.store import Store
from leadsync.store.ingest import upsert_people
from leadsync.store.lookup import find_person
from leadsync.store.schema import crm_records, ledger, pending_writes
from leadsync.store.writes import (
    SCORED_AT,
    DueWrite,
    due_writes,
    pending_counts,
    queue_writes,
    record_outcomes,
    replay_failed,
)

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
BACKOFF = timedelta(minutes=1)
REFUSED = RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "Company is required", ("Company",))


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _person(conn: sa.Connection, *refs: RecordRef) -> int:
    """One person known in each of ``refs`` (same email)."""
    upsert_people(conn, [PersonRecord(ref, "a@x.com", T0) for ref in refs], T0)
    pid = find_person(conn, "a@x.com")
    assert pid is not None
    return pid


def _confirm(conn: sa.Connection, due: list[DueWrite], now: datetime) -> None:
    outcomes = [WriteOutcome(d.ref, True) for d in due]
    record_outcomes(conn, due, outcomes, now, max_attempts=3, backoff=BACKOFF)


class Crm:
    """What the CRM holds per record: the values of every write it accepted."""

    def __init__(self) -> None:
        self.fields: dict[RecordRef, dict[str, Any]] = {}
        self.sent: list[dict[str, Any]] = []

    def accept(self, due: list[DueWrite]) -> list[WriteOutcome]:
        for item in due:
            self.sent.append(dict(item.values))
            self.fields.setdefault(item.ref, {}).update(item.values)
        return [WriteOutcome(d.ref, True) for d in due]


@pytest.mark.parametrize("seed", range(6))
def test_any_interleaving_ends_with_the_last_decision_in_the_crm(store: Store, seed: int) -> None:
    """Decisions (some reverting to earlier values), sends whose confirmation comes after a
    newer decision, rejections and replays, in a seeded random order."""
    rng = random.Random(seed)
    lead, contact = RecordRef("sf", "Lead", "1"), RecordRef("hs", "contact", "9")
    crm = Crm()
    now = T0
    with store.transaction() as conn:
        pid = _person(conn, lead, contact)
    decision: dict[str, Any] = {}
    in_flight: list[DueWrite] = []
    for _ in range(40):
        now += timedelta(minutes=rng.randint(1, 3))
        step = rng.random()
        with store.transaction() as conn:
            if step < 0.45:
                decision = {"fit": rng.choice(("good", "poor")), "score": rng.choice((40, 55))}
                queue_writes(conn, {pid: {**decision, SCORED_AT: now.isoformat()}}, now)
            elif step < 0.7 and not in_flight:
                in_flight = due_writes(conn, "sf", now, 10) + due_writes(conn, "hs", now, 10)
            elif step < 0.9 and in_flight:
                # The CRM took them; the confirmation may land after a newer decision.
                outcomes = crm.accept(in_flight)
                record_outcomes(conn, in_flight, outcomes, now, max_attempts=3, backoff=BACKOFF)
                in_flight = []
            elif in_flight:
                refused = [WriteOutcome(d.ref, False, REFUSED) for d in in_flight]
                record_outcomes(conn, in_flight, refused, now, max_attempts=2, backoff=BACKOFF)
                in_flight = []
            else:
                replay_failed(conn, None, now)
    # Drain: replay what was refused, then send until nothing is owed.
    for _ in range(10):
        now += timedelta(hours=1)
        with store.transaction() as conn:
            replay_failed(conn, None, now)
            due = due_writes(conn, "sf", now, 10) + due_writes(conn, "hs", now, 10)
            if not due:
                break
            record_outcomes(conn, due, crm.accept(due), now, max_attempts=3, backoff=BACKOFF)
    with store.reading() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(pending_writes)).scalar() == 0
    if decision:
        for ref in (lead, contact):
            held = {k: v for k, v in crm.fields[ref].items() if k != SCORED_AT}
            assert held == decision, (ref, crm.sent)
    # Every write carried a value to change, never a scored_at alone.
    assert all(set(sent) - {SCORED_AT} for sent in crm.sent), crm.sent


def test_deleted_and_merged_away_records_get_no_writes(store: Store) -> None:
    live, gone, merged = (
        RecordRef("sf", "Lead", "1"),
        RecordRef("sf", "Lead", "2"),
        RecordRef("sf", "Contact", "3"),
    )
    with store.transaction() as conn:
        pid = _person(conn, live, gone, merged)
        uid = f"{live.source}:{live.object_type}:{live.external_id}"
        conn.execute(
            sa.update(crm_records).where(crm_records.c.external_id == "2").values(deleted=True)
        )
        conn.execute(
            sa.update(crm_records).where(crm_records.c.external_id == "3").values(merged_into=uid)
        )
        assert queue_writes(conn, {pid: {"score": 40}}, T0) == 1
        (due,) = due_writes(conn, "sf", T0, 10)
    assert due.ref == live


def test_a_decision_back_to_the_written_value_replaces_the_write_still_owed(
    store: Store,
) -> None:
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        pid = _person(conn, lead)
        queue_writes(conn, {pid: {"score": 40}}, T0)
        _confirm(conn, due_writes(conn, "sf", T0, 10), T0)
        queue_writes(conn, {pid: {"score": 55}}, T0 + timedelta(minutes=1))
        # Back to what the CRM already has, before the 55 was sent: 55 must not be sent.
        queue_writes(conn, {pid: {"score": 40}}, T0 + timedelta(minutes=2))
        owed = due_writes(conn, "sf", T0 + timedelta(minutes=2), 10)
    assert [d.values.get("score", 40) for d in owed] in ([], [40])


def test_a_confirmed_write_differing_only_in_scored_at_is_settled(store: Store) -> None:
    """Sent 40; meanwhile decided 55, then 40 again: the confirmation of 40 settles it (the
    write owed would only restamp scored_at)."""
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        pid = _person(conn, lead)
        queue_writes(conn, {pid: {"score": 40}}, T0)
        sent = due_writes(conn, "sf", T0, 10)
        queue_writes(conn, {pid: {"score": 55}}, T0 + timedelta(minutes=1))
        queue_writes(conn, {pid: {"score": 40}}, T0 + timedelta(minutes=2))
        _confirm(conn, sent, T0 + timedelta(minutes=3))
        assert due_writes(conn, "sf", T0 + timedelta(hours=1), 10) == []
        # ... while a newer value decided meanwhile stays owed, and only it.
        queue_writes(conn, {pid: {"score": 70, "fit": "good"}}, T0 + timedelta(minutes=4))
        sent = due_writes(conn, "sf", T0 + timedelta(minutes=4), 10)
        queue_writes(conn, {pid: {"score": 70, "fit": "poor"}}, T0 + timedelta(minutes=5))
        _confirm(conn, sent, T0 + timedelta(minutes=6))
        (owed,) = due_writes(conn, "sf", T0 + timedelta(hours=1), 10)
    assert {k for k in owed.values if k != SCORED_AT} == {"fit"} and owed.values["fit"] == "poor"
    assert owed.attempts == 0


def test_the_ledger_keeps_every_value_written_across_writes(store: Store) -> None:
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        # Others first, so the lead's record id is not the ledger's first row id.
        upsert_people(conn, [PersonRecord(RecordRef("sf", "Lead", "0"), "b@x.com", T0)], T0)
        pid = _person(conn, lead)
        assert queue_writes(conn, {}, T0) == 0
        queue_writes(conn, {pid: {"fit": "good", "score": 40}}, T0)
        _confirm(conn, due_writes(conn, "sf", T0, 10), T0)
        queue_writes(conn, {pid: {"fit": "good", "score": 55}}, T0)
        _confirm(conn, due_writes(conn, "sf", T0, 10), T0 + timedelta(minutes=1))
        (values,) = conn.execute(
            sa.select(ledger.c["values"])
            .join(crm_records, crm_records.c.id == ledger.c.record_id)
            .where(crm_records.c.external_id == "1")
        ).scalars()
        assert {k: v for k, v in values.items() if k != SCORED_AT} == {"fit": "good", "score": 55}
        assert queue_writes(conn, {pid: {"fit": "good", "score": 55}}, T0) == 0
        # ... and only for the record written to: the other lead's ledger is empty.
        assert conn.execute(sa.select(ledger.c.record_id)).scalars().all() == [
            conn.execute(
                sa.select(crm_records.c.id).where(crm_records.c.external_id == "1")
            ).scalar_one()
        ]


def test_rejections_back_off_doubling_and_keep_what_the_crm_said(store: Store) -> None:
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        pid = _person(conn, lead)
        queue_writes(conn, {pid: {"score": 40}}, T0)
        now = T0
        for attempt in range(1, 4):
            (due,) = due_writes(conn, "sf", now, 10)
            error = None if attempt == 2 else REFUSED  # a CRM that gave no reason
            record_outcomes(
                conn, [due], [WriteOutcome(due.ref, False, error)], now, max_attempts=9,
                backoff=BACKOFF,
            )  # fmt: skip
            row = conn.execute(sa.select(pending_writes)).one()
            assert row.attempts == attempt and row.updated_at == now
            assert row.next_attempt_at == now + BACKOFF * 2 ** (attempt - 1)
            if error is None:
                assert (row.error_code, row.error_message, row.error_fields) == (
                    "UNKNOWN",
                    "the CRM gave no reason",
                    [],
                )
            else:
                assert row.error_code == REFUSED.code and row.error_fields == ["Company"]
            assert due_writes(conn, "sf", row.next_attempt_at - timedelta(seconds=1), 10) == []
            now = row.next_attempt_at
        with pytest.raises(ValueError, match="1 outcomes for 2 writes"):
            record_outcomes(
                conn, [due, due], [WriteOutcome(due.ref, True)], now, max_attempts=9,
                backoff=BACKOFF,
            )  # fmt: skip


def test_counts_and_replay_per_connector(store: Store) -> None:
    """Per connector: waiting, retrying and parked writes counted apart; replaying one
    connector leaves the other's rejections (and fresh writes) alone."""
    refs = [RecordRef("sf", "Lead", str(i)) for i in range(4)] + [RecordRef("hs", "contact", "9")]
    with store.transaction() as conn:
        upsert_people(conn, [PersonRecord(r, f"p{i}@x.com", T0) for i, r in enumerate(refs)], T0)
        pids = [find_person(conn, f"p{i}@x.com") for i in range(len(refs))]
        queue_writes(conn, {pid: {"score": 40} for pid in pids if pid is not None}, T0)
        sf = due_writes(conn, "sf", T0, 10)
        hs = due_writes(conn, "hs", T0, 10)
        refused = [WriteOutcome(d.ref, False, REFUSED) for d in sf[:2] + hs]
        record_outcomes(conn, sf[:2] + hs, refused, T0, max_attempts=9, backoff=BACKOFF)
        later = T0 + timedelta(hours=1)
        again = [d for d in due_writes(conn, "sf", later, 10) if d.id == sf[1].id]
        record_outcomes(conn, again, refused[1:2], later, max_attempts=2, backoff=BACKOFF)
        assert pending_counts(conn) == {
            "sf": {"pending": 2, "retrying": 1, "parked": 1},
            "hs": {"pending": 0, "retrying": 1, "parked": 0},
        }
        replayed_at = T0 + timedelta(hours=2)
        assert replay_failed(conn, "sf", replayed_at) == 2
        stamps = conn.execute(
            sa.select(pending_writes.c.updated_at).where(pending_writes.c.source == "sf")
        ).scalars()
        assert sorted(stamps) == [T0, T0, replayed_at, replayed_at]
        assert pending_counts(conn)["sf"] == {"pending": 4, "retrying": 0, "parked": 0}
        assert {d.attempts for d in due_writes(conn, "sf", T0, 10)} == {0}
        assert pending_counts(conn)["hs"] == {"pending": 0, "retrying": 1, "parked": 0}
        assert replay_failed(conn, None, T0) == 1
        assert replay_failed(conn, None, T0) == 0


def test_a_value_cleared_to_none_is_written_like_any_other(store: Store) -> None:
    """``None`` (an output the model leaves empty) is a value: owed when the ledger does not
    hold it, and still owed if decided while a write without it was in flight."""
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        pid = _person(conn, lead)
        assert queue_writes(conn, {pid: {"team": None}}, T0) == 1
        sent = due_writes(conn, "sf", T0, 10)
        assert sent[0].values["team"] is None
        _confirm(conn, sent, T0)
        queue_writes(conn, {pid: {"team": "sales", "score": 40}}, T0)
        sent = due_writes(conn, "sf", T0, 10)
        queue_writes(conn, {pid: {"team": "sales", "score": 40, "owner": None}}, T0)
        _confirm(conn, sent, T0 + timedelta(minutes=1))
        (owed,) = due_writes(conn, "sf", T0 + timedelta(hours=1), 10)
    assert "owner" in owed.values and owed.values["owner"] is None


def test_a_write_settled_meanwhile_does_not_stop_the_others_settling(store: Store) -> None:
    """The outbox row of the first confirmed write was erased while it was in flight (a
    person forgotten): the writes after it in the same confirmation still settle."""
    with store.transaction() as conn:
        refs = [RecordRef("sf", "Lead", str(i)) for i in range(3)]
        upsert_people(conn, [PersonRecord(r, f"p{i}@x.com", T0) for i, r in enumerate(refs)], T0)
        pids = [find_person(conn, f"p{i}@x.com") for i in range(3)]
        queue_writes(conn, {pid: {"score": 40} for pid in pids if pid is not None}, T0)
        sent = due_writes(conn, "sf", T0, 10)
        conn.execute(sa.delete(pending_writes).where(pending_writes.c.id == sent[0].id))
        _confirm(conn, sent, T0)
        assert due_writes(conn, "sf", T0 + timedelta(hours=1), 10) == []


def test_a_retried_write_confirmed_with_newer_values_owed_starts_afresh(store: Store) -> None:
    lead = RecordRef("sf", "Lead", "1")
    with store.transaction() as conn:
        pid = _person(conn, lead)
        queue_writes(conn, {pid: {"score": 40}}, T0)
        (first,) = due_writes(conn, "sf", T0, 10)
        refused = [WriteOutcome(lead, False, REFUSED)]
        record_outcomes(conn, [first], refused, T0, max_attempts=9, backoff=BACKOFF)
        retry_at = T0 + BACKOFF
        sent = due_writes(conn, "sf", retry_at, 10)
        queue_writes(conn, {pid: {"score": 55}}, retry_at)
        _confirm(conn, sent, retry_at)
        row = conn.execute(sa.select(pending_writes)).one()
    assert row.values["score"] == 55
    assert (row.attempts, row.error_code, row.error_message) == (0, None, None)


def test_every_changed_record_is_queued_past_unchanged_ones(store: Store) -> None:
    """Among many people, those whose values did not change are skipped, not a stop: every
    changed record after them is still queued, and the count says how many were."""
    refs = [RecordRef("sf", "Lead", str(i)) for i in range(6)]
    with store.transaction() as conn:
        upsert_people(conn, [PersonRecord(r, f"p{i}@x.com", T0) for i, r in enumerate(refs)], T0)
        pids = [pid for i in range(6) if (pid := find_person(conn, f"p{i}@x.com")) is not None]
        queue_writes(conn, {pid: {"score": 40} for pid in pids[:3]}, T0)
        _confirm(conn, due_writes(conn, "sf", T0, 10)[:2], T0)  # the third stays owed
        decided = {pid: {"score": 40} for pid in pids} | {pids[2]: {"score": 55}}
        # unchanged, unchanged, merged into the owed write, new, new, new
        assert queue_writes(conn, decided, T0) == 4
        owed = {d.ref.external_id: d.values["score"] for d in due_writes(conn, "sf", T0, 10)}
    assert owed == {"2": 55, "3": 40, "4": 40, "5": 40}
