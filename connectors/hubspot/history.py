"""A person's whole activity history, read for given contacts (``Connector.read_activities``).

The incremental pull reads activities changed since the cursor, so a person the store forgot
and who comes back brings only what changed lately. This reads everything of given contacts,
with the record builders of :mod:`activities`, so every ``ref`` is the one the pull gives the
same activity and a re-read upserts:

=====================  =====================================================  ===============
source                 API                                                    calls
=====================  =====================================================  ===============
form submissions       GET /marketing/v3/forms/ and GET /form-integrations/   every form's
                       v1/submissions/forms/{guid}, kept by submitted email   pages, once
email events           GET /email/public/v1/events?recipient={email}          1 per address
webinar participation  GET /marketing/v3/marketing-events/participations/     1 per contact
                       contacts/{contactId}/breakdown
meetings, calls        POST /crm/v4/associations/contacts/{type}/batch/read,  1 per 1,000
                       then POST /crm/v3/objects/{type}/batch/read            contacts, 1 per
                                                                              100 engagements
=====================  =====================================================  ===============

Forms are read whole because no documented API answers a contact's submissions *with what
was submitted*: the legacy contact profile lists a contact's ``form-submissions`` (form id,
time, page) but not the submitted email, and the pull's ref is ``{form}:{submittedAt}:{email
as typed}``; a ref rebuilt from the contact's (lower-cased) address would double-count. The
whole read costs the same for one person as for thousands, and is done only when a person
has an address. Archived engagements are left out by the association and batch reads
themselves.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import structlog

from connectors.hubspot.activities import (
    _ENGAGEMENT,
    _ENGAGEMENT_COMMON,
    email_event_activity,
    engagement_activities,
    form_submissions,
    participation_activity,
)
from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import HubSpotMapping
from connectors.hubspot.pull import BATCH_READ
from leadsync.records import ActivityRecord, PersonRecord, RecordRef

log = structlog.get_logger(__name__)

#: Inputs one v4 association batch read takes (HubSpot's limit since February 2025).
ASSOCIATION_READ = 1_000
#: Largest page of the email events API.
EMAIL_EVENTS_PAGE = 1_000
#: Largest page of a participation breakdown.
BREAKDOWN_PAGE = 100


def read_activities(
    client: HubSpotClient, mapping: HubSpotMapping, people: Sequence[PersonRecord]
) -> list[ActivityRecord]:
    """Every live activity of these contacts, from each enabled source."""
    contacts = list(
        dict.fromkeys(p.ref.external_id for p in people if p.ref.object_type == "contact")
    )
    addresses = list(dict.fromkeys(a for p in people if (a := _address(p.email))))
    sources = mapping.activities
    found: dict[RecordRef, ActivityRecord] = {}

    def keep(activities: Iterator[ActivityRecord]) -> None:
        for activity in activities:
            if not activity.deleted:
                found[activity.ref] = activity

    if sources.forms and addresses:
        keep(_forms(client, set(addresses)))
    if sources.email_events:
        for address in addresses:
            keep(_email_events(client, address, sources.email_event_types))
    if sources.marketing_events:
        for contact in contacts:
            keep(_participations(client, contact))
    for kind, enabled in (("meeting", sources.meetings), ("call", sources.calls)):
        if enabled and contacts:
            keep(_engagements(client, kind, contacts))
    log.info(
        "hubspot.history",
        connector=client.name,
        contacts=len(contacts),
        addresses=len(addresses),
        activities=len(found),
    )
    return list(found.values())


def read_address_activities(
    client: HubSpotClient, mapping: HubSpotMapping, emails: Sequence[str]
) -> list[ActivityRecord]:
    """The activities HubSpot keeps by address, whoever holds it: email events and form
    submissions (an archived contact's events stay in the events API)."""
    addresses = list(dict.fromkeys(a for e in emails if (a := _address(e))))
    sources = mapping.activities
    found: dict[RecordRef, ActivityRecord] = {}
    if addresses and sources.forms:
        found.update((a.ref, a) for a in _forms(client, set(addresses)) if not a.deleted)
    if sources.email_events:
        for address in addresses:
            events = _email_events(client, address, sources.email_event_types)
            found.update((a.ref, a) for a in events if not a.deleted)
    return list(found.values())


def _address(email: str | None) -> str | None:
    """How addresses are compared: trimmed and lower-cased, as the store links them."""
    value = (email or "").strip().lower()
    return value or None


def _forms(client: HubSpotClient, addresses: set[str]) -> Iterator[ActivityRecord]:
    """Every form's submissions (the pull's reader, unbounded), those from these addresses."""
    for activity in form_submissions(client, None):
        if _address(activity.email) in addresses:
            yield activity


def _email_events(
    client: HubSpotClient, address: str, types: Sequence[str]
) -> Iterator[ActivityRecord]:
    """One recipient's events, all types in one listing (a person rarely has a thousand), the
    ones the pull asks for kept."""
    wanted = {t.upper() for t in types}
    offset: str | None = None
    while True:
        page = client.raw(
            "email.events",
            "/email/public/v1/events",
            query={"recipient": address, "limit": EMAIL_EVENTS_PAGE, "offset": offset},
        )
        for event in page.get("events") or []:
            if str(event.get("type", "")).upper() in wanted:
                activity = email_event_activity(client.name, event)
                if activity is not None:
                    yield activity
        offset = page.get("offset")
        if not page.get("hasMore") or not offset:
            return


def _participations(client: HubSpotClient, contact: str) -> Iterator[ActivityRecord]:
    """One contact's registrations and attendance across every marketing event."""
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": BREAKDOWN_PAGE}
        if after is not None:
            kwargs["after"] = after
        page = client.call(
            "marketing_events.contact_participations",
            "marketing.events.retrieve_participant_state_api",
            "get_participations_breakdown_by_contact_id",
            contact,
            **kwargs,
        )
        for row in page.get("results") or []:
            activity = participation_activity(client.name, row)
            if activity is not None:
                yield activity
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def _engagements(
    client: HubSpotClient, kind: str, contacts: Sequence[str]
) -> Iterator[ActivityRecord]:
    """Meetings or calls of these contacts: their associations, then the objects in batches,
    one activity per (engagement, contact of ours) as the pull makes them."""
    object_type, own_props = _ENGAGEMENT[kind]
    ours = associated(client, object_type, contacts)
    ids = list(ours)
    properties = [*own_props, *_ENGAGEMENT_COMMON]
    for start in range(0, len(ids), BATCH_READ):
        answer = client.call(
            f"{object_type}.batch_read",
            f"crm.objects.{object_type}.batch_api",
            "read",
            {
                "inputs": [{"id": i} for i in ids[start : start + BATCH_READ]],
                "properties": properties,
            },
        )
        for obj in answer.get("results") or []:
            yield from engagement_activities(client.name, kind, obj, ours.get(str(obj["id"]), []))


def associated(
    client: HubSpotClient, to_type: str, contacts: Sequence[str], from_type: str = "contacts"
) -> dict[str, list[str]]:
    """``{object id: [contact ids]}`` for the objects of ``to_type`` these contacts have
    (with ``from_type``, the objects of ``to_type`` those objects have).

    A contact with more associations than one answer holds comes back with a ``paging.next.
    after``; it is asked again from there, with the others that still have more.
    """
    found: dict[str, list[str]] = {}
    pending: list[dict[str, str]] = [{"id": c} for c in dict.fromkeys(contacts)]
    while pending:
        batch, pending = pending[:ASSOCIATION_READ], pending[ASSOCIATION_READ:]
        answer = client.call(
            f"associations.{from_type}.{to_type}.read",
            "crm.associations.v4.batch_api",
            "get_page",
            from_type,
            to_type,
            {"inputs": batch},
        )
        for row in answer.get("results") or []:
            contact = str((row.get("from") or {}).get("id"))
            for target in row.get("to") or []:
                found.setdefault(str(target["toObjectId"]), []).append(contact)
            after = ((row.get("paging") or {}).get("next") or {}).get("after")
            if after:
                pending.append({"id": contact, "after": str(after)})
    return {obj: list(dict.fromkeys(ids)) for obj, ids in found.items()}
