"""End to end: the connector through the real hubspot-api-client against the HubSpot sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import AuthError
from leadsync.records import RecordRef, RecordUpdate, TaskRequest
from mappings import default_mapping_path

sandbox_pkg = pytest.importorskip(
    "connectors.hubspot.sandbox", reason="the HubSpot sandbox has not landed yet"
)


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
def connector(sandbox: Any) -> Iterator[HubSpotConnector]:
    sandbox.inject({"kind": "clear"})
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=3
    )
    time = FakeTime()
    conn = HubSpotConnector(
        "hubspot",
        settings,
        load_mapping(default_mapping_path("hubspot")),
        clock=time.clock,
        sleep=time.sleep,
    )
    yield conn
    conn.close()


def _contact_ids(sandbox: Any, n: int) -> list[str]:
    return [str(o.id) for o in sandbox.portal.live("contacts")][:n]


def test_fields_create_then_check_is_clean(connector: HubSpotConnector) -> None:
    connector.create_fields()
    assert connector.create_fields() == []
    problems = [p for p in connector.check() if p.field.startswith("leadsync")]
    assert problems == []


def test_full_and_incremental_pull(connector: HubSpotConnector) -> None:
    people = list(connector.pull_people(None))
    live = [p for p in people if not p.deleted]
    assert len(live) >= 600
    assert len({p.ref for p in people}) == len(people)
    newest = max(p.modified_at for p in live)
    recent = list(connector.pull_people(newest - timedelta(days=1)))
    assert {p.ref for p in recent if not p.deleted} <= {p.ref for p in live}
    assert connector.usage().calls_by_endpoint.get("contacts.search", 0) >= 1


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


def test_429_storm_is_paced(sandbox: Any, connector: HubSpotConnector) -> None:
    sandbox.inject({"kind": "rate_limit", "policy": "TEN_SECONDLY_ROLLING", "count": 4})
    people = list(connector.pull_people(datetime.now(UTC) - timedelta(days=3650)))
    assert people


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
