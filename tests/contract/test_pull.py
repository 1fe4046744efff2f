"""The contract's pulls, for every connector: everyone, since a cursor, resumed, activities."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Protocol

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.records import RecordRef, RecordUpdate
from tests.contract.drivers import Driver

#: Each example touches the live sandbox org: a few, the same ones every run.
EXAMPLES = settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    # ``crm`` is connected once per test, not per example: no example leaves state in it
    # that another relies on.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
POOL = 5

_titles = itertools.count()
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def floor(moment: datetime, precision: timedelta) -> datetime:
    """``moment`` cut down to a multiple of ``precision``: what a filter that coarse reads."""
    return EPOCH + (moment - EPOCH) // precision * precision


@pytest.fixture(scope="module")
def pool(org: Driver) -> list[RecordRef]:
    """People this module changes, created once per CRM."""
    return [org.new_person(f"pull-pool-{n}@example.com") for n in range(POOL)]


@pytest.fixture(scope="module")
def meetings(org: Driver) -> dict[str, datetime]:
    """Meetings this module logged in ``org``, by title, with the stamp the CRM gave each."""
    return {}


def test_full_pull_returns_every_person_once_deletions_included(crm: Driver) -> None:
    crm.new_person("full-live@example.com")
    crm.delete(crm.new_person("full-gone@example.com"))
    pulled = list(crm.connector.pull_people(None))
    refs = [p.ref for p in pulled]
    assert len(refs) == len(set(refs)), "a full pull yielded a person twice"
    held = {ref: state.deleted for ref, state in crm.people().items()}
    assert {p.ref: p.deleted for p in pulled} == held


@EXAMPLES
@given(
    changes=st.lists(st.integers(0, POOL), min_size=1, max_size=6),
    data=st.data(),
)
def test_pull_since_a_cursor_returns_the_changed_people_and_those_stamped_at_it(
    crm: Driver, pool: list[RecordRef], changes: list[int], data: st.DataObject
) -> None:
    """``POOL`` among the changes stands for a person created and deleted there."""
    touched, stamps = [], []
    for i in changes:
        if i < POOL:
            touched.append(pool[i])
            stamps.append(crm.change(pool[i]))
        else:
            touched.append(crm.new_person(f"pull-gone-{next(_titles)}@example.com"))
            crm.delete(touched[-1])
            stamps.append(crm.people()[touched[-1]].modified)
    at = data.draw(st.integers(0, len(changes) - 1), label="cursor at change")
    cursor = stamps[at]
    pulled = {}
    for person in crm.connector.pull_people(cursor):
        assert person.ref not in pulled, f"an incremental pull yielded {person.ref} twice"
        pulled[person.ref] = person
    assert touched[at] in pulled, "the record stamped at the cursor was skipped"
    held = crm.people().items()
    assert {ref for ref, state in held if state.modified >= cursor} <= set(pulled)
    earliest = floor(cursor, crm.cursor_precision)
    assert set(pulled) <= {ref for ref, state in held if state.modified >= earliest}
    for ref, state in held:
        if ref in pulled:
            assert pulled[ref].deleted == state.deleted, ref


class Pulled(Protocol):
    """A person or an activity: what a resumable pull yields."""

    @property
    def ref(self) -> RecordRef: ...


def _resumes_exactly_once(pull: Callable[..., Iterator[Pulled]]) -> None:
    """A full pull checkpoints; resumed from each checkpoint it yields exactly the rest."""
    checkpoints: list[tuple[str, int]] = []
    whole: list[RecordRef] = []

    def checkpoint(token: str) -> None:
        checkpoints.append((token, len(whole)))

    for record in pull(None, checkpoint=checkpoint):
        whole.append(record.ref)
    assert checkpoints, "a full pull of more than a page gave no checkpoint to resume from"
    # The first, a middle and the last: each resumed pull is a (large) pull of its own.
    chosen = sorted({0, len(checkpoints) // 2, len(checkpoints) - 1})
    for token, done in (checkpoints[i] for i in chosen):
        rest = [record.ref for record in pull(None, resume=token)]
        assert sorted(whole[:done] + rest) == sorted(whole), f"resumed from {token!r}"


def test_people_pull_resumes_from_each_checkpoint_with_the_rest_exactly_once(
    crm: Driver,
) -> None:
    _resumes_exactly_once(crm.connector.pull_people)


def test_activity_pull_resumes_from_each_checkpoint_with_the_rest_exactly_once(
    crm: Driver, pool: list[RecordRef]
) -> None:
    crm.log_meeting(pool[0], "Resume meeting")
    _resumes_exactly_once(crm.connector.pull_activities)


@EXAMPLES
@given(logged=st.lists(st.integers(0, POOL - 1), min_size=1, max_size=5), data=st.data())
def test_activity_pull_since_a_cursor_returns_the_activities_at_or_after_it(
    crm: Driver,
    pool: list[RecordRef],
    meetings: dict[str, datetime],
    logged: list[int],
    data: st.DataObject,
) -> None:
    people = {}
    stamps = []
    for i in logged:
        title = f"Contract meeting {next(_titles)}"
        meetings[title] = crm.log_meeting(pool[i], title)
        people[title] = pool[i]
        stamps.append(meetings[title])
    cursor = stamps[data.draw(st.integers(0, len(logged) - 1), label="cursor at meeting")]
    pulled = [a for a in crm.connector.pull_activities(cursor) if a.name in meetings]
    assert len({a.ref for a in pulled}) == len(pulled), "an activity was yielded twice"
    names = {a.name for a in pulled}
    assert {t for t, stamp in meetings.items() if stamp >= cursor} <= names
    earliest = floor(cursor, crm.cursor_precision)
    assert names <= {t for t, stamp in meetings.items() if stamp >= earliest}
    for activity in pulled:
        if activity.name in people:
            assert activity.person == people[activity.name]
            assert activity.kind == "meeting"


def test_full_activity_pull_after_a_full_people_pull_has_what_was_logged_in_between(
    crm: Driver, pool: list[RecordRef]
) -> None:
    """The order of a backfill: people first, then activities; a rep logs a meeting while
    the people are being stored."""
    for _ in crm.connector.pull_people(None):
        pass
    title = f"Meeting between pulls {next(_titles)}"
    crm.log_meeting(pool[0], title)
    names = {a.name for a in crm.connector.pull_activities(None)}
    assert title in names


def test_a_pull_skipping_own_writes_leaves_out_only_records_the_connector_changed_last(
    crm: Driver,
) -> None:
    """A record LeadSync wrote last is left out where the CRM can tell; one someone changed
    after LeadSync's write is not. A CRM that cannot tell returns both, and a pull that
    does not ask to skip always does."""
    written = crm.new_person(f"own-write-{next(_titles)}@example.com")
    edited = crm.new_person(f"own-then-edited-{next(_titles)}@example.com")
    since = min(crm.change(written), crm.change(edited))
    outcomes = crm.connector.write(
        [RecordUpdate(written, {"score": 41}), RecordUpdate(edited, {"score": 42})]
    )
    assert all(o.ok for o in outcomes), outcomes
    crm.change(edited)  # someone edits it after LeadSync's write

    skipping = {p.ref for p in crm.connector.pull_people(since, skip_own_writes=True)}
    everything = {p.ref for p in crm.connector.pull_people(since)}
    assert {written, edited} <= everything
    assert edited in skipping
    if crm.connector.capabilities.skips_own_writes:
        assert written not in skipping
    else:
        assert written in skipping
