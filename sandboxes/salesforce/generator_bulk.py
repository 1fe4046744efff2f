"""Generate a large activity history as columnar tables (see :mod:`columns`).

``generate_org(leads, activities=N)`` calls :func:`add_activities` instead of drawing the
per-person history one ``OrgState.insert`` at a time: ten million activities as dict rows would
need over 10 GiB and most of an hour. The records are the same kinds with the same field
values the per-person history produces (campaign responses, form submissions, rep calls and
emails, meetings over the last 120 days), spread over live leads and contacts; only the
storage differs.
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sandboxes.salesforce.columns import (
    ColumnTable,
    Reader,
    code_reader,
    stamp_reader,
    to_ms,
)
from sandboxes.salesforce.generator_data import HISTORY_DAYS
from sandboxes.salesforce.org import OrgState

#: Shares of the activity objects LeadSync's default mapping pulls. Campaign responses and
#: form fills dominate a marketing-heavy org's history; reps' calls and emails come next.
MIX: tuple[tuple[str, float], ...] = (
    ("CampaignMember", 0.40),
    ("Task", 0.35),
    ("Event", 0.05),
    ("Form_Submission__c", 0.20),
)
#: Share of activities on leads; the rest are on contacts.
LEAD_SHARE = 0.9
_DAY_MS = 86_400_000
_TASK_KINDS = (
    # TaskSubtype, Subject, Type, Description
    ("Call", "Call", "Call", "Left a voicemail."),
    ("Email", "Email: Follow up", "Email", None),
    ("Task", "Follow up", "Other", None),
)


@dataclass(frozen=True, slots=True)
class Campaign:
    id: str
    name: str
    statuses: tuple[str, ...]
    responded: frozenset[str]
    page: str | None


@dataclass(frozen=True, slots=True)
class People:
    """Who activities can be about (``leads`` first, then ``contacts``) and who owns them."""

    ids: list[str]
    emails: list[str | None]
    leads: int
    reps: list[str]


def split(total: int) -> dict[str, int]:
    """How many of ``total`` activities each object gets (shares of :data:`MIX`, exact sum)."""
    counts = {name: int(total * share) for name, share in MIX}
    counts[MIX[0][0]] += total - sum(counts.values())
    return counts


def add_activities(
    org: OrgState,
    rng: random.Random,
    people: People,
    campaigns: Sequence[Campaign],
    total: int,
    now: datetime,
) -> dict[str, int]:
    """Attach ``total`` activities to ``org`` as columnar tables; the count per object."""
    counts = split(total)
    now_ms = to_ms(now)
    for name, count in counts.items():
        persons = array("I")
        stamps = array("q")
        pick_lead = people.leads
        contacts = len(people.ids) - pick_lead
        for _ in range(count):
            if contacts == 0 or rng.random() < LEAD_SHARE:
                persons.append(int(rng.random() * pick_lead))
            else:
                persons.append(pick_lead + int(rng.random() * contacts))
            stamps.append(now_ms - int(rng.random() * HISTORY_DAYS * _DAY_MS))
        readers = _common(org, people, persons, stamps)
        if name == "CampaignMember":
            readers.update(_members(rng, people, campaigns, persons, stamps))
        elif name == "Task":
            readers.update(_tasks(rng, people, persons, stamps))
        elif name == "Event":
            readers.update(_events(rng, people, persons, stamps))
        else:
            readers.update(_forms(rng, people, campaigns, persons, stamps))
        definition = org.schema[name]
        fields = {k: v for k, v in readers.items() if k in definition.fields}
        org.attach(ColumnTable(definition, org.ids, count, fields))
    return counts


def _common(
    org: OrgState, people: People, persons: array[int], stamps: array[int]
) -> dict[str, Reader]:
    stamp = stamp_reader(stamps)
    integration = org.integration_user_id
    maker = org.background_user_id or integration
    return {
        "CreatedDate": stamp,
        "LastModifiedDate": stamp,
        "SystemModstamp": stamp,
        "CreatedById": lambda i: maker,
        "LastModifiedById": lambda i: maker,
        "OwnerId": lambda i: integration,
    }


def _who(people: People, persons: array[int]) -> Reader:
    return code_reader(people.ids, persons)


def _lead_ref(people: People, persons: array[int]) -> Reader:
    ids, leads = people.ids, people.leads
    return lambda i: ids[persons[i]] if persons[i] < leads else None


def _contact_ref(people: People, persons: array[int]) -> Reader:
    ids, leads = people.ids, people.leads
    return lambda i: ids[persons[i]] if persons[i] >= leads else None


def _members(
    rng: random.Random,
    people: People,
    campaigns: Sequence[Campaign],
    persons: array[int],
    stamps: array[int],
) -> dict[str, Reader]:
    campaign_codes = array("B")
    labels: list[str] = sorted({s for c in campaigns for s in c.statuses})
    label_code = {label: code for code, label in enumerate(labels)}
    status_codes = array("B")
    responded = array("b")
    for _ in range(len(persons)):
        code = int(rng.random() * len(campaigns))
        campaign = campaigns[code]
        status = campaign.statuses[int(rng.random() * len(campaign.statuses))]
        campaign_codes.append(code)
        status_codes.append(label_code[status])
        responded.append(status in campaign.responded)
    campaign_ids = [c.id for c in campaigns]
    emails = people.emails

    def first_responded(i: int) -> Any:
        if not responded[i]:
            return None
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=stamps[i])).date()

    return {
        "CampaignId": code_reader(campaign_ids, campaign_codes),
        "Status": code_reader(labels, status_codes),
        "HasResponded": lambda i: bool(responded[i]),
        "FirstRespondedDate": first_responded,
        "LeadId": _lead_ref(people, persons),
        "ContactId": _contact_ref(people, persons),
        "Email": lambda i: emails[persons[i]],
    }


def _tasks(
    rng: random.Random, people: People, persons: array[int], stamps: array[int]
) -> dict[str, Reader]:
    kinds = array("B")
    done = array("b")
    high = array("b")
    owners = array("B")
    for _ in range(len(persons)):
        kinds.append(int(rng.random() * len(_TASK_KINDS)))
        done.append(rng.random() < 0.7)
        high.append(rng.random() < 0.2)
        owners.append(int(rng.random() * len(people.reps)))
    stamp = stamp_reader(stamps)

    def activity_date(i: int) -> Any:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=stamps[i] + 2 * _DAY_MS)
        return moment.date()

    return {
        "WhoId": _who(people, persons),
        "OwnerId": code_reader(people.reps, owners),
        "TaskSubtype": lambda i: _TASK_KINDS[kinds[i]][0],
        "Subject": lambda i: _TASK_KINDS[kinds[i]][1],
        "Type": lambda i: _TASK_KINDS[kinds[i]][2],
        "Description": lambda i: _TASK_KINDS[kinds[i]][3],
        "Status": lambda i: "Completed" if done[i] else "Not Started",
        "IsClosed": lambda i: bool(done[i]),
        "CompletedDateTime": lambda i: stamp(i) if done[i] else None,
        "Priority": lambda i: "High" if high[i] else "Normal",
        "ActivityDate": activity_date,
    }


def _events(
    rng: random.Random, people: People, persons: array[int], stamps: array[int]
) -> dict[str, Reader]:
    owners = array("B", (int(rng.random() * len(people.reps)) for _ in range(len(persons))))
    stamp = stamp_reader(stamps)
    half_hour = timedelta(minutes=30)

    def end(i: int) -> Any:
        start = stamp(i)
        return start + half_hour if start is not None else None

    return {
        "WhoId": _who(people, persons),
        "OwnerId": code_reader(people.reps, owners),
        "Subject": lambda i: "Discovery call",
        "Type": lambda i: "Meeting",
        "StartDateTime": stamp,
        "EndDateTime": end,
        "ActivityDateTime": stamp,
    }


def _forms(
    rng: random.Random,
    people: People,
    campaigns: Sequence[Campaign],
    persons: array[int],
    stamps: array[int],
) -> dict[str, Reader]:
    pages = [c for c in campaigns if c.page]
    codes = array("B", (int(rng.random() * len(pages)) for _ in range(len(persons))))
    emails = people.emails
    names = [c.name for c in pages]
    urls = [f"https://www.example-corp.com{c.page}" for c in pages]
    return {
        "Name": lambda i: f"FS-{i + 1:07d}",
        "Email__c": lambda i: emails[persons[i]],
        "Form_Name__c": code_reader(names, codes),
        "Page_URL__c": code_reader(urls, codes),
        "Submitted_At__c": stamp_reader(stamps),
        "Lead__c": _lead_ref(people, persons),
        "Contact__c": _contact_ref(people, persons),
    }
