"""The connector against the HTTPS sandbox with the real simple-salesforce client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from leadsync.errors import AuthError
from leadsync.records import OwnerChange, RecordRef, TaskRequest
from sandboxes.salesforce import SalesforceSandbox, generate_org

from .e2e_support import connector_for, lead_ids, updates_for


@pytest.fixture(scope="module")
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=600, seed=7), port=0) as sandbox:
        yield sandbox


def test_full_pull_returns_every_lead_and_contact(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    people = list(conn.pull_people(None))
    leads = {p.ref.external_id for p in people if p.ref.object_type == "Lead"}
    contacts = {p.ref.external_id for p in people if p.ref.object_type == "Contact"}
    assert leads == {str(r["Id"]) for r in sb.org.records("Lead", include_deleted=True)}
    assert contacts == {str(r["Id"]) for r in sb.org.records("Contact", include_deleted=True)}
    assert all(p.modified_at.tzinfo is not None for p in people)
    converted = [p for p in people if p.converted_at is not None]
    assert all(p.merged_into and p.merged_into.object_type == "Contact" for p in converted)
    conn.close()


def test_bulk_query_pull_matches_rest_pull() -> None:
    # More leads than one REST page (2,000 rows) so the pull has a reason to switch to Bulk.
    with SalesforceSandbox(generate_org(leads=2100, seed=5), port=0) as big:
        rest = connector_for(big, bulk_query_threshold=1_000_000)
        bulk = connector_for(big, bulk_query_threshold=10)
        by_rest = {p.ref: p for p in rest.pull_people(None)}
        by_bulk = {p.ref: p for p in bulk.pull_people(None)}
        assert len(by_rest) > 2000
        assert by_rest == by_bulk
        assert any("jobs/query" in name for name in bulk.usage().calls_by_endpoint)
        assert any(name.endswith("/{id}") for name in rest.usage().calls_by_endpoint)
        rest.close()
        bulk.close()


def test_activities_pull(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    acts = list(conn.pull_activities(None))
    kinds = {a.kind for a in acts}
    assert acts, "the generated org has activities"
    assert kinds <= {
        "webinar_registered",
        "webinar_attended",
        "ebook_download",
        "form_submission",
        "campaign_response",
        "campaign_member",
        "call",
        "email",
        "task",
        "meeting",
    }
    assert len({a.ref for a in acts}) == len(acts)
    conn.close()


def test_read_people_by_id_matches_the_pull(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    pulled = {p.ref: p for p in conn.pull_people(None)}
    leads = sorted(r for r in pulled if r.object_type == "Lead")[:450]
    contacts = sorted(r for r in pulled if r.object_type == "Contact")[:3]
    deleted = [r for r, p in pulled.items() if p.deleted][:1]
    gone = RecordRef(conn.name, "Lead", "00Q000000000000")
    other = RecordRef(conn.name, "Task", "00T000000000001")
    conn.users()
    before = conn.usage().calls
    read = conn.read_people([*leads, *contacts, *deleted, gone, other, leads[0]])
    assert {p.ref: p for p in read} == {r: pulled[r] for r in {*leads, *contacts, *deleted}}
    # 450 leads in three 200-id queries, the contacts in one; nothing else is asked.
    assert conn.usage().calls - before == 4
    conn.close()


def test_idle_people_cycle_costs_one_call_per_object_type(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    conn.users()
    before = conn.usage().calls
    since = datetime.now(UTC) + timedelta(seconds=2)
    assert list(conn.pull_people(since)) == []
    assert conn.usage().calls - before == 2
    conn.close()


def test_idle_activity_cycle_costs_one_call_per_object_type(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    conn.users()
    before = conn.usage().calls
    since = datetime.now(UTC) + timedelta(seconds=2)
    assert list(conn.pull_activities(since)) == []
    assert conn.usage().calls - before == 4
    conn.close()


def test_write_reads_back_and_uses_minimum_calls(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    ids = lead_ids(sb)[:450]
    conn.users()
    before = conn.usage().calls
    outcomes = conn.write(updates_for(ids))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    assert conn.usage().calls - before == 3
    row = sb.org.get("Lead", ids[1])
    assert row is not None
    assert row["LeadSync_Fit__c"] == "Poor" and row["LeadSync_Readiness__c"] == "Sales-ready"
    conn.close()


def test_bulk_write_above_threshold(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb, bulk_write_threshold=100)
    ids = lead_ids(sb)[:300]
    outcomes = conn.write(updates_for(ids, seed=1))
    assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]
    row = sb.org.get("Lead", ids[0])
    assert row is not None and row["LeadSync_Fit__c"] == "Poor"
    ingest = {k: v for k, v in conn.usage().calls_by_endpoint.items() if "jobs/ingest" in k}
    # create, upload, close, one status poll: the counters prove success, no result download
    assert sum(ingest.values()) == 4, ingest
    conn.close()


def test_bulk_write_reports_each_rejected_record(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb, bulk_write_threshold=100)
    held = [r["Id"] for r in sb.org.records("Lead") if r.get("Legal_Hold__c")][:2]
    free = [i for i in lead_ids(sb) if i not in held][:200]
    assert held, "the generated org has leads under legal hold"
    outcomes = conn.write(updates_for(held + free, seed=2))
    refused = {o.ref.external_id: o.error for o in outcomes if not o.ok}
    assert set(refused) == set(held)
    assert all(
        e is not None and e.code == "FIELD_CUSTOM_VALIDATION_EXCEPTION" for e in refused.values()
    )
    assert sum(o.ok for o in outcomes) == len(free)
    conn.close()


def test_reassign_is_not_overridden_by_the_assignment_rule(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    users = [u for u in conn.users() if u.active and not u.is_queue]
    lid = lead_ids(sb)[5]
    (outcome,) = conn.reassign([OwnerChange(RecordRef("salesforce", "Lead", lid), users[0].id)])
    assert outcome.ok, outcome.error
    row = sb.org.get("Lead", lid)
    assert row is not None and row["OwnerId"] == users[0].id
    conn.close()


def test_task_retry_upserts_instead_of_duplicating(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    owner = next(u for u in conn.users() if u.active and not u.is_queue)
    lead = RecordRef("salesforce", "Lead", lead_ids(sb)[7])
    due = datetime.now(UTC) + timedelta(hours=4)
    task = TaskRequest("handoff:e2e:1", lead, owner.id, "Call this lead", "fit: good", due)
    first = conn.create_tasks([task])
    second = conn.create_tasks([task])
    assert first[0].ok and second[0].ok
    tasks = [t for t in sb.org.records("Task") if t.get("LeadSync_Key__c") == "handoff:e2e:1"]
    assert len(tasks) == 1 and tasks[0]["WhoId"] == lead.external_id
    conn.close()


def test_check_passes_on_the_sandbox_org(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb)
    assert [str(p) for p in conn.check()] == []
    conn.close()


def test_create_fields_on_an_org_without_them() -> None:
    org = generate_org(leads=20, seed=3, with_output_fields=False)
    with SalesforceSandbox(org, port=0) as bare:
        conn = connector_for(bare)
        problems = conn.check()
        assert any("leadsync fields create" in p.fix for p in problems)
        created = conn.create_fields()
        # Custom Task fields are created on Activity, as in a real org.
        assert "Activity.LeadSync_Key__c" in created and "Lead.LeadSync_Fit__c" in created
        # Contacts have no standard status: the mapped custom one is made from Lead Status.
        assert "Contact.Contact_Status__c" in created
        # New fields are granted by no profile: check names the grant, install makes it.
        hidden = [p for p in conn.check() if "leadsync install" in p.fix]
        assert ("Lead", "LeadSync_Fit__c") in {(p.object_type, p.field) for p in hidden}
        for step in conn.plan_install([]):
            if step.run is not None:
                step.run()
        assert conn.check_targets(["Working - Contacted", "Nurture"], [], []) == []
        assert [str(p) for p in conn.check()] == []
        conn.close()


@pytest.mark.parametrize("flow", ["password", "refresh_token", "jwt_bearer", "access_token"])
def test_every_auth_flow(sb: SalesforceSandbox, flow: str, tmp_path: Path) -> None:
    extra: dict[str, object] = {"auth": flow}
    if flow == "password":
        extra.update(username=sb.username, password=sb.password, security_token=sb.security_token)
    elif flow == "refresh_token":
        extra.update(refresh_token=sb.refresh_token)
    elif flow == "jwt_bearer":
        key = tmp_path / "key.pem"
        key.write_text(sb.jwt_private_key_pem, encoding="utf-8")
        extra.update(username=sb.username, private_key_file=key)
    else:
        extra.update(access_token=sb.access_token(), instance_url=sb.url)
    conn = connector_for(sb, **extra)
    assert conn.users()
    conn.close()


def test_bad_credentials_stop_with_a_clear_message(sb: SalesforceSandbox) -> None:
    conn = connector_for(sb, client_secret="wrong")
    with pytest.raises(AuthError, match="client_secret"):
        conn.users()
    conn.close()


@pytest.mark.parametrize(("records", "bulk"), [(100, False), (101, True)])
def test_bulk_write_starts_above_the_threshold_not_at_it(
    sb: SalesforceSandbox, records: int, bulk: bool
) -> None:
    # "bulk_write_threshold: above this many" — exactly that many still go by Collections.
    conn = connector_for(sb, bulk_write_threshold=100)
    ids = lead_ids(sb)[:records]
    outcomes = conn.write(updates_for(ids, seed=3))
    assert all(o.ok for o in outcomes)
    calls = conn.usage().calls_by_endpoint
    ingest = sum(v for k, v in calls.items() if "jobs/ingest" in k)
    collections = sum(v for k, v in calls.items() if "composite/sobjects" in k)
    assert (ingest > 0, collections > 0) == (bulk, not bulk), calls
    conn.close()
