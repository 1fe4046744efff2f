"""Properties and groups, owners, tasks with v4 associations, upsert by leadsync_key, lists."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.lists import ApiException as ListsApiException
from hubspot.crm.objects.tasks import (
    ApiException as TasksApiException,
)
from hubspot.crm.objects.tasks import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.properties import ApiException, PropertyCreate, PropertyGroupCreate

from sandboxes.hubspot import HubSpotSandbox, generate_portal
from tests.hubspot_sandbox.conftest import NOW


def test_output_properties_exist_in_their_group(client: HubSpot, sb: HubSpotSandbox) -> None:
    props = {p.name: p for p in client.crm.properties.core_api.get_all("contacts").results}
    assert props["leadsync_fit"].group_name == "leadsync"
    assert [o.value for o in props["leadsync_fit"].options] == ["good", "poor"]
    assert props["numemployees"].type == "enumeration"
    owner_values = {o.value for o in props["hubspot_owner_id"].options}
    assert owner_values == {o.id for o in sb.portal.owners.values() if not o.archived}


def test_create_group_and_property_201_then_409() -> None:
    with HubSpotSandbox(generate_portal(10, seed=1, with_output_properties=False, now=NOW)) as sb:
        client = HubSpot(access_token=sb.access_token, host=sb.url)
        api = client.crm.properties
        group, status, _ = api.groups_api.create_with_http_info(
            "contacts", PropertyGroupCreate(name="leadsync", label="LeadSync")
        )
        assert status == 201 and group.name == "leadsync"
        body = PropertyCreate(
            name="leadsync_fit",
            label="Fit",
            type="enumeration",
            field_type="select",
            group_name="leadsync",
            options=[{"label": "Good", "value": "good"}, {"label": "Poor", "value": "poor"}],
        )
        created, status, _ = api.core_api.create_with_http_info("contacts", body)
        assert status == 201 and created.options[0].value == "good"
        try:
            api.core_api.create("contacts", body)
        except ApiException as exc:
            assert exc.status == 409
        else:
            raise AssertionError("a duplicate property must be refused")


def test_owners_page_and_archived(client: HubSpot, sb: HubSpotSandbox) -> None:
    page = client.crm.owners.owners_api.get_page(limit=3)
    assert len(page.results) == 3 and page.paging.next.after
    archived = client.crm.owners.owners_api.get_page(archived=True).results
    assert archived and all(o.archived for o in archived)
    assert all(o.user_id is None for o in archived)


def _task(contact_id: str, owner_id: str, key: str) -> dict:
    return {
        "properties": {
            "hs_timestamp": "2025-03-02T09:00:00Z",
            "hs_task_subject": "Call the hand-raiser",
            "hs_task_body": "Requested a demo",
            "hs_task_status": "NOT_STARTED",
            "hs_task_priority": "HIGH",
            "hubspot_owner_id": owner_id,
            "leadsync_key": key,
        },
        "associations": [
            {
                "to": {"id": contact_id},
                "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 204}],
            }
        ],
    }


def test_task_with_association_and_v4_listing(client: HubSpot, sb: HubSpotSandbox) -> None:
    contact_id = sb.portal.contacts()[5]["id"]
    owner_id = next(o.id for o in sb.portal.owners.values() if not o.archived)
    task, status, _ = client.crm.objects.tasks.basic_api.create_with_http_info(
        SimplePublicObjectInputForCreate(**_task(contact_id, owner_id, "key-1"))
    )
    assert status == 201
    linked = client.crm.associations.v4.basic_api.get_page("contacts", contact_id, "tasks")
    assert task.id in {str(r.to_object_id) for r in linked.results}
    assert {t.type_id for r in linked.results for t in r.association_types} == {203}


def test_upsert_by_leadsync_key_does_not_duplicate(client: HubSpot, sb: HubSpotSandbox) -> None:
    contact_id = sb.portal.contacts()[6]["id"]
    owner_id = next(o.id for o in sb.portal.owners.values() if not o.archived)
    props = _task(contact_id, owner_id, "handoff-42")["properties"]
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[{"idProperty": "leadsync_key", "id": "handoff-42", "properties": props}]
    )
    first = client.crm.objects.tasks.batch_api.upsert(body)
    second = client.crm.objects.tasks.batch_api.upsert(body)
    assert first.results[0].id == second.results[0].id
    keyed = [t for t in sb.portal.live("tasks") if t.properties.get("leadsync_key") == "handoff-42"]
    assert len(keyed) == 1


def test_create_with_a_taken_key_is_refused_409_and_creates_nothing(
    client: HubSpot, sb: HubSpotSandbox
) -> None:
    """Like HubSpot: a batch create naming a unique value already held fails whole with 409
    CONFLICT, its message naming the first holder only; no input of the batch is created."""
    contact_id = sb.portal.contacts()[8]["id"]
    owner_id = next(o.id for o in sb.portal.owners.values() if not o.archived)
    held = client.crm.objects.tasks.basic_api.create(
        SimplePublicObjectInputForCreate(**_task(contact_id, owner_id, "taken-1"))
    )
    tasks_before = len(sb.portal.live("tasks"))
    body = BatchInputSimplePublicObjectBatchInputForCreate(
        inputs=[_task(contact_id, owner_id, "free-1"), _task(contact_id, owner_id, "taken-1")]
    )
    with pytest.raises(TasksApiException) as caught:
        client.crm.objects.tasks.batch_api.create(body)
    assert caught.value.status == 409
    error = json.loads(caught.value.body)
    assert error["category"] == "CONFLICT"
    assert error["message"] == f"Task already exists. Existing ID: {held.id}"
    assert len(sb.portal.live("tasks")) == tasks_before
    assert sb.portal.find_unique("tasks", "leadsync_key", "free-1") is None
    with pytest.raises(TasksApiException) as single:
        client.crm.objects.tasks.basic_api.create(
            SimplePublicObjectInputForCreate(**_task(contact_id, owner_id, "taken-1"))
        )
    assert single.value.status == 409


def test_archived_owner_is_not_a_valid_task_owner(client: HubSpot, sb: HubSpotSandbox) -> None:
    contact_id = sb.portal.contacts()[7]["id"]
    gone = next(o.id for o in sb.portal.owners.values() if o.archived)
    try:
        client.crm.objects.tasks.basic_api.create(
            SimplePublicObjectInputForCreate(**_task(contact_id, gone, "key-gone"))
        )
    except Exception as exc:
        assert getattr(exc, "status", None) == 400
    else:
        raise AssertionError("an archived owner must be refused")


def test_nurture_list_memberships(client: HubSpot, sb: HubSpotSandbox) -> None:
    ids = [c["id"] for c in sb.portal.contacts()][:3]
    answer = client.crm.lists.memberships_api.add("1", [*ids, "987654321"])
    assert sorted(answer.records_ids_added) == sorted(ids)
    assert answer.record_ids_missing == ["987654321"]
    fetched = client.crm.lists.lists_api.get_by_id("1")
    assert fetched.list.size >= 3 and fetched.list.processing_type == "MANUAL"
    try:
        client.crm.lists.memberships_api.add("2", ids)
    except ListsApiException as exc:
        assert exc.status == 400
    else:
        raise AssertionError("a DYNAMIC list refuses manual memberships")
