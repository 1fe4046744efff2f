"""Campaign membership, status-only recycles and owner lists against the HTTPS sandbox.

The sandbox is as strict as an org: a second CampaignMember for the same person and campaign
is refused with DUPLICATE_VALUE, an unknown campaign with INVALID_CROSS_REFERENCE_KEY, a
second record with a Unique field's value with DUPLICATE_VALUE naming the holder.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from connectors.salesforce.connector import SalesforceConnector
from leadsync.records import Enrolment, OwnerChange, RecordRef, TaskRequest
from sandboxes.salesforce import SalesforceSandbox, generate_org
from sandboxes.salesforce.ids import to18

from .e2e_support import connector_for, lead_ids

#: A well-formed Campaign id (prefix 701) that no campaign has.
UNKNOWN_CAMPAIGN = str(to18("7018c000009ZZZZ"))


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=800, seed=11), port=0) as sandbox:
        yield sandbox


@pytest.fixture
def conn(sb: SalesforceSandbox) -> Iterator[SalesforceConnector]:
    connector = connector_for(sb)
    yield connector
    connector.close()


def _lead(lid: str) -> RecordRef:
    return RecordRef("salesforce", "Lead", lid)


def _members(sb: SalesforceSandbox, campaign: str) -> dict[str, str]:
    """Person id -> member status of the campaign's live members."""
    return {
        str(m.get("LeadId") or m.get("ContactId")): str(m.get("Status"))
        for m in sb.org.records("CampaignMember")
        if m.get("CampaignId") == campaign
    }


def _not_in(sb: SalesforceSandbox, campaign: str, count: int, offset: int = 0) -> list[str]:
    inside = _members(sb, campaign)
    return [i for i in lead_ids(sb) if i not in inside][offset : offset + count]


def test_generated_org_has_a_nurture_campaign_and_queue(sb: SalesforceSandbox) -> None:
    campaign = sb.org.get("Campaign", str(sb.org.nurture_campaign_id))
    queue = sb.org.get("Group", str(sb.org.nurture_queue_id))
    assert campaign is not None and campaign["Name"] == "Nurture Program"
    assert queue is not None and queue["DeveloperName"] == "Nurture_Queue"


def test_sandbox_refuses_a_duplicate_member_and_an_unknown_campaign(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    campaign = str(sb.org.nurture_campaign_id)
    lid = _not_in(sb, campaign, 1, offset=40)[0]
    record = {"attributes": {"type": "CampaignMember"}, "CampaignId": campaign, "LeadId": lid}
    unknown = {**record, "CampaignId": UNKNOWN_CAMPAIGN}
    answer = conn.client.rest(
        "POST",
        "composite/sobjects",
        json={"allOrNone": False, "records": [record, record, unknown]},
    )
    assert answer[0]["success"] is True
    assert answer[1]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert answer[2]["errors"][0]["statusCode"] == "INVALID_CROSS_REFERENCE_KEY"
    assert answer[2]["errors"][0]["fields"] == ["CampaignId"]
    # No Status given: the campaign's default member status ("Sent") applies.
    assert _members(sb, campaign)[lid] == "Sent"


def test_sandbox_refuses_a_second_record_with_a_unique_value(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    task = {
        "attributes": {"type": "Task"},
        "LeadSync_Key__c": "unique:probe",
        "Subject": "probe",
        "WhoId": lead_ids(sb)[0],
    }
    first, second = conn.client.rest(
        "POST", "composite/sobjects", json={"allOrNone": False, "records": [task, task]}
    )
    assert first["success"] is True
    error = second["errors"][0]
    assert error["statusCode"] == "DUPLICATE_VALUE"
    assert error["message"] == (
        f"duplicate value found: LeadSync_Key__c duplicates value on record with id: {first['id']}"
    )


def test_enrol_adds_idempotently_with_the_crms_own_errors(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    campaign = str(sb.org.nurture_campaign_id)
    fresh = _not_in(sb, campaign, 250)
    contact = str(sb.org.records("Contact")[0]["Id"])
    enrolments = [Enrolment(_lead(i), campaign, status="Opened") for i in fresh]
    enrolments += [
        Enrolment(RecordRef("salesforce", "Contact", contact), campaign),
        Enrolment(_lead(fresh[0]), UNKNOWN_CAMPAIGN),
        Enrolment(RecordRef("salesforce", "Account", contact), campaign),
    ]
    before = conn.usage().calls_by_endpoint.get("POST composite/sobjects", 0)

    outcomes = conn.enrol(enrolments)

    assert [o.ref for o in outcomes] == [e.ref for e in enrolments]
    assert all(o.ok for o in outcomes[:-2]), [o.error for o in outcomes if not o.ok][:3]
    unknown, account = outcomes[-2].error, outcomes[-1].error
    assert unknown is not None and unknown.code == "INVALID_CROSS_REFERENCE_KEY"
    assert unknown.fields == ("CampaignId",)
    assert account is not None and account.code == "LEADSYNC_BAD_MEMBER"
    members = _members(sb, campaign)
    assert all(members[i] == "Opened" for i in fresh) and contact in members
    # 252 members to insert: two Collections calls (200 + 52), the Account never sent.
    assert conn.usage().calls_by_endpoint["POST composite/sobjects"] - before == 2

    again = conn.enrol(enrolments[:3])
    assert all(o.ok for o in again)
    assert sum(1 for m in sb.org.records("CampaignMember") if m.get("LeadId") == fresh[0]) >= 1
    assert len(_members(sb, campaign)) == len(members)


def test_unenrol_deletes_members_and_tolerates_non_members(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    campaign = str(sb.org.nurture_campaign_id)
    inside = _not_in(sb, campaign, 210, offset=10)
    assert len(inside) == 210
    assert all(o.ok for o in conn.enrol([Enrolment(_lead(i), campaign) for i in inside]))
    outside = _not_in(sb, campaign, 1, offset=0)
    removals = [Enrolment(_lead(i), campaign, remove=True) for i in inside + outside]
    calls = dict(conn.usage().calls_by_endpoint)

    outcomes = conn.enrol(removals)

    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    remaining = _members(sb, campaign)
    assert not set(inside) & set(remaining)
    used = conn.usage().calls_by_endpoint
    # 211 removals: one query and one DELETE per 200.
    assert used["GET query"] - calls.get("GET query", 0) == 2
    assert used["DELETE composite/sobjects"] - calls.get("DELETE composite/sobjects", 0) == 2
    # Removing them again finds nothing to delete: one query, no DELETE, still ok.
    assert all(o.ok for o in conn.enrol(removals[:5]))
    assert (
        conn.usage().calls_by_endpoint["DELETE composite/sobjects"]
        == used["DELETE composite/sobjects"]
    )


def test_status_only_reassign_keeps_the_owner(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    lid = lead_ids(sb)[20]
    owner_before = (sb.org.get("Lead", lid) or {})["OwnerId"]
    (outcome,) = conn.reassign([OwnerChange(_lead(lid), None, "Nurture")])
    assert outcome.ok, outcome.error
    row = sb.org.get("Lead", lid) or {}
    # Sforce-Auto-Assign: FALSE keeps the assignment rule from moving it to the Sales Queue.
    assert row["Status"] == "Nurture" and row["OwnerId"] == owner_before


def test_task_retry_keeps_what_the_rep_changed(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    owners = [u for u in conn.users() if u.active and not u.is_queue]
    lead = _lead(lead_ids(sb)[30])
    due = datetime.now(UTC) + timedelta(hours=4)
    task = TaskRequest("handoff:rep-done", lead, owners[0].id, "Call this lead", "fit", due)
    (first,) = conn.create_tasks([task])
    assert first.ok and first.created_id
    # The rep completes the task and hands it to a colleague; then the engine retries.
    sb.org.update("Task", first.created_id, {"Status": "Completed", "OwnerId": owners[1].id})

    (second,) = conn.create_tasks([task])

    assert second.ok and second.created_id == first.created_id
    tasks = [t for t in sb.org.records("Task") if t.get("LeadSync_Key__c") == task.key]
    assert len(tasks) == 1
    assert tasks[0]["Status"] == "Completed" and tasks[0]["OwnerId"] == owners[1].id


def test_users_are_standard_users_and_lead_queues(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    users = conn.users()
    people = {u.id for u in users if not u.is_queue}
    standard = {str(u["Id"]) for u in sb.org.records("User") if u.get("UserType") == "Standard"}
    assert people == standard
    assert not {u.name for u in users} & {"Automated Process", "Site Guest User", "Paula Partner"}
    queues = {u.name: u for u in users if u.is_queue}
    assert set(queues) == {"Nurture Queue", "Sales Queue"}
    assert queues["Nurture Queue"].id == sb.org.nurture_queue_id
    assert queues["Nurture Queue"].email == "nurture_queue@example-corp.com"
    # Issue 21 #12: LeadSync's own API user (the token's identity) is marked, and only it.
    [own] = [u for u in users if u.integration]
    assert own.id == sb.org.integration_user_id


def test_members_and_tasks_share_the_collections_inserts(
    sb: SalesforceSandbox, conn: SalesforceConnector
) -> None:
    """A cycle that recycles and hands off inserts CampaignMembers and Tasks in the same
    calls (issue 22 #2): 100 + 100 records in one call (ceil(200 / 200)), where a call for
    each kind took two. A retry finds both done."""
    campaign = str(sb.org.nurture_campaign_id)
    owner = next(u for u in conn.users() if u.active and not u.is_queue)
    due = datetime.now(UTC) + timedelta(hours=4)
    joining = [
        Enrolment(_lead(lid), campaign, "Sent") for lid in _not_in(sb, campaign, 100, offset=200)
    ]
    tasks = [
        TaskRequest(f"handoff:mixed:{i}", _lead(lid), owner.id, "Call", "fit: good", due)
        for i, lid in enumerate(lead_ids(sb)[400:500])
    ]
    before = dict(conn.usage().calls_by_endpoint)
    enrolled, created = conn.enrol_and_create_tasks(joining, tasks)
    after = conn.usage().calls_by_endpoint
    inserts = after.get("POST composite/sobjects", 0) - before.get("POST composite/sobjects", 0)
    assert [o.ok for o in enrolled] == [True] * 100 and [o.ok for o in created] == [True] * 100
    assert inserts == 1, after
    members = _members(sb, campaign)
    assert all(e.ref.external_id in members for e in joining)
    keys = {t.get("LeadSync_Key__c") for t in sb.org.records("Task")}
    assert {t.key for t in tasks} <= keys
    again_enrolled, again_created = conn.enrol_and_create_tasks(joining[:3], tasks[:3])
    assert all(o.ok for o in again_enrolled + again_created)
    assert len([t for t in sb.org.records("Task") if t.get("LeadSync_Key__c") == tasks[0].key]) == 1
