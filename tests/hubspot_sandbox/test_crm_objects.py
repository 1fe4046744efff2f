"""CRM v3 object endpoints through the official client: paging, reads, writes, validation."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)

from sandboxes.hubspot import HubSpotSandbox


def _error(exc: ApiException) -> dict:
    return json.loads(exc.body)


def test_list_pages_through_every_contact_once(client: HubSpot, sb: HubSpotSandbox) -> None:
    seen: list[str] = []
    after = None
    while True:
        page = client.crm.contacts.basic_api.get_page(limit=100, after=after, properties=["email"])
        seen += [r.id for r in page.results]
        if page.paging is None:
            break
        after = page.paging.next.after
    live = {c["id"] for c in sb.portal.contacts()}
    assert len(seen) == len(set(seen)) == len(live)
    assert set(seen) == live


def test_list_limit_above_100_is_refused(client: HubSpot) -> None:
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_page(limit=101)
    assert caught.value.status == 400
    assert _error(caught.value)["category"] == "VALIDATION_ERROR"


def test_read_by_id_and_by_email(client: HubSpot, sb: HubSpotSandbox) -> None:
    first = sb.portal.contacts()[0]
    by_id = client.crm.contacts.basic_api.get_by_id(
        first["id"], properties=["email", "numemployees"]
    )
    assert by_id.properties["email"] == first["properties"]["email"]
    by_email = client.crm.contacts.basic_api.get_by_id(
        first["properties"]["email"].upper(), id_property="email"
    )
    assert by_email.id == first["id"]
    assert set(by_email.properties) >= {"email", "firstname", "lastname", "createdate"}


def test_create_answers_201_and_duplicate_email_409(client: HubSpot) -> None:
    body = SimplePublicObjectInputForCreate(
        properties={"email": "new.person@create.example", "numemployees": "25-50"}
    )
    created, status, _ = client.crm.contacts.basic_api.create_with_http_info(body)
    assert status == 201
    assert created.properties["numemployees"] == "25-50"
    assert created.properties["hs_object_id"] == created.id
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.create(body)
    assert caught.value.status == 409
    assert f"Existing ID: {created.id}" in _error(caught.value)["message"]


@pytest.mark.parametrize(
    ("properties", "code"),
    [
        ({"no_such_property": "x"}, "PROPERTY_DOESNT_EXIST"),
        ({"numemployees": "1200"}, "INVALID_OPTION"),
        ({"lifecyclestage": "hot"}, "INVALID_OPTION"),
        ({"leadsync_score": "lots"}, "INVALID_INTEGER"),
        ({"leadsync_scored_at": "yesterday"}, "INVALID_DATE"),
        ({"hs_object_id": "5"}, "READ_ONLY_VALUE"),
    ],
)
def test_update_validation_errors(
    client: HubSpot, sb: HubSpotSandbox, properties: dict, code: str
) -> None:
    contact_id = sb.portal.contacts()[1]["id"]
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.update(
            contact_id, SimplePublicObjectInput(properties=properties)
        )
    body = _error(caught.value)
    assert caught.value.status == 400
    assert body["category"] == "VALIDATION_ERROR"
    assert body["errors"][0]["code"] == code
    assert code in body["message"]


def test_update_bumps_lastmodifieddate_and_normalises_datetimes(
    client: HubSpot, sb: HubSpotSandbox
) -> None:
    contact = sb.portal.contacts()[2]
    before = contact["properties"]["lastmodifieddate"]
    updated = client.crm.contacts.basic_api.update(
        contact["id"],
        SimplePublicObjectInput(
            properties={"leadsync_fit": "good", "leadsync_scored_at": "1735732800000"}
        ),
    )
    assert updated.properties["leadsync_scored_at"] == "2025-01-01T12:00:00.000Z"
    stored = sb.portal.get("contacts", contact["id"])
    assert stored is not None and stored.properties["lastmodifieddate"] > before


def test_archive_answers_204_then_not_found(client: HubSpot, sb: HubSpotSandbox) -> None:
    victim = sb.portal.insert("contacts", {"email": "to.archive@example.com"})
    _, status, _ = client.crm.contacts.basic_api.archive_with_http_info(str(victim.id))
    assert status == 204
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.basic_api.get_by_id(str(victim.id))
    assert caught.value.status == 404
    archived = client.crm.contacts.basic_api.get_by_id(str(victim.id), archived=True)
    assert archived.archived is True
