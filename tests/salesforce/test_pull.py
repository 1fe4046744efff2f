"""Pull request shapes (queryAll, nextRecordsUrl, Bulk 2.0 switch) and row conversion."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import responses
from responses import matchers

from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.pull import parse_datetime
from leadsync.records import RecordRef

from .conftest import API, INSTANCE, LIMIT_HEADERS

SINCE = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
LEAD_SOQL = (
    "SELECT Id, SystemModstamp, IsDeleted, MasterRecordId, CreatedDate, IsConverted, "
    "ConvertedDate, ConvertedContactId, Email, Status, OwnerId, HasOptedOutOfEmail, Industry, "
    "NumberOfEmployees, AnnualRevenue, Country, State, City, Title, Company, Website, "
    "LeadSource, Ownership__c, FirstName, LastName FROM Lead WHERE SystemModstamp >= "
    "2024-03-01T12:00:00Z "
    "ORDER BY SystemModstamp, Id"
)
CONTACT_SOQL = (
    "SELECT Id, SystemModstamp, IsDeleted, MasterRecordId, CreatedDate, Email, "
    "Contact_Status__c, OwnerId, "
    "HasOptedOutOfEmail, AccountId, Account.Industry, Account.NumberOfEmployees, "
    "Account.AnnualRevenue, "
    "MailingCountry, MailingState, MailingCity, Title, Account.Name, Account.Website, "
    "LeadSource, Account.Ownership, FirstName, LastName FROM Contact WHERE SystemModstamp >= "
    "2024-03-01T12:00:00Z "
    "ORDER BY SystemModstamp, Id"
)


def _lead(lead_id: str, **extra: object) -> dict[str, object]:
    row: dict[str, object] = {
        "attributes": {"type": "Lead", "url": f"/services/data/v62.0/sobjects/Lead/{lead_id}"},
        "Id": lead_id,
        "SystemModstamp": "2024-03-01T12:00:00.000+0000",
        "IsDeleted": False,
        "MasterRecordId": None,
        "IsConverted": False,
        "ConvertedDate": None,
        "ConvertedContactId": None,
        "Email": f"{lead_id}@example.com",
        "Status": "Open",
        "OwnerId": "005A",
        "HasOptedOutOfEmail": False,
        "Industry": "Software",
        "NumberOfEmployees": 250,
        "AnnualRevenue": 1.5e7,
        "Country": "DE",
        "State": None,
        "City": "Berlin",
        "Title": "VP Sales",
        "Company": "Acme",
        "Website": "acme.example",
        "LeadSource": "Web",
        "Ownership__c": "Private",
    }
    row.update(extra)
    return row


def _query(rsps: responses.RequestsMock, soql: str, body: dict[str, object]) -> None:
    rsps.add(
        responses.GET,
        f"{API}/queryAll/",
        match=[matchers.query_param_matcher({"q": soql})],
        json=body,
        headers=LIMIT_HEADERS,
    )


def test_people_page_through_next_records_url(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    next_url = "/services/data/v62.0/query/01gLEADS-2000"
    _query(
        rsps,
        LEAD_SOQL,
        {"totalSize": 3, "done": False, "nextRecordsUrl": next_url, "records": [_lead("00Q1")]},
    )
    converted = _lead(
        "00Q2",
        IsConverted=True,
        ConvertedDate="2024-03-02",
        ConvertedContactId="003C",
    )
    merged = _lead("00Q3", IsDeleted=True, MasterRecordId="00Q9")
    rsps.add(
        responses.GET,
        INSTANCE + next_url,
        json={"totalSize": 3, "done": True, "records": [converted, merged]},
    )
    contact = {
        "attributes": {"type": "Contact"},
        "Id": "003C",
        "SystemModstamp": "2024-03-02T08:00:00.000+0000",
        "IsDeleted": False,
        "MasterRecordId": None,
        "Email": "c@example.com",
        "OwnerId": "005B",
        "HasOptedOutOfEmail": True,
        "AccountId": "001A",
        "Account": {
            "attributes": {"type": "Account"},
            "Industry": "Banking",
            "NumberOfEmployees": 5000,
            "AnnualRevenue": None,
            "Name": "Bank",
            "Website": None,
            "Ownership": "Public",
        },
        "MailingCountry": "US",
        "MailingState": "NY",
        "MailingCity": "New York",
        "Title": "CTO",
        "LeadSource": None,
    }
    _query(rsps, CONTACT_SOQL, {"totalSize": 1, "done": True, "records": [contact]})

    people = list(connector.pull_people(SINCE))

    assert [p.ref.external_id for p in people] == ["00Q1", "00Q2", "00Q3", "003C"]
    first = people[0]
    assert first.ref == RecordRef("salesforce", "Lead", "00Q1")
    assert first.modified_at == SINCE
    assert first.attributes["employees"] == 250
    assert first.attributes["ownership"] == "Private"
    assert first.owner_id == "005A" and first.status == "Open" and not first.opted_out
    assert people[1].converted_at == datetime(2024, 3, 2, tzinfo=UTC)
    assert people[1].merged_into == RecordRef("salesforce", "Contact", "003C")
    assert people[2].deleted and people[2].merged_into == RecordRef("salesforce", "Lead", "00Q9")
    c = people[3]
    assert c.account_id == "001A" and c.opted_out and c.status is None
    assert c.attributes["industry"] == "Banking"
    assert c.attributes["company"] == "Bank"
    assert c.attributes["ownership"] == "Public"
    assert c.attributes["annual_revenue"] is None
    # token + 2 Lead pages + 1 Contact page
    assert connector.usage().calls == 4
    assert connector.usage().calls_by_endpoint["GET queryAll"] == 2
    assert connector.usage().remaining == 14_900


def test_idle_cycle_costs_one_call_per_object(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    empty = {"totalSize": 0, "done": True, "records": []}
    _query(rsps, LEAD_SOQL, empty)
    _query(rsps, CONTACT_SOQL, empty)
    for _ in range(4):  # CampaignMember, Task, Event, Form_Submission__c
        rsps.add(responses.GET, f"{API}/queryAll/", json=empty)
    assert list(connector.pull_people(SINCE)) == []
    assert list(connector.pull_activities(SINCE)) == []
    assert connector.usage().calls_by_endpoint == {"POST oauth2/token": 1, "GET queryAll": 6}


def _describes(rsps: responses.RequestsMock, known: dict[str, Any]) -> None:
    """One Composite call answering the describes it asks for: ``known`` ones, else 404."""

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        results = []
        for sub in json.loads(request.body)["compositeRequest"]:
            name = sub["url"].split("/sobjects/")[1].split("/")[0]
            found = name in known
            results.append(
                {
                    "body": known[name] if found else [{"errorCode": "NOT_FOUND"}],
                    "httpHeaders": {},
                    "httpStatusCode": 200 if found else 404,
                    "referenceId": sub["referenceId"],
                }
            )
        return 200, {}, json.dumps({"compositeResponse": results})

    rsps.add_callback(responses.POST, f"{API}/composite", callback=answer)


def _counts(rsps: responses.RequestsMock, counts: dict[str, int]) -> None:
    """``limits/recordCount``, asked once the Lead probe finds a large org."""
    body = {"sObjects": [{"count": n, "name": name} for name, n in counts.items()]}
    rsps.add(responses.GET, f"{API}/limits/recordCount", json=body)


def test_large_pull_switches_to_bulk_query(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    full_soql = LEAD_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", "")
    _query(
        rsps,
        full_soql,
        {"totalSize": 4, "done": False, "nextRecordsUrl": "/x", "records": [_lead("00Q1")]},
    )
    describe = {
        "name": "Lead",
        "fields": [
            {"name": "NumberOfEmployees", "type": "int"},
            {"name": "AnnualRevenue", "type": "currency"},
            {"name": "IsDeleted", "type": "boolean"},
            {"name": "IsConverted", "type": "boolean"},
            {"name": "HasOptedOutOfEmail", "type": "boolean"},
        ],
    }
    _describes(rsps, {"Lead": describe})
    _counts(rsps, {"Contact": 0, "CampaignMember": 2})
    bulk_soql = full_soql.replace(" ORDER BY SystemModstamp, Id", "")
    rsps.add(
        responses.POST,
        f"{API}/jobs/query",
        match=[
            matchers.json_params_matcher(
                {
                    "operation": "queryAll",
                    "query": bulk_soql,
                    "columnDelimiter": "COMMA",
                    "lineEnding": "LF",
                }
            )
        ],
        json={"id": "750Q", "state": "UploadComplete", "createdDate": JOB_MADE},
    )
    rsps.add(responses.GET, f"{API}/jobs/query/750Q", json={"id": "750Q", "state": "InProgress"})
    rsps.add(responses.GET, f"{API}/jobs/query/750Q", json={"id": "750Q", "state": "JobComplete"})
    header = (
        "Id,SystemModstamp,IsDeleted,MasterRecordId,CreatedDate,IsConverted,ConvertedDate,"
        "ConvertedContactId,Email,Status,OwnerId,HasOptedOutOfEmail,Industry,NumberOfEmployees,"
        "AnnualRevenue,Country,State,City,Title,Company,Website,LeadSource,Ownership__c,"
        "FirstName,LastName\n"
    )
    row = "{id},2024-03-01T12:00:00.000Z,false,,2023-11-02T08:30:00.000Z,false,,,{id}@x.com,Open,005A,true,Software,1200,2.5E7,DE,,Berlin,CEO,Acme,,Web,Private,Ada,Lovelace\n"  # noqa: E501
    rsps.add(
        responses.GET,
        f"{API}/jobs/query/750Q/results",
        match=[matchers.query_param_matcher({"maxRecords": "50000"})],
        body=header + row.format(id="00Q1") + row.format(id="00Q2"),
        headers={"Sforce-Locator": "abc", "Sforce-NumberOfRecords": "2"},
    )
    rsps.add(
        responses.GET,
        f"{API}/jobs/query/750Q/results",
        match=[matchers.query_param_matcher({"maxRecords": "50000", "locator": "abc"})],
        body=header + row.format(id="00Q3") + row.format(id="00Q4"),
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "2"},
    )
    # A lead changed while the job ran: the job does not hold it; the pull still does.
    _catch_up(rsps, bulk_soql, [_lead("00Q5")])
    _query(
        rsps,
        CONTACT_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", ""),
        {"totalSize": 0, "done": True, "records": []},
    )

    people = list(connector.pull_people(None))

    assert [p.ref.external_id for p in people] == ["00Q1", "00Q2", "00Q3", "00Q4", "00Q5"]
    assert people[0].attributes["employees"] == 1200
    assert people[0].attributes["annual_revenue"] == 2.5e7
    assert people[0].created_at == datetime(2023, 11, 2, 8, 30, tzinfo=UTC)
    assert people[0].attributes["state"] is None
    assert people[0].opted_out is True and people[0].deleted is False
    assert people[0].modified_at == datetime(2024, 3, 1, 12, tzinfo=UTC)


def test_bulk_query_first_poll_waits_for_the_probed_row_count(
    rsps: responses.RequestsMock, connector: SalesforceConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The REST probe said 100,000 rows: the job's first status poll waits for them at the
    starting query rate (50,000 rows/s) instead of polling every 0.25 s, doubling."""
    slept: list[float] = []
    monkeypatch.setattr("connectors.salesforce.client.time.sleep", slept.append)
    full_soql = LEAD_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", "")
    _query(
        rsps,
        full_soql,
        {"totalSize": 100_000, "done": False, "nextRecordsUrl": "/x", "records": [_lead("00Q1")]},
    )
    _describes(rsps, {"Lead": {"name": "Lead", "fields": []}})
    _counts(rsps, {"Contact": 0})
    rsps.add(
        responses.POST,
        f"{API}/jobs/query",
        json={"id": "750Q", "state": "UploadComplete", "createdDate": JOB_MADE},
    )
    _catch_up(rsps, full_soql.replace(" ORDER BY SystemModstamp, Id", ""))
    rsps.add(
        responses.GET,
        f"{API}/jobs/query/750Q",
        json={
            "id": "750Q",
            "state": "JobComplete",
            "numberRecordsProcessed": 100_000,
            "totalProcessingTime": 1_000,
        },
    )
    rsps.add(
        responses.GET,
        f"{API}/jobs/query/750Q/results",
        body="Id,SystemModstamp,IsDeleted\n00Q1,2024-03-01T12:00:00.000Z,false\n",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "1"},
    )
    _query(
        rsps,
        CONTACT_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", ""),
        {"totalSize": 0, "done": True, "records": []},
    )

    assert [p.ref.external_id for p in connector.pull_people(None)] == ["00Q1"]
    assert len(slept) == 1 and slept[0] == pytest.approx(2.0, abs=0.5)
    polls = [c for c in rsps.calls if c.request.url.endswith("/jobs/query/750Q")]
    assert len(polls) == 1


class FakeTime:
    """The client's clock: sleeping moves it on, and nothing else does."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _large_lead_probe(
    rsps: responses.RequestsMock, monkeypatch: pytest.MonkeyPatch, total: int
) -> FakeTime:
    """The client on a fake clock, and a full Lead probe reporting ``total`` rows."""
    clock = FakeTime()
    monkeypatch.setattr("connectors.salesforce.client.time", clock)
    full_soql = LEAD_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", "")
    page = {"totalSize": total, "done": False, "nextRecordsUrl": "/x", "records": []}
    _query(rsps, full_soql, page)
    return clock


#: When the mocked org says a Bulk query job was made (``createdDate``).
JOB_MADE = "2024-03-01T12:05:00.000+0000"


def _catch_up(
    rsps: responses.RequestsMock, bulk_soql: str, records: list[dict[str, Any]] | None = None
) -> None:
    """The REST query a pull makes after reading a Bulk job: what changed since it was made."""
    since = bulk_soql + " WHERE SystemModstamp >= 2024-03-01T12:05:00Z ORDER BY SystemModstamp, Id"
    rows = records or []
    rsps.add(
        responses.GET,
        f"{API}/queryAll/",
        match=[matchers.query_param_matcher({"q": since})],
        json={"totalSize": len(rows), "done": True, "records": rows},
    )


def _query_job(
    rsps: responses.RequestsMock,
    job: str,
    soql: str,
    states: list[str],
    *,
    caught_up: bool = True,
) -> None:
    """A Bulk query job for ``soql``'s object, and (``caught_up``) the REST query a pull makes
    after reading it, for what changed since the job was made (nothing here)."""
    bulk_soql = soql.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", "").replace(
        " ORDER BY SystemModstamp, Id", ""
    )
    rsps.add(
        responses.POST,
        f"{API}/jobs/query",
        match=[matchers.json_params_matcher({"query": bulk_soql}, strict_match=False)],
        json={"id": job, "state": "UploadComplete", "createdDate": JOB_MADE},
    )
    if caught_up:
        _catch_up(rsps, bulk_soql)
    for state in states:
        rsps.add(responses.GET, f"{API}/jobs/query/{job}", json={"id": job, "state": state})
    rsps.add(
        responses.GET,
        f"{API}/jobs/query/{job}/results",
        body="Id,SystemModstamp,IsDeleted\n",
        headers={"Sforce-Locator": "null", "Sforce-NumberOfRecords": "0"},
    )


def test_counted_large_objects_start_their_bulk_jobs_ahead(
    rsps: responses.RequestsMock, connector: SalesforceConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Lead probe finds 1,000,000 rows: Lead's job is created first, then the record count,
    then Contact's job (150,000 counted). Lead's first poll waits 20 s at the starting query
    rate; by then Contact's job has run for 20 s, longer than its 3 s, so it is polled at once,
    once."""
    clock = _large_lead_probe(rsps, monkeypatch, 1_000_000)
    _describes(rsps, {"Lead": {"name": "Lead", "fields": []}, "Contact": {"fields": []}})
    _counts(rsps, {"Contact": 150_000})
    _query_job(rsps, "750L", LEAD_SOQL, ["JobComplete"])
    _query_job(rsps, "750C", CONTACT_SOQL, ["JobComplete"])

    assert list(connector.pull_people(None)) == []

    made = [
        c.request.url.split("?")[0]
        for c in rsps.calls
        if c.request.method == "POST" or "limits" in c.request.url
    ]
    assert [
        url.rsplit("/", 2)[-2:]
        for url in made
        if "/services/data/" in url and "composite" not in url
    ] == [
        ["jobs", "query"],
        ["limits", "recordCount"],
        ["jobs", "query"],
    ]
    assert clock.slept == [pytest.approx(20.0)]
    for job in ("750L", "750C"):
        assert sum(c.request.url.endswith(f"/jobs/query/{job}") for c in rsps.calls) == 1


def test_a_job_running_long_is_polled_at_a_quarter_of_its_age(
    rsps: responses.RequestsMock, connector: SalesforceConnector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100,000 rows expected (2 s at the starting rate) but the job runs for about 8 s: the waits
    after the first are a quarter of the job's age, not 0.25 s doubling from scratch."""
    clock = _large_lead_probe(rsps, monkeypatch, 100_000)
    _describes(rsps, {"Lead": {"name": "Lead", "fields": []}})
    _counts(rsps, {"Contact": 0})
    states = ["InProgress"] * 6 + ["JobComplete"]
    _query_job(rsps, "750L", LEAD_SOQL, states)
    _query(
        rsps,
        CONTACT_SOQL.replace(" WHERE SystemModstamp >= 2024-03-01T12:00:00Z", ""),
        {"totalSize": 0, "done": True, "records": []},
    )

    assert list(connector.pull_people(None)) == []

    assert clock.slept[0] == pytest.approx(2.0)
    for i in range(1, len(clock.slept)):
        age = sum(clock.slept[:i])  # the job's age at that poll (calls take no time here)
        assert clock.slept[i] == pytest.approx(max(0.25, age / 4))
    assert len(clock.slept) == 7  # the first wait, then one after each of 6 InProgress polls
    assert clock.slept[1:3] == [pytest.approx(0.5), pytest.approx(0.625)]


def test_activities_from_every_source(
    rsps: responses.RequestsMock, connector: SalesforceConnector
) -> None:
    stamp = "2024-03-05T10:00:00.000+0000"
    members = [
        {
            "Id": "00vW",
            "SystemModstamp": stamp,
            "IsDeleted": False,
            "CreatedDate": "2024-03-01T10:00:00.000+0000",
            "LeadId": "00Q1",
            "ContactId": None,
            "Email": "a@x.com",
            "CampaignId": "701W",
            "Campaign": {"Name": "Q1 Webinar", "Type": "Webinar"},
            "Status": "Attended",
            "HasResponded": True,
            "FirstRespondedDate": "2024-03-04",
            "LastModifiedDate": "2024-03-04T16:00:00.000+0000",
        },
        {
            "Id": "00vX",
            "SystemModstamp": stamp,
            "IsDeleted": True,
            "CreatedDate": "2024-03-01T10:00:00.000+0000",
            "LeadId": "00Q1",
            "ContactId": "003C",
            "Email": "a@x.com",
            "CampaignId": "701X",
            "Campaign": {"Name": "Newsletter", "Type": "Email"},
            "Status": "Sent",
            "HasResponded": False,
            "FirstRespondedDate": None,
        },
    ]
    task = {
        "Id": "00TA",
        "SystemModstamp": stamp,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "WhoId": "003C",
        "OwnerId": "005R",
        "Subject": "Intro call",
        "TaskSubtype": "Call",
        "Type": None,
        "ActivityDate": "2024-03-05",
        "CompletedDateTime": "2024-03-05T09:30:00.000+0000",
    }
    event = {
        "Id": "00UE",
        "SystemModstamp": stamp,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "WhoId": "00Q1",
        "OwnerId": "005R",
        "Subject": "Demo",
        "StartDateTime": "2024-03-06T15:00:00.000+0000",
        "ActivityDateTime": "2024-03-06T15:00:00.000+0000",
    }
    form = {
        "Id": "a01F",
        "SystemModstamp": stamp,
        "IsDeleted": False,
        "CreatedDate": stamp,
        "Email__c": "new@x.com",
        "Form_Name__c": "Contact Us",
        "Page_URL__c": "https://acme.example/contact",
        "Lead__c": None,
        "Contact__c": None,
        "Submitted_At__c": "2024-03-05T09:00:00.000+0000",
    }
    for records in ([*members], [task], [event], [form]):
        rsps.add(
            responses.GET,
            f"{API}/queryAll/",
            json={"totalSize": len(records), "done": True, "records": records},
        )

    acts = list(connector.pull_activities(SINCE))

    queries = [c.request.params["q"] for c in rsps.calls if "queryAll" in c.request.url]
    assert queries[0].startswith(
        "SELECT Id, SystemModstamp, IsDeleted, CreatedDate, LeadId, ContactId, "
        "CampaignId, Campaign.Name, Campaign.Type, Status, HasResponded, FirstRespondedDate, "
        "LastModifiedDate FROM CampaignMember WHERE SystemModstamp >= 2024-03-01T12:00:00Z"
    )
    assert " FROM Form_Submission__c WHERE " in queries[3]
    webinar, newsletter, call, meeting, submission = acts
    assert webinar.kind == "webinar_attended"
    assert webinar.ref == RecordRef("salesforce", "CampaignMember", "00vW")
    assert webinar.person == RecordRef("salesforce", "Lead", "00Q1")
    # Modified on its response date: then, at the latest; the day began at UTC+14 at the earliest.
    assert webinar.occurred_at == datetime(2024, 3, 4, 16, tzinfo=UTC)
    assert (webinar.early_s, webinar.late_s) == ((24 + 6) * 3600, 0)
    assert (webinar.name, webinar.campaign_type, webinar.member_status) == (
        "Q1 Webinar",
        "Webinar",
        "Attended",
    )
    assert newsletter.deleted and newsletter.kind == "campaign_member"
    assert newsletter.person == RecordRef("salesforce", "Contact", "003C")
    assert call.kind == "call" and call.actor_id == "005R"
    assert call.occurred_at == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    assert call.person == RecordRef("salesforce", "Contact", "003C")
    assert meeting.kind == "meeting" and meeting.person == RecordRef("salesforce", "Lead", "00Q1")
    assert submission.kind == "form_submission" and submission.person is None
    assert submission.email == "new@x.com" and submission.name == "Contact Us"
    assert submission.url == "https://acme.example/contact"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-03-05T10:11:12.000+0000", datetime(2024, 3, 5, 10, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12.000Z", datetime(2024, 3, 5, 10, 11, 12, tzinfo=UTC)),
        ("2024-03-05T10:11:12.250-0700", datetime(2024, 3, 5, 17, 11, 12, 250_000, tzinfo=UTC)),
        ("2024-03-05T10:11:12+02:00", datetime(2024, 3, 5, 8, 11, 12, tzinfo=UTC)),
        ("2024-03-05", datetime(2024, 3, 5, tzinfo=UTC)),
    ],
)
def test_salesforce_datetimes_and_dates_read_as_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_datetime(text)
    assert parsed == expected and parsed is not None and parsed.tzinfo is UTC
