"""Columnar activity tables (``generate_org(activities=N)``): same records and same API as dict
rows, a fraction of the memory; writes shadow the built rows without touching snapshots."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from simple_salesforce import Salesforce

from sandboxes.salesforce import OrgState, SalesforceSandbox, generate_org
from sandboxes.salesforce.columns import ColumnRow, ColumnTable
from sandboxes.salesforce.generator_bulk import MIX, split
from sandboxes.salesforce.ids import IdFactory, checksum, to18
from tests.salesforce_sandbox.conftest import NOW, Raw, client

ACTIVITIES = ("CampaignMember", "Task", "Event", "Form_Submission__c")


@pytest.fixture(scope="module")
def big() -> OrgState:
    return generate_org(leads=300, seed=3, now=NOW, activities=3001)


@pytest.fixture(scope="module")
def served(big: OrgState) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(big) as sandbox:
        yield sandbox


def test_ids_are_made_and_read_back_by_number() -> None:
    ids = IdFactory()
    for number in (1, 61, 62, 3843, 916_132_831, 62**9 - 1):
        made = ids.make("00T", number)
        assert made == made[:15] + checksum(made[:15]) and to18(made[:15]) == made
        assert ids.number_of(made, "00T") == number
    assert ids.number_of(ids.make("00T", 5), "00U") is None
    first = ids.reserve("00T", 10)
    assert ids.number_of(ids.new("00T"), "00T") == first + 10


def test_the_activity_count_and_mix_are_exact(big: OrgState) -> None:
    counts = {name: len(big.rows(name)) for name in ACTIVITIES}
    assert sum(counts.values()) == 3001 and counts == split(3001)
    assert set(counts) == {name for name, _ in MIX}
    assert all(isinstance(big._rows[name], ColumnTable) for name in ACTIVITIES)


def test_built_rows_read_like_inserted_records(big: OrgState) -> None:
    task = big.rows("Task")[7]
    assert isinstance(task, ColumnRow) and task["Id"].startswith("00T")
    full = big.get("Task", task["Id"][:15])
    assert full is not None and set(full) == set(big.schema["Task"].fields)
    assert full["IsClosed"] == (full["Status"] == "Completed")
    assert (full["CompletedDateTime"] is not None) == full["IsClosed"]
    assert full["IsReminderSet"] is False and full["Priority"] in ("High", "Normal")
    who = big.lookup(full["WhoId"])
    assert who is not None and not who.get("IsDeleted")
    member = big.get("CampaignMember", big.rows("CampaignMember")[0]["Id"])
    assert member is not None and (member["LeadId"] is None) != (member["ContactId"] is None)
    person = big.lookup(member["LeadId"] or member["ContactId"])
    assert person is not None and member["Email"] == person.get("Email")
    assert "OwnerId" not in member


def test_a_write_shadows_the_built_row_and_keeps_the_old_view(big: OrgState) -> None:
    table = big._rows["Event"]
    view = big.rows("Event")[1]
    assert isinstance(table, ColumnTable) and isinstance(view, ColumnRow)
    before = len(table)
    big.update("Event", view["Id"], {"Subject": "Demo"})
    assert big.raw("Event", view["Id"]) == {**view, "Subject": "Demo", **_stamps(big, view)}
    assert view["Subject"] == "Discovery call"  # a cursor holding the view keeps its snapshot
    big.delete("Event", view["Id"])
    assert big.get("Event", view["Id"])["IsDeleted"] is True  # type: ignore[index]
    new = big.insert("Event", {"Subject": "New", "WhoId": view["WhoId"]})
    assert table.position(new) is None and len(table) == before + 1
    assert [r["Id"] for r in big.rows("Event")][-1] == new


def _stamps(org: OrgState, view: ColumnRow) -> dict[str, object]:
    row = org.raw("Event", view["Id"])
    assert row is not None
    return {k: row[k] for k in ("LastModifiedDate", "SystemModstamp")}


def test_bulk_query_pages_over_a_columnar_object(served: SalesforceSandbox) -> None:
    sf: Salesforce = client(served)
    soql = "SELECT Id, WhoId, Subject, CompletedDateTime FROM Task"
    chunks = [str(c) for c in sf.bulk2.Task.query_all(soql, max_records=400, wait=0.05)]
    rows = [r for chunk in chunks for r in csv.DictReader(io.StringIO(chunk))]
    tasks = served.org.records("Task", include_deleted=True)
    assert len(chunks) == -(-len(tasks) // 400) and len(rows) == len(tasks)
    by_id = {r["Id"]: r for r in tasks}
    sample = rows[123]
    expected = by_id[sample["Id"]]
    assert sample["Subject"] == expected["Subject"] and sample["WhoId"] == expected["WhoId"]
    if expected["CompletedDateTime"] is None:
        assert sample["CompletedDateTime"] == ""
    else:
        assert sample["CompletedDateTime"].endswith("Z") and len(sample["CompletedDateTime"]) == 24


def test_bulk_results_are_the_snapshot_of_job_completion(served: SalesforceSandbox) -> None:
    raw = Raw(served)
    job = raw.call(
        "POST",
        "/jobs/query",
        json={"operation": "query", "query": "SELECT Id, Form_Name__c FROM Form_Submission__c"},
    ).json()
    for _ in range(200):
        state = raw.call("GET", f"/jobs/query/{job['id']}").json()["state"]
        if state == "JobComplete":
            break
    first = served.org.rows("Form_Submission__c")[0]
    served.org.update("Form_Submission__c", first["Id"], {"Form_Name__c": "Changed"})
    page = raw.call("GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": "5"})
    assert page.status_code == 200 and page.headers["Sforce-NumberOfRecords"] == "5"
    rows = list(csv.DictReader(io.StringIO(page.text)))
    assert rows[0]["Id"] == first["Id"] and rows[0]["Form_Name__c"] == first["Form_Name__c"]
    bad = raw.call(
        "GET", f"/jobs/query/{job['id']}/results", params={"maxRecords": "5", "locator": "%%"}
    )
    assert bad.status_code == 400 and bad.json()[0]["errorCode"] == "INVALIDLOCATOR"
