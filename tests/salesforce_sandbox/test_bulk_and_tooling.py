"""Bulk API 2.0 through simple-salesforce's bulk2 module, and Tooling CustomField create."""

from __future__ import annotations

import csv
import io

from simple_salesforce import Salesforce

from sandboxes.salesforce import SalesforceSandbox, generate_org
from tests.salesforce_sandbox.conftest import Raw, client, grant


def parse(chunks: list[str]) -> list[dict[str, str]]:
    rows: list[dict[str, str]] = []
    for chunk in chunks:
        rows.extend(csv.DictReader(io.StringIO(chunk)))
    return rows


def test_bulk_query_pages_with_locator(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    chunks = list(
        sf.bulk2.Contact.query(
            "SELECT Id, Email, Account.Name FROM Contact WHERE HasOptedOutOfEmail = false",
            max_records=500,
            wait=0.05,
        )
    )
    rows = parse([str(c) for c in chunks])
    expected = [
        r
        for r in sandbox.org.records("Contact")
        if not r["HasOptedOutOfEmail"] and not r["IsDeleted"]
    ]
    assert len(chunks) == -(-len(expected) // 500)
    assert len(rows) == len(expected)
    assert set(rows[0]) == {"Id", "Email", "Account.Name"}
    stats = sandbox.stats()["by_endpoint"]
    assert stats["GET /jobs/query/{id}/results"] >= len(chunks)


def test_bulk_query_all_includes_deleted(sf: Salesforce) -> None:
    rows = parse(
        [
            str(c)
            for c in sf.bulk2.Lead.query_all(
                "SELECT Id, IsDeleted FROM Lead WHERE IsDeleted = true", wait=0.05
            )
        ]
    )
    assert rows and {r["IsDeleted"] for r in rows} == {"true"}


def test_bulk_query_errors_are_synchronous(raw: Raw) -> None:
    response = raw.call(
        "POST", "/jobs/query", json={"operation": "query", "query": "SELECT Nope FROM Lead"}
    )
    assert response.status_code == 400 and response.json()[0]["errorCode"] == "INVALID_FIELD"


def test_bulk_ingest_update_reports_failures(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    leads = [
        r for r in sandbox.org.records("Lead") if not r["IsConverted"] and not r["Legal_Hold__c"]
    ][:50]
    owners = {r["Id"]: r["OwnerId"] for r in leads}
    records = [
        {"Id": r["Id"], "LeadSync_Score__c": str(i), "LeadSync_Fit__c": "Good"}
        for i, r in enumerate(leads)
    ]
    records[3]["LeadSync_Fit__c"] = "Excellent"
    result = sf.bulk2.Lead.update(records=records, wait=0.05)[0]
    assert result["numberRecordsProcessed"] == 50 and result["numberRecordsFailed"] == 1
    failed = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_failed_records(result["job_id"]))))
    assert failed[0]["Id"] == leads[3]["Id"]
    assert failed[0]["sf__Error"].startswith("INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST:")
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Lead.get_successful_records(result["job_id"]))))
    assert len(ok) == 49 and ok[0]["sf__Created"] == "false"
    row = sandbox.org.get("Lead", leads[10]["Id"])
    assert row is not None and row["LeadSync_Score__c"] == 10.0
    # Bulk ingest does not run the assignment rule unless the job names one.
    assert row["OwnerId"] == owners[leads[10]["Id"]]


def test_bulk_ingest_upsert_tasks(sf: Salesforce, sandbox: SalesforceSandbox) -> None:
    lead = next(r for r in sandbox.org.records("Lead") if not r["IsDeleted"])
    records = [
        {"LeadSync_Key__c": f"bulk-{i}", "WhoId": lead["Id"], "Subject": "Hand-off"}
        for i in range(3)
    ]
    first = sf.bulk2.Task.upsert(records=records, external_id_field="LeadSync_Key__c", wait=0.05)[0]
    again = sf.bulk2.Task.upsert(records=records, external_id_field="LeadSync_Key__c", wait=0.05)[0]
    assert first["numberRecordsFailed"] == again["numberRecordsFailed"] == 0
    created = list(
        csv.DictReader(io.StringIO(sf.bulk2.Task.get_successful_records(again["job_id"])))
    )
    assert {r["sf__Created"] for r in created} == {"false"}
    assert (
        sum(
            1
            for t in sandbox.org.records("Task")
            if (t["LeadSync_Key__c"] or "").startswith("bulk-")
        )
        == 3
    )


def test_bulk_ingest_unknown_column_fails_the_job(raw: Raw) -> None:
    job = raw.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "insert"}).json()
    assert job["state"] == "Open"
    upload = raw.call(
        "PUT",
        f"/jobs/ingest/{job['id']}/batches",
        data=b"Nope\nx\n",
        headers={"Content-Type": "text/csv"},
    )
    assert upload.status_code == 201
    raw.call("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
    for _ in range(100):
        info = raw.call("GET", f"/jobs/ingest/{job['id']}").json()
        if info["state"] in ("Failed", "JobComplete"):
            break
    assert info["state"] == "Failed" and "Nope" in info["errorMessage"]
    unprocessed = raw.call("GET", f"/jobs/ingest/{job['id']}/unprocessedrecords").text
    assert unprocessed.splitlines() == ['"Nope"', '"x"']


def test_tooling_custom_field_then_describe_and_write() -> None:
    org = generate_org(leads=30, seed=3, with_output_fields=False)
    with SalesforceSandbox(org) as sandbox:
        sf = client(sandbox)
        assert "LeadSync_Fit__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
        body = {
            "FullName": "Lead.LeadSync_Fit__c",
            "Metadata": {
                "label": "LeadSync Fit",
                "type": "Picklist",
                "valueSet": {
                    "restricted": True,
                    "valueSetDefinition": {
                        "value": [
                            {"fullName": "Good", "label": "Good", "default": False},
                            {"fullName": "Poor", "label": "Poor", "default": False},
                        ]
                    },
                },
            },
        }
        created = sf.toolingexecute("sobjects/CustomField", method="POST", data=body)
        assert created["success"] and created["id"].startswith("00N")
        # No profile grants a new field: the API user sees it once a permission set does.
        assert "LeadSync_Fit__c" not in {f["name"] for f in sf.Lead.describe()["fields"]}
        grant(sf, org.integration_user_id, ["Lead.LeadSync_Fit__c"])
        fit = next(f for f in sf.Lead.describe()["fields"] if f["name"] == "LeadSync_Fit__c")
        assert fit["restrictedPicklist"] and fit["custom"]
        score = {
            "FullName": "Lead.LeadSync_Score__c",
            "Metadata": {"label": "Score", "type": "Number", "precision": 6, "scale": 0},
        }
        sf.toolingexecute("sobjects/CustomField", method="POST", data=score)
        grant(sf, org.integration_user_id, ["Lead.LeadSync_Score__c"])
        lead = next(
            r
            for r in org.records("Lead")
            if not r["IsConverted"] and not r["Legal_Hold__c"] and not r["IsDeleted"]
        )
        sf.Lead.update(
            lead["Id"],
            {"LeadSync_Fit__c": "Poor", "LeadSync_Score__c": 12},
            headers={"Sforce-Auto-Assign": "FALSE"},
        )
        got = sf.query(
            f"SELECT LeadSync_Fit__c, LeadSync_Score__c FROM Lead WHERE Id = '{lead['Id']}'"
        )["records"][0]
        assert (got["LeadSync_Fit__c"], got["LeadSync_Score__c"]) == ("Poor", 12.0)
        duplicate = Raw(sandbox).call("POST", "/tooling/sobjects/CustomField", json=body)
        assert duplicate.status_code == 400
        assert duplicate.json()[0]["errorCode"] == "DUPLICATE_DEVELOPER_NAME"
        key = {
            "FullName": "Activity.LeadSync_Key__c",
            "Metadata": {
                "label": "Key",
                "type": "Text",
                "length": 80,
                "externalId": True,
                "unique": True,
            },
        }
        on_task = {**key, "FullName": "Task.LeadSync_Key__c"}
        refused = Raw(sandbox).call("POST", "/tooling/sobjects/CustomField", json=on_task)
        assert refused.status_code == 400
        assert "Activity.LeadSync_Key__c" in refused.json()[0]["message"]
        sf.toolingexecute("sobjects/CustomField", method="POST", data=key)
        grant(sf, org.integration_user_id, ["Task.LeadSync_Key__c"])
        event_fields = {f["name"] for f in sf.Event.describe()["fields"]}
        assert "LeadSync_Key__c" in event_fields  # activity fields appear on Task and Event
        upsert = Raw(sandbox).call(
            "PATCH", "/sobjects/Task/LeadSync_Key__c/k1", json={"Subject": "x"}
        )
        assert upsert.status_code == 201


def test_completed_tasks_carry_completed_datetime(sandbox: SalesforceSandbox) -> None:
    org = sandbox.org
    lead = org.records("Lead")[0]
    task_id = org.insert("Task", {"WhoId": lead["Id"], "Subject": "Call", "Status": "Not Started"})
    assert org.get("Task", task_id)["CompletedDateTime"] is None
    org.update("Task", task_id, {"Status": "Completed"})
    closed = org.get("Task", task_id)
    assert closed["IsClosed"] and closed["CompletedDateTime"] == closed["SystemModstamp"]
    org.update("Task", task_id, {"Subject": "Call back"})
    assert org.get("Task", task_id)["CompletedDateTime"] == closed["CompletedDateTime"]
    member = next(m for m in org.records("CampaignMember") if m.get("LeadId"))
    assert member["Email"] == org.get("Lead", member["LeadId"])["Email"]


def test_bulk_ingest_takes_one_upload_per_job(raw: Raw, sandbox: SalesforceSandbox) -> None:
    lead = next(r for r in sandbox.org.records("Lead") if not r["IsDeleted"])
    before = sandbox.stats()["bulk_upload_bytes"].get("Lead", 0)
    job = raw.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "update"}).json()
    data = f"Id,Title\n{lead['Id']},VP Ops\n".encode()
    url, csv_header = f"/jobs/ingest/{job['id']}/batches", {"Content-Type": "text/csv"}
    assert raw.call("PUT", url, data=data, headers=csv_header).status_code == 201
    again = raw.call("PUT", url, data=data, headers=csv_header)
    assert again.status_code == 409
    error = again.json()[0]
    assert error["errorCode"] == "INVALIDJOBSTATE"
    assert error["message"].startswith(f"Found multiple contents for job: <{job['id']}>")
    assert sandbox.stats()["bulk_upload_bytes"]["Lead"] == before + len(data)


def test_bulk_ingest_refuses_an_upload_over_150_mb_base64(raw: Raw) -> None:
    job = raw.call("POST", "/jobs/ingest", json={"object": "Lead", "operation": "update"}).json()
    url, csv_header = f"/jobs/ingest/{job['id']}/batches", {"Content-Type": "text/csv"}
    row = b"00Q000000000001AAA,x\n"
    # 112.5 MB raw is 150 MB base64: the first byte over it is refused, the limit itself taken.
    too_big = b"Id,Title\n" + row * (112_500_000 // len(row) + 1)
    refused = raw.call("PUT", url, data=too_big, headers=csv_header)
    assert refused.status_code == 413
    assert refused.json()[0]["errorCode"] == "INVALIDBATCH"
    assert "150,000,000 bytes base64-encoded" in refused.json()[0]["message"]
    at_limit = b"Id,Title\n" + row * ((112_500_000 - 9) // len(row))
    assert -(-len(at_limit) // 3) * 4 <= 150_000_000
    assert raw.call("PUT", url, data=at_limit, headers=csv_header).status_code == 201
