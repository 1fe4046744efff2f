"""The contract's writes, for every connector: values, rejections, tasks, owners, nurture."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.records import Enrolment, OwnerChange, RecordRef, RecordUpdate, TaskRequest
from tests.contract.drivers import Driver, TaskState

EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    # ``crm`` is connected once per test, not per example: no example leaves state in it
    # that another relies on.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
POOL = 6
#: Text every CRM keeps as sent: a reason a model could write, within Salesforce's 255.
REASONS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9 ,.;:()+-]{0,120}[A-Za-z0-9)]", fullmatch=True)

_serial = itertools.count()


@pytest.fixture(scope="module")
def pool(org: Driver) -> list[RecordRef]:
    return [org.new_person(f"write-pool-{n}@example.com") for n in range(POOL)]


def _fresh(crm: Driver, what: str) -> RecordRef:
    return crm.new_person(f"{what}-{next(_serial)}@example.com")


@EXAMPLES
@given(
    values=st.dictionaries(
        st.integers(0, POOL - 1),
        st.tuples(st.integers(0, 99_999), REASONS),
        min_size=1,
        max_size=POOL,
    )
)
def test_written_values_are_read_back(
    crm: Driver, pool: list[RecordRef], values: dict[int, tuple[int, str]]
) -> None:
    updates = [
        RecordUpdate(pool[i], {"score": score, "reason": reason})
        for i, (score, reason) in values.items()
    ]
    outcomes = crm.connector.write(updates)
    assert [o.ref for o in outcomes] == [u.ref for u in updates]
    assert [o.error for o in outcomes if not o.ok] == []
    for i, (score, reason) in values.items():
        assert crm.output(pool[i], "score") == float(score)
        assert crm.output(pool[i], "reason") == reason


@EXAMPLES
@given(order=st.permutations(range(5)), score=st.integers(0, 99_999))
def test_a_refused_record_keeps_its_record_field_and_message_while_the_others_are_written(
    crm: Driver, order: list[int], score: int
) -> None:
    good = [_fresh(crm, "good"), _fresh(crm, "good")]
    refused = _fresh(crm, "refused")
    deleted = _fresh(crm, "deleted")
    crm.delete(deleted)
    by_slot = [
        RecordUpdate(good[0], {"score": score}),
        RecordUpdate(good[1], {"score": score + 1}),
        RecordUpdate(refused, {crm.refusal.output: crm.refusal.value}),
        RecordUpdate(deleted, {"score": score}),
        RecordUpdate(crm.absent, {"score": score}),
    ]
    updates = [by_slot[i] for i in order]
    outcomes = crm.connector.write(updates)
    assert [o.ref for o in outcomes] == [u.ref for u in updates]
    result = {o.ref: o for o in outcomes}
    assert result[good[0]].ok and result[good[1]].ok
    assert crm.output(good[0], "score") == float(score)
    assert crm.output(good[1], "score") == float(score + 1)
    for ref in (refused, deleted, crm.absent):
        error = result[ref].error
        assert not result[ref].ok and error is not None, f"{ref} was not refused"
        assert error.code and error.message, f"{ref}'s refusal lost the CRM's word: {error}"
    value_error = result[refused].error
    assert value_error is not None and crm.refusal.field in value_error.fields
    assert not value_error.retriable


def _task(key: str, person: RecordRef, owner: str) -> TaskRequest:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    return TaskRequest(key, person, owner, "Call this lead", "They asked for a demo", due, "High")


def test_task_upsert_is_idempotent_and_keeps_what_the_rep_did(crm: Driver) -> None:
    person = _fresh(crm, "task")
    key = f"contract-task-{next(_serial)}"
    task = _task(key, person, crm.owners.active)
    first = crm.connector.create_tasks([task])
    assert [o.ok for o in first] == [True], first
    assert crm.task(key) == [TaskState(person.external_id, crm.owners.active, False)]
    crm.complete_task(key)
    # A retry, and the same key twice in one call: still the one task, still completed.
    again = crm.connector.create_tasks([task, task])
    assert [o.ok for o in again] == [True, True], again
    assert crm.task(key) == [TaskState(person.external_id, crm.owners.active, True)]


def test_reassign_sets_the_owner_and_refuses_an_owner_the_crm_refuses(crm: Driver) -> None:
    person = _fresh(crm, "owner")
    (done,) = crm.connector.reassign([OwnerChange(person, crm.owners.active)])
    assert done.ok, done.error
    assert crm.owner_of(person) == crm.owners.active
    refused = crm.connector.reassign([OwnerChange(person, o) for o in crm.owners.refused])
    for owner, outcome in zip(crm.owners.refused, refused, strict=True):
        assert not outcome.ok and outcome.error is not None, f"owner {owner} was taken"
        assert outcome.ref == person
        assert crm.owners.field in outcome.error.fields, outcome.error
        assert outcome.error.message
    assert crm.owner_of(person) == crm.owners.active


def test_a_status_only_change_keeps_the_owner(crm: Driver) -> None:
    person = _fresh(crm, "status")
    crm.connector.reassign([OwnerChange(person, crm.owners.active)])
    (done,) = crm.connector.reassign([OwnerChange(person, None, crm.owners.status)])
    assert done.ok, done.error
    assert crm.status_of(person) == crm.owners.status
    assert crm.owner_of(person) == crm.owners.active


def test_enrol_joins_and_leaves_nurture_idempotently_per_capabilities(crm: Driver) -> None:
    assert crm.connector.capabilities.nurture == crm.nurture_kind
    person = _fresh(crm, "nurture")
    target = crm.nurture_target
    join = Enrolment(person, target)
    outcomes = crm.connector.enrol([join]) + crm.connector.enrol([join])
    assert [o.ok for o in outcomes] == [True, True], outcomes
    assert person.external_id in crm.members(target)
    leave = Enrolment(person, target, remove=True)
    outcomes = crm.connector.enrol([leave]) + crm.connector.enrol([leave])
    assert [o.ok for o in outcomes] == [True, True], outcomes
    assert person.external_id not in crm.members(target)


@EXAMPLES
@given(sizes=st.lists(st.integers(1, 3), min_size=1, max_size=3), score=st.integers(0, 99_999))
def test_write_pages_answers_each_page_in_order(
    crm: Driver, pool: list[RecordRef], sizes: list[int], score: int
) -> None:
    refs = iter(itertools.cycle(pool))
    pages = [
        [RecordUpdate(next(refs), {"score": score + n}) for n in range(size)] for size in sizes
    ]
    answered = list(crm.connector.write_pages(iter(pages)))
    assert [[o.ref for o in page] for page in answered] == [[u.ref for u in p] for p in pages]
    assert all(o.ok for page in answered for o in page), answered
    last = {u.ref: u.values["score"] for page in pages for u in page}
    for ref, value in last.items():
        assert crm.output(ref, "score") == float(value)
