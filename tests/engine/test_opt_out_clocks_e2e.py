"""Issue 22, end to end: an opt-out wins whatever the clocks say.

A person fills HubSpot's "Contact Us" at 08:00 and unsubscribes in Salesforce at 20:00 the
same day (a campaign response, and the email opt-out flag). Salesforce dates the response
only by its day (``FirstRespondedDate``), which LeadSync read as 00:00: the unsubscribe
looked earlier than the form and the person went to sales (owner, status, task). Through
both sandboxes over HTTP(S), with the real client libraries and one full engine cycle.

Beside them, the control: the same two steps the other way round (unsubscribed at 08:00,
form at 20:00) must reach sales, so a cycle that hands nobody off proves nothing by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from leadsync.config import settings_from_dict
from leadsync.sandboxes import Sandboxes, running_sandboxes
from leadsync.store import Store
from leadsync.wiring import build_connectors, build_engine
from mappings import default_mapping_path
from sandboxes.salesforce import OrgState

#: Yesterday (UTC): both 08:00 and 20:00 are in the past whenever the test runs.
DAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
MORNING, EVENING = DAY + timedelta(hours=8), DAY + timedelta(hours=20)
#: Campaign members carrying the unsubscribe; the org's mapping makes them ``unsubscribe``.
UNSUBSCRIBE_RULE = """
[[activities.campaign_members.rules]]
member_status = "Unsubscribed"
kind = "unsubscribe"

"""


@dataclass(frozen=True)
class Person:
    story: str
    lead_id: str
    email: str
    owner_id: str
    status: str


@pytest.fixture
def sandboxes() -> Iterator[Sandboxes]:
    with running_sandboxes(leads=30, seed=22) as running:
        yield running


def _mapping(tmp_path: Path) -> Path:
    text = default_mapping_path("salesforce").read_text()
    marker = "# Tasks:"
    assert marker in text
    path = tmp_path / "salesforce.toml"
    path.write_text(text.replace(marker, UNSUBSCRIBE_RULE + marker, 1))
    return path


def _campaign(org: OrgState, name: str, statuses: dict[str, bool]) -> str:
    created = DAY - timedelta(days=60)
    campaign = org.insert("Campaign", {"Name": name, "Type": "Email"}, created=created)
    for order, (label, responded) in enumerate(statuses.items(), start=1):
        org.insert(
            "CampaignMemberStatus",
            {
                "CampaignId": campaign,
                "Label": label,
                "HasResponded": responded,
                "IsDefault": order == 1,
                "SortOrder": order,
            },
            created=created,
        )
    return campaign


def _lead(org: OrgState, story: str) -> Person:
    email = f"{story}@issue22.example"
    created = DAY - timedelta(days=20)
    owner = str(org.nurture_queue_id)
    lead = org.insert(
        "Lead",
        {
            "FirstName": story.title(),
            "LastName": "Issue22",
            "Company": "Clockwork GmbH",
            "Email": email,
            "Industry": "Manufacturing",
            "NumberOfEmployees": 250,
            "Country": "Germany",
            "Status": "Open - Not Contacted",
            "OwnerId": owner,
        },
        created=created,
    )
    return Person(story, lead, email, owner, "Open - Not Contacted")


def _unsubscribe(org: OrgState, person: Person, campaign: str, at: datetime, *before: str) -> None:
    """A member since weeks before; maybe other statuses first; Unsubscribed at ``at``;
    and Salesforce's email opt-out flag set with it."""
    member = org.insert(
        "CampaignMember",
        {"CampaignId": campaign, "LeadId": person.lead_id, "Status": "Sent"},
        created=DAY - timedelta(days=14),
    )
    for days, status in enumerate(before, start=1):
        org.update("CampaignMember", member, {"Status": status}, modified=at - timedelta(days=days))
    org.update("CampaignMember", member, {"Status": "Unsubscribed"}, modified=at)
    org.update("Lead", person.lead_id, {"HasOptedOutOfEmail": True}, modified=at)


def _contact_us(sandboxes: Sandboxes, person: Person, at: datetime) -> None:
    portal = sandboxes.hubspot.portal
    form = next(g for g, f in portal.forms.items() if "contact" in f.name.lower())
    portal.add_form_submission(form, {"email": person.email}, at=at)


def _tasks(org: OrgState, person: Person) -> list[dict[str, Any]]:
    return [
        t
        for t in org.records("Task")
        if t.get("WhoId") == person.lead_id and t.get("LeadSync_Key__c")
    ]


def test_an_unsubscribe_at_20_outranks_a_form_at_8_the_same_day(
    sandboxes: Sandboxes, tmp_path: Path
) -> None:
    org = sandboxes.salesforce.org
    # The issue: the unsubscribe is a response in its campaign, dated by its day only.
    preferences = _campaign(org, "Email Preferences", {"Sent": False, "Unsubscribed": True})
    # The same, where Unsubscribed is no response but an earlier "Opened" was one: the
    # member's FirstRespondedDate is two days before the unsubscribe.
    newsletter = _campaign(
        org, "Issue 22 Newsletter", {"Sent": False, "Opened": True, "Unsubscribed": False}
    )
    issue = _lead(org, "issue")
    opened = _lead(org, "opened")
    control = _lead(org, "control")
    _unsubscribe(org, issue, preferences, EVENING)
    _unsubscribe(org, opened, newsletter, EVENING, "Opened", "Opened")
    _unsubscribe(org, control, preferences, MORNING)
    for person in (issue, opened):
        _contact_us(sandboxes, person, MORNING)
    _contact_us(sandboxes, control, EVENING)

    data = sandboxes.config_data(f"sqlite:///{tmp_path / 'state.db'}")
    data["connectors"]["salesforce"]["mapping"] = str(_mapping(tmp_path))
    settings = settings_from_dict(data, "issue-22")
    store = Store(settings.store.url)
    connectors = build_connectors(settings)
    try:
        report = build_engine(settings, store, connectors).run()
    finally:
        for connector in connectors.values():
            connector.close()
        store.close()
    assert report.status == "ok", report.errors

    for person in (issue, opened):
        lead = org.raw("Lead", person.lead_id)
        assert lead is not None
        assert lead.get("LeadSync_Readiness__c") == "Do not contact", (person.story, lead)
        assert (lead.get("OwnerId"), lead.get("Status")) == (person.owner_id, person.status)
        assert _tasks(org, person) == [], person.story
    lead = org.raw("Lead", control.lead_id)
    assert lead is not None and lead.get("LeadSync_Readiness__c") == "Hand-raiser", lead
    assert lead.get("OwnerId") != control.owner_id and lead.get("Status") == "Working - Contacted"
    assert len(_tasks(org, control)) == 1
