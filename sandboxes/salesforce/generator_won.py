"""Opportunities of the generated org, consistent with its hidden truth (``generator_truth``).

Two kinds of people are on a won opportunity:

* converted leads: about half of them get the opportunity their conversion made
  (``Lead.ConvertedOpportunityId``, the converted contact as its primary contact role); most
  of those were won some weeks after the conversion, some lost, and those whose close date
  has not come are still open. None of them closes before its lead converted, so none
  changes when a person converted.
* existing contacts (the accounts' people, never leads): each converts with the truth's
  propensity over its ICP boxes, from its creation (contacts have no campaign history; see
  ``generator._membership``); one that converts is on an opportunity won that day. They are
  the people ``[conversion] won_opportunities`` finds converted, and nothing else does.

Other contacts sometimes sit on an open or lost opportunity, so a pull has to tell won ones
apart. Drawn from a stream of its own: the rest of the org is what the seed always gave.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sandboxes.salesforce import generator_truth as truth
from sandboxes.salesforce.org import OrgState

#: Share of converted leads whose conversion made an opportunity.
CONVERTED_WITH_OPPORTUNITY = 0.5
#: Share of those opportunities lost (the rest are won, or open while their day is to come).
LOST = 0.25
#: Share of the contacts the truth does not convert that sit on an open or lost opportunity.
OTHER_OPPORTUNITIES = 0.1
_OPEN_STAGES = ("Qualification", "Proposal/Price Quote", "Negotiation/Review")


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _opportunity(
    org: OrgState,
    contact: str,
    account: Any,
    name: str,
    stage: str,
    close: date,
    created: datetime,
    modified: datetime,
) -> str:
    created = min(created, modified)
    values: dict[str, Any] = {"Name": name, "StageName": stage, "CloseDate": close}
    if account:
        values["AccountId"] = account
    opportunity = org.insert("Opportunity", values, created=created, modified=modified)
    org.insert(
        "OpportunityContactRole",
        {
            "OpportunityId": opportunity,
            "ContactId": contact,
            "Role": "Decision Maker",
            "IsPrimary": True,
        },
        created=created,
    )
    return opportunity


def add_opportunities(
    org: OrgState, seed: int, contacts: Sequence[tuple[str, str | None]], now: datetime
) -> None:
    """Opportunities for converted leads and the accounts' ``contacts`` (see the module)."""
    rng = random.Random(f"{seed}:won")
    for lead in org.records("Lead"):
        converted, contact = lead.get("ConvertedDate"), lead.get("ConvertedContactId")
        if not lead.get("IsConverted") or not isinstance(converted, date) or not contact:
            continue
        if rng.random() >= CONVERTED_WITH_OPPORTUNITY:
            continue
        start = _midnight(converted)
        close = start + timedelta(days=rng.uniform(7, 60))
        lost = rng.random() < LOST
        if lost:
            stage = "Closed Lost"
        elif close <= now:
            stage = "Closed Won"
        else:
            stage = rng.choice(_OPEN_STAGES)
        name = f"{lead.get('Company') or 'New'} - new business"
        touched = min(close, now)
        opportunity = _opportunity(
            org, str(contact), lead.get("ConvertedAccountId"), name, stage, close.date(), start,
            touched,
        )  # fmt: skip
        org.update(
            "Lead",
            str(lead["Id"]),
            {"ConvertedOpportunityId": opportunity},
            modified=lead.get("SystemModstamp"),
        )
    for contact_id, _ in contacts:
        row = org.raw("Contact", contact_id) or {}
        if row.get("IsDeleted"):
            continue
        account = org.raw("Account", str(row.get("AccountId") or "")) or {}
        created = row.get("CreatedDate")
        start = created if isinstance(created, datetime) else now
        boxes = truth.icp_boxes(
            {
                "Industry": account.get("Industry"),
                "NumberOfEmployees": account.get("NumberOfEmployees"),
                "Country": row.get("MailingCountry"),
                "Ownership__c": account.get("Ownership"),
                "Title": row.get("Title"),
                "Company": account.get("Name"),
                "Website": account.get("Website"),
            }
        )
        when = truth.draw_conversion(rng, boxes, [], start, now)
        name = f"{account.get('Name') or row.get('LastName')} - expansion"
        if when is not None:
            _opportunity(
                org, contact_id, row.get("AccountId"), name, "Closed Won", when.date(),
                start, when,
            )  # fmt: skip
        elif rng.random() < OTHER_OPPORTUNITIES:
            close = now + timedelta(days=rng.uniform(-90, 90))
            stage = "Closed Lost" if close <= now else rng.choice(_OPEN_STAGES)
            _opportunity(
                org, contact_id, row.get("AccountId"), name, stage, close.date(), start,
                min(close, now),
            )  # fmt: skip
