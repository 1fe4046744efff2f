"""Composite calls against the HTTPS sandbox: many describes for one API call, the documented
limits enforced, and a Bulk pull that asks for its describes in one call per relationship level."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=300, seed=11), port=0) as sandbox:
        yield sandbox


def _composite(sb: SalesforceSandbox, body: Any) -> requests.Response:
    conn = connector_for(sb)
    client = conn.client
    client.describe("Lead")  # logs in
    url = f"{client.sf.base_url}composite"
    answer = requests.post(url, json=body, headers=client.sf.headers, verify=sb.ca_file, timeout=30)
    conn.close()
    return answer


def test_describes_in_one_composite_call_count_as_one(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    found = conn.client.describe_many(["Lead", "Contact", "Campaign", "NoSuchThing__c"])
    assert conn.usage().calls_by_endpoint == {"POST oauth2/token": 1, "POST composite": 1}
    assert {f["name"] for f in found["Lead"]["fields"]} >= {"Id", "Email", "SystemModstamp"}
    assert found["Contact"]["name"] == "Contact" and found["Campaign"]["fields"]
    assert found["NoSuchThing__c"] == {}
    conn.close()


def test_composite_refuses_what_salesforce_refuses(sb: SalesforceSandbox) -> None:
    base = "/services/data/v62.0"
    describe = {"method": "GET", "url": f"{base}/sobjects/Lead/describe"}
    too_many = [{**describe, "referenceId": f"r{i}"} for i in range(26)]
    answer = _composite(sb, {"compositeRequest": too_many})
    assert answer.status_code == 400 and "at most 25" in answer.json()[0]["message"]
    query = {"method": "GET", "url": f"{base}/query?q=SELECT+Id+FROM+Lead+LIMIT+1"}
    six = [{**query, "referenceId": f"q{i}"} for i in range(6)]
    answer = _composite(sb, {"compositeRequest": six})
    assert answer.status_code == 400 and "at most 5" in answer.json()[0]["message"]
    dup = [{**describe, "referenceId": "same"}, {**describe, "referenceId": "same"}]
    assert _composite(sb, {"compositeRequest": dup}).status_code == 400
    ref = [{**describe, "referenceId": "a"}, {**describe, "url": "@{a.name}", "referenceId": "b"}]
    assert _composite(sb, {"compositeRequest": ref}).status_code == 400


def test_subrequests_answer_in_order_with_their_own_status(sb: SalesforceSandbox) -> None:
    base = "/services/data/v62.0"
    body = {
        "compositeRequest": [
            {
                "method": "GET",
                "url": f"{base}/query?q=SELECT+Id+FROM+Lead+LIMIT+2",
                "referenceId": "q",
            },
            {"method": "GET", "url": f"{base}/sobjects/Nope__c/describe", "referenceId": "missing"},
            {"method": "GET", "url": f"{base}/query?q=SELECT+Nope+FROM+Lead", "referenceId": "bad"},
        ]
    }
    answer = _composite(sb, body)
    assert answer.status_code == 200
    results = answer.json()["compositeResponse"]
    assert [r["referenceId"] for r in results] == ["q", "missing", "bad"]
    assert [r["httpStatusCode"] for r in results] == [200, 404, 400]
    assert len(results[0]["body"]["records"]) == 2
    assert results[2]["body"][0]["errorCode"] == "INVALID_FIELD"


def test_a_large_full_pull_probes_once_and_asks_describes_one_call_per_level() -> None:
    # More leads than one REST page (2,000 rows), so the pull switches to Bulk.
    with SalesforceSandbox(generate_org(leads=2100, seed=5), port=0) as big:
        conn = connector_for(big, bulk_query_threshold=10)
        list(conn.pull_people(None))
        list(conn.pull_activities(None))
        calls = conn.usage().calls_by_endpoint
        assert any("jobs/query" in name for name in calls)
        assert calls.get("POST composite") == 2  # the pulled objects, then those they reach
        assert not any(name.endswith("/describe") for name in calls)
        # Only the first object is probed; it is large, so one call counts all the others,
        # and every one of them above the threshold goes to Bulk without a probe. After each
        # Bulk job, one REST query reads what changed since the job was made.
        assert calls.get("GET limits/recordCount") == 1
        assert calls.get("POST jobs/query") == 6
        assert calls.get("GET queryAll") == 1 + 6
        conn.close()


def test_record_counts_are_live_records_and_skip_unknown_objects(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    counts = conn.client.record_counts(["Lead", "Contact", "Nope__c"])
    assert counts == {
        "Lead": len(sb.org.records("Lead")),
        "Contact": len(sb.org.records("Contact")),
    }
    assert len(sb.org.records("Lead", include_deleted=True)) > counts["Lead"]
    conn.close()
