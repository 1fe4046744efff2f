"""A campaign member responds as Salesforce says (issue 22): HasResponded follows the status
as the campaign defines it, FirstRespondedDate is the first response's date on the org's
calendar and stays, and every change moves LastModifiedDate."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

from sandboxes.salesforce import OrgState

T0 = datetime(2026, 3, 10, 21, 30, tzinfo=UTC)
STATUSES = {"Sent": False, "Opened": True, "Clicked": True, "Unsubscribed": False}


def _org(zone: timezone) -> tuple[OrgState, str, str]:
    org = OrgState()
    org.time_zone = zone
    campaign = org.insert("Campaign", {"Name": "Newsletter", "Type": "Email"}, created=T0)
    for label, responded in STATUSES.items():
        org.insert(
            "CampaignMemberStatus",
            {"CampaignId": campaign, "Label": label, "HasResponded": responded},
            created=T0,
        )
    lead = org.insert("Lead", {"LastName": "Doe", "Company": "Acme"}, created=T0)
    return org, campaign, lead


def test_a_members_response_follows_its_campaigns_statuses() -> None:
    rng = random.Random(22)
    for _ in range(30):
        zone = timezone(timedelta(minutes=15 * rng.randint(-48, 56)))
        org, campaign, lead = _org(zone)
        member = org.insert(
            "CampaignMember", {"CampaignId": campaign, "LeadId": lead, "Status": "Sent"}
        )
        when = T0
        first: datetime | None = None
        for _step in range(6):
            status = rng.choice(list(STATUSES))
            when += timedelta(hours=rng.uniform(0, 30))
            org.update("CampaignMember", member, {"Status": status}, modified=when)
            if STATUSES[status] and first is None:
                first = when
            row = org.records("CampaignMember")[0]
            assert row["HasResponded"] is STATUSES[status]
            assert row["LastModifiedDate"] == when
            expected = first.astimezone(zone).date() if first else None
            assert row["FirstRespondedDate"] == expected


def test_a_campaign_without_statuses_uses_the_usual_responded_labels() -> None:
    org = OrgState()
    campaign = org.insert("Campaign", {"Name": "Old", "Type": "Webinar"}, created=T0)
    lead = org.insert("Lead", {"LastName": "Doe", "Company": "Acme"}, created=T0)
    org.insert(
        "CampaignMember",
        {"CampaignId": campaign, "LeadId": lead, "Status": "Attended"},
        created=T0,
    )
    (row,) = org.records("CampaignMember")
    assert row["HasResponded"] is True and row["FirstRespondedDate"] == T0.date()
