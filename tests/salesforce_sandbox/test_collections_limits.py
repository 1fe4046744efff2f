"""sObject Collections as an org enforces it: mixed objects in one call, at most ten chunks
(runs of one type), and a record refused alone, in the documented shape, when its new owner
is an inactive user (one deactivated through the API included)."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sandboxes.salesforce import SalesforceSandbox
from tests.salesforce_sandbox.conftest import Raw

NO_ASSIGN = {"Sforce-Auto-Assign": "FALSE"}


def _people(sandbox: SalesforceSandbox, object_type: str, n: int) -> list[str]:
    rows = [
        r["Id"]
        for r in sandbox.org.records(object_type)
        if not r.get("IsConverted") and not r.get("Legal_Hold__c")
    ]
    return rows[:n]


def _patch(raw: Raw, records: list[dict[str, Any]]) -> Any:
    return raw.call(
        "PATCH",
        "/composite/sobjects",
        json={"allOrNone": False, "records": records},
        headers=NO_ASSIGN,
    )


# ``raw`` only holds a session and a token: sharing it across examples is safe.
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(st.sampled_from(["Lead", "Contact"]), min_size=1, max_size=40))
@example(["Lead", "Contact"] * 5)  # ten chunks: the most a call takes
@example(["Lead", "Contact"] * 5 + ["Lead"])  # eleven
def test_more_than_ten_chunks_are_refused_whole(
    raw: Raw, sandbox: SalesforceSandbox, types: list[str]
) -> None:
    ids = {t: iter(_people(sandbox, t, 40)) for t in ("Lead", "Contact")}
    records = [
        {"attributes": {"type": t}, "id": next(ids[t]), "LeadSync_Score__c": 3} for t in types
    ]
    chunks = sum(1 for i, t in enumerate(types) if i == 0 or types[i - 1] != t)
    response = _patch(raw, records)
    if chunks <= 10:
        assert response.status_code == 200
        assert [r["success"] for r in response.json()] == [True] * len(records)
    else:
        assert response.status_code == 400
        [error] = response.json()
        assert error["errorCode"] == "EXCEEDED_MAX_TYPES_LIMIT"
        assert error["message"].startswith("Cannot have more than 10 chunks")


def test_an_inactive_owner_fails_its_record_only(raw: Raw, sandbox: SalesforceSandbox) -> None:
    org = sandbox.org
    rep = next(
        u["Id"]
        for u in org.records("User")
        if u["IsActive"] and u.get("Title") == "Account Executive"
    )
    active = next(
        u["Id"]
        for u in org.records("User")
        if u["IsActive"] and u.get("Title") == "Account Executive" and u["Id"] != rep
    )
    # The rep leaves: deactivated through the API, as an admin would.
    deactivated = raw.call("PATCH", f"/sobjects/User/{rep}", json={"IsActive": False})
    assert deactivated.status_code == 204
    lead_a, lead_b = _people(sandbox, "Lead", 2)
    [contact] = _people(sandbox, "Contact", 1)
    before = org.get("Lead", lead_a)
    records = [
        {"attributes": {"type": "Lead"}, "id": lead_a, "LeadSync_Score__c": 91, "OwnerId": rep},
        {"attributes": {"type": "Lead"}, "id": lead_b, "LeadSync_Score__c": 92, "OwnerId": active},
        {"attributes": {"type": "Contact"}, "id": contact, "OwnerId": rep},
    ]
    results = _patch(raw, records).json()
    assert results[0] == {
        "success": False,
        "errors": [
            {
                "statusCode": "INACTIVE_OWNER_OR_USER",
                "message": f"operation performed with inactive user [{rep}] as owner of lead",
                "fields": ["OwnerId"],
            }
        ],
    }
    assert results[1] == {"id": lead_b, "success": True, "errors": []}
    assert results[2]["errors"][0]["statusCode"] == "INACTIVE_OWNER_OR_USER"
    assert results[2]["errors"][0]["message"].endswith("as owner of contact")
    after = org.get("Lead", lead_a)
    assert after is not None and before is not None
    assert (after["OwnerId"], after["LeadSync_Score__c"]) == (
        before["OwnerId"],
        before["LeadSync_Score__c"],
    )
    assert org.get("Lead", lead_b)["OwnerId"] == active  # type: ignore[index]
    raw.call("PATCH", f"/sobjects/User/{rep}", json={"IsActive": True})
