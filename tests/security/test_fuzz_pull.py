"""Every mapped field, every hostile value: pull parsing never raises, and what it cannot read
costs that value only, recorded with its record, field and raw value.

Both connectors, every row shape they read: Salesforce REST JSON (typed values) and Bulk CSV
(text coerced by the describe type), HubSpot contacts (search, list and batch read share one
converter), form submissions, email events, marketing event participations and engagements.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.hubspot.activities import (
    email_event_activity,
    engagement_activities,
    form_submission_activity,
    participation_activity,
)
from connectors.hubspot.mapping import load_mapping as load_hubspot_mapping
from connectors.hubspot.mapping import person_from_contact, read_time
from connectors.salesforce.fields import resolve
from connectors.salesforce.mapping import load_mapping as load_salesforce_mapping
from connectors.salesforce.pull import (
    COERCED_TYPES,
    activity_plans,
    coerce,
    flatten,
    parse_datetime,
    person_plan,
    to_activity,
    to_person,
)
from connectors.salesforce.timing import is_date
from leadsync.records import UNREADABLE_RAW_CHARS, ActivityRecord, PersonRecord, UnreadableValue
from mappings import default_mapping_path
from sandboxes.salesforce.objects import build_schema
from tests.security.hostile_values import empty, hostile, hostile_text

SF = load_salesforce_mapping()
HS = load_hubspot_mapping(default_mapping_path("hubspot"))
SCHEMA = build_schema(with_output_fields=True)
STAMP = "2024-03-05T10:00:00.000+0000"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def _describe(sobject: str) -> Mapping[str, Any]:
    return SCHEMA[sobject].describe("62.0") if sobject in SCHEMA else {}


def _sf_type(sobject: str, path: str) -> str | None:
    raw = resolve(_describe, sobject, path)
    return None if raw is None else str(raw.get("type"))


def _notes(record: PersonRecord | ActivityRecord, field: str) -> list[UnreadableValue]:
    return [n for n in record.unreadable if n.field == field]


def _well_formed(record: PersonRecord | ActivityRecord) -> None:
    for note in record.unreadable:
        assert note.ref == record.ref and note.field and note.problem
        assert len(note.raw) <= UNREADABLE_RAW_CHARS + 40, len(note.raw)


# -- Salesforce people ------------------------------------------------------------------------


def _sf_person_fields(sobject: str) -> list[str]:
    obj = SF.objects[sobject]
    named = [obj.email, obj.status, obj.owner, obj.opt_out, obj.account]
    return [f for f in (*named, *obj.attributes.values()) if f]


def _sf_person_row(sobject: str, values: dict[str, Any]) -> dict[str, Any]:
    plan = person_plan(sobject, SF.objects[sobject])
    row: dict[str, Any] = dict.fromkeys(plan.fields)
    row.update(Id="00Q000000000001AAA", SystemModstamp=STAMP, IsDeleted=False, IsConverted=False)
    row.update(values)
    return row


def _bulk(sobject: str, values: dict[str, str]) -> dict[str, Any]:
    """Text cells as the connector's Bulk path reads them: "" is None, then coerced."""
    row: dict[str, Any] = {}
    for path, text in values.items():
        kind = _sf_type(sobject, path)
        value = text or None
        row[path] = coerce(value, kind) if value is not None and kind in COERCED_TYPES else value
    return row


def _check_sf_person(sobject: str, person: PersonRecord, values: dict[str, Any]) -> None:
    obj = SF.objects[sobject]
    _well_formed(person)
    by_attribute = {path: name for name, path in obj.attributes.items()}
    for field, value in values.items():
        noted = bool(_notes(person, field))
        if field == obj.opt_out:
            # Compliance: an opt-out LeadSync cannot read reads as opted out.
            assert not noted or person.opted_out, (field, value)
            continue
        if field in by_attribute:
            # Read (kept for the model to clean), or left out and recorded: never both.
            assert (by_attribute[field] in person.attributes) != noted, (field, value)
            continue
        read = {
            obj.email: person.email,
            obj.status: person.status,
            obj.owner: person.owner_id,
            obj.account: person.account_id,
        }[field]
        if empty(value):
            assert read is None and not noted
        else:
            assert (read is not None) != noted, (field, value, read)


@st.composite
def _sf_people_values(draw: st.DrawFn, text_only: bool) -> tuple[str, dict[str, Any]]:
    sobject = draw(st.sampled_from(["Lead", "Contact"]))
    fields = _sf_person_fields(sobject)
    values = draw(
        st.dictionaries(st.sampled_from(fields), hostile_text if text_only else hostile, min_size=1)
    )
    return sobject, values


@FUZZ
@given(_sf_people_values(text_only=False))
def test_salesforce_rest_people_cost_only_the_bad_values(case: tuple[str, dict[str, Any]]) -> None:
    sobject, values = case
    # As the connector reads a REST record: flat, "" as None; an object where one value
    # belongs (a compound field) flattens away, which `leadsync check` reports by its type.
    row = flatten(_sf_person_row(sobject, values))
    person = to_person("salesforce", sobject, row, SF.objects[sobject])
    _check_sf_person(sobject, person, {k: row.get(k) for k in values})


@FUZZ
@given(_sf_people_values(text_only=True))
def test_salesforce_bulk_people_cost_only_the_bad_values(case: tuple[str, dict[str, Any]]) -> None:
    sobject, texts = case
    row = _sf_person_row(sobject, _bulk(sobject, texts))
    person = to_person("salesforce", sobject, row, SF.objects[sobject])
    _check_sf_person(sobject, person, {k: row[k] for k in texts})


# -- Salesforce activities --------------------------------------------------------------------

_TIMES = {
    "CampaignMember": ("FirstRespondedDate", "CreatedDate"),
    "Task": ("CompletedDateTime", "ActivityDate", "CreatedDate"),
    "Event": ("StartDateTime", "ActivityDateTime", "CreatedDate"),
    SF.activities.forms.object: (SF.activities.forms.submitted_at_field, "CreatedDate"),
}
_PLANS = {plan.sobject: plan for plan in activity_plans(SF)}


@st.composite
def _sf_activity(draw: st.DrawFn) -> tuple[str, dict[str, Any], dict[str, Any]]:
    sobject = draw(st.sampled_from(sorted(_PLANS)))
    fields = [f for f in _PLANS[sobject].fields if f not in ("Id", "SystemModstamp", "IsDeleted")]
    row: dict[str, Any] = dict.fromkeys(_PLANS[sobject].fields)
    row.update(Id="a0F000000000001AAA", SystemModstamp=STAMP, IsDeleted=False, CreatedDate=STAMP)
    row.update(IsClosed=True, LeadId="00Q000000000001AAA", WhoId="00Q000000000001AAA")
    row[SF.activities.forms.lead_field or "Lead__c"] = "00Q000000000001AAA"
    values = draw(st.dictionaries(st.sampled_from(fields), hostile, min_size=1))
    if draw(st.booleans()):  # as the Bulk path reads it: text cells, coerced by type
        values = _bulk(
            sobject, {k: v if isinstance(v, str) else repr(v) for k, v in values.items()}
        )
    row = flatten({**row, **values})
    return sobject, row, {k: row.get(k) for k in values}


@FUZZ
@given(_sf_activity())
def test_salesforce_activities_never_count_an_unreadable_time(
    case: tuple[str, dict[str, Any], dict[str, Any]],
) -> None:
    sobject, row, values = case
    activity = to_activity("salesforce", sobject, row, SF)
    if activity is None:  # about nobody and nothing unreadable: skipped, as before
        return
    _well_formed(activity)
    first = next((name for name in _TIMES[sobject] if row.get(name) is not None), None)
    try:
        placed = parse_datetime(row[first]) if first else None
        readable = isinstance(row[first], str) if first else False
    except (ValueError, OverflowError):
        placed, readable = None, False
    if readable and placed is not None:
        assert not _notes(activity, first or "")
        earliest = activity.occurred_at - timedelta(seconds=activity.early_s)
        if sobject == "CampaignMember" and first == "FirstRespondedDate":
            # The response date bounds the member's status from below (the day's start).
            assert earliest >= placed - timedelta(hours=14)
        elif sobject != "CampaignMember" and is_date(row[first or ""]):
            assert activity.occurred_at == placed + timedelta(hours=12)  # noon on the date
        else:
            assert activity.occurred_at == placed
    else:
        # Cannot be placed in time: it must not count, and says why.
        assert activity.deleted and activity.unreadable
    # An owner or an address either reads or is recorded; a bad lookup is recorded.
    kept = {"OwnerId": activity.actor_id, SF.activities.forms.email_field: activity.email}
    for field, value in values.items():
        if empty(value) or (activity.deleted and field not in _TIMES[sobject]):
            continue
        if field in kept and field in _PLANS[sobject].fields:
            assert (kept[field] is not None) != bool(_notes(activity, field)), (field, value)


# -- HubSpot contacts -------------------------------------------------------------------------

_HS_CONTACT = HS.contact


@st.composite
def _hs_contact(draw: st.DrawFn) -> tuple[dict[str, Any], dict[str, Any]]:
    fields = [*HS.read_properties()]
    values = draw(
        st.dictionaries(st.sampled_from(fields), hostile_text | hostile, min_size=1, max_size=6)
    )
    props = {"lastmodifieddate": "2024-03-05T10:00:00.000Z", "email": "a@example.com", **values}
    obj = {"id": "101", "properties": props, "updatedAt": "2024-03-05T10:00:00.000Z"}
    return obj, values


@FUZZ
@given(_hs_contact())
def test_hubspot_contacts_cost_only_the_bad_values(case: tuple[dict[str, Any], dict]) -> None:
    obj, values = case
    person = person_from_contact("hubspot", obj, HS)
    _well_formed(person)
    by_attribute = {prop: name for name, prop in HS.attributes.items()}
    c = _HS_CONTACT
    for field, value in values.items():
        noted = bool(_notes(person, field))
        if field == c.opted_out:
            assert not noted or person.opted_out, (field, value)
        elif field in by_attribute:
            if not empty(value):
                assert (by_attribute[field] in person.attributes) != noted, (field, value)
        elif field in (c.email, c.owner, c.status, c.company_id) and not empty(value):
            read = {
                c.email: person.email,
                c.owner: person.owner_id,
                c.status: person.status,
                c.company_id: person.account_id,
            }[field]
            assert (read is not None) != noted, (field, value, read)
        elif field == c.converted_at and noted:
            stage = str(obj["properties"].get(c.lifecycle_stage) or "")
            if stage not in HS.converted_stages:
                assert person.converted_at is None


# -- HubSpot activities -----------------------------------------------------------------------


def _placed(value: Any) -> datetime | None:
    try:
        return read_time(value)
    except ValueError:
        return None


def _check_time(activity: ActivityRecord, value: Any) -> None:
    _well_formed(activity)
    placed = _placed(value)
    if placed is None:
        assert activity.deleted and activity.unreadable
        return
    assert not activity.deleted
    if activity.early_s or activity.late_s:  # only a bare date spans its day, from noon
        assert is_date(value) and activity.occurred_at == placed + timedelta(hours=12)
    else:
        assert activity.occurred_at == placed


@FUZZ
@given(hostile | hostile_text, hostile, hostile)
def test_hubspot_form_submissions(submitted: Any, email: Any, page: Any) -> None:
    sub = {"submittedAt": submitted, "values": [{"name": "email", "value": email}], "pageUrl": page}
    activity = form_submission_activity("hubspot", "f-1", "Contact Us", sub)
    _check_time(activity, submitted)
    assert len(activity.ref.external_id) <= 128 or "\x00" in activity.ref.external_id


@FUZZ
@given(hostile | hostile_text, hostile, hostile, st.sampled_from(["OPEN", "CLICK"]))
def test_hubspot_email_events(created: Any, recipient: Any, url: Any, kind: str) -> None:
    event = {"id": "e-1", "type": kind, "created": created, "recipient": recipient, "url": url}
    activity = email_event_activity("hubspot", event)
    assert activity is not None
    _check_time(activity, created)
    if activity.email is None and not empty(recipient):
        assert _notes(activity, "recipient")


@FUZZ
@given(hostile | hostile_text, hostile, hostile, hostile)
def test_hubspot_marketing_event_participations(
    occurred: Any, contact_id: Any, email: Any, name: Any
) -> None:
    row = {
        "id": "77",
        "properties": {"attendanceState": "ATTENDED", "occurredAt": occurred},
        "associations": {
            "contact": {"contactId": contact_id, "email": email},
            "marketingEvent": {"name": name},
        },
    }
    activity = participation_activity("hubspot", row)
    assert activity is not None
    _check_time(activity, occurred)


@FUZZ
@given(hostile | hostile_text, hostile, hostile, st.sampled_from(["meeting", "call"]))
def test_hubspot_engagements(start: Any, title: Any, owner: Any, kind: str) -> None:
    field = "hs_meeting_start_time" if kind == "meeting" else "hs_timestamp"
    title_field = "hs_meeting_title" if kind == "meeting" else "hs_call_title"
    obj = {"id": "9", "properties": {field: start, title_field: title, "hubspot_owner_id": owner}}
    (activity,) = engagement_activities("hubspot", kind, obj, ["101"])
    _check_time(activity, start)
    if not empty(owner) and activity.actor_id is None:
        assert _notes(activity, "hubspot_owner_id")


def test_the_reported_values_are_recorded_not_raised() -> None:
    """The issue's two values in a Salesforce form submission's time field."""
    forms = SF.activities.forms
    for garbage in ("2024-13-45T99:99:99Z", "yesterday"):
        row = {
            "Id": "a0F000000000001AAA",
            "SystemModstamp": STAMP,
            "IsDeleted": False,
            "CreatedDate": STAMP,
            forms.email_field: "a@example.com",
            forms.submitted_at_field: garbage,
        }
        activity = to_activity("salesforce", forms.object, row, SF)
        assert activity is not None and activity.deleted
        (note,) = activity.unreadable
        assert (note.field, note.raw) == (forms.submitted_at_field, garbage)
        assert "not a date-time" in note.problem
        assert activity.occurred_at == datetime(2024, 3, 5, 10, tzinfo=UTC)
