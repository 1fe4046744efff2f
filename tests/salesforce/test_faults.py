"""Faults at the HTTP edge: expired sessions, 5xx bursts, limits, timeouts, translation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import requests
import responses
from simple_salesforce.exceptions import SalesforceMalformedRequest

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.http import (
    RetryPolicy,
    endpoint_name,
    parse_limit_info,
    translate,
)
from connectors.salesforce.mapping import load_mapping
from leadsync.errors import AuthError, BudgetExhausted, FatalSyncError, RetriableSyncError
from leadsync.records import RecordRef, RecordUpdate

from .conftest import API, TOKEN_URL, Sleeps, make_settings, token_ok

EXPIRED = [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
EMPTY = {"totalSize": 0, "done": True, "records": []}
SINCE = datetime(2024, 1, 1, tzinfo=UTC)


def _auth_header(call: responses.Call) -> str:
    return str(call.request.headers.get("Authorization"))


def test_expired_session_is_renewed_once_and_the_call_retried(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(responses.GET, f"{API}/queryAll/", status=401, json=EXPIRED)
    token_ok(rsps, "tok-2")
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY)
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY)
    assert list(connector.pull_people(SINCE)) == []
    queries = [c for c in rsps.calls if "queryAll" in c.request.url]
    assert [_auth_header(c) for c in queries] == [
        "Bearer tok-1",
        "Bearer tok-2",
        "Bearer tok-2",
    ]


def test_expired_session_renewed_for_bulk_calls(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    updates = [
        RecordUpdate(RecordRef("salesforce", "Lead", f"00Q{i:015d}"), {"score": 1})
        for i in range(501)
    ]
    rsps.add(responses.POST, f"{API}/jobs/ingest", json={"id": "750I", "state": "Open"})
    rsps.add(responses.PUT, f"{API}/jobs/ingest/750I/batches", status=401, json=EXPIRED)
    token_ok(rsps, "tok-2")
    rsps.add(responses.PUT, f"{API}/jobs/ingest/750I/batches", status=201)
    rsps.add(responses.PATCH, f"{API}/jobs/ingest/750I", json={"state": "UploadComplete"})
    rsps.add(responses.GET, f"{API}/jobs/ingest/750I", json={"state": "JobComplete"})
    rows = "".join(f"{u.ref.external_id},false,{u.ref.external_id},1\n" for u in updates)
    rsps.add(
        responses.GET,
        f"{API}/jobs/ingest/750I/successfulResults",
        body="sf__Id,sf__Created,Id,LeadSync_Score__c\n" + rows,
    )
    rsps.add(responses.GET, f"{API}/jobs/ingest/750I/failedResults", body="sf__Id,sf__Error\n")
    outcomes = connector.write(updates)
    assert all(o.ok for o in outcomes)
    bulk = [c for c in rsps.calls if "/jobs/" in c.request.url]
    assert _auth_header(bulk[0]) == "Bearer tok-1"
    assert {_auth_header(c) for c in bulk[2:]} == {"Bearer tok-2"}


def test_session_refused_after_renewal_is_an_auth_error(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(responses.GET, f"{API}/queryAll/", status=401, json=EXPIRED)
    token_ok(rsps, "tok-2")
    rsps.add(responses.GET, f"{API}/queryAll/", status=401, json=EXPIRED)
    with pytest.raises(AuthError):
        list(connector.pull_people(SINCE))


def test_bad_credentials_on_renewal_stop_the_run(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(responses.GET, f"{API}/queryAll/", status=401, json=EXPIRED)
    rsps.add(
        responses.POST,
        TOKEN_URL,
        status=400,
        json={"error": "invalid_client", "error_description": "client secret revoked"},
    )
    with pytest.raises(AuthError, match="client_id and client_secret"):
        list(connector.pull_people(SINCE))


def test_given_access_token_expiry_names_the_setting(rsps: responses.RequestsMock) -> None:
    settings = make_settings(
        auth="access_token", access_token="given", instance_url="https://acme.my.salesforce.com"
    )
    conn = SalesforceConnector("salesforce", settings, load_mapping(), sleep=Sleeps())
    rsps.add(responses.GET, f"{API}/queryAll/", status=401, json=EXPIRED)
    with pytest.raises(AuthError, match="access_token"):
        list(conn.pull_people(SINCE))


def test_5xx_burst_is_retried_with_backoff(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    for _ in range(2):
        rsps.add(responses.GET, f"{API}/queryAll/", status=503, body="busy")
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY, headers={"Retry-After": "0"})
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY)
    assert list(connector.pull_people(SINCE)) == []
    assert len(sleeps) == 2


def test_5xx_that_outlasts_retries_is_retriable(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    for _ in range(4):
        rsps.add(responses.GET, f"{API}/queryAll/", status=500, json=[{"errorCode": "X"}])
    with pytest.raises(RetriableSyncError) as err:
        list(connector.pull_people(SINCE))
    assert err.value.status == 500 and len(sleeps) == 3


def test_retry_after_is_honoured(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    rsps.add(responses.GET, f"{API}/queryAll/", status=503, headers={"Retry-After": "7"})
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY)
    rsps.add(responses.GET, f"{API}/queryAll/", json=EMPTY)
    list(connector.pull_people(SINCE))
    assert sleeps == [7.0]


def test_a_timeout_is_not_retried_inside_the_call(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    # A timeout has already cost a whole timeout; the next cycle tries again.
    rsps.add(responses.GET, f"{API}/queryAll/", body=requests.ReadTimeout("slow"))
    with pytest.raises(RetriableSyncError, match=r"acme\.my\.salesforce\.com did not answer"):
        list(connector.pull_people(SINCE))
    assert sleeps == []


def test_a_refused_connection_gets_only_quick_retries(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    connector.client.sf  # noqa: B018 - logged in
    for _ in range(3):  # connect_retries = 2 -> 3 tries, though max_retries is 3
        rsps.add(responses.GET, f"{API}/queryAll/", body=requests.ConnectionError("refused"))
    with pytest.raises(RetriableSyncError, match=r"check connectors\.salesforce\.login_url"):
        list(connector.pull_people(SINCE))
    assert len(sleeps) == 2 and sum(sleeps) <= 0.5 + 1.0


def test_request_limit_exceeded_ends_the_cycle_without_retries(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        status=403,
        json=[{"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}],
    )
    with pytest.raises(BudgetExhausted):
        connector.write([RecordUpdate(RecordRef("salesforce", "Lead", "00Q1"), {"score": 1})])
    assert sleeps == []


def test_other_4xx_is_fatal_with_the_crm_message() -> None:
    exc = SalesforceMalformedRequest(
        "u", 400, "query", [{"errorCode": "INVALID_FIELD", "message": "No such column 'Foo'"}]
    )
    error = translate(exc, connector="salesforce")
    assert isinstance(error, FatalSyncError) and not isinstance(error, RetriableSyncError)
    assert "INVALID_FIELD: No such column 'Foo'" in str(error)
    locked = SalesforceMalformedRequest("u", 400, "x", [{"errorCode": "UNABLE_TO_LOCK_ROW"}])
    assert isinstance(translate(locked, connector="sf"), RetriableSyncError)


def test_helpers() -> None:
    assert parse_limit_info("api-usage=25/5000; per-app-api-usage=1/250(appName=x)") == (
        25,
        5000,
    )
    assert parse_limit_info("nothing") is None
    assert (
        endpoint_name("get", "https://x/services/data/v62.0/jobs/ingest/7505g000001AbCdAAK/")
        == "GET jobs/ingest/{id}"
    )
    assert (
        endpoint_name("GET", "https://x/services/data/v62.0/query/01gD0000002HU6KIAW-2000")
        == "GET query/{id}"
    )
    policy = RetryPolicy(attempts=3, initial_wait=1.0, max_wait=4.0)
    assert 0 <= policy.backoff(3) <= 4.0
    assert policy.backoff(1, retry_after=100) == 4.0
    assert RetryPolicy.from_settings(5, 2) == RetryPolicy(attempts=6, connect_attempts=3)
