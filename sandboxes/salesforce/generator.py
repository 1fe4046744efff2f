"""Generate a realistic, seeded sandbox org.

Users (active and inactive reps, managers, marketing, the integration user, and the
automated-process, guest and partner users that cannot own records), the Nurture and Sales
queues, campaigns of every type with their member statuses (the "Nurture Program" campaign is
where recycled leads go), accounts, contacts and leads with the attribute spread of a real B2B
org — dirt included (country spellings, messy titles, blank and duplicate emails, odd unicode)
— and ~120 days of history: campaign responses, form submissions, rep calls and emails,
meetings, and leads that converted. Who converted follows a hidden propensity over fit and
engagement (``generator_truth`` documents its drivers), so the report and ``tune`` have a
truth to find; opportunities, won by some converted leads and by the contacts the truth
converts, are drawn last (``generator_won``).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sandboxes.salesforce import generator_bulk as bulk
from sandboxes.salesforce import generator_truth as truth
from sandboxes.salesforce import listviews, security
from sandboxes.salesforce.generator_data import (
    CAMPAIGNS,
    COMPANY_SUFFIXES,
    COMPANY_WORDS,
    COUNTRY_WEIGHTS,
    FIRST_NAMES,
    HISTORY_DAYS,
    INDUSTRY_WEIGHTS,
    LAST_NAMES,
    LEAD_SOURCES,
    NURTURE_CAMPAIGN,
    OWNERSHIP,
    STATUS_WEIGHTS,
    TITLES,
    US_STATES,
)
from sandboxes.salesforce.generator_won import add_opportunities
from sandboxes.salesforce.org import OrgState, days_ago


@dataclass(slots=True)
class _People:
    reps: list[str] = field(default_factory=list)
    inactive_reps: list[str] = field(default_factory=list)
    marketing: list[str] = field(default_factory=list)
    campaigns: list[tuple[str, tuple[str, ...], tuple[str, ...], str | None, str, str]] = field(
        default_factory=list
    )
    nurture_queue: str = ""
    sales_queue: str = ""


def generate_org(
    leads: int = 5000,
    seed: int = 7,
    with_output_fields: bool = True,
    now: datetime | None = None,
    activities: int | None = None,
    engaged: float = 0.0,
    history_days: float = 400.0,
) -> OrgState:
    """A seeded org with ``leads`` leads, ~``leads/3`` contacts and their history.

    ``with_output_fields=False`` leaves out LeadSync's custom fields (and the Task key field)
    so ``leadsync fields create`` has something to create. ``now`` anchors the history
    (default: the current time). ``activities`` asks for exactly that many CampaignMember,
    Task, Event and Form_Submission__c records (shares in ``generator_bulk.MIX``), held as
    compact columnar tables so millions fit; by default each person gets a drawn history
    (about 2.7 activities a lead) stored as plain records. ``engaged`` is the share of leads
    at manufacturers (the vendor's market) with a recent run of active engagement (two webinar
    registrations and a price-sheet download in the last two weeks: sales-ready without a
    hand-raise); leads elsewhere get a quarter of that share. The default 0 adds none, so the
    rest of the org is the same for a seed whatever ``engaged`` is. ``history_days`` is how
    far back its leads entered (most of them recently: the org's inflow grew).
    """
    rng = random.Random(seed)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    moment = moment.replace(microsecond=moment.microsecond // 1000 * 1000)
    org = OrgState(with_output_fields=with_output_fields)
    people = _users_and_queues(org, moment)
    _campaigns(org, people, moment)
    accounts = _accounts(org, rng, max(5, leads // 10), moment)
    contacts = _contacts(org, rng, people, accounts, max(3, leads // 3), moment)
    lead_ids = _leads(org, rng, people, accounts, contacts, leads, moment, history_days)
    joined: dict[str, list[truth.Membership]] = {}
    if activities is None:
        truth_rng = _history(
            org, rng, people, lead_ids, contacts, moment, with_output_fields, joined
        )
        live = [i for i in lead_ids if not (org.raw("Lead", i) or {}).get("IsDeleted")]
        _convert_by_truth(org, truth_rng, live, joined, moment)
    else:
        _bulk_history(org, rng, people, lead_ids, contacts, moment, activities)
    if engaged > 0:
        # Its own random stream: the rest of the org stays what this seed always gave. The
        # runs go to leads that have not converted, in the last two weeks: leads mid-cycle.
        runs = random.Random(f"{seed}:engaged")
        _engaged_runs(org, runs, people, lead_ids, moment, engaged)
    if activities is None:
        # Last, from a stream of its own: what the seed gave above stays as it was.
        add_opportunities(org, seed, contacts, moment)
    return org


def _bulk_history(
    org: OrgState,
    rng: random.Random,
    people: _People,
    lead_ids: list[str],
    contacts: list[tuple[str, str | None]],
    now: datetime,
    activities: int,
) -> None:
    """Conversions as :func:`_history` makes them, then ``activities`` columnar activities."""
    live = [i for i in lead_ids if not (org.raw("Lead", i) or {}).get("IsDeleted")]
    working = [i for i in live if (org.raw("Lead", i) or {}).get("Status") == "Working - Contacted"]
    _convert(org, rng, working, now)
    emails: list[str | None] = []
    for lead in live:
        email = (org.raw("Lead", lead) or {}).get("Email")
        emails.append(str(email) if email else None)
    who = bulk.People(
        ids=live + [c for c, _ in contacts],
        emails=emails + [e for _, e in contacts],
        leads=len(live),
        reps=list(people.reps),
    )
    campaigns = [
        bulk.Campaign(cid, name, statuses, frozenset(responded), page)
        for cid, statuses, responded, page, name, _ in people.campaigns
    ]
    bulk.add_activities(org, rng, who, campaigns, activities, now)


def _pick(rng: random.Random, weighted: tuple[tuple[object, int], ...]) -> object:
    values = [v for v, _ in weighted]
    weights = [w for _, w in weighted]
    return rng.choices(values, weights)[0]


def _users_and_queues(org: OrgState, now: datetime) -> _People:
    created = days_ago(now, 900)
    people = _People()

    def user(
        first: str,
        last: str,
        title: str,
        active: bool = True,
        manager: str | None = None,
        department: str = "Sales",
    ) -> str:
        alias = f"{first}.{last}".lower().replace(" ", "")
        return org.insert(
            "User",
            {
                "FirstName": first,
                "LastName": last,
                "Username": f"{alias}@leadsync.sandbox",
                "Email": f"{alias}@example-corp.com",
                "IsActive": active,
                "Title": title,
                "Department": department,
                "ManagerId": manager,
                "UserRoleId": org.ids.new("00E"),
            },
            created=created,
        )

    org.integration_user_id = user("Integration", "User", "API Integration", department="IT")
    security.seed(org, org.integration_user_id, "Salesforce Integration")
    listviews.seed(org)
    vp = user("Victoria", "Hale", "VP Sales")
    emea = user("Marco", "Bianchi", "Sales Manager EMEA", manager=vp)
    amer = user("Dana", "Whitfield", "Sales Manager Americas", manager=vp)
    reps = (
        ("Alex", "Ortega", amer),
        ("Brianna", "Cole", amer),
        ("Chen", "Liu", amer),
        ("Diego", "Ramos", amer),
        ("Emma", "Schneider", emea),
        ("Farid", "Haddad", emea),
        ("Greta", "Larsen", emea),
        ("Hiro", "Sato", amer),
        ("Isla", "Murray", emea),
        ("Jonas", "Weber", emea),
    )
    people.reps = [user(f, last, "Account Executive", manager=m) for f, last, m in reps]
    people.inactive_reps = [
        user("Kevin", "Doyle", "Account Executive", active=False, manager=amer),
        user("Laura", "Pérez", "Account Executive", active=False, manager=emea),
        user("Mike", "Brandt", "SDR", active=False, manager=amer),
    ]
    people.marketing = [
        user("Nora", "Quinn", "Marketing Ops Manager", department="Marketing"),
        user("Oscar", "Reyes", "Demand Gen Manager", department="Marketing"),
    ]
    # The org's own changes (its people, web forms, automation) are not the integration
    # user's: LeadSync tells its writes from theirs by LastModifiedById.
    org.background_user_id = people.marketing[0]
    for name, developer in (("Nurture Queue", "Nurture_Queue"), ("Sales Queue", "Sales_Queue")):
        queue = org.insert(
            "Group",
            {
                "Name": name,
                "DeveloperName": developer,
                "Type": "Queue",
                "Email": f"{developer.lower()}@example-corp.com",
            },
            created=created,
        )
        org.insert("QueueSobject", {"QueueId": queue, "SobjectType": "Lead"}, created=created)
        if developer == "Nurture_Queue":
            people.nurture_queue = queue
        else:
            people.sales_queue = queue
    org.insert(
        "Group",
        {"Name": "All Sales", "DeveloperName": "All_Sales", "Type": "Regular"},
        created=created,
    )
    org.assignment_queue_id = people.sales_queue
    org.nurture_queue_id = people.nurture_queue
    # Users every org has that cannot own records: LeadSync must not route leads to them.
    for first, last, kind in (
        ("Automated", "Process", "AutomatedProcess"),
        ("Site Guest", "User", "Guest"),
        ("Paula", "Partner", "PowerPartner"),
    ):
        alias = f"{first}.{last}".lower().replace(" ", "")
        org.insert(
            "User",
            {
                "FirstName": first,
                "LastName": last,
                "Username": f"{alias}@leadsync.sandbox",
                "Email": f"{alias}@example-corp.com",
                "IsActive": True,
                "UserType": kind,
            },
            created=created,
        )
    return people


def _campaigns(org: OrgState, people: _People, now: datetime) -> None:
    for index, (name, kind, statuses, responded, page) in enumerate(CAMPAIGNS):
        created = days_ago(now, 200 - index * 5)
        campaign = org.insert(
            "Campaign",
            {
                "Name": name,
                "Type": kind,
                "Status": "In Progress",
                "IsActive": True,
                "StartDate": created.date(),
                "OwnerId": people.marketing[index % 2],
            },
            created=created,
        )
        for order, status in enumerate(statuses, start=1):
            org.insert(
                "CampaignMemberStatus",
                {
                    "CampaignId": campaign,
                    "Label": status,
                    "HasResponded": status in responded,
                    "IsDefault": order == 1,
                    "SortOrder": order,
                },
                created=created,
            )
        people.campaigns.append((campaign, statuses, responded, page, name, kind))
        if name == NURTURE_CAMPAIGN:
            org.nurture_campaign_id = campaign


def _company(rng: random.Random) -> str:
    suffix = rng.choice(COMPANY_SUFFIXES)
    base = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_WORDS)}"
    return f"{base} {suffix}".strip() if rng.random() < 0.9 else base.upper()


def _employees(rng: random.Random) -> int:
    return max(1, int(math.exp(rng.gauss(math.log(180), 1.7))))


def _accounts(
    org: OrgState, rng: random.Random, count: int, now: datetime
) -> list[tuple[str, str, str]]:
    accounts = []
    for _ in range(count):
        name = _company(rng)
        domain = "".join(c for c in name.lower() if c.isalnum())[:18] + rng.choice(
            (".com", ".io", ".de", ".co.uk", ".fr", ".net")
        )
        employees = _employees(rng) if rng.random() < 0.85 else None
        created = days_ago(now, rng.uniform(30, 700))
        account = org.insert(
            "Account",
            {
                "Name": name,
                "Website": f"https://www.{domain}" if rng.random() < 0.8 else None,
                "Industry": _pick(rng, INDUSTRY_WEIGHTS),
                "NumberOfEmployees": employees,
                "AnnualRevenue": round(employees * rng.uniform(60_000, 300_000), -3)
                if employees and rng.random() < 0.7
                else None,
                "BillingCountry": _pick(rng, COUNTRY_WEIGHTS),
                "Ownership": rng.choice(OWNERSHIP) if rng.random() < 0.6 else None,
            },
            created=created,
            modified=days_ago(now, rng.uniform(0, 30)),
        )
        accounts.append((account, name, domain))
    return accounts


def _person(rng: random.Random, domain: str) -> dict[str, object]:
    first = rng.choice(FIRST_NAMES)
    last = rng.choice(LAST_NAMES)
    local = f"{first}.{last}".lower().replace(" ", "").replace("'", "")
    roll = rng.random()
    if roll < 0.04:
        email = None
    elif roll < 0.07:
        email = (
            f"  {local}@{domain.upper()} ".strip()
            if rng.random() < 0.5
            else f"{local.upper()}@{domain}"
        )
    else:
        email = f"{local}@{domain}"
    return {
        "FirstName": first if rng.random() > 0.02 else None,
        "LastName": last,
        "Email": email,
        "Title": rng.choice(TITLES),
        "HasOptedOutOfEmail": rng.random() < 0.05,
        "LeadSource": _pick(rng, LEAD_SOURCES),
    }


def _contacts(
    org: OrgState,
    rng: random.Random,
    people: _People,
    accounts: list[tuple[str, str, str]],
    count: int,
    now: datetime,
) -> list[tuple[str, str | None]]:
    contacts = []
    for _ in range(count):
        account, _, domain = rng.choice(accounts)
        values = _person(rng, domain)
        values.update(
            AccountId=account if rng.random() < 0.95 else None,
            MailingCountry=_pick(rng, COUNTRY_WEIGHTS),
            OwnerId=rng.choice(people.reps + people.inactive_reps[:1]),
        )
        created = days_ago(now, rng.uniform(1, 600))
        contact = org.insert(
            "Contact", values, created=created, modified=days_ago(now, rng.uniform(0, 60))
        )
        contacts.append((contact, values["Email"] if isinstance(values["Email"], str) else None))
    return contacts


def _leads(
    org: OrgState,
    rng: random.Random,
    people: _People,
    accounts: list[tuple[str, str, str]],
    contacts: list[tuple[str, str | None]],
    count: int,
    now: datetime,
    history_days: float,
) -> list[str]:
    lead_ids: list[str] = []
    for _ in range(count):
        name = _company(rng)
        domain = "".join(c for c in name.lower() if c.isalnum())[:18] + rng.choice(
            (".com", ".com", ".io", ".de", ".co.uk", ".fr")
        )
        values = _person(rng, domain)
        if rng.random() < 0.02 and contacts:
            values["Email"] = rng.choice(contacts)[1]  # the same person as a Contact
        if rng.random() < 0.01:
            values["Email"] = "info@" + domain  # role address shared by many
        country = _pick(rng, COUNTRY_WEIGHTS)
        employees = _employees(rng) if rng.random() < 0.8 else None
        status = str(_pick(rng, STATUS_WEIGHTS))
        owner = _lead_owner(rng, people, status)
        values.update(
            Company=name if rng.random() > 0.01 else "[not provided]",
            Industry=_pick(rng, INDUSTRY_WEIGHTS),
            NumberOfEmployees=employees,
            AnnualRevenue=round(employees * rng.uniform(50_000, 300_000), -3)
            if employees and rng.random() < 0.6
            else None,
            Country=country,
            State=rng.choice(US_STATES) if country in ("United States", "USA", "US") else None,
            City=rng.choice(
                ("Chicago", "Austin", "Boston", "London", "Munich", "Lyon", "Toronto", "Pune", None)
            ),
            Website=f"www.{domain}" if rng.random() < 0.6 else None,
            Status=status,
            OwnerId=owner,
            Ownership__c=rng.choice(OWNERSHIP) if rng.random() < 0.3 else None,
            Legal_Hold__c=rng.random() < 0.005,
        )
        # An org whose inflow grew: by default 45% of its leads entered in the last four months,
        # the rest over the year before (leads engage in their first months, so the recent
        # ones are the engaged ones today).
        created = days_ago(now, history_days * rng.uniform(0, 1) ** 1.5)
        age = (now - created).total_seconds() / 86400
        modified = days_ago(now, rng.uniform(0, min(age, 90)))
        lead_ids.append(org.insert("Lead", values, created=created, modified=modified))
    # Some leads were merged into a duplicate or deleted; queryAll still shows them.
    for lead in rng.sample(lead_ids, k=len(lead_ids) // 100):
        if rng.random() < 0.5:
            org.merge("Lead", rng.choice(lead_ids), lead)
        else:
            org.delete("Lead", lead)
    return lead_ids


def _lead_owner(rng: random.Random, people: _People, status: str) -> str:
    if status in ("Nurture", "Recycled"):
        return people.nurture_queue if rng.random() < 0.85 else rng.choice(people.marketing)
    if status == "Working - Contacted":
        return rng.choice(people.inactive_reps) if rng.random() < 0.1 else rng.choice(people.reps)
    if status == "Unqualified":
        return rng.choice(people.reps)
    roll = rng.random()
    if roll < 0.15:
        return people.sales_queue
    if roll < 0.25:
        return rng.choice(people.reps)
    return rng.choice(people.marketing) if roll < 0.5 else people.nurture_queue


def _history(
    org: OrgState,
    rng: random.Random,
    people: _People,
    lead_ids: list[str],
    contacts: list[tuple[str, str | None]],
    now: datetime,
    with_keys: bool,
    joined: dict[str, list[truth.Membership]],
) -> random.Random:
    """Campaign responses, form submissions and rep activity in the last 120 days; each
    lead's memberships go to ``joined``. Returns the random stream conversions draw from."""
    live_leads = [i for i in lead_ids if not (org.raw("Lead", i) or {}).get("IsDeleted")]
    for person in live_leads + [c for c, _ in contacts]:
        row = org.raw("Lead" if person.startswith("00Q") else "Contact", person) or {}
        for _ in range(rng.choices((0, 1, 2, 3, 4), (30, 30, 20, 12, 8))[0]):
            member = _membership(org, rng, people, person, row, now)
            joined.setdefault(person, []).append(member)
    working = [
        i for i in live_leads if (org.raw("Lead", i) or {}).get("Status") == "Working - Contacted"
    ]
    for lead in working:
        owner = (org.raw("Lead", lead) or {}).get("OwnerId", people.reps[0])
        for _ in range(rng.randint(1, 4)):
            _task(org, rng, lead, owner, now, with_keys)
        if rng.random() < 0.25:
            start = days_ago(now, rng.uniform(0, HISTORY_DAYS))
            org.insert(
                "Event",
                {
                    "WhoId": lead,
                    "OwnerId": owner,
                    "Subject": "Discovery call",
                    "Type": "Meeting",
                    "StartDateTime": start,
                    "EndDateTime": start + timedelta(minutes=30),
                    "ActivityDateTime": start,
                },
                created=start,
            )
    # Its own stream, seeded from this one: the draws above stay what the seed always gave.
    return random.Random(rng.getrandbits(64))


def _convert_by_truth(
    org: OrgState,
    rng: random.Random,
    leads: list[str],
    joined: dict[str, list[truth.Membership]],
    now: datetime,
) -> None:
    """Each lead converts with the hidden propensity of ``generator_truth``, one sales cycle
    after its last engagement, if that day has come."""
    converting: list[tuple[str, datetime]] = []
    for lead in leads:
        row = org.raw("Lead", lead) or {}
        created = row.get("CreatedDate")
        start = created if isinstance(created, datetime) else now
        when = truth.draw_conversion(rng, truth.icp_boxes(row), joined.get(lead, []), start, now)
        if when is not None and row.get("Status") != "Unqualified":
            converting.append((lead, when))
    _convert_at(org, converting)


def _convert(org: OrgState, rng: random.Random, working: list[str], now: datetime) -> None:
    """A share of worked leads converted into a new contact on a fresh account (the bulk
    history's conversions: its activities are drawn apart from the people)."""
    picked = rng.sample(working, k=len(working) // 4)
    _convert_at(org, [(lead, days_ago(now, rng.uniform(0, HISTORY_DAYS))) for lead in picked])


def _convert_at(org: OrgState, converting: list[tuple[str, datetime]]) -> None:
    """Convert each lead at its moment into a new contact on a fresh account."""
    conversions: list[tuple[str, str, str, datetime | None]] = []
    for lead, when in converting:
        row = org.raw("Lead", lead) or {}
        account = org.insert(
            "Account",
            {
                "Name": row.get("Company"),
                "Industry": row.get("Industry"),
                "NumberOfEmployees": row.get("NumberOfEmployees"),
                "BillingCountry": row.get("Country"),
                "Ownership": row.get("Ownership__c"),
                "OwnerId": row.get("OwnerId"),
            },
            created=when,
        )
        contact = org.insert(
            "Contact",
            {
                "FirstName": row.get("FirstName"),
                "LastName": row.get("LastName"),
                "Email": row.get("Email"),
                "Title": row.get("Title"),
                "AccountId": account,
                "MailingCountry": row.get("Country"),
                "OwnerId": row.get("OwnerId"),
                "LeadSource": row.get("LeadSource"),
                "HasOptedOutOfEmail": row.get("HasOptedOutOfEmail", False),
            },
            created=when,
        )
        conversions.append((lead, contact, account, when))
    org.convert_leads(conversions)


#: A lead's campaign responses fall in its first weeks: its sales cycle (which the hidden
#: truth starts at the first response) then ends within the report's 90 days from entry.
ENGAGED_DAYS = 30.0


def _membership(
    org: OrgState,
    rng: random.Random,
    people: _People,
    person: str,
    row: Mapping[str, Any],
    now: datetime,
) -> truth.Membership:
    """One campaign membership (and its form submission); (name, type, status, responded,
    when) for the hidden truth. A lead engages in the ``ENGAGED_DAYS`` after it entered the
    CRM (a lead is created by its first form or list), so a lead that entered a year ago
    engaged and converted a year ago, within the sales cycle the report reads from entry."""
    campaign, statuses, responded, page, name, kind = rng.choice(people.campaigns)
    status = rng.choice(statuses)
    email = row.get("Email")
    ago = rng.uniform(0, HISTORY_DAYS)
    when = days_ago(now, ago)
    created = row.get("CreatedDate")
    if person.startswith("00Q") and isinstance(created, datetime):
        # The same draw, placed in the lead's own first weeks instead of the last months.
        span = min(ENGAGED_DAYS, (now - created).total_seconds() / 86400)
        when = created + timedelta(days=span * (1 - ago / HISTORY_DAYS))
    if not person.startswith("00Q"):
        # Drawn and dropped, so the leads' histories stay what the seed gave: a contact is an
        # existing account's person, never a lead again, and no conversion of theirs can be
        # drawn (Salesforce records conversions on leads); campaign history on contacts would
        # read as leads that never convert, whatever their fit and engagement.
        return name, kind, status, status in responded, when
    link = {"LeadId": person} if person.startswith("00Q") else {"ContactId": person}
    org.insert(
        "CampaignMember",
        {"CampaignId": campaign, "Status": status, "HasResponded": status in responded, **link},
        created=when,
    )
    if page and status in responded:
        form_link = {"Lead__c": person} if person.startswith("00Q") else {"Contact__c": person}
        org.insert(
            "Form_Submission__c",
            {
                "Email__c": email,
                "Form_Name__c": name,
                "Page_URL__c": f"https://www.example-corp.com{page}",
                "Submitted_At__c": when,
                **form_link,
            },
            created=when,
        )
    return name, kind, status, status in responded, when


def _task(
    org: OrgState, rng: random.Random, who: str, owner: str, now: datetime, with_keys: bool
) -> None:
    kind = rng.choice(("Call", "Email", "Task"))
    when = days_ago(now, rng.uniform(0, HISTORY_DAYS))
    done = rng.random() < 0.7
    values: dict[str, object] = {
        "WhoId": who,
        "OwnerId": owner,
        "Subject": {"Call": "Call", "Email": "Email: Follow up", "Task": "Follow up"}[kind],
        "Type": "Other" if kind == "Task" else kind,
        "TaskSubtype": kind,
        "Status": "Completed" if done else "Not Started",
        "Priority": "High" if rng.random() < 0.2 else "Normal",
        "ActivityDate": (when + timedelta(days=2)).date(),
        "Description": "Left a voicemail." if kind == "Call" else None,
    }
    org.insert("Task", values, created=when)


def _engaged_runs(
    org: OrgState,
    rng: random.Random,
    people: _People,
    lead_ids: list[str],
    now: datetime,
    share: float,
) -> None:
    """Two webinar registrations and a price-sheet download in the last 14 days for a share
    of the open leads, four times as likely at a manufacturer (see ``generate_org``)."""
    webinars = [c for c in people.campaigns if c[5] == "Webinar"][:2]
    price_sheet = next(c for c in people.campaigns if c[4].startswith("Price"))
    members = {(r.get("CampaignId"), r.get("LeadId")) for r in org.records("CampaignMember")}
    for lead in lead_ids:
        row = org.raw("Lead", lead) or {}
        if row.get("IsDeleted") or row.get("IsConverted"):
            continue
        odds = share if row.get("Industry") == "Manufacturing" else share / 4
        if rng.random() >= odds:
            continue
        for campaign, status in ((w, "Registered") for w in webinars):
            if (campaign[0], lead) not in members:
                _member(org, campaign[0], lead, status, days_ago(now, rng.uniform(0, 14)))
        if (price_sheet[0], lead) not in members:
            when = days_ago(now, rng.uniform(0, 14))
            _member(org, price_sheet[0], lead, "Submitted", when)
            org.insert(
                "Form_Submission__c",
                {
                    "Email__c": row.get("Email"),
                    "Form_Name__c": price_sheet[4],
                    "Page_URL__c": f"https://www.example-corp.com{price_sheet[3]}",
                    "Submitted_At__c": when,
                    "Lead__c": lead,
                },
                created=when,
            )


def _member(org: OrgState, campaign: str, lead: str, status: str, when: datetime) -> None:
    org.insert(
        "CampaignMember",
        {"CampaignId": campaign, "Status": status, "HasResponded": True, "LeadId": lead},
        created=when,
    )
