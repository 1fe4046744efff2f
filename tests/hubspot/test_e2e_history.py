"""``read_activities`` against the HubSpot sandbox, through hubspot-api-client: the contacts'
whole history, with the refs a full pull gives, in the documented number of calls."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from math import ceil

import pytest

from connectors.hubspot import history
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from leadsync.errors import BudgetExhausted, FatalSyncError, RetriableSyncError
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from mappings import default_mapping_path
from sandboxes.hubspot import HubSpotSandbox, generate_portal
from sandboxes.hubspot.associations import READ_PAGE
from sandboxes.hubspot.schema import iso_instant

Key = tuple[RecordRef, str, datetime]
NOW = datetime(2025, 6, 1, 12, tzinfo=UTC)


class FakeTime:
    """The connector's pacer clock: sleeping moves it on, so pacing costs no wall time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="module")
def sandbox() -> Iterator[HubSpotSandbox]:
    portal = generate_portal(contacts=300, seed=19, now=NOW)
    with HubSpotSandbox(portal, port=0, rate_limit_per_10s=1_000_000) as sb:
        _seed_edge_cases(sb)
        yield sb


def _seed_edge_cases(sb: HubSpotSandbox) -> None:
    """An archived meeting, a busy contact with more meetings than one association answer
    holds, a submission typed in another case, and a quiet contact."""
    portal = sb.portal
    meetings = portal.live("meetings")
    portal.archive("meetings", meetings[0].id)
    busy = portal.live("contacts")[5]
    for n in range(READ_PAGE + 20):
        at = NOW - timedelta(hours=n + 1)
        portal.add_engagement(
            "meetings",
            busy.id,
            {"hs_timestamp": iso_instant(at), "hs_meeting_title": f"Sync {n}"},
            at=at,
        )
    typed = portal.live("contacts")[7]
    form = next(iter(portal.forms))
    portal.add_form_submission(
        form, {"email": typed.properties["email"].upper()}, at=NOW - timedelta(days=1)
    )
    portal.insert("contacts", {"email": "quiet@nothing.example", "firstname": "Quiet"})


@pytest.fixture
def connector(sandbox: HubSpotSandbox) -> Iterator[HubSpotConnector]:
    sandbox.inject({"kind": "clear"})
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=2
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


def _people(conn: HubSpotConnector) -> list[PersonRecord]:
    return [p for p in conn.pull_people(None) if not p.deleted]


def _keys(activities: Sequence[ActivityRecord]) -> set[Key]:
    return {(a.ref, a.kind, a.occurred_at) for a in activities}


def _expected(conn: HubSpotConnector, people: Sequence[PersonRecord]) -> set[Key]:
    refs = {p.ref for p in people}
    emails = {p.email.strip().lower() for p in people if p.email}
    return _keys(
        [
            a
            for a in conn.pull_activities(None)
            if not a.deleted
            and (
                a.person in refs or (a.person is None and (a.email or "").strip().lower() in emails)
            )
        ]
    )


def _fewest(sb: HubSpotSandbox, people: Sequence[PersonRecord]) -> int:
    """The documented cost: every form page once, one email-events and one participation
    call per person, one association read per 1,000 contacts (plus a page per 500 more
    associations of one contact) and one batch read per 100 engagements, per type."""
    portal = sb.portal
    forms = ceil(len(portal.forms) / 50) + sum(
        max(1, ceil(len(f.submissions) / 50)) for f in portal.forms.values()
    )
    ids = [int(p.ref.external_id) for p in people]
    calls = forms + 2 * len(people)
    for object_type in ("meetings", "calls"):
        linked = [portal.associated("contacts", i, object_type) for i in ids]
        pages = sum(max(0, ceil(len(found) / READ_PAGE) - 1) for found in linked)
        distinct = set().union(*linked)
        calls += ceil(len(ids) / history.ASSOCIATION_READ) + pages + ceil(len(distinct) / 100)
    return calls


def test_every_contact_read_by_id_equals_the_full_pull(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    people = _people(connector)
    expected = _expected(connector, people)
    sandbox.reset_stats()
    before = connector.usage().calls
    read = connector.read_activities(people)
    assert len({a.ref for a in read}) == len(read)
    assert _keys(read) == expected
    assert {a.kind for a in read} >= {"form_submission", "email_open", "meeting", "call"}
    assert sandbox.stats()["total"] == _fewest(sandbox, people)
    assert connector.usage().calls - before == sandbox.stats()["total"]


def test_some_contacts_get_exactly_theirs(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    people = _people(connector)
    busy = str(sandbox.portal.live("contacts")[5].id)
    some = people[::9] + [p for p in people if p.ref.external_id == busy]
    expected = _expected(connector, some)
    sandbox.reset_stats()
    read = connector.read_activities(some)
    calls = sandbox.stats()["total"]
    assert _keys(read) == expected
    meetings = [a for a in read if a.kind == "meeting" and a.person.external_id == busy]
    assert len(meetings) > READ_PAGE  # a second page of the busy contact's associations
    assert calls == _fewest(sandbox, some)


def test_archived_engagements_stay_out(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    archived = next(m for m in sandbox.portal.objects["meetings"].values() if m.archived)
    contact = next(iter(sandbox.portal.associations.get(("meetings", archived.id, "contacts"))))
    [person] = connector.read_people([RecordRef("hubspot", "contact", str(contact))])
    read = connector.read_activities([person])
    assert not [a for a in read if a.ref.external_id.startswith(f"{archived.id}:")]


def test_a_submission_typed_in_another_case_keeps_the_pulls_ref(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    typed = sandbox.portal.live("contacts")[7]
    [person] = connector.read_people([RecordRef("hubspot", "contact", str(typed.id))])
    forms = {a.ref for a in connector.read_activities([person]) if a.kind == "form_submission"}
    upper = typed.properties["email"].upper()
    assert any(ref.external_id.endswith(f":{upper}") for ref in forms)
    pulled = {a.ref for a in connector.pull_activities(None) if a.kind == "form_submission"}
    assert forms <= pulled


def test_a_contact_with_no_activities_gets_nothing(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    quiet = sandbox.portal.find_unique("contacts", "email", "quiet@nothing.example")
    assert quiet is not None
    [person] = connector.read_people([RecordRef("hubspot", "contact", str(quiet.id))])
    sandbox.reset_stats()
    assert connector.read_activities([person]) == []
    assert sandbox.stats()["total"] == _fewest(sandbox, [person])
    sandbox.reset_stats()
    assert connector.read_activities([]) == []
    assert sandbox.stats()["total"] == 0


def test_associations_of_more_contacts_than_one_read_takes(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    """Over 1,000 contacts (the documented batch-read cap the sandbox enforces): two reads."""
    portal = sandbox.portal
    ids = [str(c.id) for c in portal.live("contacts")]
    asked = ids + [str(9_000_000 + n) for n in range(history.ASSOCIATION_READ + 1 - len(ids))]
    sandbox.reset_stats()
    found = history.associated(connector.client, "calls", asked)
    expected: dict[str, list[str]] = {}
    for contact in ids:
        for call in portal.associated("contacts", int(contact), "calls"):
            expected.setdefault(str(call), []).append(contact)
    assert {k: sorted(v) for k, v in found.items()} == {k: sorted(v) for k, v in expected.items()}
    assert sandbox.stats()["by_endpoint"] == {
        "POST /crm/v4/associations/{fromObjectType}/calls/batch/read": 2
    }


def test_the_sandbox_refuses_an_association_read_over_1000(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    with pytest.raises(FatalSyncError) as caught:
        connector.client.call(
            "associations.read",
            "crm.associations.v4.batch_api",
            "get_page",
            "contacts",
            "calls",
            {"inputs": [{"id": str(n)} for n in range(history.ASSOCIATION_READ + 1)]},
        )
    assert caught.value.status == 400


@pytest.mark.parametrize("status", [500, 503])
def test_server_errors_raise_the_retriable_error_once_retries_are_spent(
    sandbox: HubSpotSandbox, connector: HubSpotConnector, status: int
) -> None:
    people = _people(connector)[:20]
    sandbox.inject({"kind": "http_error", "status": status, "count": 3})
    with pytest.raises(RetriableSyncError) as caught:
        connector.read_activities(people)
    assert caught.value.status == status
    sandbox.inject({"kind": "clear"})
    sandbox.inject({"kind": "http_error", "status": status, "count": 2})
    assert _keys(connector.read_activities(people)) == _expected(connector, people)


def test_a_burst_429_is_waited_out_and_the_daily_one_stops_the_read(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    people = _people(connector)[:20]
    sandbox.inject({"kind": "rate_limit", "count": 3})
    assert _keys(connector.read_activities(people)) == _expected(connector, people)
    sandbox.inject({"kind": "rate_limit", "policy": "DAILY", "count": 1})
    with pytest.raises(BudgetExhausted):
        connector.read_activities(people)


def test_find_people_by_address_in_batch_reads_of_100(
    sandbox: HubSpotSandbox, connector: HubSpotConnector
) -> None:
    people = _people(connector)
    wanted = sorted({p.email for p in people if p.email})[:150]
    sandbox.reset_stats()
    found = connector.find_people([w.upper() for w in wanted] + ["nobody@nowhere.example"])
    assert {p.ref for p in found} == {p.ref for p in people if p.email in set(wanted)}
    assert sandbox.stats()["total"] == ceil((len(wanted) + 1) / 100)
