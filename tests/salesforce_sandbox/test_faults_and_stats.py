"""Every injectable fault, and the per-endpoint statistics."""

from __future__ import annotations

import time

import pytest
from simple_salesforce import Salesforce

from sandboxes.salesforce import SalesforceSandbox
from tests.salesforce_sandbox.conftest import Raw, http_session


def writable_leads(sandbox: SalesforceSandbox, n: int) -> list[str]:
    return [
        r["Id"]
        for r in sandbox.org.records("Lead")
        if not r["IsConverted"] and not r["Legal_Hold__c"]
    ][:n]


def test_rate_limit_fault_then_recovery(raw: Raw, sandbox: SalesforceSandbox) -> None:
    sandbox.inject({"kind": "rate_limit", "count": 2})
    for _ in range(2):
        response = raw.call("GET", "/limits")
        assert response.status_code == 403
        assert response.json() == [
            {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
        ]
    assert raw.call("GET", "/limits").status_code == 200


def test_daily_limit_is_enforced() -> None:
    from sandboxes.salesforce import generate_org

    with SalesforceSandbox(generate_org(leads=10, seed=2), api_daily_limit=3) as small:
        raw = Raw(small)
        statuses = [raw.call("GET", "/limits").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 403]
        assert raw.call("GET", "/limits").headers["Sforce-Limit-Info"] == "api-usage=3/3"


def test_http_error_fault(raw: Raw, sandbox: SalesforceSandbox) -> None:
    sandbox.inject({"kind": "http_error", "status": 503, "count": 1})
    response = raw.call("GET", "/query", params={"q": "SELECT Id FROM Lead LIMIT 1"})
    assert response.status_code == 503
    assert response.json()[0]["errorCode"] == "SERVER_UNAVAILABLE"
    assert raw.call("GET", "/query", params={"q": "SELECT Id FROM Lead LIMIT 1"}).ok


def test_lock_rows_fault_is_per_record(raw: Raw, sandbox: SalesforceSandbox) -> None:
    ids = writable_leads(sandbox, 3)
    sandbox.inject({"kind": "lock_rows", "count": 2})
    records = [{"attributes": {"type": "Lead"}, "Id": i, "LeadSync_Fit__c": "Poor"} for i in ids]
    results = raw.call(
        "PATCH",
        "/composite/sobjects",
        json={"records": records},
        headers={"Sforce-Auto-Assign": "FALSE"},
    ).json()
    assert [r["success"] for r in results] == [False, False, True]
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW"


def test_reject_fault_targets_ids(raw: Raw, sandbox: SalesforceSandbox) -> None:
    ids = writable_leads(sandbox, 2)
    sandbox.inject(
        {
            "kind": "reject",
            "object": "Lead",
            "ids": [ids[1]],
            "count": 5,
            "code": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Blocked by rule",
        }
    )
    records = [{"attributes": {"type": "Lead"}, "Id": i, "LeadSync_Team__c": "Sales"} for i in ids]
    results = raw.call(
        "PATCH",
        "/composite/sobjects",
        json={"records": records},
        headers={"Sforce-Auto-Assign": "FALSE"},
    ).json()
    assert results[0]["success"] is True
    assert results[1]["errors"] == [
        {
            "statusCode": "FIELD_CUSTOM_VALIDATION_EXCEPTION",
            "message": "Blocked by rule",
            "fields": [],
        }
    ]


def test_delay_fault(raw: Raw, sandbox: SalesforceSandbox) -> None:
    sandbox.inject({"kind": "delay", "seconds": 0.3, "count": 1})
    started = time.monotonic()
    raw.call("GET", "/limits")
    assert time.monotonic() - started >= 0.3


def test_faults_over_http_and_clear(sandbox: SalesforceSandbox, raw: Raw) -> None:
    session = http_session(sandbox)
    armed = session.post(
        f"{sandbox.url}/_sandbox/faults", json={"kind": "http_error", "status": 500, "count": 3}
    )
    assert armed.status_code == 200 and armed.json()["remaining"] == 3
    assert session.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "clear"}).ok
    assert raw.call("GET", "/limits").status_code == 200
    bad = session.post(f"{sandbox.url}/_sandbox/faults", json={"kind": "meteor"})
    assert bad.status_code == 400 and "unknown fault kind" in bad.json()["error"]


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "http_error", "status": 200},
        {"kind": "delay", "seconds": "x"},
        {"kind": "rate_limit", "count": -1},
    ],
)
def test_bad_fault_specs_are_refused(sandbox: SalesforceSandbox, spec: dict[str, object]) -> None:
    response = http_session(sandbox).post(f"{sandbox.url}/_sandbox/faults", json=spec)
    assert response.status_code == 400


def test_stats_count_normalised_endpoints_without_auth(
    sf: Salesforce, sandbox: SalesforceSandbox
) -> None:
    session = http_session(sandbox)
    session.post(f"{sandbox.url}/_sandbox/stats/reset")
    usage = sandbox.api.usage()
    lead = writable_leads(sandbox, 1)[0]
    sf.Lead.get(lead)
    sf.query("SELECT Id FROM Lead LIMIT 1")
    stats = session.get(f"{sandbox.url}/_sandbox/stats").json()
    assert stats["by_endpoint"] == {"GET /sobjects/Lead/{id}": 1, "GET /query": 1}
    assert stats["total"] == 2 and stats["by_object"] == {"Lead": 1}
    assert sandbox.api.usage() == usage + 2  # _sandbox calls are free
