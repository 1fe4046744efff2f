"""The sandbox refuses what Salesforce refuses (URI and header size, SOQL length) and moves a
converted lead's activities to its contact, as lead conversion does."""

from __future__ import annotations

from datetime import UTC, datetime

from sandboxes.salesforce import SalesforceSandbox, generate_org
from sandboxes.salesforce.server import URI_AND_HEADERS_LIMIT
from sandboxes.salesforce.soql_eval import MAX_SOQL_LENGTH

from .conftest import Raw


def _in_list(n: int) -> str:
    return ", ".join(f"'00Q{i:012d}'" for i in range(n))


def test_a_query_within_the_uri_cap_is_answered(raw: Raw, sandbox: SalesforceSandbox) -> None:
    before = sandbox.stats()["total"]
    answer = raw.call(
        "GET", "/query", params={"q": f"SELECT Id FROM Lead WHERE Id IN ({_in_list(400)})"}
    )
    assert answer.status_code == 200
    assert sandbox.stats()["total"] == before + 1


def test_a_uri_over_the_cap_is_414_and_not_counted(raw: Raw, sandbox: SalesforceSandbox) -> None:
    before = sandbox.stats()["total"]
    query = f"SELECT Id FROM Lead WHERE Id IN ({_in_list(700)})"
    answer = raw.call("GET", "/query", params={"q": query})
    assert answer.status_code == 414
    assert "URI Too Long" in answer.text
    assert answer.headers["Content-Type"].startswith("text/html")
    assert sandbox.stats()["total"] == before


def test_uri_and_headers_over_the_cap_together_are_431(raw: Raw) -> None:
    query = f"SELECT Id FROM Lead WHERE Id IN ({_in_list(500)})"
    answer = raw.call("GET", "/query", params={"q": query})
    assert answer.status_code == 200
    padding = {"X-Padding": "p" * (URI_AND_HEADERS_LIMIT - len(answer.request.url) + 100)}
    refused = raw.call("GET", "/query", params={"q": query}, headers=padding)
    assert refused.status_code == 431


def test_soql_over_100000_characters_is_malformed(raw: Raw) -> None:
    """A query in a Bulk job body is not bound by the URI, but by the SOQL length cap."""
    query = f"SELECT Id FROM Lead WHERE Id IN ({_in_list(MAX_SOQL_LENGTH // 18)})"
    assert len(query) > MAX_SOQL_LENGTH
    answer = raw.call("POST", "/jobs/query", json={"operation": "query", "query": query})
    assert answer.status_code == 400
    [error] = answer.json()
    assert error["errorCode"] == "MALFORMED_QUERY"
    assert "100000 characters" in error["message"]


def test_conversion_moves_tasks_events_and_memberships_to_the_contact() -> None:
    org = generate_org(leads=20, seed=3, now=datetime(2025, 3, 1, tzinfo=UTC))
    lead = org.insert("Lead", {"LastName": "Moved", "Company": "M", "Email": "m@m.example"})
    other = org.insert("Lead", {"LastName": "Stays", "Company": "S"})
    task = org.insert("Task", {"WhoId": lead, "Subject": "Call", "Status": "Completed"})
    event = org.insert("Event", {"WhoId": lead, "Subject": "Demo"})
    kept = org.insert("Task", {"WhoId": other, "Subject": "Call"})
    campaign = str(org.records("Campaign")[0]["Id"])
    member = org.insert("CampaignMember", {"CampaignId": campaign, "LeadId": lead})
    form = org.insert("Form_Submission__c", {"Lead__c": lead, "Email__c": "m@m.example"})
    gone = org.insert("Task", {"WhoId": lead, "Subject": "Old"})
    org.delete("Task", gone)
    account = org.insert("Account", {"Name": "M"})
    contact = org.insert("Contact", {"LastName": "Moved", "AccountId": account})
    before = org.raw("Task", task) or {}
    org.convert_lead(lead, contact, account)
    assert (org.raw("Task", task) or {})["WhoId"] == contact
    assert (org.raw("Event", event) or {})["WhoId"] == contact
    assert (org.raw("Task", kept) or {})["WhoId"] == other
    moved = org.raw("CampaignMember", member) or {}
    assert (moved["LeadId"], moved["ContactId"]) == (lead, contact)
    # A custom lookup and a deleted activity stay where they were.
    assert (org.raw("Form_Submission__c", form) or {})["Lead__c"] == lead
    assert (org.raw("Task", gone) or {})["WhoId"] == lead
    assert (org.raw("Task", task) or {})["SystemModstamp"] >= before["SystemModstamp"]
    assert (org.raw("Lead", lead) or {})["ConvertedContactId"] == contact
