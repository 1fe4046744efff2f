"""Authentication, rate limits with HubSpot's headers and policy names, and every fault kind."""

from __future__ import annotations

import json
import time

import pytest
import requests
from hubspot.crm.contacts import ApiException, BatchInputSimplePublicObjectBatchInput

from sandboxes.hubspot import HubSpotSandbox
from sandboxes.hubspot.limits import RateLimiter
from tests.hubspot_sandbox.conftest import make_client


def _get(sb: HubSpotSandbox, token: str | None = None) -> requests.Response:
    return requests.get(
        f"{sb.url}/crm/v3/objects/contacts?limit=1",
        headers={"Authorization": f"Bearer {token or sb.access_token}"},
        timeout=5,
    )


def test_wrong_token_is_invalid_authentication(fresh: HubSpotSandbox) -> None:
    answer = _get(fresh, token="pat-wrong")
    assert answer.status_code == 401
    assert answer.json()["category"] == "INVALID_AUTHENTICATION"
    assert answer.json()["correlationId"]


def test_expire_token_until_cleared(fresh: HubSpotSandbox) -> None:
    fresh.inject({"kind": "expire_token"})
    with pytest.raises(ApiException) as caught:
        make_client(fresh).crm.contacts.basic_api.get_page(limit=1)
    assert caught.value.status == 401
    assert json.loads(caught.value.body)["category"] == "EXPIRED_AUTHENTICATION"
    assert _get(fresh).status_code == 401
    fresh.inject({"kind": "clear"})
    assert _get(fresh).status_code == 200


def test_ten_secondly_limit_answers_429_with_policy_and_headers(fresh: HubSpotSandbox) -> None:
    fresh.limiter = RateLimiter(5, 1_000, 5, clock=lambda: 100.0)
    answers = [_get(fresh) for _ in range(6)]
    assert [a.status_code for a in answers] == [200] * 5 + [429]
    assert answers[0].headers["X-HubSpot-RateLimit-Max"] == "5"
    assert answers[0].headers["X-HubSpot-RateLimit-Remaining"] == "4"
    assert answers[0].headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert answers[0].headers["X-HubSpot-RateLimit-Daily"] == "1000"
    assert answers[4].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "995"
    body = answers[5].json()
    assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
    assert body["message"] == "You have reached your ten_secondly_rolling limit."
    assert answers[5].headers["X-HubSpot-RateLimit-Remaining"] == "0"


def test_search_has_its_own_secondly_limit_and_no_headers(portal: object) -> None:
    # A frozen limiter clock: all three calls fall in the same second however slow the machine.
    with HubSpotSandbox(portal, search_rate_per_s=2, limit_clock=lambda: 100.0) as sb:  # type: ignore[arg-type]
        url = f"{sb.url}/crm/v3/objects/contacts/search"
        auth = {"Authorization": f"Bearer {sb.access_token}"}
        answers = [requests.post(url, json={}, headers=auth, timeout=5) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert "X-HubSpot-RateLimit-Max" not in answers[0].headers
    assert answers[2].json()["policyName"] == "SECONDLY"


@pytest.mark.parametrize("policy", ["TEN_SECONDLY_ROLLING", "DAILY"])
def test_rate_limit_fault(fresh: HubSpotSandbox, policy: str) -> None:
    fresh.inject({"kind": "rate_limit", "policy": policy, "count": 2})
    statuses = [_get(fresh).status_code for _ in range(3)]
    assert statuses == [429, 429, 200]


def test_daily_limit(portal: object) -> None:
    with HubSpotSandbox(portal, daily_limit=2) as sb:  # type: ignore[arg-type]
        answers = [_get(sb) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["policyName"] == "DAILY"
    assert answers[1].headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_http_error_and_delay_faults(fresh: HubSpotSandbox) -> None:
    fresh.inject({"kind": "http_error", "status": 502, "count": 1})
    assert _get(fresh).status_code == 502
    fresh.inject({"kind": "delay", "seconds": 0.3})
    started = time.monotonic()
    assert _get(fresh).status_code == 200
    assert time.monotonic() - started >= 0.3


def test_reject_fault_gives_record_level_errors(fresh: HubSpotSandbox) -> None:
    ids = [c["id"] for c in fresh.portal.contacts()][:3]
    fresh.inject(
        {
            "kind": "reject",
            "ids": [ids[1]],
            "category": "VALIDATION_ERROR",
            "message": "Rejected by sandbox",
            "count": 1,
        }
    )
    client = make_client(fresh)
    body = BatchInputSimplePublicObjectBatchInput(
        inputs=[{"id": i, "properties": {"firstname": "Zed"}} for i in ids]
    )
    answer, status, _ = client.crm.contacts.batch_api.update_with_http_info(body)
    assert status == 207 and len(answer.results) == 2
    assert answer.errors[0].message == "Rejected by sandbox"
    assert answer.errors[0].context == {"ids": [ids[1]]}
    _, status, _ = client.crm.contacts.batch_api.update_with_http_info(body)
    assert status == 200


def test_sandbox_endpoints_need_no_auth_and_are_not_counted(fresh: HubSpotSandbox) -> None:
    _get(fresh)
    stats = requests.get(f"{fresh.url}/_sandbox/stats", timeout=5).json()
    assert stats["total"] == 1
    assert stats["by_endpoint"] == {"GET /crm/v3/objects/contacts": 1}
    bad = requests.post(f"{fresh.url}/_sandbox/faults", json={"kind": "explode"}, timeout=5)
    assert bad.status_code == 400
    ok = requests.post(f"{fresh.url}/_sandbox/faults", json={"kind": "expire_token"}, timeout=5)
    assert ok.json()["active"][0]["kind"] == "expire_token"
    requests.post(f"{fresh.url}/_sandbox/faults", json={"kind": "clear"}, timeout=5)
    requests.post(f"{fresh.url}/_sandbox/stats/reset", timeout=5)
    assert fresh.stats()["total"] == 0
