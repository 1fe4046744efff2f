"""Request shapes for campaign membership, status-only owner changes and the owner list."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

import responses
from responses import matchers

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.write import owner_change_fields
from leadsync.records import Enrolment, OwnerChange, RecordError, RecordRef

from .conftest import API

NO_ASSIGN = matchers.header_matcher({"Sforce-Auto-Assign": "FALSE"})
CAMPAIGN = "7015g000000AbCdAAK"
OTHER = "7015g000000XyZ1AAK"


def _lead(n: int) -> RecordRef:
    # 18-character ids differ in their first 15 characters; the last 3 are a checksum.
    return RecordRef("salesforce", "Lead", f"00Q5g{n:010d}AAA")


def _contact(n: int) -> RecordRef:
    return RecordRef("salesforce", "Contact", f"0035g{n:010d}AAA")


def _body(call: responses.Call) -> Any:
    return json.loads(call.request.body or b"null")


def _query(call: responses.Call) -> dict[str, list[str]]:
    return parse_qs(urlsplit(call.request.url or "").query)


def test_enrol_inserts_campaign_members_and_treats_duplicates_as_done(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    duplicate = {
        "success": False,
        "errors": [{"statusCode": "DUPLICATE_VALUE", "message": "Already a campaign member."}],
    }
    unknown = {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_CROSS_REFERENCE_KEY",
                "message": "invalid cross reference id",
                "fields": ["CampaignId"],
            }
        ],
    }
    rsps.add(
        responses.POST,
        f"{API}/composite/sobjects",
        match=[NO_ASSIGN],
        json=[{"id": "00v1", "success": True, "errors": []}, duplicate, unknown],
    )
    outcomes = connector.enrol(
        [
            Enrolment(_lead(1), CAMPAIGN, status="Sent"),
            Enrolment(_contact(2), CAMPAIGN),
            Enrolment(_lead(3), OTHER),
            Enrolment(RecordRef("salesforce", "Account", "0015g000000AbCdAAK"), CAMPAIGN),
            Enrolment(_lead(4), "not-an-id"),
        ]
    )

    (call,) = [
        c for c in rsps.calls if c.request.method == "POST" and "composite" in (c.request.url or "")
    ]
    assert _body(call) == {
        "allOrNone": False,
        "records": [
            {
                "attributes": {"type": "CampaignMember"},
                "CampaignId": CAMPAIGN,
                "LeadId": _lead(1).external_id,
                "Status": "Sent",
            },
            {
                "attributes": {"type": "CampaignMember"},
                "CampaignId": CAMPAIGN,
                "ContactId": _contact(2).external_id,
            },
            {
                "attributes": {"type": "CampaignMember"},
                "CampaignId": OTHER,
                "LeadId": _lead(3).external_id,
            },
        ],
    }
    assert [o.ok for o in outcomes] == [True, True, False, False, False]
    assert outcomes[0].created_id == "00v1"
    codes = [o.error.code if o.error else None for o in outcomes]
    assert codes[2:] == ["INVALID_CROSS_REFERENCE_KEY", "LEADSYNC_BAD_MEMBER", "MALFORMED_ID"]
    assert outcomes[2].error is not None and outcomes[2].error.fields == ("CampaignId",)


def test_unenrol_queries_quoted_ids_and_deletes_members_in_one_call(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    members = [
        # Asked for: lead 1 in CAMPAIGN (the org answers 18-character ids).
        {"Id": "00v000000000001AAA", "CampaignId": CAMPAIGN, "LeadId": _lead(1).external_id},
        # Matches the IN x IN query but nobody asked to take lead 2 out of CAMPAIGN.
        {"Id": "00v000000000002AAA", "CampaignId": CAMPAIGN, "LeadId": _lead(2).external_id},
        {"Id": "00v000000000003AAA", "CampaignId": OTHER, "LeadId": _lead(2).external_id},
    ]
    rsps.add(
        responses.GET,
        f"{API}/query/",
        json={"totalSize": 3, "done": True, "records": members},
    )
    rsps.add(
        responses.DELETE,
        f"{API}/composite/sobjects",
        match=[NO_ASSIGN],
        json=[
            {"id": "00v000000000001AAA", "success": True, "errors": []},
            {
                "success": False,
                "errors": [{"statusCode": "ENTITY_IS_DELETED", "message": "entity is deleted"}],
            },
        ],
    )
    outcomes = connector.enrol(
        [
            Enrolment(_lead(1), CAMPAIGN, remove=True),
            Enrolment(_lead(2), OTHER, remove=True),
            Enrolment(_lead(5), CAMPAIGN, remove=True),
            Enrolment(_contact(9), "701' OR Id != '", remove=True),
        ]
    )

    queries = [_query(c)["q"][0] for c in rsps.calls if "/query" in (c.request.url or "")]
    # One query for the chunk's Leads; the contact's campaign id is not an id, so it is
    # refused before any call and never reaches a query.
    assert queries == [
        f"SELECT Id, CampaignId, LeadId FROM CampaignMember WHERE CampaignId IN "
        f"('{CAMPAIGN}', '{OTHER}') AND LeadId IN ('{_lead(1).external_id}', "
        f"'{_lead(2).external_id}', '{_lead(5).external_id}')"
    ]
    (delete,) = [c for c in rsps.calls if c.request.method == "DELETE"]
    assert _query(delete) == {
        "ids": ["00v000000000001AAA,00v000000000003AAA"],
        "allOrNone": ["false"],
    }
    assert [o.ok for o in outcomes] == [True, True, True, False]
    assert outcomes[3].error is not None and outcomes[3].error.code == "MALFORMED_ID"


def test_status_only_reassign_sends_no_owner(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        match=[NO_ASSIGN],
        json=[{"success": True, "errors": []}] * 3,
    )
    outcomes = connector.reassign(
        [
            OwnerChange(_lead(1), None, "Nurture"),
            OwnerChange(_lead(2), "00G5g000000QuEuAAK", "Nurture"),
            OwnerChange(_contact(3), None, "Nurture"),
        ]
    )
    # One chunk per object in a Collections call: the order is by type, then as given.
    records = sorted(
        _body(rsps.calls[-1])["records"], key=lambda r: (r["attributes"]["type"] != "Lead", r["id"])
    )
    assert records == [
        {"attributes": {"type": "Lead"}, "id": _lead(1).external_id, "Status": "Nurture"},
        {
            "attributes": {"type": "Lead"},
            "id": _lead(2).external_id,
            "OwnerId": "00G5g000000QuEuAAK",
            "Status": "Nurture",
        },
        # The shipped mapping keeps a contact's status in Contact_Status__c (issue 22 #5).
        {
            "attributes": {"type": "Contact"},
            "id": _contact(3).external_id,
            "Contact_Status__c": "Nurture",
        },
    ]
    assert [o.ok for o in outcomes] == [True, True, True]
    # A mapping that gives Contact no status field: a status-only change has no target.
    contact = connector.mapping.objects["Contact"].model_copy(update={"status": None})
    mapping = connector.mapping.model_copy(
        update={"objects": {**connector.mapping.objects, "Contact": contact}}
    )
    refused = owner_change_fields(OwnerChange(_contact(3), None, "Nurture"), mapping)
    assert isinstance(refused, RecordError) and refused.code == "LEADSYNC_NOTHING_TO_CHANGE"


def test_users_asks_for_standard_users_and_lead_queues(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(
        responses.GET,
        f"{API}/query/",
        json={
            "totalSize": 1,
            "done": True,
            "records": [{"Id": "0051", "Name": "Ann Rep", "Email": "a@x.com", "IsActive": True}],
        },
    )
    rsps.add(
        responses.GET,
        f"{API}/query/",
        json={
            "totalSize": 1,
            "done": True,
            "records": [
                {
                    "QueueId": "00G1",
                    "Queue": {"attributes": {"type": "Group"}, "Name": "Nurture", "Email": None},
                }
            ],
        },
    )
    users = connector.users()
    queries = [_query(c)["q"][0] for c in rsps.calls if "/query" in (c.request.url or "")]
    assert queries == [
        "SELECT Id, Name, Email, IsActive, ManagerId FROM User WHERE UserType = 'Standard' "
        "ORDER BY Id",
        "SELECT QueueId, Queue.Name, Queue.Email FROM QueueSobject WHERE SobjectType = 'Lead' "
        "ORDER BY QueueId",
    ]
    assert [(u.id, u.name, u.is_queue) for u in users] == [
        ("0051", "Ann Rep", False),
        ("00G1", "Nurture", True),
    ]
