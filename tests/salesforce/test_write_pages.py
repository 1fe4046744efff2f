"""Writing many pages: one Bulk job per object across pages, outcomes per page in order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import pytest
import responses

from connectors.salesforce import bulk_batch
from connectors.salesforce.connector import SalesforceConnector
from leadsync.records import RecordRef, RecordUpdate, WriteOutcome

from .conftest import API


def _ref(sobject: str, n: int) -> RecordRef:
    prefix = "00Q" if sobject == "Lead" else "003"
    return RecordRef("salesforce", sobject, f"{prefix}{n:015d}")


def _ingest_job(
    rsps: responses.RequestsMock, job: str, rows: int, failed: Sequence[RecordRef] = ()
) -> None:
    """One ingest job that processes all its ``rows``; ``failed`` are refused (row locks)."""
    rsps.add(responses.POST, f"{API}/jobs/ingest", json={"id": job, "state": "Open"})
    rsps.add(responses.PUT, f"{API}/jobs/ingest/{job}/batches", status=201)
    rsps.add(responses.PATCH, f"{API}/jobs/ingest/{job}", json={"state": "UploadComplete"})
    status = {
        "state": "JobComplete",
        "numberRecordsProcessed": rows,
        "numberRecordsFailed": len(failed),
    }
    rsps.add(responses.GET, f"{API}/jobs/ingest/{job}", json=status)
    if failed:
        refused = "".join(
            f'"{r.external_id}","UNABLE_TO_LOCK_ROW:unable to obtain exclusive access:--",'
            f'"{r.external_id}"\n'
            for r in failed
        )
        rsps.add(
            responses.GET,
            f"{API}/jobs/ingest/{job}/failedResults",
            body='"sf__Id","sf__Error","Id"\n' + refused,
        )


def _uploads(rsps: responses.RequestsMock) -> list[list[str]]:
    return [
        (call.request.body or b"").decode().splitlines()  # type: ignore[union-attr]
        for call in rsps.calls
        if call.request.method == "PUT"
    ]


def test_pages_share_one_bulk_job_and_answer_in_page_order(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    """Two pages of 300 leads (600 > the 500 threshold) go in one job; a later field is a new
    column with empty cells for the rows before it; a failure lands on its own page; the
    5 contacts, under the threshold, go by Collections once the pages end."""
    first = [RecordUpdate(_ref("Lead", i), {"score": i}) for i in range(300)]
    second = [RecordUpdate(_ref("Lead", i), {"score": i, "team": "sales"}) for i in range(300, 600)]
    contacts = [RecordUpdate(_ref("Contact", i), {"score": 1}) for i in range(5)]
    refused = second[7].ref
    _ingest_job(rsps, "750A", 600, failed=[refused])
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"id": u.ref.external_id, "success": True, "errors": []} for u in contacts],
    )
    read: list[int] = []

    def pages() -> Iterator[list[RecordUpdate]]:
        for number, page in enumerate((first, second + contacts[:2], contacts[2:])):
            read.append(number)
            yield page

    answers = connector.write_pages(pages())
    page_one = next(answers)
    assert read == [0, 1, 2]  # held until the job (all leads) and the contacts were sent
    page_two, page_three = list(answers)

    (upload,) = _uploads(rsps)
    assert upload[0] == "Id,LeadSync_Score__c,LeadSync_Team__c"
    assert len(upload) == 601
    assert f"{first[0].ref.external_id},0," in upload
    assert f"{second[0].ref.external_id},300,Sales" in upload
    assert [len(page_one), len(page_two), len(page_three)] == [300, 302, 3]
    assert all(o.ok for o in page_one) and all(o.ok for o in page_three)
    failures = [o for o in page_two if not o.ok]
    assert [o.ref for o in failures] == [refused]
    assert failures[0].error is not None and failures[0].error.code == "UNABLE_TO_LOCK_ROW"
    assert [o.ref for o in page_two] == [u.ref for u in second + contacts[:2]]
    collections = [
        c for c in rsps.calls if c.request.method == "PATCH" and "composite" in c.request.url
    ]
    assert len(collections) == 1


def test_a_job_that_would_pass_the_upload_limit_is_sent_and_a_new_one_started(
    rsps: responses.RequestsMock, connector: SalesforceConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    updates = [RecordUpdate(_ref("Lead", i), {"score": 100 + i}) for i in range(600)]
    # Each row is 23 bytes ("00Q...18 chars,100\n"); a job takes a row while its size (the
    # header, then the rows) plus the row's upper bound (the 18-char id, 2 commas for the
    # columns, the newline, 2 * 3 + 2 for the quoted value: 29 bytes) fits,
    # so this limit holds exactly 400 rows.
    assert len(f"{updates[0].ref.external_id},100\n") == 23
    header = len("Id,LeadSync_Score__c\n")
    monkeypatch.setattr(bulk_batch, "BULK_UPLOAD_BYTES", header + 23 * 399 + 29)
    _ingest_job(rsps, "750A", 400)
    _ingest_job(rsps, "750B", 200)

    outcomes: list[WriteOutcome] = []
    for page in connector.write_pages([updates[:250], updates[250:]]):
        outcomes += page

    assert [len(lines) - 1 for lines in _uploads(rsps)] == [400, 200]
    assert _uploads(rsps)[0][0] == "Id,LeadSync_Score__c"
    assert len(outcomes) == 600 and all(o.ok for o in outcomes)
    assert [o.ref for o in outcomes] == [u.ref for u in updates]


def test_one_page_writes_as_write_does(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    updates = [RecordUpdate(_ref("Lead", i), {"score": i}) for i in range(3)]
    rsps.add(
        responses.PATCH,
        f"{API}/composite/sobjects",
        json=[{"id": u.ref.external_id, "success": True, "errors": []} for u in updates],
    )
    (outcomes,) = list(connector.write_pages([updates]))
    assert [o.ok for o in outcomes] == [True, True, True]


def test_a_sent_job_runs_while_the_next_pages_fill_the_next_job(
    rsps: responses.RequestsMock, connector: SalesforceConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first job is polled between pages, not waited for: the later pages are read and
    the second job is sent while the first is still running; each job is polled until done,
    and the outcomes still come out page by page, in order."""
    updates = [RecordUpdate(_ref("Lead", i), {"score": 100 + i}) for i in range(600)]
    header = len("Id,LeadSync_Score__c\n")
    monkeypatch.setattr(bulk_batch, "BULK_UPLOAD_BYTES", header + 23 * 399 + 29)  # 400 rows
    # A learned rate so high that a job's first poll is due at once.
    monkeypatch.setitem(connector.client._bulk_rates, False, 1e12)
    for job in ("750A", "750B"):
        rsps.add(responses.POST, f"{API}/jobs/ingest", json={"id": job, "state": "Open"})
        rsps.add(responses.PUT, f"{API}/jobs/ingest/{job}/batches", status=201)
        rsps.add(responses.PATCH, f"{API}/jobs/ingest/{job}", json={"state": "UploadComplete"})
    running = {"state": "InProgress", "numberRecordsProcessed": 0, "numberRecordsFailed": 0}
    rsps.add(responses.GET, f"{API}/jobs/ingest/750A", json=running)
    for job, rows in (("750A", 400), ("750B", 200)):
        done = {"state": "JobComplete", "numberRecordsProcessed": rows, "numberRecordsFailed": 0}
        rsps.add(responses.GET, f"{API}/jobs/ingest/{job}", json=done)
    read: list[int] = []

    def pages() -> Iterator[list[RecordUpdate]]:
        for number, start in enumerate(range(0, 600, 150)):
            read.append(number)
            yield updates[start : start + 150]

    outcomes: list[list[WriteOutcome]] = []
    for page in connector.write_pages(pages()):
        outcomes.append(page)

    calls = [f"{c.request.method} {c.request.url.rsplit('/', 1)[-1]}" for c in rsps.calls]
    calls = [c for c in calls if "token" not in c]
    first_poll = calls.index("GET 750A")
    assert calls[:first_poll] == ["POST ingest", "PUT batches", "PATCH 750A"]
    # Still running at its first poll: the fourth page is read and job B sent before A is done;
    # then each is polled once when due (which first depends on how fast this machine is).
    assert calls[first_poll + 1 : first_poll + 4] == ["POST ingest", "PUT batches", "PATCH 750B"]
    assert sorted(calls[first_poll + 4 :]) == ["GET 750A", "GET 750B"]
    assert read == [0, 1, 2, 3]
    assert [len(page) for page in outcomes] == [150, 150, 150, 150]
    assert all(o.ok for page in outcomes for o in page)
    assert [o.ref for page in outcomes for o in page] == [u.ref for u in updates]
