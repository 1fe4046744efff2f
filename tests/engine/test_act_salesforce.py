"""Hand-off, SLA watch and recycle against the Salesforce sandbox, through simple-salesforce.

One org, one story: a backfill that acts on nobody, a web form that hands a lead to a rep
(owner, status, one High task keyed for upsert), a rep who calls one lead in time and one who
does not (the manager is tasked), a rep who recycles a lead (nurture queue, status, campaign
member, recycle fields) and the lead coming back with fresh engagement.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import settings_from_dict
from leadsync.engine.cycle import SyncEngine
from leadsync.engine.request import CycleRequest
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from sandboxes.salesforce import SalesforceSandbox, generate_org


class ShiftedClock:
    """Real time plus an offset the test moves forward (the sandbox stamps real time)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(generate_org(leads=300, seed=21), port=0) as sb:
        yield sb


def make_engine(
    sandbox: SalesforceSandbox,
    tmp_path: Path,
    clock: ShiftedClock,
    extra: dict[str, Any] | None = None,
) -> tuple[SyncEngine, Store]:
    org = sandbox.org
    reps = sorted(
        u["Id"]
        for u in org.records("User")
        if u.get("IsActive") and u.get("Title") == "Account Executive"
    )
    data: dict[str, Any] = {
        "store": {"url": f"sqlite:///{tmp_path / 'state.db'}"},
        "connectors": {
            "salesforce": {
                "instance_url": sandbox.url,
                "login_url": sandbox.url,
                "auth": "client_credentials",
                "client_id": sandbox.client_id,
                "client_secret": sandbox.client_secret,
                "ca_bundle": str(sandbox.ca_file),
            }
        },
        "identity": {"sales_crm": "salesforce"},
        "handoff": {
            "enabled": True,
            "owner_status": "Working - Contacted",
            "keep_active_owner": False,
            "match_accounts": False,
            "pools": [{"name": "AEs", "members": reps}],
            "fallback_owner": org.assignment_queue_id,
        },
        "recycle": {
            "statuses": ["Recycled"],
            "nurture_owner": org.nurture_queue_id,
            "nurture_status": "Nurture",
            "nurture_campaign": org.nurture_campaign_id,
        },
    }
    settings = settings_from_dict({**data, **(extra or {})}, "test")
    store = Store(settings.store.url)
    engine = build_engine(settings, store, build_connectors(settings), clock=clock)
    return engine, store


def submit_contact_us(
    sandbox: SalesforceSandbox, lead: dict[str, Any], at: datetime | None = None
) -> None:
    sandbox.org.insert(
        "Form_Submission__c",
        {
            "Lead__c": lead["Id"],
            "Email__c": lead["Email"],
            "Form_Name__c": "Contact Us",
            "Submitted_At__c": at or datetime.now(UTC),
        },
    )


def keyed_tasks(sandbox: SalesforceSandbox, lead_id: str) -> list[dict[str, Any]]:
    return [
        t
        for t in sandbox.org.records("Task")
        if t.get("WhoId") == lead_id and t.get("LeadSync_Key__c")
    ]


def test_hand_off_sla_and_recycle_in_salesforce(sandbox: SalesforceSandbox, tmp_path: Path) -> None:
    org = sandbox.org
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock)
    backfill = engine.run(CycleRequest(full=True, no_actions=True))
    assert backfill.status == "ok", backfill.errors
    assert backfill.actions["handed_off"] == 0

    candidates = [
        r
        for r in org.records("Lead")
        if r.get("Email")
        and not r.get("IsConverted")
        and r.get("LeadSync_Team__c") == "Marketing"
        and r.get("Status") != "Recycled"
    ]
    called, ignored = candidates[0], candidates[1]
    for lead in (called, ignored):
        submit_contact_us(sandbox, lead)
    report = engine.run()
    assert report.status == "ok", report.errors
    assert report.actions["handed_off"] == 2
    users = {u["Id"]: u for u in org.records("User")}
    for lead in (called, ignored):
        row = org.get("Lead", lead["Id"])
        assert row is not None and row["Status"] == "Working - Contacted"
        assert users[row["OwnerId"]]["Title"] == "Account Executive"
        [task] = keyed_tasks(sandbox, lead["Id"])
        assert task["OwnerId"] == row["OwnerId"] and task["Priority"] == "High"
        assert task["Subject"].startswith("LeadSync: hand-raiser")

    # the rep logs a call on one lead right away; the other lead waits
    rep = org.get("Lead", called["Id"])["OwnerId"]  # type: ignore[index]
    org.insert(
        "Task",
        {
            "WhoId": called["Id"],
            "OwnerId": rep,
            "Subject": "Intro call",
            "TaskSubtype": "Call",
            "Status": "Completed",
            "CompletedDateTime": datetime.now(UTC),
        },
    )
    assert engine.run().actions["handed_off"] == 0  # idempotent: nothing new
    assert len(keyed_tasks(sandbox, called["Id"])) == 1

    clock.offset = timedelta(days=4)  # past any 5-business-minute SLA, weekends included
    late = engine.run()
    assert late.actions["breaches"] == 1, late.actions
    [escalation] = [
        t for t in keyed_tasks(sandbox, ignored["Id"]) if t["LeadSync_Key__c"].endswith("-sla")
    ]
    ignored_owner = org.get("Lead", ignored["Id"])["OwnerId"]  # type: ignore[index]
    assert escalation["OwnerId"] == users[ignored_owner]["ManagerId"]

    # sales sends the called lead back: nurture queue, nurture status, campaign, fields
    org.update("Lead", called["Id"], {"Status": "Recycled"})
    recycled = engine.run()
    assert recycled.actions["recycled"] == 1, recycled.actions
    row = org.get("Lead", called["Id"])
    assert row is not None
    assert (row["OwnerId"], row["Status"]) == (org.nurture_queue_id, "Nurture")
    assert org.campaign_member(str(org.nurture_campaign_id), called["Id"])
    assert row["LeadSync_Recycle_Count__c"] == 1
    assert "sales set status 'Recycled'" in row["LeadSync_Recycle_Reason__c"]
    assert row["LeadSync_Team__c"] == "Marketing"  # the old form no longer counts

    # fresh engagement after the recycle: handed off again, out of the nurture campaign
    clock.offset = timedelta(days=4, minutes=1)
    submit_contact_us(sandbox, called, at=clock())
    back = engine.run()
    assert back.actions["handed_off"] == 1, back.actions
    row = org.get("Lead", called["Id"])
    assert (
        row is not None
        and row["Status"] == "Working - Contacted"
        and row["OwnerId"] != org.nurture_queue_id
    )
    assert not org.campaign_member(str(org.nurture_campaign_id), called["Id"])
    assert sorted(
        t["LeadSync_Key__c"].rsplit("-", 1)[1] for t in keyed_tasks(sandbox, called["Id"])
    ) == ["1", "2"]
    store.close()


def test_a_lead_converted_while_its_hand_off_is_owed_is_handed_off_as_its_contact(
    sandbox: SalesforceSandbox, tmp_path: Path
) -> None:
    org = sandbox.org
    clock = ShiftedClock()
    engine, store = make_engine(sandbox, tmp_path, clock)
    assert engine.run(CycleRequest(full=True, no_actions=True)).status == "ok"
    lead = next(
        r
        for r in org.records("Lead")
        if r.get("Email")
        and not r.get("IsConverted")
        and not r.get("Legal_Hold__c")
        and r.get("LeadSync_Team__c") == "Marketing"
        and r.get("Status") not in ("Recycled", "Nurture")
        and not keyed_tasks(sandbox, r["Id"])
    )
    connector: Any = engine.connectors["salesforce"]
    write_pages = connector.write_pages  # the owner change rides in the field write
    converted: list[str] = []

    def converted_meanwhile(pages: Any) -> Any:
        # The rep converts the lead between LeadSync's decision and its owner change; the
        # conversion creates the Contact, as Salesforce's does.
        if not converted:
            account = org.insert("Account", {"Name": "Converted Co"})
            contact = org.insert(
                "Contact", {"LastName": "Converted", "Email": lead["Email"], "AccountId": account}
            )
            org.convert_lead(lead["Id"], contact, account)
            converted.append(contact)
        return write_pages(pages)

    connector.write_pages = converted_meanwhile
    submit_contact_us(sandbox, lead)
    first = engine.run()
    assert first.actions["handed_off"] == 1 and first.actions["actions_rejected"] >= 1
    assert keyed_tasks(sandbox, lead["Id"]) == []

    second = engine.run()  # pulls the conversion; the owed actions move to the contact
    [contact] = converted
    assert second.status == "ok", second.errors
    owner = org.get("Contact", contact)["OwnerId"]  # type: ignore[index]
    users = {u["Id"]: u for u in org.records("User")}
    assert users[owner]["Title"] == "Account Executive"
    [task] = keyed_tasks(sandbox, contact)
    assert task["OwnerId"] == owner and task["Subject"].startswith("LeadSync: hand-raiser")
    assert engine.run().actions.get("handed_off", 0) == 0
    assert len(keyed_tasks(sandbox, contact)) == 1
    store.close()
