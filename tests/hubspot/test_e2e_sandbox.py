"""End to end: the connector through the real hubspot-api-client against the HubSpot sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import sandboxes.hubspot as sandbox_pkg
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import AuthError
from leadsync.records import RecordRef, RecordUpdate, TaskRequest
from mappings import default_mapping_path


class FakeTime:
    """Clock and sleep for the connector's pacer; the sandbox's own limits run on real time."""

    def __init__(self) -> None:
        self.slept: list[float] = []

    def clock(self) -> float:
        import time

        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        import time

        self.slept.append(seconds)
        time.sleep(min(seconds, 0.05))


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    portal = sandbox_pkg.generate_portal(contacts=600, seed=7)
    with sandbox_pkg.HubSpotSandbox(portal, port=0, tls=False, rate_limit_per_10s=100_000) as sb:
        yield sb


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def connector(sandbox: Any, fake_time: FakeTime) -> Iterator[HubSpotConnector]:
    sandbox.inject({"kind": "clear"})
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=3
    )
    conn = HubSpotConnector(
        "hubspot",
        settings,
        load_mapping(default_mapping_path("hubspot")),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    yield conn
    conn.close()


def _contact_ids(sandbox: Any, n: int) -> list[str]:
    return [str(o.id) for o in sandbox.portal.live("contacts")][:n]


def test_fields_create_then_check_is_clean(connector: HubSpotConnector) -> None:
    connector.create_fields()
    assert connector.create_fields() == []
    # The shipped mapping against the sandbox: standard properties included (a real portal has
    # hs_lifecyclestage_customer_date and associatedcompanyid).
    assert connector.check() == []


def test_full_and_incremental_pull(connector: HubSpotConnector) -> None:
    people = list(connector.pull_people(None))
    live = [p for p in people if not p.deleted]
    assert len(live) >= 600
    assert len({p.ref for p in people}) == len(people)
    newest = max(p.modified_at for p in live)
    recent = list(connector.pull_people(newest - timedelta(days=1)))
    assert {p.ref for p in recent if not p.deleted} <= {p.ref for p in live}
    assert connector.usage().calls_by_endpoint.get("contacts.search", 0) >= 1


def test_read_people_by_id_batches_100_and_leaves_out_gone_contacts(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    ids = _contact_ids(sandbox, 150)
    refs = [RecordRef("hubspot", "contact", oid) for oid in ids]
    gone = RecordRef("hubspot", "contact", "999999999")
    people = connector.read_people([*refs, gone, refs[0]])
    assert sorted(p.ref for p in people) == sorted(refs)
    by_ref = {p.ref: p for p in list(connector.pull_people(None))}
    assert all(p.email == by_ref[p.ref].email for p in people)
    # 151 distinct ids: two batch reads (the second answering 207 for the gone one), no search.
    calls = connector.usage().calls_by_endpoint
    assert calls["contacts.batch_read"] == 2
    assert connector.read_people([RecordRef("hubspot", "meeting", "1")]) == []


def test_write_keeps_per_record_rejections(sandbox: Any, connector: HubSpotConnector) -> None:
    connector.create_fields()
    ids = _contact_ids(sandbox, 150)
    sandbox.inject({"kind": "reject", "ids": [int(ids[3])], "count": 1})
    updates = [
        RecordUpdate(RecordRef("hubspot", "contact", oid), {"fit": "good", "score": 55})
        for oid in ids
    ]
    outcomes = connector.write(updates)
    assert [o.ref for o in outcomes] == [u.ref for u in updates]
    assert not outcomes[3].ok and outcomes[3].error is not None
    assert sum(o.ok for o in outcomes) == 149
    assert connector.usage().calls_by_endpoint["contacts.batch_update"] == 2


def test_tasks_are_not_duplicated_on_retry(sandbox: Any, connector: HubSpotConnector) -> None:
    connector.create_fields()
    (oid,) = _contact_ids(sandbox, 1)
    owner = connector.users()[0]
    task = TaskRequest(
        key="handoff-e2e-1",
        person=RecordRef("hubspot", "contact", oid),
        owner_id=owner.id,
        subject="New hand-raiser",
        body="Requested a demo",
        due_at=datetime.now(UTC) + timedelta(hours=4),
    )
    first = connector.create_tasks([task])
    second = connector.create_tasks([task])
    assert first[0].ok and second[0].ok, (first, second)
    assert first[0].created_id == second[0].created_id


def test_retried_task_leaves_the_reps_changes_alone(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    """A rep completes the hand-off task and edits it; the retried TaskRequest changes nothing."""
    connector.create_fields()
    (oid,) = _contact_ids(sandbox, 1)
    owners = connector.users()
    task = TaskRequest(
        key="handoff-e2e-completed",
        person=RecordRef("hubspot", "contact", oid),
        owner_id=owners[0].id,
        subject="New hand-raiser",
        body="Requested a demo",
        due_at=datetime.now(UTC) + timedelta(hours=4),
    )
    (first,) = connector.create_tasks([task])
    assert first.ok and first.created_id, first
    rep_edit = {
        "hs_task_status": "COMPLETED",
        "hs_task_subject": "Called, demo booked",
        "hubspot_owner_id": owners[1].id,
    }
    sandbox.portal.update("tasks", int(first.created_id), rep_edit)
    before = dict(connector.usage().calls_by_endpoint)

    (retry,) = connector.create_tasks([task])

    assert retry.ok and retry.created_id == first.created_id, retry
    keyed = [
        t
        for t in sandbox.portal.live("tasks")
        if t.properties.get("leadsync_key") == "handoff-e2e-completed"
    ]
    assert len(keyed) == 1
    assert {k: keyed[0].properties[k] for k in rep_edit} == rep_edit
    assert int(oid) in sandbox.portal.associated("tasks", keyed[0].id, "contacts")
    after = connector.usage().calls_by_endpoint
    retry_calls = {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)}
    # The create is refused 409 (the key is taken), one read finds the task by its key, and
    # the association is re-asserted; nothing is written to the task itself.
    assert retry_calls == {
        "tasks.batch_create": 1,
        "tasks.batch_read": 1,
        "associations.tasks.create": 1,
    }


def test_new_tasks_cost_one_call_and_a_gone_contact_fails_alone(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    connector.create_fields()
    ids = _contact_ids(sandbox, 3)
    owner = connector.users()[0]
    due = datetime.now(UTC) + timedelta(hours=4)
    tasks = [
        TaskRequest(
            key=f"handoff-e2e-batch-{i}",
            person=RecordRef("hubspot", "contact", oid),
            owner_id=owner.id,
            subject="New hand-raiser",
            body="Requested a demo",
            due_at=due,
        )
        for i, oid in enumerate(ids)
    ]
    before = dict(connector.usage().calls_by_endpoint)
    outcomes = connector.create_tasks(tasks[:2])
    assert all(o.ok and o.created_id for o in outcomes), outcomes
    after = connector.usage().calls_by_endpoint
    assert {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)} == {
        "tasks.batch_create": 1
    }
    for outcome, oid in zip(outcomes, ids[:2], strict=True):
        assert outcome.created_id is not None
        assert int(oid) in sandbox.portal.associated("tasks", int(outcome.created_id), "contacts")

    sandbox.portal.archive("contacts", int(ids[2]))
    gone = TaskRequest(
        key="handoff-e2e-batch-gone",
        person=RecordRef("hubspot", "contact", ids[2]),
        owner_id=owner.id,
        subject="New hand-raiser",
        body="Requested a demo",
        due_at=due,
    )
    fresh = TaskRequest(
        key="handoff-e2e-batch-fresh",
        person=RecordRef("hubspot", "contact", ids[0]),
        owner_id=owner.id,
        subject="New hand-raiser",
        body="Requested a demo",
        due_at=due,
    )
    mixed = connector.create_tasks([tasks[0], gone, fresh])
    assert [o.ref.external_id for o in mixed] == [t.key for t in (tasks[0], gone, fresh)]
    assert mixed[0].ok and mixed[0].created_id == outcomes[0].created_id
    assert not mixed[1].ok and mixed[1].error is not None
    assert "does not exist" in mixed[1].error.message
    assert mixed[2].ok and mixed[2].created_id


@pytest.mark.parametrize(
    ("retry_after", "expected_wait"),
    [(2.5, 2.5), (None, 10.0)],  # Retry-After honoured; else the 10-second policy's window
)
def test_429_storm_is_paced(
    sandbox: Any,
    connector: HubSpotConnector,
    fake_time: FakeTime,
    retry_after: float | None,
    expected_wait: float,
) -> None:
    storm: dict[str, Any] = {"kind": "rate_limit", "policy": "TEN_SECONDLY_ROLLING", "count": 4}
    if retry_after is not None:
        storm["retry_after"] = retry_after
    sandbox.inject(storm)
    people = list(connector.pull_people(datetime.now(UTC) - timedelta(days=3650)))
    # Every contact came back, the storm notwithstanding.
    live = {p.ref.external_id for p in people if not p.deleted}
    assert live == set(_contact_ids(sandbox, len(sandbox.portal.live("contacts"))))
    # Every 429 of the storm was waited out for as long as it asked, and nothing else waited
    # that long: the pacer never slept through a storm it was not in.
    assert [s for s in fake_time.slept if s >= 1.0] == [expected_wait] * 4


def test_expired_token_stops_with_a_clear_message(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    sandbox.inject({"kind": "expire_token"})
    try:
        with pytest.raises(AuthError, match="access_token"):
            list(connector.pull_people(None))
    finally:
        sandbox.inject({"kind": "clear"})


def test_activities_and_owners(connector: HubSpotConnector) -> None:
    kinds = {a.kind for a in connector.pull_activities(None)}
    assert kinds & {"form_submission", "email_open", "email_click"}
    users = connector.users()
    assert users and any(u.active for u in users)
