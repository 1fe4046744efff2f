"""A seeded, realistic portal: messy contacts, owners, forms, emails, webinars, meetings, calls.

Values are as untidy as a real portal's: countries spelled many ways, missing company sizes,
job titles in every case, employee counts as HubSpot's enumeration ranges. Activity spreads
over the ~120 days before ``now``; the same seed and ``now`` always give the same portal.

Customers follow the same hidden truth as the Salesforce org's conversions
(``sandboxes.salesforce.generator_truth``): a person shared with the org is a customer exactly
when their Salesforce lead converted, from that day; any other contact becomes one with the
propensity its fit and engagement give (Contact Us and Demo Request submissions raise a hand;
price sheets, ebooks and webinar registrations add points), a sales cycle after its last such
activity. The lifecycle stage drawn with the contact's values never says customer.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sandboxes.hubspot.generate_deals import add_deals
from sandboxes.hubspot.portal import (
    Form,
    MarketingEvent,
    ObjectList,
    Owner,
    PortalState,
)
from sandboxes.hubspot.schema import (
    ANALYTICS_SOURCES,
    EMPLOYEE_RANGES,
    iso_instant,
    lifecycle_date_prop,
)
from sandboxes.salesforce import generator_truth as truth

HISTORY_DAYS = 120

FIRST = [
    "Ava",
    "Ben",
    "Chloe",
    "Dan",
    "Eva",
    "Finn",
    "Grace",
    "Hugo",
    "Isla",
    "Jack",
    "Kara",
    "Liam",
    "Mia",
    "Noah",
    "Olga",
    "Paul",
    "Quinn",
    "Rosa",
    "Sam",
    "Tara",
    "Umar",
    "Vera",
    "Will",
    "Xena",
    "Yuki",
    "Zoe",
    "Arjun",
    "Bea",
    "Carlos",
    "Dina",
    "Emil",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jin",
]
LAST = [
    "Smith",
    "Jones",
    "Brown",
    "Garcia",
    "Miller",
    "Davis",
    "Lopez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Moore",
    "Martin",
    "Lee",
    "Perez",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Young",
    "Walker",
    "Hall",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Green",
    "Baker",
    "Adams",
    "Nelson",
    "Hill",
    "Campbell",
    "Mitchell",
    "Roberts",
    "Carter",
    "Phillips",
    "Evans",
    "Turner",
    "Torres",
    "Parker",
    "Collins",
    "Edwards",
]
COMPANIES = (
    "Acme Robotics",
    "Globex",
    "Initech",
    "Umbrella Health",
    "Stark Logistics",
    "Wayne Foods",
    "Hooli",
    "Vandelay Industries",
    "Soylent Labs",
    "Tyrell Systems",
    "Cyberdyne Cloud",
    "Wonka Retail",
    "Massive Dynamic",
    "Aperture Science",
    "Gringotts Finance",
    "Oceanic Air",
    "Pied Piper",
    "Dunder Mifflin",
    "Nakatomi Trading",
    "Monarch Media",
)
INDUSTRIES = (
    "COMPUTER_SOFTWARE",
    "Software",
    "software",
    "FINANCIAL_SERVICES",
    "Hospital & Health Care",
    "Retail",
    "LOGISTICS_AND_SUPPLY_CHAIN",
    "Manufacturing",
    "Higher Education",
    "Marketing and Advertising",
)
COUNTRIES = (
    "United States",
    "USA",
    "US",
    "U.S.",
    "united states",
    "Germany",
    "Deutschland",
    "DE",
    "United Kingdom",
    "UK",
    "GB",
    "France",
    "Canada",
    "Australia",
    "Netherlands",
    "India",
)
STATES = ("CA", "California", "NY", "New York", "TX", "Texas", "WA", "MA", "IL", "")
CITIES = ("San Francisco", "New York", "Austin", "Berlin", "London", "Paris", "Toronto", "")
TITLES = (
    "CEO",
    "Chief Technology Officer",
    "VP of Sales",
    "vp marketing",
    "Director of Operations",
    "Head of IT",
    "IT Manager",
    "Marketing Manager",
    "Software Engineer",
    "Sr. Data Analyst",
    "Intern",
    "Founder & CEO",
    "",
)
STAGE_WEIGHTS = (
    ("subscriber", 25),
    ("lead", 40),
    ("marketingqualifiedlead", 15),
    ("salesqualifiedlead", 8),
    ("opportunity", 6),
    ("customer", 6),
)
FORMS = (
    ("Contact Us", "/contact"),
    ("Demo Request", "/demo"),
    ("Price Sheet", "/pricing/download"),
    ("Ebook: The RevOps Playbook", "/resources/revops-ebook"),
    ("Ebook: Lead Scoring 101", "/resources/lead-scoring"),
    ("Newsletter signup", "/blog"),
)
EMAIL_NAMES = (
    "Monthly Newsletter - {m}",
    "Product Update - {m}",
    "Webinar Invite - {m}",
    "Case Study: Acme - {m}",
)
WEBINARS = (
    "Product Webinar: Scoring that Sales Trusts",
    "Customer Roundtable",
    "Product Webinar: Routing Deep Dive",
    "Ask Me Anything: RevOps",
)
SALES_TEAM = {"id": "101", "name": "Sales", "primary": True}
MARKETING_TEAM = {"id": "102", "name": "Marketing", "primary": True}


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _maybe(rng: random.Random, value: str, present: float) -> str:
    return value if rng.random() < present else ""


def _owners(portal: PortalState, rng: random.Random, start: datetime) -> list[Owner]:
    people = [
        ("Sally", "Seller", SALES_TEAM, False),
        ("Rob", "Rep", SALES_TEAM, False),
        ("Alicia", "Account", SALES_TEAM, False),
        ("Devon", "Deal", SALES_TEAM, False),
        ("Priya", "Pipeline", SALES_TEAM, False),
        ("Marco", "Marketer", MARKETING_TEAM, False),
        ("Nina", "Nurture", MARKETING_TEAM, False),
        ("Oscar", "Ops", MARKETING_TEAM, False),
        ("Gone", "Girl", SALES_TEAM, True),
        ("Former", "Rep", SALES_TEAM, True),
        ("Left", "Marketer", MARKETING_TEAM, True),
    ]
    owners = []
    for index, (first, last, team, archived) in enumerate(people):
        owner = Owner(
            id=str(40_000_000 + index * 7919),
            user_id=9_000_000 + index * 31,
            email=f"{first.lower()}.{last.lower()}@leadsync-demo.example",
            first_name=first,
            last_name=last,
            teams=[dict(team)],
            archived=archived,
            created_at=start - timedelta(days=400 - index),
            updated_at=start - timedelta(days=rng.randint(1, 60)),
        )
        portal.add_owner(owner)
        owners.append(owner)
    return owners


def _set_modified(portal: PortalState, object_type: str, object_id: int, moment: datetime) -> None:
    """Backdate a generated object's last modification without notifying listeners."""
    obj = portal.objects[object_type][object_id]
    if moment > obj.updated_at:
        obj.updated_at = moment
        key = "lastmodifieddate" if object_type == "contacts" else "hs_lastmodifieddate"
        obj.properties[key] = iso_instant(moment)


def _contact_values(
    rng: random.Random, index: int, owners: list[Owner], email: str | None
) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    company = rng.choice(COMPANIES)
    domain = company.lower().replace(" ", "") + ".example"
    stage = rng.choices([s for s, _ in STAGE_WEIGHTS], [w for _, w in STAGE_WEIGHTS])[0]
    owner = rng.choice(owners) if rng.random() < 0.55 else None
    title = rng.choice(TITLES)
    return {
        "email": email or f"{first.lower()}.{last.lower()}{index}@{domain}",
        "firstname": first if rng.random() > 0.03 else "",
        "lastname": last,
        "company": _maybe(rng, company, 0.9),
        "website": _maybe(rng, f"https://www.{domain}", 0.7),
        "jobtitle": title.upper() if title and rng.random() < 0.1 else title,
        "industry": _maybe(rng, rng.choice(INDUSTRIES), 0.75),
        "numemployees": _maybe(rng, rng.choice(EMPLOYEE_RANGES), 0.7),
        "annualrevenue": _maybe(rng, str(rng.choice((5, 12, 40, 150, 900, 4000)) * 250_000), 0.5),
        "country": _maybe(rng, rng.choice(COUNTRIES), 0.85),
        "state": rng.choice(STATES),
        "city": rng.choice(CITIES),
        "phone": _maybe(rng, f"+1 555 01{rng.randint(10, 99)}", 0.5),
        "lifecyclestage": stage,
        "hs_lead_status": _maybe(rng, rng.choice(("NEW", "OPEN", "IN_PROGRESS", "CONNECTED")), 0.6),
        "hubspot_owner_id": owner.id if owner else "",
        "hs_analytics_source": rng.choice(ANALYTICS_SOURCES),
    }


def generate_portal(
    contacts: int = 3000,
    seed: int = 7,
    with_output_properties: bool = True,
    now: datetime | None = None,
    shared_emails: Sequence[str] = (),
    converted: Mapping[str, datetime] | None = None,
) -> PortalState:
    """A portal of ``contacts`` contacts with engagement history over the last ~120 days.

    ``shared_emails`` become the first contacts' addresses, so the same people exist in the
    Salesforce sandbox too; ``converted`` (email -> when) names those whose Salesforce lead
    converted: they are customers from then, and no other shared person is. API writes after
    generation are stamped with the real clock.
    """
    rng = random.Random(seed)
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    start = now - timedelta(days=HISTORY_DAYS)
    portal = PortalState()
    if with_output_properties:
        portal.add_output_properties()
    owners = _owners(portal, rng, start)
    active = [o for o in owners if not o.archived]
    sales = [o for o in active if o.teams[0]["name"] == "Sales"]

    ids: list[int] = []
    emails = list(dict.fromkeys(e.strip() for e in shared_emails if e.strip()))
    for index in range(max(contacts, len(emails))):
        created = (
            start - timedelta(days=rng.randint(0, 600))
            if rng.random() < 0.3
            else (start + timedelta(seconds=rng.randint(0, HISTORY_DAYS * 86_400 - 3_600)))
        )
        email = emails[index] if index < len(emails) else None
        values = _contact_values(rng, index, owners, email)
        values["createdate"] = iso_instant(created)
        obj = portal.insert("contacts", values, at=created)
        _set_modified(portal, "contacts", obj.id, created + timedelta(hours=rng.randint(0, 72)))
        ids.append(obj.id)

    # People shared with the org engage in Salesforce, where their conversion is drawn:
    # engagement here would be engagement the hidden truth never saw (drawn, then dropped).
    quiet = set(ids[: len(emails)])
    _forms(portal, rng, start, now, ids, quiet)
    _emails(portal, rng, start, now, ids)
    _webinars(portal, rng, start, now, ids, quiet)
    _sales_activity(portal, rng, now, ids, sales)
    # Its own stream, so the portal above is what the seed always gave.
    shared = {e.casefold(): (converted or {}).get(e) for e in emails}
    _customers(portal, random.Random(f"{seed}:truth"), now, ids, shared)
    add_deals(portal, seed, now, ids)
    portal.add_list(ObjectList("1", "LeadSync nurture", "MANUAL", start, start))
    portal.nurture_list_id = "1"
    portal.nurture_owner_id = next(
        o.id for o in portal.owners.values() if (o.first_name, o.last_name) == ("Nina", "Nurture")
    )
    portal.add_list(ObjectList("2", "All MQLs", "DYNAMIC", start, start))
    return portal


def _moment_after(rng: random.Random, earliest: datetime, now: datetime) -> datetime:
    span = max(60, int((now - earliest).total_seconds()))
    return earliest + timedelta(seconds=rng.randint(0, span - 1))


def _forms(
    portal: PortalState,
    rng: random.Random,
    start: datetime,
    now: datetime,
    ids: list[int],
    quiet: set[int],
) -> None:
    guids = []
    for name, _ in FORMS:
        guid = _uuid(rng)
        portal.add_form(Form(guid, name, start - timedelta(days=200)))
        guids.append(guid)
    weights = (4, 6, 10, 12, 12, 20)
    for contact_id in rng.sample(ids, k=len(ids) * 3 // 10):
        contact = portal.objects["contacts"][contact_id]
        for _ in range(rng.choice((1, 1, 1, 2, 3))):
            index = rng.choices(range(len(FORMS)), weights)[0]
            at = _moment_after(rng, max(start, contact.created_at), now)
            values = {
                "email": contact.properties["email"],
                "firstname": contact.properties.get("firstname", ""),
                "lastname": contact.properties.get("lastname", ""),
            }
            if contact.properties.get("company"):
                values["company"] = contact.properties["company"]
            if FORMS[index][0] == "Contact Us":
                values["message"] = "Please call me about pricing."
            if contact_id in quiet:
                continue
            portal.add_form_submission(
                guids[index],
                values,
                at=at,
                page_url=f"https://www.leadsync-demo.example{FORMS[index][1]}",
            )


def _emails(
    portal: PortalState, rng: random.Random, start: datetime, now: datetime, ids: list[int]
) -> None:
    campaigns = []
    for index in range(6):
        sent = start + timedelta(days=10 + index * 18)
        if sent >= now:
            break
        campaign_id = 30_000_000 + index * 1_117
        name = EMAIL_NAMES[index % len(EMAIL_NAMES)].format(m=sent.strftime("%b %Y"))
        portal.email_campaigns[campaign_id] = {
            "id": campaign_id,
            "appId": 113,
            "appName": "Batch",
            "contentId": 5_000_000 + index,
            "name": name,
            "subject": name,
            "type": "BATCH_EMAIL",
            "numIncluded": 0,
            "numQueued": 0,
            "counters": {},
        }
        campaigns.append((campaign_id, sent))
    contacts = portal.objects["contacts"]
    for campaign_id, sent in campaigns:
        audience = [i for i in ids if contacts[i].created_at < sent and rng.random() < 0.6]
        counters = {"sent": 0, "delivered": 0, "open": 0, "click": 0, "unsubscribed": 0}
        for contact_id in audience:
            recipient = contacts[contact_id].properties["email"]
            if contacts[contact_id].properties.get("hs_email_optout") == "true":
                continue
            base = {"recipient": recipient, "emailCampaignId": campaign_id}
            sent_ms = int(sent.timestamp() * 1000)
            portal.add_email_event({**base, "type": "SENT", "created": sent_ms})
            portal.add_email_event({**base, "type": "DELIVERED", "created": sent_ms + 4_000})
            counters["sent"] += 1
            counters["delivered"] += 1
            if rng.random() < 0.35:
                opened = sent_ms + rng.randint(60, 86_400 * 3) * 1000
                if opened < now.timestamp() * 1000:
                    portal.add_email_event({**base, "type": "OPEN", "created": opened})
                    counters["open"] += 1
                    if rng.random() < 0.25:
                        portal.add_email_event(
                            {
                                **base,
                                "type": "CLICK",
                                "created": opened + 20_000,
                                "url": "https://www.leadsync-demo.example/pricing",
                            }
                        )
                        counters["click"] += 1
                    if rng.random() < 0.05:
                        portal.add_email_event(
                            {
                                **base,
                                "type": "STATUSCHANGE",
                                "created": opened + 60_000,
                                "source": "SOURCE_RECIPIENT",
                                "portalSubscriptionStatus": "UNSUBSCRIBED",
                                "subscriptions": [{"id": 4_000_001, "status": "UNSUBSCRIBED"}],
                            }
                        )
                        counters["unsubscribed"] += 1
        portal.email_campaigns[campaign_id]["counters"] = counters
        portal.email_campaigns[campaign_id]["numIncluded"] = counters["sent"]


def _webinars(
    portal: PortalState,
    rng: random.Random,
    start: datetime,
    now: datetime,
    ids: list[int],
    quiet: set[int],
) -> None:
    contacts = portal.objects["contacts"]
    for index, name in enumerate(WEBINARS):
        begins = start + timedelta(days=20 + index * 25, hours=16)
        if begins >= now:
            break
        event = MarketingEvent(
            object_id=str(70_000_000 + index * 13),
            external_event_id=f"webinar-{index + 1}",
            external_account_id="leadsync-demo-webinars",
            name=name,
            event_type="WEBINAR",
            organizer="LeadSync Demo",
            start=begins,
            end=begins + timedelta(hours=1),
            created_at=begins - timedelta(days=21),
            updated_at=begins - timedelta(days=21),
        )
        portal.marketing_events[event.object_id] = event
        for contact_id in ids:
            if contacts[contact_id].created_at >= begins or rng.random() >= 0.08:
                continue
            registered = begins - timedelta(days=rng.randint(1, 14), minutes=rng.randint(0, 600))
            outcome = rng.random()
            if contact_id in quiet:
                continue
            portal.add_participation(event.object_id, contact_id, "REGISTERED", at=registered)
            if outcome < 0.5:
                portal.add_participation(event.object_id, contact_id, "ATTENDED", at=begins)
            elif outcome < 0.6:
                portal.add_participation(event.object_id, contact_id, "CANCELLED", at=registered)
            else:
                portal.add_participation(event.object_id, contact_id, "NO_SHOW", at=begins)


def _sales_activity(
    portal: PortalState, rng: random.Random, now: datetime, ids: list[int], sales: list[Owner]
) -> None:
    contacts = portal.objects["contacts"]
    for contact_id in rng.sample(ids, k=len(ids) // 10):
        contact = contacts[contact_id]
        owner_id = contact.properties.get("hubspot_owner_id") or rng.choice(sales).id
        at = _moment_after(rng, max(contact.created_at, now - timedelta(days=HISTORY_DAYS)), now)
        if rng.random() < 0.5:
            portal.add_engagement(
                "meetings",
                contact_id,
                {
                    "hs_timestamp": iso_instant(at),
                    "hs_meeting_title": "Discovery call",
                    "hs_meeting_start_time": iso_instant(at),
                    "hs_meeting_end_time": iso_instant(at + timedelta(minutes=30)),
                    "hs_meeting_outcome": rng.choice(("COMPLETED", "SCHEDULED", "NO_SHOW")),
                    "hubspot_owner_id": owner_id,
                },
                at=at,
            )
        else:
            portal.add_engagement(
                "calls",
                contact_id,
                {
                    "hs_timestamp": iso_instant(at),
                    "hs_call_title": "Intro call",
                    "hs_call_direction": "OUTBOUND",
                    "hs_call_duration": str(rng.randint(30, 1800) * 1000),
                    "hs_call_status": "COMPLETED",
                    "hubspot_owner_id": owner_id,
                },
                at=at,
            )


def _customers(
    portal: PortalState,
    rng: random.Random,
    now: datetime,
    ids: list[int],
    shared: Mapping[str, datetime | None],
) -> None:
    """Lifecycle stage ``customer`` (and its date) by the hidden truth; see the module."""
    contacts = portal.objects["contacts"]
    engaged: dict[int, list[truth.Membership]] = {}
    for form in portal.forms.values():
        kind = "Website" if form.name in truth.HAND_RAISE_CAMPAIGNS else "Form"
        label = "Price Sheet Download" if form.name.startswith("Price") else form.name
        for submission in form.submissions:
            email = next((v["value"] for v in submission["values"] if v["name"] == "email"), "")
            found = portal.find_unique("contacts", "email", email) if email else None
            if found is not None:
                at = datetime.fromtimestamp(submission["submittedAt"] / 1000, tz=UTC)
                engaged.setdefault(found.id, []).append((label, kind, "Submitted", True, at))
    for event in portal.marketing_events.values():
        for record in event.participations:
            if record["state"] == "REGISTERED":
                engaged.setdefault(record["contact_id"], []).append(
                    ("Webinar", "Webinar", "Registered", True, record["occurred_at"])
                )
    for contact_id in ids:
        contact = contacts[contact_id]
        props = contact.properties
        if props.get("lifecyclestage") == "customer":
            props["lifecyclestage"] = "opportunity"
            props.pop(lifecycle_date_prop("customer"), None)
            props[lifecycle_date_prop("opportunity")] = props["createdate"]
        email = props.get("email", "").casefold()
        when = truth.draw_conversion(
            rng, _boxes(props), engaged.get(contact_id, []), contact.created_at, now
        )
        if email in shared:
            when = shared[email]
        if when is not None:
            props["lifecyclestage"] = "customer"
            props[lifecycle_date_prop("customer")] = iso_instant(when)
            _set_modified(portal, "contacts", contact_id, when)


def _boxes(props: Mapping[str, str]) -> int:
    """The example config's ICP boxes a contact's HubSpot values meet."""
    employees = props.get("numemployees", "")
    low = employees.split("-")[0].rstrip("+")
    return truth.icp_boxes(
        {
            "Industry": props.get("industry", "").replace("_", " "),
            "NumberOfEmployees": int(low) if low.isdigit() and int(low) < 1000 else None,
            "Country": props.get("country", ""),
            "Title": props.get("jobtitle", ""),
            "Company": props.get("company", ""),
            "Website": props.get("website", ""),
        }
    )
