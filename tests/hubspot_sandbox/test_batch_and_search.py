"""Batch limits and 207 answers, and search paging, filters and the 10,000-result cap."""

from __future__ import annotations

import json

import pytest
from hubspot import HubSpot
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchReadInputSimplePublicObjectId,
    BatchResponseSimplePublicObjectWithErrors,
    PublicObjectSearchRequest,
)

from sandboxes.hubspot import HubSpotSandbox


def _ids(sb: HubSpotSandbox, n: int, skip: int = 0) -> list[str]:
    return [c["id"] for c in sb.portal.contacts()][skip : skip + n]


def test_batch_of_101_inputs_is_refused(client: HubSpot, sb: HubSpotSandbox) -> None:
    inputs = [{"id": i, "properties": {"leadsync_fit": "good"}} for i in _ids(sb, 101)]
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert caught.value.status == 400
    assert json.loads(caught.value.body)["category"] == "VALIDATION_ERROR"


def test_partial_batch_update_answers_207_with_errors(client: HubSpot, sb: HubSpotSandbox) -> None:
    ids = _ids(sb, 100)
    inputs = [{"id": i, "properties": {"leadsync_score": "42"}} for i in ids[:99]]
    inputs.append({"id": "999999999", "properties": {"leadsync_score": "42"}})
    answer, status, _ = client.crm.contacts.batch_api.update_with_http_info(
        BatchInputSimplePublicObjectBatchInput(inputs=inputs)
    )
    assert status == 207
    assert isinstance(answer, BatchResponseSimplePublicObjectWithErrors)
    assert len(answer.results) == 99 and answer.num_errors == 1
    assert answer.errors[0].category == "OBJECT_NOT_FOUND"
    assert answer.errors[0].context == {"ids": ["999999999"]}


def test_batch_property_error_refuses_the_whole_batch(client: HubSpot, sb: HubSpotSandbox) -> None:
    ids = _ids(sb, 2, skip=100)
    inputs = [
        {"id": ids[0], "properties": {"leadsync_fit": "good"}},
        {"id": ids[1], "properties": {"leadsync_fit": "excellent"}},
    ]
    with pytest.raises(ApiException) as caught:
        client.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=inputs))
    assert json.loads(caught.value.body)["errors"][0]["code"] == "INVALID_OPTION"
    assert sb.portal.get("contacts", ids[0]).properties.get("leadsync_fit", "") == ""


def test_batch_read_with_unknown_id_is_207(client: HubSpot, sb: HubSpotSandbox) -> None:
    body = BatchReadInputSimplePublicObjectId(
        inputs=[{"id": i} for i in [*_ids(sb, 3), "424242"]], properties=["email"]
    )
    answer, status, _ = client.crm.contacts.batch_api.read_with_http_info(body)
    assert status == 207 and len(answer.results) == 3
    assert answer.errors[0].context["ids"] == ["424242"]


def test_batch_upsert_by_email_creates_then_updates(client: HubSpot) -> None:
    body = BatchInputSimplePublicObjectBatchInputUpsert(
        inputs=[{"idProperty": "email", "id": "upsert.me@example.com", "properties": {}}]
    )
    first = client.crm.contacts.batch_api.upsert(body)
    second = client.crm.contacts.batch_api.upsert(body)
    assert first.results[0].new is True and second.results[0].new is False
    assert first.results[0].id == second.results[0].id


def _search(client: HubSpot, **kw: object) -> object:
    return client.crm.contacts.search_api.do_search(PublicObjectSearchRequest(**kw))


def test_search_pages_through_every_match(client: HubSpot, sb: HubSpotSandbox) -> None:
    groups = [{"filters": [{"propertyName": "lifecyclestage", "operator": "EQ", "value": "lead"}]}]
    expected = {
        c["id"] for c in sb.portal.contacts() if c["properties"].get("lifecyclestage") == "lead"
    }
    seen, after = [], 0
    while True:
        page = _search(
            client,
            filter_groups=groups,
            sorts=[{"propertyName": "createdate", "direction": "DESCENDING"}],
            properties=["createdate", "lifecyclestage"],
            limit=50,
            after=after,
        )
        assert page.total == len(expected)
        seen += page.results
        if page.paging is None:
            break
        after = page.paging.next.after
    assert {r.id for r in seen} == expected
    stamps = [r.properties["createdate"] for r in seen]
    assert stamps == sorted(stamps, reverse=True)


@pytest.mark.parametrize(
    ("filters", "check"),
    [
        (
            [{"propertyName": "numemployees", "operator": "IN", "values": ["1-5", "5-25"]}],
            lambda p: p.get("numemployees") in ("1-5", "5-25"),
        ),
        (
            [{"propertyName": "company", "operator": "NOT_HAS_PROPERTY"}],
            lambda p: not p.get("company"),
        ),
        (
            [{"propertyName": "lastmodifieddate", "operator": "GTE", "value": "1735689600000"}],
            lambda p: p["lastmodifieddate"] >= "2025-01-01",
        ),
        (
            [{"propertyName": "email", "operator": "CONTAINS_TOKEN", "value": "*@initech.example"}],
            lambda p: p["email"].endswith("@initech.example"),
        ),
    ],
)
def test_search_operators(client: HubSpot, filters: list, check: object) -> None:
    names = ["numemployees", "company", "lastmodifieddate", "email"]
    page = _search(client, filter_groups=[{"filters": filters}], properties=names, limit=200)
    assert page.total > 0
    assert all(check(r.properties) for r in page.results)  # type: ignore[operator]


def test_search_refuses_paging_past_10000(client: HubSpot) -> None:
    _search(client, limit=200, after=9_800)
    with pytest.raises(ApiException) as caught:
        _search(client, limit=200, after=9_801)
    assert caught.value.status == 400
    assert "10000" in json.loads(caught.value.body)["message"]


HAS_EMAIL = {"propertyName": "email", "operator": "HAS_PROPERTY"}


@pytest.mark.parametrize(
    "request_kw",
    [
        {"limit": 201},
        {
            "filter_groups": [{"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}]}]
            * 6
        },
        {
            "filter_groups": [
                {"filters": [{"propertyName": "email", "operator": "HAS_PROPERTY"}] * 7}
            ]
        },
        {"filter_groups": [{"filters": [{"propertyName": "nope", "operator": "HAS_PROPERTY"}]}]},
    ],
)
def test_search_limits(client: HubSpot, request_kw: dict) -> None:
    with pytest.raises(ApiException) as caught:
        _search(client, **request_kw)
    assert caught.value.status == 400
