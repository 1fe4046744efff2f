"""The soak checker's reading of both sandboxes: people and activities, straight from their state.

The bench process hosts the sandboxes, so this reads the org's and the portal's in-process
state, shapes each row as the CRM's API would answer it (the Salesforce sandbox's own SOQL
evaluator and REST shaping; the HubSpot sandbox's JSON bodies) and converts it with the
connectors' pure mapping functions. Nothing here touches LeadSync's store or its HTTP clients,
so a record or activity the service failed to pull is still seen here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connectors.hubspot.activities import (
    _form_email,
    email_event_activity,
    engagement_activities,
    participation_activity,
)
from connectors.hubspot.mapping import HubSpotMapping, person_from_contact
from connectors.hubspot.mapping import load_mapping as load_hubspot_mapping
from connectors.hubspot.mapping import parse_time as hubspot_time
from connectors.salesforce.mapping import SalesforceMapping
from connectors.salesforce.mapping import load_mapping as load_salesforce_mapping
from connectors.salesforce.pull import (
    activity_plans,
    flatten,
    parse_datetime,
    person_plan,
    to_activity,
    to_person,
)
from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.sandboxes import Sandboxes
from sandboxes.hubspot.marketing import _participation
from sandboxes.salesforce.soql_eval import compile_query

_ROOT = Path(__file__).resolve().parent.parent
_API_VERSION = "60.0"
SALESFORCE = "salesforce"
HUBSPOT = "hubspot"


@dataclass(frozen=True, slots=True)
class CrmRecord:
    """One person record and what LeadSync wrote on it (``written``: canonical output ->
    the raw CRM value)."""

    person: PersonRecord
    written: dict[str, Any]
    legal_hold: bool = False
    converted: bool = False


@dataclass(frozen=True, slots=True)
class CrmActivity:
    """One activity and when it first existed in the CRM (``known_at``): a campaign response
    dated by its day, or a backdated event, still was not there to be scored before then."""

    record: ActivityRecord
    known_at: Any


@dataclass(frozen=True, slots=True)
class SandboxState:
    records: list[CrmRecord]
    activities: list[CrmActivity]


def read_state(world: Sandboxes) -> SandboxState:
    sf_mapping = load_salesforce_mapping(_ROOT / "mappings" / "salesforce.toml")
    hs_mapping = load_hubspot_mapping(_ROOT / "mappings" / "hubspot.toml")
    records = [*_salesforce_people(world, sf_mapping), *_hubspot_people(world, hs_mapping)]
    activities = [
        *_salesforce_activities(world, sf_mapping),
        *_hubspot_activities(world, hs_mapping),
    ]
    return SandboxState(records, activities)


def _soql_rows(world: Sandboxes, soql: str) -> Iterator[dict[str, Any]]:
    org = world.salesforce.org
    query = compile_query(org, soql)
    with org.lock:
        rows = query.run(org, include_deleted=False)
        shaped = [query.shape(org, row, _API_VERSION) for row in rows]
    yield from (flatten(row) for row in shaped)


def _salesforce_people(world: Sandboxes, mapping: SalesforceMapping) -> Iterator[CrmRecord]:
    for sobject, obj in mapping.objects.items():
        plan = person_plan(sobject, obj)
        outputs = dict(obj.outputs)
        soql = plan.rest_soql(None)
        extra = [f for f in (*outputs.values(), "Legal_Hold__c") if f not in plan.fields]
        if extra and world.salesforce.org.object_def(sobject) is not None:
            more = ", ".join(_known(world, sobject, extra))
            soql = soql.replace(" FROM ", f", {more} FROM ")
        for row in _soql_rows(world, soql):
            yield CrmRecord(
                person=to_person(SALESFORCE, sobject, row, obj),
                written={name: row.get(field) for name, field in outputs.items()},
                legal_hold=bool(row.get("Legal_Hold__c")),
                converted=bool(row.get("IsConverted")),
            )


def _known(world: Sandboxes, sobject: str, fields: Sequence[str]) -> list[str]:
    definition = world.salesforce.org.object_def(sobject)
    assert definition is not None
    names = {name.lower() for name in definition.fields}
    return [f for f in fields if f.lower() in names]


def _salesforce_activities(world: Sandboxes, mapping: SalesforceMapping) -> Iterator[CrmActivity]:
    for plan in activity_plans(mapping):
        for row in _soql_rows(world, plan.rest_soql(None)):
            activity = to_activity(SALESFORCE, plan.sobject, row, mapping)
            if activity is not None:
                created = parse_datetime(row.get("CreatedDate")) or activity.occurred_at
                yield CrmActivity(activity, max(created, activity.occurred_at))


def _hubspot_people(world: Sandboxes, mapping: HubSpotMapping) -> Iterator[CrmRecord]:
    outputs = {name: prop.property for name, prop in mapping.outputs.items()}
    for contact in world.hubspot.portal.live("contacts"):
        body = contact.to_json(None)
        yield CrmRecord(
            person=person_from_contact(HUBSPOT, body, mapping),
            written={name: contact.properties.get(prop) for name, prop in outputs.items()},
        )


def _hubspot_activities(world: Sandboxes, mapping: HubSpotMapping) -> Iterator[CrmActivity]:
    portal, sources = world.hubspot.portal, mapping.activities
    with portal.lock:
        forms = [(g, f.name, list(f.submissions)) for g, f in portal.forms.items()]
        events = list(portal.email_events)
        marketing = [(e, list(e.participations)) for e in portal.marketing_events.values()]
        engagements = {
            kind: [
                (o.to_json(None), sorted(portal.associated(kind + "s", o.id, "contacts")))
                for o in portal.live(kind + "s")
            ]
            for kind in ("meeting", "call")
        }
    if sources.forms:
        for guid, name, submissions in forms:
            for sub in submissions:
                yield _known_now(_form_submission(guid, name, sub))
    if sources.email_events:
        wanted = {t.upper() for t in sources.email_event_types}
        for event in events:
            activity = email_event_activity(HUBSPOT, event)
            if activity is not None and str(event.get("type", "")).upper() in wanted:
                yield _known_now(activity)
    if sources.marketing_events:
        for marketing_event, participations in marketing:
            for record in participations:
                body = _participation(marketing_event, record)
                activity = participation_activity(HUBSPOT, body, marketing_event.name)
                if activity is not None:
                    yield CrmActivity(activity, max(activity.occurred_at, record["created_at"]))
    for kind, enabled in (("meeting", sources.meetings), ("call", sources.calls)):
        if not enabled:
            continue
        for body, contacts in engagements[kind]:
            created = hubspot_time(body.get("createdAt"))
            for activity in engagement_activities(HUBSPOT, kind, body, [str(c) for c in contacts]):
                known = max(activity.occurred_at, created) if created else activity.occurred_at
                yield CrmActivity(activity, known)


def _known_now(activity: ActivityRecord) -> CrmActivity:
    return CrmActivity(activity, activity.occurred_at)


def _form_submission(guid: str, name: str, sub: dict[str, Any]) -> ActivityRecord:
    """A submission as ``connectors.hubspot.activities.form_submissions`` reads it (that
    function pages through the HTTP API; the conversion is these few lines)."""
    email = _form_email(sub.get("values") or [])
    submitted = hubspot_time(sub.get("submittedAt"))
    assert submitted is not None
    return ActivityRecord(
        ref=RecordRef(HUBSPOT, "form_submission", f"{guid}:{sub.get('submittedAt')}:{email or ''}"),
        kind="form_submission",
        occurred_at=submitted,
        modified_at=submitted,
        email=email,
        name=name,
        url=sub.get("pageUrl"),
    )
