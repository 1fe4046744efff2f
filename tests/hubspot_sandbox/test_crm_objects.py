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


def test_a_stage_date_is_stamped_on_first_entry_into_the_stage(client: HubSpot) -> None:
    # Standard in real portals: "Became a Customer Date" is set the first time the contact
    # becomes a customer and kept when it leaves and comes back.
    api = client.crm.contacts.basic_api
    made = api.create(
        SimplePublicObjectInputForCreate(
            properties={"email": "stage.dates@example.com", "lifecyclestage": "lead"}
        )
    )
    read = ["lifecyclestage", "hs_lifecyclestage_lead_date", "hs_lifecyclestage_customer_date"]
    first = api.get_by_id(made.id, properties=read).properties
    assert first["hs_lifecyclestage_lead_date"] and not first["hs_lifecyclestage_customer_date"]
    api.update(made.id, SimplePublicObjectInput(properties={"lifecyclestage": "customer"}))
    became = api.get_by_id(made.id, properties=read).properties["hs_lifecyclestage_customer_date"]
    assert became
    for stage in ("other", "customer"):
        api.update(made.id, SimplePublicObjectInput(properties={"lifecyclestage": stage}))
    again = api.get_by_id(made.id, properties=read).properties
    assert again["hs_lifecyclestage_customer_date"] == became
    assert again["hs_lifecyclestage_lead_date"] == first["hs_lifecyclestage_lead_date"]
    with pytest.raises(ApiException) as refused:
        api.update(
            made.id,
            SimplePublicObjectInput(properties={"hs_lifecyclestage_customer_date": "2020-01-01"}),
        )
    assert refused.value.status == 400
