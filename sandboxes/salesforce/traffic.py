"""Seeded live traffic: what the org's humans and web forms do between two syncs.

Each :meth:`TrafficGenerator.tick` creates new leads, campaign responses (with the form
submissions of web forms), tasks logged by sales reps, reps setting leads to "Recycled", and
conversions — written straight into the org, as UI users and integrations would.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import timedelta

from sandboxes.salesforce.generator import _company, _employees
from sandboxes.salesforce.generator_data import CAMPAIGNS, TITLES
from sandboxes.salesforce.org import OrgState


@dataclass(frozen=True, slots=True)
class TrafficRates:
    """How many of each change one tick makes."""

    new_leads: int = 5
    campaign_responses: int = 8
    rep_tasks: int = 4
    recycles: int = 1
    conversions: int = 1


@dataclass(slots=True)
class TrafficGenerator:
    """Applies a seeded stream of realistic changes to an org, one tick at a time."""

    org: OrgState
    seed: int = 7
    rates: TrafficRates = field(default_factory=TrafficRates)
    _rng: random.Random = field(init=False)
    _serial: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def tick(self) -> dict[str, int]:
        """Apply one tick of changes; returns how many of each kind were made."""
        org, rng = self.org, self._rng
        reps = [
            u["Id"]
            for u in org.rows("User")
            if u.get("IsActive") and u.get("Title") == "Account Executive"
        ]
        queues = {g.get("DeveloperName"): g["Id"] for g in org.rows("Group")}
        campaigns = {c.get("Name"): c["Id"] for c in org.rows("Campaign")}
        leads = [r for r in org.rows("Lead") if not r.get("IsDeleted") and not r.get("IsConverted")]
        done = {
            "new_leads": 0,
            "campaign_responses": 0,
            "form_submissions": 0,
            "rep_tasks": 0,
            "recycles": 0,
            "conversions": 0,
        }
        for _ in range(self.rates.new_leads):
            self._serial += 1
            company = _company(rng)
            domain = "".join(c for c in company.lower() if c.isalnum())[:16] + ".com"
            leads.append(
                {
                    "Id": org.insert(
                        "Lead",
                        {
                            "FirstName": rng.choice(("Ava", "Liam", "Noah", "Mia", "Zoé", "Raj")),
                            "LastName": f"Visitor{self.seed}-{self._serial}",
                            "Company": company,
                            "Email": f"visitor{self._serial}@{domain}",
                            "Title": rng.choice(TITLES),
                            "NumberOfEmployees": _employees(rng),
                            "LeadSource": "Web",
                            "Industry": rng.choice(("Manufacturing", "Software", "Retail", None)),
                            "Country": rng.choice(
                                ("United States", "UK", "Germany", "france", None)
                            ),
                            "Status": "Open - Not Contacted",
                            "OwnerId": queues.get("Nurture_Queue"),
                        },
                    )
                }
            )
            done["new_leads"] += 1
        for _ in range(self.rates.campaign_responses):
            if not leads:
                break
            lead = rng.choice(leads)
            name, _, _statuses, responded, page = rng.choice(CAMPAIGNS)
            status = rng.choice(responded)
            org.insert(
                "CampaignMember",
                {"CampaignId": campaigns[name], "LeadId": lead["Id"], "Status": status},
            )
            done["campaign_responses"] += 1
            if page:
                org.insert(
                    "Form_Submission__c",
                    {
                        "Email__c": (org.raw("Lead", lead["Id"]) or {}).get("Email"),
                        "Form_Name__c": name,
                        "Lead__c": lead["Id"],
                        "Page_URL__c": f"https://www.example-corp.com{page}",
                        "Submitted_At__c": org.stamp(),
                    },
                )
                done["form_submissions"] += 1
        owned = [r for r in leads if str(r.get("OwnerId", "")).startswith("005")]
        for _ in range(self.rates.rep_tasks):
            if not owned or not reps:
                break
            lead = rng.choice(owned)
            owner = lead["OwnerId"] if lead["OwnerId"] in reps else rng.choice(reps)
            org.insert(
                "Task",
                {
                    "WhoId": lead["Id"],
                    "OwnerId": owner,
                    "Subject": "Call",
                    "Type": "Call",
                    "TaskSubtype": "Call",
                    "Status": "Completed",
                    "ActivityDate": (org.stamp() + timedelta(days=1)).date(),
                },
            )
            done["rep_tasks"] += 1
        for _ in range(self.rates.recycles):
            if not owned:
                break
            lead = rng.choice(owned)
            org.update("Lead", lead["Id"], {"Status": "Recycled"})
            done["recycles"] += 1
        for _ in range(self.rates.conversions):
            if not owned:
                break
            row = org.raw("Lead", rng.choice(owned)["Id"]) or {}
            if row.get("IsConverted"):
                continue
            account = org.insert(
                "Account", {"Name": row.get("Company"), "OwnerId": row.get("OwnerId")}
            )
            contact = org.insert(
                "Contact",
                {
                    "FirstName": row.get("FirstName"),
                    "LastName": row.get("LastName"),
                    "Email": row.get("Email"),
                    "AccountId": account,
                    "OwnerId": row.get("OwnerId"),
                },
            )
            org.convert_lead(row["Id"], contact, account)
            done["conversions"] += 1
        return done
