"""``read_activities`` against the HTTPS sandbox, through simple-salesforce: a person's whole
history by id equals what a full pull holds for them, in the fewest queries."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from math import ceil
from typing import Any
from urllib.parse import quote_plus

import pytest

from connectors.salesforce import history
from connectors.salesforce.connector import SalesforceConnector
from connectors.salesforce.pull import activity_plans
from leadsync.errors import BudgetExhausted, FatalSyncError, RetriableSyncError
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for

Key = tuple[RecordRef, str, datetime]


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    # 400 leads and ~130 contacts: more people than one 300-id IN list holds.
    org = generate_org(leads=400, seed=23)
    with SalesforceSandbox(org, port=0) as sandbox:
        _seed_edge_cases(sandbox)
        yield sandbox


def _seed_edge_cases(sb: SalesforceSandbox) -> None:
    """Deleted rows of every source, form rows linked only by address, and a form row naming
    someone else's record with another person's address."""
    org = sb.org
    for sobject in ("CampaignMember", "Task", "Event", "Form_Submission__c"):
        rows = [r for r in org.records(sobject) if not r.get("IsDeleted")]
        for row in rows[:3]:
            org.delete(sobject, str(row["Id"]))
    leads = [r for r in org.records("Lead") if r.get("Email") and not r.get("IsConverted")]
    for n, lead in enumerate(leads[:5]):
        org.insert(
            "Form_Submission__c",
            {
                "Email__c": str(lead["Email"]).upper(),
                "Form_Name__c": "Pricing",
                "Submitted_At__c": datetime(2025, 1, 2, 3, n, tzinfo=UTC),
            },
        )
    org.insert(
        "Form_Submission__c",
        {
            "Email__c": leads[6]["Email"],
            "Lead__c": leads[7]["Id"],
            "Form_Name__c": "Demo",
            "Submitted_At__c": datetime(2025, 1, 3, tzinfo=UTC),
        },
    )


def _people(conn: SalesforceConnector) -> list[PersonRecord]:
    return [p for p in conn.pull_people(None) if not p.deleted]


def _keys(activities: Sequence[ActivityRecord]) -> set[Key]:
    return {(a.ref, a.kind, a.occurred_at) for a in activities}


def _expected(conn: SalesforceConnector, people: Sequence[PersonRecord]) -> set[Key]:
    """The full pull's live activities of these people: linked to one of their records, or
    (a form known only by address) carrying one of their addresses."""
    refs = {p.ref for p in people} | {p.merged_into for p in people if p.merged_into}
    emails = {p.email.strip().lower() for p in people if p.email}
    return _keys(
        [
            a
            for a in conn.pull_activities(None)
            if not a.deleted
            and (
                a.person in refs or (a.person is None and (a.email or "").strip().lower() in emails)
            )
        ]
    )


def _queries(sb: SalesforceSandbox) -> int:
    calls = sb.stats()["by_endpoint"]
    return int(calls.get("GET /query", 0)) + int(calls.get("GET /query/{locator}", 0))


def _fewest(conn: SalesforceConnector, people: Sequence[PersonRecord]) -> int:
    """The documented minimum: per source, as many queries as its longest IN list needs at
    300 values, or its URL-encoded values need at 12,000 bytes, whichever is more."""
    total = 0
    persons = [history.person_of(p) for p in people]
    for plan in activity_plans(conn.mapping):
        terms = history.lookups(plan, conn.mapping)
        lists = [{v for p in persons for v in p.values(t.kind)} for t in terms]
        size = sum(len(quote_plus(f"'{v}', ")) for values in lists for v in values)
        total += max(
            max(ceil(len(values) / history.MAX_PER_LIST) for values in lists),
            ceil(size / history.URI_BUDGET),
        )
    return total


def test_a_whole_org_read_by_id_equals_the_full_pull_in_the_fewest_queries(
    sb: SalesforceSandbox,
) -> None:
    conn = connector_for(sb)
    people = _people(conn)
    assert len(people) > history.MAX_PER_LIST
    expected = _expected(conn, people)
    sb.reset_stats()
    read = conn.read_activities(people)
    queries = _queries(sb)
    assert len({a.ref for a in read}) == len(read)
    assert _keys(read) == expected
    assert not any(a.deleted for a in read)
    # One query per source per chunk, no extra pages (each chunk has < 2,000 rows).
    assert queries == _fewest(conn, people)
    assert sb.stats()["total"] == queries
    conn.close()


def test_some_people_get_exactly_theirs_and_deletions_stay_out(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    people = _people(conn)
    converted = [p for p in people if p.merged_into is not None]
    some = people[::7] + converted[:3]
    assert converted
    read = conn.read_activities(some)
    assert _keys(read) == _expected(conn, some)
    deleted = {
        str(r["Id"])
        for sobject in ("CampaignMember", "Task", "Event", "Form_Submission__c")
        for r in sb.org.records(sobject, include_deleted=True)
        if r.get("IsDeleted")
    }
    assert deleted
    assert not deleted & {a.ref.external_id for a in read}
    conn.close()


def test_forms_known_only_by_address_come_with_the_person(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    people = {p.email.lower(): p for p in _people(conn) if p.email}
    orphans = [
        r for r in sb.org.records("Form_Submission__c") if not r.get("Lead__c")
        and not r.get("Contact__c") and r.get("Email__c")
    ]  # fmt: skip
    person = people[str(orphans[0]["Email__c"]).lower()]
    read = conn.read_activities([person])
    forms = {a.ref.external_id for a in read if a.kind == "form_submission"}
    assert str(orphans[0]["Id"]) in forms
    # A form naming someone else's record is theirs, even with this person's address.
    named = next(r for r in sb.org.records("Form_Submission__c") if r.get("Form_Name__c") == "Demo")
    owner = people[str(named["Email__c"]).lower()]
    assert str(named["Id"]) not in {a.ref.external_id for a in conn.read_activities([owner])}
    conn.close()


def test_a_converted_lead_is_read_with_its_contact(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    people = {p.ref: p for p in _people(conn)}
    lead = next(
        p
        for p in people.values()
        if p.merged_into is not None
        and any(r.get("WhoId") == p.merged_into.external_id for r in sb.org.records("Task"))
    )
    contact_ref = lead.merged_into
    assert contact_ref is not None
    both = conn.read_activities([lead])
    assert {a.person for a in both} >= {contact_ref}
    assert _keys(both) == _expected(conn, [lead])
    # Read as a bare Lead (no contact known), only what still names the lead comes back.
    bare = PersonRecord(lead.ref, lead.email, lead.modified_at)
    alone = conn.read_activities([bare])
    assert _keys(alone) < _keys(both)
    conn.close()


def test_a_person_with_no_activities_costs_one_query_per_source(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    new_id = sb.org.insert("Lead", {"LastName": "Quiet", "Company": "Q", "Email": "q@q.example"})
    [quiet] = conn.read_people([RecordRef(conn.name, "Lead", new_id)])
    sb.reset_stats()
    assert conn.read_activities([quiet]) == []
    assert _queries(sb) == len(activity_plans(conn.mapping))
    sb.reset_stats()
    assert conn.read_activities([]) == []
    assert sb.stats()["total"] == 0
    conn.close()


@pytest.mark.parametrize("status", [503, 500])
def test_server_errors_raise_the_retriable_error_once_retries_are_spent(
    sb: SalesforceSandbox, status: int
) -> None:
    conn = connector_for(sb, max_retries=1)
    people = _people(conn)[:50]
    sb.inject({"kind": "http_error", "status": status, "count": 2})
    try:
        with pytest.raises(RetriableSyncError) as caught:
            conn.read_activities(people)
        assert caught.value.status == status
    finally:
        sb.inject({"kind": "clear"})
    # One failure is retried inside the call; the answer is whole.
    sb.inject({"kind": "http_error", "status": status, "count": 1})
    assert _keys(conn.read_activities(people)) == _expected(conn, people)
    conn.close()


@pytest.mark.parametrize(
    "fault",
    [{"kind": "http_error", "status": 429}, {"kind": "rate_limit"}],
    ids=["429", "403_request_limit"],
)
def test_an_exhausted_allowance_stops_the_read_at_once(
    sb: SalesforceSandbox, fault: dict[str, Any]
) -> None:
    conn = connector_for(sb, max_retries=3)
    people = _people(conn)[:50]
    sb.inject({**fault, "count": 1})
    try:
        with pytest.raises(BudgetExhausted):
            conn.read_activities(people)
    finally:
        sb.inject({"kind": "clear"})
    conn.close()


def test_the_sandbox_refuses_a_query_longer_than_a_uri_takes(sb: SalesforceSandbox) -> None:
    """Faithful to the documented 16,384-byte cap on URI and headers: 414, not an answer."""
    conn = connector_for(sb)
    ids = [str(r["Id"]) for r in sb.org.records("Lead")][:400]
    long_query = "SELECT Id FROM Lead WHERE Id IN ({}) OR Id IN ({})".format(
        ", ".join(f"'{i}'" for i in ids), ", ".join(f"'{i}'" for i in ids)
    )
    assert len(quote_plus(long_query)) > 16_384
    with pytest.raises(FatalSyncError) as caught:
        list(conn.client.query_pages(long_query))
    assert caught.value.status == 414
    conn.close()


def test_find_people_by_address_returns_every_live_lead_and_contact_with_it(
    sb: SalesforceSandbox,
) -> None:
    """``find_people``: a forgotten person's other records, known only by address."""
    conn = connector_for(sb)
    people = _people(conn)
    wanted = sorted({p.email for p in people if p.email})[:250]
    sb.reset_stats()
    found = conn.find_people([w.upper() for w in wanted] + ["nobody@nowhere.example"])
    lowered = {w.lower() for w in wanted}
    expected = {p.ref for p in people if p.email and p.email.lower() in lowered}
    assert {p.ref for p in found} == expected and not any(p.deleted for p in found)
    # Leads and Contacts, 100 addresses a query, no extra pages.
    assert sb.stats()["total"] == 2 * ceil((len(wanted) + 1) / 100)
    conn.close()
