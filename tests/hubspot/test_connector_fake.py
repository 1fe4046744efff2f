"""The connector through the real hubspot-api-client against a small paging fake over HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import AuthError, BudgetExhausted, FatalSyncError, RetriableSyncError
from leadsync.records import RecordRef, RecordUpdate
from mappings import default_mapping_path
from tests.hubspot.fake import FakePortal, make_contacts, serve

START = datetime(2024, 3, 1, tzinfo=UTC)


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def portal() -> FakePortal:
    return FakePortal()


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def connector(portal: FakePortal, fake_time: FakeTime) -> Iterator[HubSpotConnector]:
    with serve(portal) as url:
        settings = HubSpotSettings(
            base_url=url,
            access_token=portal.token,
            max_retries=3,
            api_reserve=0,
            search_requests_per_second=1000.0,
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


def test_incremental_pull_continues_past_the_search_cap(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    # 10,450 contacts, pairs sharing a timestamp so the restart boundary needs de-duplication.
    portal.contacts = make_contacts(10_450, start=START, step_ms=0)
    for i, contact in enumerate(portal.contacts):
        moment = START + timedelta(seconds=i // 2)
        contact["properties"]["lastmodifieddate"] = moment.isoformat().replace("+00:00", "Z")
    people = list(connector.pull_people(START))
    ids = [p.ref.external_id for p in people]
    assert len(ids) == len(set(ids)) == 10_450
    assert [p.modified_at for p in people] == sorted(p.modified_at for p in people)
    assert people[0].attributes["employees"] == "25-50"
    assert people[0].email == "p0@example.com"
    searches = portal.calls["POST /crm/v3/objects/contacts/search"]
    assert searches == connector.usage().calls_by_endpoint["contacts.search"]
    assert searches <= 10_450 // 200 + 3  # one restart costs at most one extra page


def test_more_than_a_capped_window_at_one_instant_is_read_by_id(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.contacts = make_contacts(10_300, start=START, step_ms=0)
    people = list(connector.pull_people(START))
    assert len({p.ref.external_id for p in people}) == len(people) == 10_300


def test_full_pull_lists_and_reports_archived_as_deleted(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.contacts = make_contacts(250, start=START)
    gone = make_contacts(1, start=START)[0]
    portal.archived = [{**gone, "id": "9", "archived": True, "archivedAt": START.isoformat()}]
    people = list(connector.pull_people(None))
    assert len(people) == 251
    assert people[-1].deleted and people[-1].ref == RecordRef("hubspot", "contact", "9")
    assert portal.calls["GET /crm/v3/objects/contacts"] == 3 + 1


def test_write_batches_by_100_and_keeps_207_outcomes(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.reject = {"1005": 'Property values were not valid: "leadsync_fit" "great"'}
    updates = [
        RecordUpdate(RecordRef("hubspot", "contact", str(1000 + i)), {"fit": "good", "score": 70})
        for i in range(250)
    ]
    updates.append(RecordUpdate(RecordRef("hubspot", "contact", "1"), {"colour": "blue"}))
    outcomes = connector.write(updates)
    assert [o.ref for o in outcomes] == [u.ref for u in updates]
    assert len(portal.updates) == 3
    assert [len(b["inputs"]) for b in portal.updates] == [100, 100, 50]
    assert portal.updates[0]["inputs"][0]["properties"] == {
        "leadsync_fit": "good",
        "leadsync_score": "70",
    }
    bad = outcomes[5]
    assert not bad.ok and bad.error is not None
    assert bad.error.code == "VALIDATION_ERROR" and "leadsync_fit" in bad.error.message
    assert sum(o.ok for o in outcomes) == 249
    assert outcomes[-1].error is not None and outcomes[-1].error.code == "UNMAPPED_OUTPUT"


def test_429_storm_is_paced_not_failed(
    portal: FakePortal, connector: HubSpotConnector, fake_time: FakeTime
) -> None:
    portal.contacts = make_contacts(3, start=START)
    storm = {
        "status": "error",
        "message": "You have reached your ten_secondly_rolling limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "TEN_SECONDLY_ROLLING",
    }
    portal.script = [(429, storm, {})] * 5
    people = list(connector.pull_people(START))
    assert len(people) == 3
    assert fake_time.slept.count(10.0) == 5


def test_daily_limit_429_ends_the_cycle_as_budget_exhausted(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    daily = {
        "status": "error",
        "message": "daily limit",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
    }
    portal.script = [(429, daily, {})]
    with pytest.raises(BudgetExhausted):
        list(connector.pull_people(START))


def test_5xx_on_a_post_is_retried_with_backoff(
    portal: FakePortal, connector: HubSpotConnector, fake_time: FakeTime
) -> None:
    portal.contacts = make_contacts(2, start=START)
    portal.script = [(502, {"message": "bad gateway"}, {}), (503, {"message": "down"}, {})]
    assert len(list(connector.pull_people(START))) == 2
    assert fake_time.slept[:2] == [0.5, 1.0]


def test_5xx_beyond_the_retries_is_retriable(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.script = [(500, {"message": "boom"}, {})] * 10
    with pytest.raises(RetriableSyncError) as info:
        list(connector.pull_people(START))
    assert info.value.status == 500


def test_expired_token_stops_the_run_naming_access_token(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.token = "pat-rotated"
    with pytest.raises(AuthError) as info:
        list(connector.pull_people(START))
    assert "access_token" in str(info.value)
    assert "pat-test" not in str(info.value)


def test_undocumented_status_returning_none_is_an_error(
    portal: FakePortal, connector: HubSpotConnector
) -> None:
    portal.script = [(202, {"accepted": True}, {})]
    with pytest.raises(FatalSyncError, match="does not document"):
        list(connector.pull_people(START))


def test_unreachable_portal_is_retriable(fake_time: FakeTime) -> None:
    settings = HubSpotSettings(base_url="http://127.0.0.1:9", access_token="x", max_retries=1)
    conn = HubSpotConnector(
        "hubspot",
        settings,
        load_mapping(default_mapping_path("hubspot")),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
    )
    with pytest.raises(RetriableSyncError, match="connection"):
        list(conn.pull_people(START))
    conn.close()
