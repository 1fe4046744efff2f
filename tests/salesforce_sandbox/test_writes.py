"""Single-record and sObject Collections writes: validation, the assignment rule, all-or-none."""

from __future__ import annotations

from typing import Any

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from sandboxes.salesforce import SalesforceSandbox
from tests.salesforce_sandbox.conftest import Raw

NO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}


def open_leads(sandbox: SalesforceSandbox, n: int) -> list[dict[str, Any]]:
    rows = [
        r for r in sandbox.org.records("Lead") if not r["IsConverted"] and not r["Legal_Hold__c"]
    ]
    return rows[:n]


def queue(sandbox: SalesforceSandbox, developer: str) -> str:
    return next(g["Id"] for g in sandbox.org.records("Group") if g["DeveloperName"] == developer)


def test_create_update_delete_one(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    created = sf.Lead.create(
        {"LastName": "Ng", "Company": "Zed", "Email": "ng@zed.io"}, headers=NO_ASSIGN
    )
    assert created["success"] and created["id"].startswith("00Q") and created["errors"] == []
    assert sf.Lead.update(created["id"], {"Title": "CTO"}, headers=NO_ASSIGN) == 204
    row = sandbox.org.get("Lead", created["id"])
    assert row is not None and row["Title"] == "CTO" and row["Name"] == "Ng"
    assert row["SystemModstamp"] >= row["CreatedDate"]
    assert sf.Lead.delete(created["id"]) == 204
    with pytest.raises(Exception, match="ENTITY_IS_DELETED"):
        sf.Lead.update(created["id"], {"Title": "CEO"})


def test_assignment_rule_moves_owner_unless_header_is_false(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    lead, other = open_leads(sandbox, 2)
    sales_queue = queue(sandbox, "Sales_Queue")
    rep = next(
        u["Id"]
        for u in sandbox.org.records("User")
        if u["IsActive"] and u["Title"] == "Account Executive"
    )
    sf.Lead.update(lead["Id"], {"OwnerId": rep}, headers={"sforce-auto-assign": "false"})
    assert sandbox.org.get("Lead", lead["Id"])["OwnerId"] == rep  # type: ignore[index]
    sf.Lead.update(lead["Id"], {"LeadSync_Fit__c": "Good"})
    assert sandbox.org.get("Lead", lead["Id"])["OwnerId"] == sales_queue  # type: ignore[index]
    payload = {
        "allOrNone": False,
        "records": [{"attributes": {"type": "Lead"}, "Id": other["Id"], "OwnerId": rep}],
    }
    sf.restful("composite/sobjects", method="PATCH", json=payload)
    assert sandbox.org.get("Lead", other["Id"])["OwnerId"] == sales_queue  # type: ignore[index]
    sf.restful("composite/sobjects", method="PATCH", json=payload, headers=NO_ASSIGN)
    assert sandbox.org.get("Lead", other["Id"])["OwnerId"] == rep  # type: ignore[index]


@pytest.mark.parametrize(
    ("values", "code"),
    [
        ({"LeadSync_Fit__c": "Great"}, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"),
        ({"LeadSync_Reason__c": "x" * 256}, "STRING_TOO_LONG"),
        ({"LeadSync_Score__c": 1_000_000}, "NUMBER_OUTSIDE_VALID_RANGE"),
        ({"IsConverted": True}, "INVALID_FIELD_FOR_INSERT_UPDATE"),
        ({"Email": "not-an-email"}, "INVALID_EMAIL_ADDRESS"),
        ({"OwnerId": "001000000000000AAA"}, "MALFORMED_ID"),
        ({"Status": "Closed - Converted"}, "FIELD_CUSTOM_VALIDATION_EXCEPTION"),
        ({"LastName": None}, "REQUIRED_FIELD_MISSING"),
    ],
)
def test_field_validation_codes(
    raw: Raw, sandbox: SalesforceSandbox, values: dict[str, Any], code: str
) -> None:
    lead = open_leads(sandbox, 1)[0]
    response = raw.call("PATCH", f"/sobjects/Lead/{lead['Id']}", json=values, headers=NO_ASSIGN)
    assert response.status_code == 400
    assert response.json()[0]["errorCode"] == code


def test_inactive_owner_and_unknown_field(raw: Raw, sandbox: SalesforceSandbox) -> None:
    lead = open_leads(sandbox, 1)[0]
    inactive = next(u["Id"] for u in sandbox.org.records("User") if not u["IsActive"])
    response = raw.call(
        "PATCH", f"/sobjects/Lead/{lead['Id']}", json={"OwnerId": inactive}, headers=NO_ASSIGN
    )
    assert response.json()[0]["errorCode"] == "INACTIVE_OWNER_OR_USER"
    unknown = raw.call("PATCH", f"/sobjects/Lead/{lead['Id']}", json={"Fit__c": "Good"})
    assert unknown.status_code == 400 and unknown.json()[0]["errorCode"] == "INVALID_FIELD"
    typed = raw.call("PATCH", f"/sobjects/Lead/{lead['Id']}", json={"LeadSync_Score__c": "abc"})
    assert typed.json()[0]["errorCode"] == "JSON_PARSER_ERROR"


def test_converted_and_legal_hold_leads_refuse_updates(
    raw: Raw, sandbox: SalesforceSandbox
) -> None:
    converted = next(r for r in sandbox.org.records("Lead") if r["IsConverted"])
    held = next(
        r
        for r in sandbox.org.records("Lead")
        if r["Legal_Hold__c"] and not r["IsConverted"] and not r["IsDeleted"]
    )
    first = raw.call("PATCH", f"/sobjects/Lead/{converted['Id']}", json={"Title": "x"})
    assert first.json()[0]["errorCode"] == "CANNOT_UPDATE_CONVERTED_LEAD"
    second = raw.call("PATCH", f"/sobjects/Lead/{held['Id']}", json={"Title": "x"})
    assert second.json()[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_collections_cap_at_200(raw: Raw) -> None:
    records = [
        {"attributes": {"type": "Lead"}, "LastName": f"L{i}", "Company": "C"} for i in range(201)
    ]
    response = raw.call("POST", "/composite/sobjects", json={"records": records})
    assert response.status_code == 400
    assert response.json() == [
        {
            "message": "record limit reached. cannot submit more than 200 records into this call",
            "errorCode": "EXCEEDED_ID_LIMIT",
        }
    ]


def test_collections_per_record_errors_in_order(raw: Raw, sandbox: SalesforceSandbox) -> None:
    good, deleted_lead = open_leads(sandbox, 2)
    sandbox.org.delete("Lead", deleted_lead["Id"])
    records = [
        {"attributes": {"type": "Lead"}, "Id": good["Id"], "LeadSync_Fit__c": "Good"},
        {"attributes": {"type": "Lead"}, "Id": deleted_lead["Id"], "LeadSync_Fit__c": "Good"},
        {"attributes": {"type": "Lead"}, "Id": "00Qbogus", "LeadSync_Fit__c": "Good"},
        {"attributes": {"type": "Lead"}, "Id": good["Id"], "LeadSync_Fit__c": "Meh"},
    ]
    results = raw.call(
        "PATCH",
        "/composite/sobjects",
        json={"allOrNone": False, "records": records},
        headers=NO_ASSIGN,
    ).json()
    assert results[0] == {"id": good["Id"], "success": True, "errors": []}
    assert [r["errors"][0]["statusCode"] for r in results[1:]] == [
        "ENTITY_IS_DELETED",
        "MALFORMED_ID",
        "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
    ]
    assert all("id" not in r for r in results[1:])
    assert sandbox.org.get("Lead", good["Id"])["LeadSync_Fit__c"] == "Good"  # type: ignore[index]


def test_all_or_none_rolls_back(raw: Raw, sandbox: SalesforceSandbox) -> None:
    first, second = open_leads(sandbox, 2)[:2]
    before = sandbox.org.get("Lead", first["Id"])
    records = [
        {"attributes": {"type": "Lead"}, "Id": first["Id"], "LeadSync_Reason__c": "changed"},
        {"attributes": {"type": "Lead"}, "Id": second["Id"], "LeadSync_Team__c": "Nobody"},
        {"attributes": {"type": "Lead"}, "LastName": "New", "Company": "Co"},
    ]
    results = raw.call(
        "PATCH",
        "/composite/sobjects",
        json={"allOrNone": True, "records": records[:2]},
        headers=NO_ASSIGN,
    ).json()
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[1]["errors"][0]["statusCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert sandbox.org.get("Lead", first["Id"]) == before
    count = sandbox.org.count("Lead")
    created = raw.call(
        "POST",
        "/composite/sobjects",
        json={"allOrNone": True, "records": [records[2], {**records[2], "LastName": None}]},
    ).json()
    assert [r["success"] for r in created] == [False, False]
    assert sandbox.org.count("Lead") == count


def test_task_upsert_by_external_key_never_duplicates(
    sf: Salesforce, raw: Raw, sandbox: SalesforceSandbox
) -> None:
    lead = open_leads(sandbox, 1)[0]
    rep = next(u["Id"] for u in sandbox.org.records("User") if u["IsActive"])
    body = {"WhoId": lead["Id"], "OwnerId": rep, "Subject": "Hand-off", "Priority": "High"}
    first = raw.call("PATCH", "/sobjects/Task/LeadSync_Key__c/handoff-1", json=body)
    assert first.status_code == 201 and first.json()["created"] is True
    again = raw.call("PATCH", "/sobjects/Task/LeadSync_Key__c/handoff-1", json=body)
    assert again.status_code == 200 and again.json() == {
        "id": first.json()["id"],
        "success": True,
        "errors": [],
        "created": False,
    }
    records = [
        {"attributes": {"type": "Task"}, "LeadSync_Key__c": "handoff-1", **body},
        {"attributes": {"type": "Task"}, "LeadSync_Key__c": "handoff-2", **body},
    ]
    results = sf.restful(
        "composite/sobjects/Task/LeadSync_Key__c",
        method="PATCH",
        json={"allOrNone": False, "records": records},
    )
    assert [r["created"] for r in results] == [False, True]
    keys = [
        t["LeadSync_Key__c"]
        for t in sandbox.org.records("Task")
        if t["LeadSync_Key__c"] in ("handoff-1", "handoff-2")
    ]
    assert sorted(keys) == ["handoff-1", "handoff-2"]
    wrong = raw.call("PATCH", "/sobjects/Task/Subject/x", json=body)
    assert wrong.status_code == 400 and wrong.json()[0]["errorCode"] == "INVALID_FIELD"


def test_collections_delete(raw: Raw, sandbox: SalesforceSandbox) -> None:
    made = [sandbox.org.insert("Lead", {"LastName": f"D{i}", "Company": "C"}) for i in range(2)]
    results = raw.call(
        "DELETE", "/composite/sobjects", params={"ids": ",".join([*made, made[0]])}
    ).json()
    assert [r["success"] for r in results] == [True, True, False]
    assert results[2]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_simple_salesforce_raises_on_record_error(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    lead = open_leads(sandbox, 1)[0]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Lead.update(lead["Id"], {"LeadSync_Readiness__c": "Hot"})
    assert caught.value.content[0]["errorCode"] == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
