"""Query, queryAll, paging, describe, limits and error bodies over HTTPS."""

from __future__ import annotations

from simple_salesforce import Salesforce

from sandboxes.salesforce import SalesforceSandbox
from tests.salesforce_sandbox.conftest import Raw


def test_pages_of_2000_with_next_records_url(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    first = sf.query("SELECT Id, Email FROM Lead ORDER BY Id")
    live = sandbox.org.count("Lead")
    assert first["totalSize"] == live > 2000
    assert len(first["records"]) == 2000 and first["done"] is False
    assert first["nextRecordsUrl"].startswith("/services/data/v62.0/query/01g")
    second = sf.query_more(first["nextRecordsUrl"], identifier_is_url=True)
    assert second["done"] is True and len(second["records"]) == live - 2000
    ids = [r["Id"] for r in first["records"] + second["records"]]
    assert ids == sorted(ids) and len(set(ids)) == live


def test_batch_size_header_is_honoured_and_clamped(raw: Raw) -> None:
    page = raw.call(
        "GET",
        "/query",
        params={"q": "SELECT Id FROM Lead"},
        headers={"Sforce-Query-Options": "batchSize=500"},
    ).json()
    assert len(page["records"]) == 500
    tiny = raw.call(
        "GET",
        "/query",
        params={"q": "SELECT Id FROM Lead"},
        headers={"Sforce-Query-Options": "batchSize=10"},
    ).json()
    assert len(tiny["records"]) == 200


def test_query_all_includes_deleted_and_merged(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    soql = "SELECT Id, IsDeleted, MasterRecordId FROM Lead WHERE IsDeleted = true"
    assert sf.query(soql)["totalSize"] == 0
    deleted = sf.query_all(soql, include_deleted=True)["records"]
    assert deleted and all(r["IsDeleted"] for r in deleted)
    assert any(r["MasterRecordId"] for r in deleted)


def test_parent_relationships_are_nested_or_null(sf: Salesforce) -> None:
    rows = sf.query_all(
        "SELECT Id, Account.Name, Account.Ownership, Account.NumberOfEmployees FROM Contact"
    )["records"]
    with_account = [r for r in rows if r["Account"]]
    assert with_account and any(r["Account"] is None for r in rows)
    assert with_account[0]["Account"]["attributes"]["type"] == "Account"
    members = sf.query(
        "SELECT Id, Campaign.Name, Campaign.Type, Status FROM CampaignMember LIMIT 5"
    )["records"]
    assert all(m["Campaign"]["Name"] for m in members)


def test_count_query(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    result = sf.query("SELECT COUNT() FROM Contact")
    assert result["totalSize"] == sandbox.org.count("Contact") and result["records"] == []


def test_error_bodies(raw: Raw) -> None:
    malformed = raw.call("GET", "/query", params={"q": "SELECT Id FROM Lead WHERE"})
    assert malformed.status_code == 400
    assert malformed.json()[0]["errorCode"] == "MALFORMED_QUERY"
    invalid = raw.call("GET", "/query", params={"q": "SELECT Fit FROM Lead"}).json()[0]
    assert invalid["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Fit' on entity 'Lead'" in invalid["message"]
    assert (
        raw.call("GET", "/query", params={"q": "SELECT Id FROM Nope"}).json()[0]["errorCode"]
        == "INVALID_TYPE"
    )
    locator = raw.call("GET", "/query/01gBOGUS-2000")
    assert locator.status_code == 400 and locator.json()[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert (
        raw.call(
            "GET", "https://" + raw.base.split("://")[1].replace("v62.0", "v12.0") + "/limits"
        ).status_code
        == 404
    )


def test_limits_and_the_usage_header(raw: Raw, sandbox: SalesforceSandbox) -> None:
    response = raw.call("GET", "/limits")
    used = sandbox.api.usage()
    assert response.headers["Sforce-Limit-Info"] == f"api-usage={used}/1000000"
    assert response.json()["DailyApiRequests"] == {"Max": 1_000_000, "Remaining": 1_000_000 - used}


def test_describe_reports_types_picklists_and_custom_fields(sf: Salesforce) -> None:
    fields = {f["name"]: f for f in sf.Lead.describe()["fields"]}
    fit = fields["LeadSync_Fit__c"]
    assert fit["type"] == "picklist" and fit["restrictedPicklist"] and fit["custom"]
    assert [v["value"] for v in fit["picklistValues"]] == ["Good", "Poor"]
    assert fields["LeadSync_Score__c"]["type"] == "double"
    assert fields["LeadSync_Score__c"]["precision"] == 6
    assert fields["IsConverted"]["updateable"] is False
    assert fields["OwnerId"]["referenceTo"] == ["User", "Group"]
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["LeadSync_Key__c"]["externalId"] and task["LeadSync_Key__c"]["length"] == 80
    names = {o["name"] for o in sf.describe()["sobjects"]}
    assert {"Lead", "Contact", "CampaignMember", "Form_Submission__c", "Group"} <= names


def test_versions_need_no_auth(sandbox: SalesforceSandbox) -> None:
    from tests.salesforce_sandbox.conftest import http_session

    versions = http_session(sandbox).get(f"{sandbox.url}/services/data").json()
    assert {"label": "Winter '25", "url": "/services/data/v62.0", "version": "62.0"} in versions
