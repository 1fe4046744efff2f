"""List membership, status-only owner changes and refused batches against the HubSpot sandbox.

Everything goes through the real ``hubspot-api-client`` over HTTP; call counts are the
connector's own (one per HTTP request).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest

import sandboxes.hubspot as sandbox_pkg
from connectors.hubspot.connector import HubSpotConnector
from connectors.hubspot.mapping import load_mapping
from connectors.hubspot.settings import HubSpotSettings
from connectors.hubspot.write import SPLIT_CALLS
from leadsync.records import Enrolment, OwnerChange, RecordRef, RecordUpdate, WriteOutcome
from mappings import default_mapping_path


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Any]:
    portal = sandbox_pkg.generate_portal(contacts=400, seed=3)
    with sandbox_pkg.HubSpotSandbox(portal, port=0, rate_limit_per_10s=100_000) as sb:
        yield sb


@pytest.fixture
def connector(sandbox: Any) -> Iterator[HubSpotConnector]:
    settings = HubSpotSettings(
        base_url=sandbox.url, access_token=sandbox.access_token, api_reserve=0, max_retries=2
    )
    conn = HubSpotConnector(
        "hubspot", settings, load_mapping(default_mapping_path("hubspot")), sleep=lambda _s: None
    )
    yield conn
    conn.close()


def _ids(sandbox: Any, n: int, offset: int = 0) -> list[str]:
    return [str(o.id) for o in sandbox.portal.live("contacts")][offset : offset + n]


def _ref(oid: str) -> RecordRef:
    return RecordRef("hubspot", "contact", oid)


def _members(sandbox: Any, list_id: str) -> set[str]:
    return {str(i) for i in sandbox.portal.lists[list_id].members}


def _calls(conn: HubSpotConnector, endpoint: str) -> int:
    return conn.usage().calls_by_endpoint.get(endpoint, 0)


def test_generated_portal_has_a_nurture_list_and_owner(sandbox: Any) -> None:
    portal = sandbox.portal
    assert portal.lists[portal.nurture_list_id].processing_type == "MANUAL"
    owner = portal.owners[portal.nurture_owner_id]
    assert (owner.first_name, owner.last_name, owner.archived) == ("Nina", "Nurture", False)


def test_enrol_adds_and_removes_idempotently_one_call_per_list(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    nurture = sandbox.portal.nurture_list_id
    ids = _ids(sandbox, 150)
    adds = [Enrolment(_ref(i), nurture) for i in ids]
    outcomes = connector.enrol(adds)
    assert all(o.ok for o in outcomes) and set(ids) <= _members(sandbox, nurture)
    assert _calls(connector, "lists.memberships.add") == 1

    # Already members: still ok, still one call.
    assert all(o.ok for o in connector.enrol(adds[:10]))
    assert _calls(connector, "lists.memberships.add") == 2

    removes = [Enrolment(_ref(i), nurture, remove=True) for i in ids[:100]]
    outside = _ids(sandbox, 1, offset=300)
    removes.append(Enrolment(_ref(outside[0]), nurture, remove=True))
    assert all(o.ok for o in connector.enrol(removes))
    assert _members(sandbox, nurture) & set(ids) == set(ids[100:])
    assert _calls(connector, "lists.memberships.remove") == 1


def test_enrol_keeps_hubspots_errors_per_enrolment(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    nurture = sandbox.portal.nurture_list_id
    (oid,) = _ids(sandbox, 1, offset=200)
    outcomes = connector.enrol(
        [
            Enrolment(_ref(oid), "987654"),
            Enrolment(_ref(oid), "2"),  # "All MQLs" is DYNAMIC: HubSpot manages its members
            Enrolment(_ref("99999999"), nurture),
            Enrolment(RecordRef("hubspot", "company", "5"), nurture),
            Enrolment(_ref(oid), nurture),
        ]
    )
    errors = [o.error for o in outcomes]
    assert [o.ok for o in outcomes] == [False, False, False, False, True]
    assert errors[0] is not None and errors[0].code == "OBJECT_NOT_FOUND"
    assert errors[0].message == "List 987654 does not exist"
    assert errors[1] is not None and errors[1].code == "VALIDATION_ERROR"
    assert "DYNAMIC" in errors[1].message
    assert errors[2] is not None and errors[2].code == "OBJECT_NOT_FOUND"
    assert "recordIdsMissing" in errors[2].message
    assert errors[3] is not None and errors[3].code == "LEADSYNC_BAD_MEMBER"
    assert oid in _members(sandbox, nurture)


def test_sandbox_refuses_more_ids_than_one_request_may_carry(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    api = connector.client.api("crm.lists.memberships_api")
    too_many = [str(i) for i in range(100_001)]
    with pytest.raises(Exception) as caught:
        api.add(sandbox.portal.nurture_list_id, too_many)
    assert getattr(caught.value, "status", None) == 400


def test_status_only_reassign_keeps_the_owner(sandbox: Any, connector: HubSpotConnector) -> None:
    oid = next(
        str(o.id)
        for o in sandbox.portal.live("contacts")[210:]
        if o.properties.get("hubspot_owner_id")
    )
    before = sandbox.portal.get("contacts", oid).properties["hubspot_owner_id"]
    (outcome,) = connector.reassign([OwnerChange(_ref(oid), None, "IN_PROGRESS")])
    assert outcome.ok, outcome.error
    after = sandbox.portal.get("contacts", oid).properties
    assert after.get("hs_lead_status") == "IN_PROGRESS"
    assert after.get("hubspot_owner_id") == before


def _updates(ids: list[str], bad: set[int]) -> list[RecordUpdate]:
    return [
        RecordUpdate(_ref(oid), {"fit": "not-an-option" if n in bad else "good", "score": n})
        for n, oid in enumerate(ids)
    ]


def _bad_value_errors(outcomes: list[WriteOutcome]) -> set[int]:
    return {
        n
        for n, o in enumerate(outcomes)
        if not o.ok and o.error is not None and o.error.code == "VALIDATION_ERROR"
    }


def test_a_refused_batch_is_split_until_the_bad_records_stand_alone(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    ids = _ids(sandbox, 100, offset=220)
    bad = {37, 81}
    before = _calls(connector, "contacts.batch_update")

    outcomes = connector.write(_updates(ids, bad))

    calls = _calls(connector, "contacts.batch_update") - before
    assert _bad_value_errors(outcomes) == bad
    assert all(o.ok for n, o in enumerate(outcomes) if n not in bad)
    error = outcomes[37].error
    assert error is not None and error.fields == ("leadsync_fit",)
    assert "not-an-option was not one of the allowed options" in error.message
    # The refused 100, then 2 calls per split: 100 -> 50+50, and each half holding a bad record
    # halves down to it (50 -> 25 -> 12/13 -> 6/7 -> 3/4 -> 1/2 -> 1): 11 splits in all.
    assert calls == 23
    assert calls <= 1 + 2 * len(bad) * math.ceil(math.log2(100))
    written = sandbox.portal.get("contacts", ids[36]).properties
    assert written.get("leadsync_fit") == "good"


def test_splitting_stops_at_its_budget_and_leaves_the_rest_retriable(
    sandbox: Any, connector: HubSpotConnector
) -> None:
    ids = _ids(sandbox, 100, offset=100)
    bad = set(range(3, 100, 9))  # 11 bad records spread over the batch
    pending = _updates(ids, bad)
    before = _calls(connector, "contacts.batch_update")

    outcomes = connector.write(pending)

    assert _calls(connector, "contacts.batch_update") - before <= 1 + SPLIT_CALLS
    refused = [o for o in outcomes if o.error is not None and o.error.code == "BATCH_REFUSED"]
    assert refused and all(o.error is not None and o.error.retriable for o in refused)
    assert _bad_value_errors(outcomes) <= bad
    assert any(o.ok for o in outcomes)
    # What the engine does: retry the retriable ones next cycle; it converges on the bad ones.
    by_ref = {u.ref: u for u in pending}
    for _ in range(5):
        retry = [by_ref[o.ref] for o in outcomes if o.error is not None and o.error.retriable]
        if not retry:
            break
        outcomes = connector.write(retry)
    assert not any(o.error is not None and o.error.retriable for o in outcomes)
    for n, oid in enumerate(ids):
        fit = sandbox.portal.get("contacts", oid).properties.get("leadsync_fit")
        assert (fit == "good") == (n not in bad)
