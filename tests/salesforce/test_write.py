"""Write shapes: Collections chunks, Auto-Assign off, per-record outcomes, Bulk ingest, tasks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.write import sf_value
from leadsync.errors import BudgetExhausted
from leadsync.records import OwnerChange, RecordRef, RecordUpdate, TaskRequest

from .conftest import API, LIMIT_HEADERS, Sleeps

NO_ASSIGN = matchers.header_matcher({"Sforce-Auto-Assign": "FALSE"})


def _lead(n: int) -> RecordRef:
    return RecordRef("salesforce", "Lead", f"00Q{n:015d}")


def _ok(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"id": r.get("id"), "success": True, "errors": []} for r in records]


def _body(call: responses.Call) -> Any:
    return json.loads(call.request.body or b"null")


def test_collections_chunks_of_200_with_auto_assign_off(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        payload = json.loads(request.body)
        return 200, LIMIT_HEADERS, json.dumps(_ok(payload["records"]))

    rsps.add_callback(
        responses.PATCH, f"{API}/composite/sobjects", callback=answer, match=[NO_ASSIGN]
    )
    scored = datetime(2024, 3, 1, 9, 30, 15, 123000, tzinfo=UTC)
    updates = [
        RecordUpdate(
            _lead(i),
            {
                "fit": "good",
                "readiness": "sales_ready",
                "team": "sales",
                "score": 55.5,
                "reason": "x" * 300,
                "scored_at": scored,
            },
        )
        for i in range(450)
    ]
    outcomes = connector.write(updates)

    assert [o.ref for o in outcomes] == [u.ref for u in updates]
    assert all(o.ok for o in outcomes)
    patches = [c for c in rsps.calls if c.request.method == "PATCH"]
    assert [len(_body(c)["records"]) for c in patches] == [200, 200, 50]
    first = _body(patches[0])
    assert first["allOrNone"] is False
    assert first["records"][0] == {
        "attributes": {"type": "Lead"},
        "id": "00Q000000000000000",
        "LeadSync_Fit__c": "Good",
        "LeadSync_Readiness__c": "Sales-ready",
        "LeadSync_Team__c": "Sales",
        "LeadSync_Score__c": 55.5,
        "LeadSync_Reason__c": "x" * 255,
        "LeadSync_Scored_At__c": "2024-03-01T09:30:15.123Z",
    }


def test_per_record_errors_keep_status_codes_and_locked_rows_are_retried(
    rsps: responses.RequestsMock, connector: SalesforceConnector, sleeps: Sleeps
) -> None:
    locked = {
        "success": False,
        "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "unable", "fields": []}],
    }
    bad = {
        "success": False,
        "errors": [
            {
                "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                "message": "Fit: valeur incorrecte",
                "fields": ["LeadSync_Fit__c"],
            }
        ],
    }
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"id": "a", "success": True, "errors": []}, locked, bad],
    )
    rsps.add(responses.PATCH, f"{API}/composite/sobjects", json=[{"success": True, "errors": []}])
    updates = [RecordUpdate(_lead(i), {"fit": "good"}) for i in range(3)]

    outcomes = connector.write(updates)

    assert [o.ok for o in outcomes] == [True, True, False]
    error = outcomes[2].error
    assert error is not None and error.code == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"
    assert error.fields == ("LeadSync_Fit__c",) and not error.retriable
    resent = _body(rsps.calls[-1])["records"]
    assert [r["id"] for r in resent] == [_lead(1).external_id]
    assert len(sleeps) == 1


def test_rows_still_locked_after_retries_are_retriable(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    locked = {"success": False, "errors": [{"statusCode": "UNABLE_TO_LOCK_ROW", "message": "m"}]}
    for _ in range(4):  # max_retries=3 -> 4 attempts
        rsps.add(responses.PATCH, f"{API}/composite/sobjects", json=[locked])
    (outcome,) = connector.write([RecordUpdate(_lead(1), {"score": 3})])
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.code == "UNABLE_TO_LOCK_ROW" and outcome.error.retriable


def test_unmapped_values_are_skipped_and_duplicates_merged(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(responses.PATCH, f"{API}/composite/sobjects", json=[{"success": True, "errors": []}])
    ref = _lead(1)
    outcomes = connector.write(
        [
            RecordUpdate(ref, {"fit": "poor"}),
            RecordUpdate(RecordRef("salesforce", "Opportunity", "006X"), {"fit": "good"}),
            RecordUpdate(ref, {"score": 2}),
        ]
    )
    (record,) = _body(rsps.calls[-1])["records"]
    assert record == {
        "attributes": {"type": "Lead"},
        "id": ref.external_id,
        "LeadSync_Fit__c": "Poor",
        "LeadSync_Score__c": 2,
    }
    assert outcomes[0].ok and outcomes[2].ok
    assert outcomes[1].error is not None and outcomes[1].error.code == "LEADSYNC_UNMAPPED_OBJECT"


def test_bulk_ingest_above_threshold(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    updates = [RecordUpdate(_lead(i), {"score": i, "team": "marketing"}) for i in range(501)]
    rsps.add(
        responses.POST,
        f"{API}/jobs/ingest",
        match=[
            NO_ASSIGN,
            matchers.json_params_matcher(
                {
                    "operation": "update",
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                    "object": "Lead",
                    "contentType": "CSV",
                }
            ),
        ],
        json={"id": "750I", "state": "Open"},
    )
    rsps.add(responses.PUT, f"{API}/jobs/ingest/750I/batches", status=201, match=[NO_ASSIGN])
    rsps.add(
        responses.PATCH,
        f"{API}/jobs/ingest/750I",
        match=[matchers.json_params_matcher({"state": "UploadComplete"})],
        json={"id": "750I", "state": "UploadComplete"},
    )
    rsps.add(responses.GET, f"{API}/jobs/ingest/750I", json={"state": "JobComplete"})
    ok_rows = "".join(f'"{u.ref.external_id}","false","{u.ref.external_id}"\n' for u in updates[1:])
    rsps.add(
        responses.GET,
        f"{API}/jobs/ingest/750I/successfulResults",
        body='"sf__Id","sf__Created","Id"\n' + ok_rows,
    )
    failed = updates[0].ref.external_id
    rsps.add(
        responses.GET,
        f"{API}/jobs/ingest/750I/failedResults",
        body=(
            '"sf__Id","sf__Error","Id"\n'
            f'"{failed}","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--","{failed}"\n'
        ),
    )

    outcomes = connector.write(updates)

    upload = next(c for c in rsps.calls if c.request.method == "PUT")
    lines = (upload.request.body or b"").decode().splitlines()
    assert lines[0] == "Id,LeadSync_Score__c,LeadSync_Team__c"
    assert lines[1] == f"{updates[0].ref.external_id},0,Marketing"
    assert upload.request.headers["Content-Type"] == "text/csv; charset=UTF-8"
    assert all(o.ok for o in outcomes[1:])
    assert outcomes[0].error is not None and outcomes[0].error.code == "UNABLE_TO_LOCK_ROW"
    assert outcomes[0].error.retriable


def test_bulk_ingest_that_processed_everything_reads_only_the_failures(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """The counters say every record was processed: the failures file names the refused
    ones, the rest succeeded, and ``successfulResults`` (not registered here) is not read."""
    updates = [RecordUpdate(_lead(i), {"score": i}) for i in range(501)]
    rsps.add(responses.POST, f"{API}/jobs/ingest", json={"id": "750I", "state": "Open"})
    rsps.add(responses.PUT, f"{API}/jobs/ingest/750I/batches", status=201)
    rsps.add(responses.PATCH, f"{API}/jobs/ingest/750I", json={"state": "UploadComplete"})
    rsps.add(
        responses.GET,
        f"{API}/jobs/ingest/750I",
        json={"state": "JobComplete", "numberRecordsProcessed": 501, "numberRecordsFailed": 1},
    )
    failed = updates[7].ref.external_id
    rsps.add(
        responses.GET,
        f"{API}/jobs/ingest/750I/failedResults",
        body=(
            '"sf__Id","sf__Error","Id","LeadSync_Score__c"\n'
            f'"{failed}","FIELD_CUSTOM_VALIDATION_EXCEPTION:legal hold:--","{failed}","7"\n'
        ),
    )

    outcomes = connector.write(updates)

    assert not any("successfulResults" in c.request.url for c in rsps.calls)
    assert [o.ok for o in outcomes].count(False) == 1
    assert outcomes[7].error is not None
    assert outcomes[7].error.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION"


def test_reassign_sets_owner_and_status(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        match=[NO_ASSIGN],
        json=[{"success": True, "errors": []}, {"success": True, "errors": []}],
    )
    outcomes = connector.reassign(
        [
            OwnerChange(_lead(1), "005R", "Working"),
            OwnerChange(RecordRef("salesforce", "Contact", "003C"), "005R", "Working"),
        ]
    )
    records = {r["id"]: r for r in _body(rsps.calls[-1])["records"]}
    assert records[_lead(1).external_id] == {
        "attributes": {"type": "Lead"},
        "id": _lead(1).external_id,
        "OwnerId": "005R",
        "Status": "Working",
    }
    # The shipped mapping keeps a contact's status in Contact_Status__c (issue 22 #5).
    assert records["003C"] == {
        "attributes": {"type": "Contact"},
        "id": "003C",
        "OwnerId": "005R",
        "Contact_Status__c": "Working",
    }
    assert all(o.ok for o in outcomes)


def test_tasks_are_inserted_and_a_retry_leaves_the_existing_task_alone(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    existing = {
        "success": False,
        "errors": [
            {
                "statusCode": "DUPLICATE_VALUE",
                "message": "duplicate value found: LeadSync_Key__c duplicates value on record "
                "with id: 00T5g000001AbCd",
                "fields": [],
            }
        ],
    }
    rsps.add(
        responses.POST,
        f"{API}/composite/sobjects",
        match=[NO_ASSIGN],
        json=[{"id": "00TN", "success": True, "errors": []}, existing],
    )
    due = datetime(2024, 3, 1, 17, 0, tzinfo=UTC)
    new, retried = connector.create_tasks(
        [
            TaskRequest("handoff:00Q1:1", _lead(1), "005R", "New lead", "Why: fit", due, "High"),
            TaskRequest("handoff:00Q2:1", _lead(2), "005R", "New lead", "Why: fit", due),
        ]
    )
    body = _body(rsps.calls[-1])
    assert body["allOrNone"] is False
    assert body["records"][0] == {
        "attributes": {"type": "Task"},
        "LeadSync_Key__c": "handoff:00Q1:1",
        "WhoId": _lead(1).external_id,
        "OwnerId": "005R",
        "Subject": "New lead",
        "Description": "Why: fit",
        "ActivityDate": "2024-03-01",
        "Priority": "High",
        "Status": "Not Started",
    }
    assert new.ok and new.created_id == "00TN"
    assert retried.ok and retried.created_id == "00T5g000001AbCd"
    # Only inserts: an upsert would PATCH an existing task and reopen it.
    assert all(c.request.method != "PATCH" for c in rsps.calls)


def test_a_duplicate_on_another_field_is_still_a_task_error(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    other = {
        "success": False,
        "errors": [{"statusCode": "DUPLICATE_VALUE", "message": "duplicate value found: X__c"}],
    }
    rsps.add(responses.POST, f"{API}/composite/sobjects", json=[other])
    due = datetime(2024, 3, 1, 17, 0, tzinfo=UTC)
    (outcome,) = connector.create_tasks([TaskRequest("k", _lead(1), "005R", "s", "b", due)])
    assert not outcome.ok and outcome.error is not None
    assert outcome.error.code == "DUPLICATE_VALUE"


def test_budget_reserve_stops_writes_before_any_call(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"success": True, "errors": []}],
        headers={"Sforce-Limit-Info": "api-usage=14990/15000"},
    )
    connector.write([RecordUpdate(_lead(1), {"score": 1})])
    assert connector.usage().remaining == 10
    before = len(rsps.calls)
    with pytest.raises(BudgetExhausted):
        connector.write([RecordUpdate(_lead(2), {"score": 1})])
    assert len(rsps.calls) == before


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (datetime(2026, 3, 5, 9, 4, 7, 987_654, tzinfo=UTC), "2026-03-05T09:04:07.987Z"),
        (datetime(2026, 3, 5, 9, 4, 7), "2026-03-05T09:04:07.000Z"),  # naive is UTC
        (
            datetime(2026, 3, 5, 1, 0, 0, 500, tzinfo=timezone(timedelta(hours=-8))),
            "2026-03-05T09:00:00.000Z",
        ),
    ],
)
def test_datetimes_go_to_salesforce_in_utc_to_the_ms(value: datetime, expected: str) -> None:
    assert sf_value(value) == expected
