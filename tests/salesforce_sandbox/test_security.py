"""Field-level security, the Metadata API's ListView CRUD and the list view REST resources,
through simple-salesforce as a client sees them."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceMalformedRequest

from sandboxes.salesforce import SalesforceSandbox, generate_org
from tests.salesforce_sandbox.conftest import Raw, client, grant, http_session

FIT = {
    "FullName": "Lead.Secure_Fit__c",
    "Metadata": {
        "label": "Secure Fit",
        "type": "Picklist",
        "valueSet": {
            "restricted": True,
            "valueSetDefinition": {"value": [{"fullName": "Good", "label": "Good"}]},
        },
    },
}
SCORE = {
    "FullName": "Lead.Secure_Score__c",
    "Metadata": {"label": "Secure Score", "type": "Number", "precision": 6, "scale": 0},
}


@pytest.fixture(scope="module")
def box() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=30, seed=4, with_output_fields=False)) as sandbox:
        yield sandbox


@pytest.fixture(scope="module")
def sf(box: SalesforceSandbox) -> Salesforce:
    return client(box)


def open_lead(box: SalesforceSandbox) -> str:
    return next(
        str(r["Id"])
        for r in box.org.records("Lead")
        if not r["IsConverted"] and not r["Legal_Hold__c"]
    )


def test_a_new_field_is_hidden_until_a_permission_set_grants_it(
    box: SalesforceSandbox, sf: Salesforce
) -> None:
    sf.toolingexecute("sobjects/CustomField", method="POST", data=FIT)
    raw = Raw(box)
    assert "Secure_Fit__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
    query = raw.call("GET", "/query", params={"q": "SELECT Secure_Fit__c FROM Lead"})
    assert query.status_code == 400
    assert query.json()[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Secure_Fit__c' on entity 'Lead'" in query.json()[0]["message"]
    lead = open_lead(box)
    write = raw.call("PATCH", f"/sobjects/Lead/{lead}", json={"Secure_Fit__c": "Good"})
    assert write.json()[0]["errorCode"] == "INVALID_FIELD"
    # Setup still sees it: a second create is a duplicate.
    again = raw.call("POST", "/tooling/sobjects/CustomField", json=FIT)
    assert again.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"

    grant(sf, box.org.integration_user_id, ["Lead.Secure_Fit__c"], edit=False)
    described = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    assert described["Secure_Fit__c"]["updateable"] is False
    assert described["Secure_Fit__c"]["permissionable"] is True
    assert described["LastName"]["permissionable"] is False
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Lead.update(lead, {"Secure_Fit__c": "Good"})
    (error,) = refused.value.content
    assert error["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert error["message"].startswith("Unable to create/update fields: Secure_Fit__c.")


def test_bulk_queries_honour_field_level_security(box: SalesforceSandbox, sf: Salesforce) -> None:
    sf.toolingexecute("sobjects/CustomField", method="POST", data=SCORE)
    job = Raw(box).call(
        "POST",
        "/jobs/query",
        json={"operation": "query", "query": "SELECT Id, Secure_Score__c FROM Lead"},
    )
    assert job.status_code == 400 and job.json()[0]["errorCode"] == "INVALID_FIELD"


def test_the_security_objects_are_validated_as_the_api_does(
    box: SalesforceSandbox, sf: Salesforce
) -> None:
    made = sf.PermissionSet.create({"Name": "Checks", "Label": "Checks"})
    base = {"ParentId": made["id"], "SobjectType": "Lead"}
    cases = [
        ({"Field": "Lead.Industry", "PermissionsEdit": True}, "depends on permission(s): Read"),
        ({"Field": "Lead.LastName", "PermissionsRead": True}, "bad value for restricted picklist"),
        ({"Field": "Lead.Nope__c", "PermissionsRead": True}, "bad value for restricted picklist"),
    ]
    for values, message in cases:
        with pytest.raises(SalesforceMalformedRequest, match=re.escape(message)):
            sf.FieldPermissions.create({**base, **values})
    sf.FieldPermissions.create({**base, "Field": "Lead.Industry", "PermissionsRead": True})
    with pytest.raises(SalesforceMalformedRequest, match="DUPLICATE_VALUE"):
        sf.FieldPermissions.create({**base, "Field": "Lead.Industry", "PermissionsRead": True})
    with pytest.raises(SalesforceMalformedRequest, match="restricted picklist"):
        sf.ObjectPermissions.create({**base, "SobjectType": "Task", "PermissionsRead": True})
    assignment = sf.PermissionSetAssignment.create(
        {"PermissionSetId": made["id"], "AssigneeId": box.org.integration_user_id}
    )
    with pytest.raises(SalesforceMalformedRequest, match="DELETE_FAILED"):
        sf.PermissionSet.delete(made["id"])
    sf.PermissionSetAssignment.delete(assignment["id"])
    sf.PermissionSet.delete(made["id"])
    left = sf.query(f"SELECT Id FROM FieldPermissions WHERE ParentId = '{made['id']}'")
    assert left["totalSize"] == 0


def test_list_views_through_the_metadata_api_and_rest(
    box: SalesforceSandbox, sf: Salesforce
) -> None:
    mdapi = sf.mdapi
    # simple-salesforce gives its zeep client a session of its own (not the one it was
    # handed): point it at the sandbox CA (connectors/salesforce/metadata.py does better).
    mdapi._client.transport.session = http_session(box)
    view = mdapi.ListView(
        fullName="Lead.Checks_View",
        label="Checks view",
        filterScope="Everything",
        columns=["FULL_NAME", "LEAD.STATUS"],
        filters=[mdapi.ListViewFilter(field="LEAD.STATUS", operation="equals", value="Nurture")],
    )
    mdapi.ListView.create([view])
    with pytest.raises(Exception, match="DUPLICATE_DEVELOPER_NAME"):
        mdapi.ListView.create([view])
    read = mdapi.ListView.read(["Lead.Checks_View"])
    assert (read.label, read.columns, read.filters[0].value) == (
        "Checks view",
        ["FULL_NAME", "LEAD.STATUS"],
        "Nurture",
    )
    assert mdapi.ListView.read(["Lead.Nothing_Here"]).fullName is None
    views = sf.restful("sobjects/Lead/listviews")["listviews"]
    listed = next(v for v in views if v["developerName"] == "Checks_View")
    results = sf.restful(f"sobjects/Lead/listviews/{listed['id']}/results")
    nurture = [
        r for r in box.org.records("Lead") if r["Status"] == "Nurture" and not r["IsConverted"]
    ]
    assert results["size"] == len(nurture)
    assert [c["fieldNameOrPath"] for c in results["columns"]] == ["Name", "Status", "Id"]
    assert all(r["columns"][1]["value"] == "Nurture" for r in results["records"])
    mdapi.ListView.delete(["Lead.Checks_View"])
    with pytest.raises(Exception, match=r"no ListView named Lead\.Checks_View"):
        mdapi.ListView.delete(["Lead.Checks_View"])


def test_a_metadata_call_with_a_bad_session_is_a_soap_fault(box: SalesforceSandbox) -> None:
    envelope = (
        '<soap-env:Envelope xmlns:soap-env="http://schemas.xmlsoap.org/soap/envelope/">'
        '<soap-env:Header><ns0:SessionHeader xmlns:ns0="http://soap.sforce.com/2006/04/metadata">'
        "<ns0:sessionId>nope</ns0:sessionId></ns0:SessionHeader></soap-env:Header>"
        '<soap-env:Body><ns0:readMetadata xmlns:ns0="http://soap.sforce.com/2006/04/metadata">'
        "<ns0:type>ListView</ns0:type><ns0:fullNames>Lead.AllOpenLeads</ns0:fullNames>"
        "</ns0:readMetadata></soap-env:Body></soap-env:Envelope>"
    )
    answer = requests.post(
        f"{box.url}/services/Soap/m/62.0/",
        data=envelope,
        headers={"Content-Type": "text/xml", "SOAPAction": '""'},
        verify=box.ca_file,
        timeout=10,
    )
    assert answer.status_code == 500
    assert "<faultcode>sf:INVALID_SESSION_ID</faultcode>" in answer.text
