"""Reading what people did: form submissions, email events, event participation, engagements.

Each source becomes canonical ``ActivityRecord`` values with a stable ``ref``, so a re-pull
upserts rather than double-counts:

=====================  ================================  ======================================
source                 API                               ref id
=====================  ================================  ======================================
form submissions       GET /marketing/v3/forms/,         ``{formGuid}:{submittedAt}:{email}``
                       GET /form-integrations/v1/
                       submissions/forms/{guid}
email events           GET /email/public/v1/events       the event ``id``
webinar participation  GET /marketing/v3/marketing-      the participation ``id``
                       events/, .../participations/
                       {marketingEventId}/breakdown
meetings, calls        CRM search / list + v4            ``{engagementId}:{contactId}``
                       associations
=====================  ================================  ======================================

When each happened, and how precisely (``ActivityRecord.early_s`` / ``late_s``; the
do-not-contact rule lifts an opt-out only for a hand-raise surely after it):

=====================  =============================================  =========================
source                 time                                           precision
=====================  =============================================  =========================
form submissions       ``submittedAt`` (epoch ms)                     exact
email events           ``created`` (epoch ms)                         exact
webinar participation  ``properties.occurredAt``; else ``createdAt``  exact; a bare date
                                                                      (``2024-03-04``) spans
                                                                      its day
meetings               ``hs_meeting_start_time``; else                exact; a bare date spans
                       ``hs_timestamp``; else ``createdAt``           its day
calls                  ``hs_timestamp``; else ``createdAt``           exact; a bare date spans
                                                                      its day
=====================  =============================================  =========================

A bare date spans its day in any zone, UTC+14 to UTC-12, around noon UTC on it
(``leadsync.model.values.on_date``). HubSpot's date-only properties arrive as midnight UTC in
epoch ms, which cannot be told from an instant at midnight; none of the times above is one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import structlog

from connectors.hubspot.client import HubSpotClient
from connectors.hubspot.mapping import (
    UNKNOWN_TIME,
    HubSpotMapping,
    ValueReader,
    object_id_text,
    parse_time,
    to_millis,
)
from connectors.hubspot.pull import list_all, search_modified_since
from leadsync.model.values import on_date
from leadsync.records import ActivityRecord, RecordRef, UnreadableValue

log = structlog.get_logger(__name__)

_FORM_PAGE = 50
_EMAIL_EVENTS_PAGE = 1000
_BREAKDOWN_PAGE = 100
_ASSOCIATION_BATCH = 100

_EMAIL_KIND = {"OPEN": "email_open", "CLICK": "email_click"}
#: A date with no time, as an ISO string (``2024-03-04``); epoch ms are all digits.
_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_ATTENDANCE_KIND = {"REGISTERED": "webinar_registered", "ATTENDED": "webinar_attended"}


def pull_activities(
    client: HubSpotClient,
    mapping: HubSpotMapping,
    since: datetime | None,
    resume: str | None = None,
    checkpoint: Callable[[str], None] | None = None,
) -> Iterator[ActivityRecord]:
    """Every enabled activity source, each modified at or after ``since`` (all when ``None``).

    Resumable between sources (``{"source": name}``: the sources before it are done); each
    source's own paging is not checkpointed (they are small beside contacts, and the email
    events and form APIs page newest first, so a resumed page would shift).
    """
    sources = mapping.activities
    enabled: list[tuple[str, Callable[[], Iterator[ActivityRecord]]]] = []
    if sources.forms:
        enabled.append(("forms", lambda: form_submissions(client, since)))
    if sources.email_events:
        types = sources.email_event_types
        enabled.append(("email_events", lambda: email_events(client, since, types)))
    if sources.marketing_events:
        enabled.append(("marketing_events", lambda: event_participations(client, since)))
    if sources.meetings:
        enabled.append(("meetings", lambda: engagements(client, since, kind="meeting")))
    if sources.calls:
        enabled.append(("calls", lambda: engagements(client, since, kind="call")))
    names = [name for name, _ in enabled]
    start = json.loads(resume).get("source") if resume else None
    first = names.index(start) if start in names else 0
    for i in range(first, len(enabled)):
        yield from enabled[i][1]()
        if checkpoint is not None and i + 1 < len(enabled):
            checkpoint(json.dumps({"source": names[i + 1]}))


# -- forms --------------------------------------------------------------------------------------


def form_submissions(client: HubSpotClient, since: datetime | None) -> Iterator[ActivityRecord]:
    """Submissions of every form, newest first per form, stopping at ``since``."""
    for form in list_forms(client):
        guid, name = str(form["id"]), form.get("name")
        count = 0
        after: str | None = None
        while True:
            page = client.raw(
                "forms.submissions",
                f"/form-integrations/v1/submissions/forms/{guid}",
                query={"limit": _FORM_PAGE, "after": after},
            )
            older = False
            for sub in page.get("results") or []:
                activity = form_submission_activity(client.name, guid, name, sub)
                if since is not None and not activity.deleted and activity.occurred_at < since:
                    older = True  # reverse-chronological: everything after this is older
                    break
                count += 1
                yield activity
            after = ((page.get("paging") or {}).get("next") or {}).get("after")
            if older or not after:
                break
        log.debug("hubspot.form_submissions", connector=client.name, form=guid, count=count)


def form_submission_activity(
    connector: str, guid: str, form_name: Any, sub: Mapping[str, Any]
) -> ActivityRecord:
    """One submission of form ``guid``; one whose time cannot be read comes ``deleted``."""
    submitted_raw = sub.get("submittedAt")
    values = sub.get("values")
    email_raw = _form_email(values if isinstance(values, list) else [])
    read = ValueReader(
        RecordRef(connector, "form_submission", _submission_id(guid, submitted_raw, email_raw))
    )
    submitted = read.first_time(("submittedAt", submitted_raw))
    email = read.email("values.email", email_raw)
    return ActivityRecord(
        ref=read.ref,
        kind="form_submission",
        occurred_at=submitted or UNKNOWN_TIME,
        modified_at=submitted or UNKNOWN_TIME,
        email=email,
        name=read.text("form.name", form_name),
        url=read.text("pageUrl", sub.get("pageUrl")),
        deleted=submitted is None,
        unreadable=tuple(read.notes),
    )


def _submission_id(guid: str, submitted: Any, email: Any) -> str:
    """``{formGuid}:{submittedAt}:{email}``, the submission's identity; when that is longer
    than the store keeps (128), the email part is its digest, so a long address cannot cost
    the submission."""
    email_text = email if isinstance(email, str) else ""
    whole = f"{guid}:{submitted}:{email_text}"
    if len(whole) <= 128:
        return whole
    digest = hashlib.sha1(email_text.encode("utf-8", "replace"), usedforsecurity=False)
    return f"{guid}:{str(submitted)[:40]}:#{digest.hexdigest()}"


def list_forms(client: HubSpotClient) -> Iterator[dict[str, Any]]:
    """Every form in the portal (marketing forms v3, paged)."""
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": _FORM_PAGE}
        if after is not None:
            kwargs["after"] = after
        page = client.call("forms.list", "marketing.forms.forms_api", "get_page", **kwargs)
        yield from page.get("results") or []
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def _form_email(values: Sequence[Any]) -> Any:
    """The submitted ``email`` field's value, as submitted (the reader judges it)."""
    for value in values:
        if not isinstance(value, Mapping) or value.get("value") in (None, ""):
            continue
        if str(value.get("name", "")).lower() == "email":
            return value["value"]
    return None


# -- email events -------------------------------------------------------------------------------


def email_events(
    client: HubSpotClient, since: datetime | None, types: Sequence[str]
) -> Iterator[ActivityRecord]:
    """Opens, clicks and unsubscribes (status changes) from the email events API."""
    for event_type in types:
        offset: str | None = None
        while True:
            page = client.raw(
                "email.events",
                "/email/public/v1/events",
                query={
                    "eventType": event_type,
                    "startTimestamp": to_millis(since) if since else None,
                    "limit": _EMAIL_EVENTS_PAGE,
                    "offset": offset,
                },
            )
            for event in page.get("events") or []:
                activity = email_event_activity(client.name, event)
                if activity is not None:
                    yield activity
            offset = page.get("offset")
            if not page.get("hasMore") or not offset:
                break


def email_event_activity(connector: str, event: dict[str, Any]) -> ActivityRecord | None:
    """One email event as an activity; ``None`` for types and status changes we do not score.

    An event whose time cannot be read comes ``deleted`` (it cannot count)."""
    event_type = str(event.get("type", "")).upper()
    kind = _EMAIL_KIND.get(event_type)
    if event_type == "STATUSCHANGE" and _is_unsubscribe(event):
        kind = "unsubscribe"
    event_id = object_id_text(event.get("id"))
    if kind is None or not event_id:
        return None
    read = ValueReader(RecordRef(connector, "email_event", event_id))
    created = read.first_time(("created", event.get("created")))
    campaign = event.get("emailCampaignId")
    return ActivityRecord(
        ref=read.ref,
        kind=kind,
        occurred_at=created or UNKNOWN_TIME,
        modified_at=created or UNKNOWN_TIME,
        email=read.email("recipient", event.get("recipient")),
        name=read.text("emailCampaignId", campaign),
        url=read.text("url", event.get("url")) if kind == "email_click" else None,
        deleted=created is None,
        unreadable=tuple(read.notes),
    )


def _is_unsubscribe(event: dict[str, Any]) -> bool:
    if str(event.get("portalSubscriptionStatus", "")).upper() == "UNSUBSCRIBED":
        return True
    subscriptions = event.get("subscriptions")
    return isinstance(subscriptions, list) and any(
        str(_mapping(sub).get("status", "")).upper() == "UNSUBSCRIBED" for sub in subscriptions
    )


# -- marketing events ---------------------------------------------------------------------------


def event_participations(client: HubSpotClient, since: datetime | None) -> Iterator[ActivityRecord]:
    """Registrations and attendance of every marketing event (webinars)."""
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": 100}
        if after is not None:
            kwargs["after"] = after
        page = client.call(
            "marketing_events.list", "marketing.events.basic_api", "get_all", **kwargs
        )
        for event in page.get("results") or []:
            yield from _participations(client, event, since)
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def _participations(
    client: HubSpotClient, event: dict[str, Any], since: datetime | None
) -> Iterator[ActivityRecord]:
    event_id = str(event.get("objectId") or event.get("id") or "")
    if not event_id:
        return
    after: str | None = None
    while True:
        kwargs: dict[str, Any] = {"limit": _BREAKDOWN_PAGE}
        if after is not None:
            kwargs["after"] = after
        page = client.call(
            "marketing_events.participations",
            "marketing.events.retrieve_participant_state_api",
            "get_participations_breakdown_by_marketing_event_id",
            int(event_id) if event_id.isdigit() else event_id,
            **kwargs,
        )
        for row in page.get("results") or []:
            activity = participation_activity(client.name, row, event.get("eventName"))
            if activity is not None and (since is None or activity.modified_at >= since):
                yield activity
        after = ((page.get("paging") or {}).get("next") or {}).get("after")
        if not after:
            return


def participation_activity(
    connector: str, row: dict[str, Any], event_name: str | None = None
) -> ActivityRecord | None:
    """One participation breakdown row; registrations and attendance only.

    A row whose time cannot be read comes ``deleted`` (it cannot count)."""
    props = _mapping(row.get("properties"))
    kind = _ATTENDANCE_KIND.get(str(props.get("attendanceState", "")).upper())
    row_id = object_id_text(row.get("id"))
    if kind is None or not row_id:
        return None
    read = ValueReader(RecordRef(connector, "marketing_event_participation", row_id))
    times = (
        ("properties.occurredAt", props.get("occurredAt")),
        ("createdAt", row.get("createdAt")),
    )
    occurred = read.first_time(*times)
    at, early, late = _timing(occurred, times)
    created = parse_time(row.get("createdAt"))
    assoc = _mapping(row.get("associations"))
    contact = _mapping(assoc.get("contact"))
    event = _mapping(assoc.get("marketingEvent"))
    contact_id = read.object_id("associations.contact.contactId", contact.get("contactId"))
    return ActivityRecord(
        ref=read.ref,
        kind=kind,
        occurred_at=at,
        early_s=early,
        late_s=late,
        modified_at=created or occurred or UNKNOWN_TIME,
        person=RecordRef(connector, "contact", contact_id) if contact_id else None,
        email=read.email("associations.contact.email", contact.get("email")),
        name=read.text("marketingEvent.name", event.get("name") or event_name),
        campaign_type="webinar",
        deleted=occurred is None,
        unreadable=tuple(read.notes),
    )


def _timing(
    occurred: datetime | None, times: Sequence[tuple[str, Any]]
) -> tuple[datetime, int, int]:
    """``(time, early_s, late_s)`` of what ``ValueReader.first_time`` read from ``times``: a
    bare date (``2024-03-04``) spans its day; anything else read is exact."""
    if occurred is None:
        return UNKNOWN_TIME, 0, 0
    raw = next((value for _, value in times if value is not None and value != ""), None)
    if isinstance(raw, str) and _BARE_DATE.fullmatch(raw.strip()):
        return on_date(occurred.date())
    return occurred, 0, 0


def _mapping(value: Any) -> Mapping[str, Any]:
    """A JSON object, or an empty one in place of anything else."""
    return value if isinstance(value, Mapping) else {}


# -- engagements --------------------------------------------------------------------------------

_ENGAGEMENT = {
    "meeting": ("meetings", ("hs_timestamp", "hs_meeting_title", "hs_meeting_start_time")),
    "call": ("calls", ("hs_timestamp", "hs_call_title")),
}
_ENGAGEMENT_COMMON = ("hubspot_owner_id", "hs_lastmodifieddate")
_UPDATED_AT_USED = "not a date-time; updatedAt used"


def engagements(
    client: HubSpotClient, since: datetime | None, *, kind: str
) -> Iterator[ActivityRecord]:
    """Meetings or calls, one activity per associated contact, ``actor_id`` = the owner."""
    object_type, own_props = _ENGAGEMENT[kind]
    props = [*own_props, *_ENGAGEMENT_COMMON]
    if since is None:
        for obj in list_all(
            client,
            api_path=f"crm.objects.{object_type}.basic_api",
            endpoint=f"{object_type}.list",
            properties=props,
            associations=["contacts"],
        ):
            contacts = [
                str(a["id"])
                for a in ((obj.get("associations") or {}).get("contacts") or {}).get("results")
                or []
            ]
            yield from engagement_activities(client.name, kind, obj, contacts)
        return
    batch: list[dict[str, Any]] = []
    for obj in search_modified_since(
        client,
        api_path=f"crm.objects.{object_type}.search_api",
        endpoint=f"{object_type}.search",
        modified_property="hs_lastmodifieddate",
        since=since,
        properties=props,
    ):
        batch.append(obj)
        if len(batch) == _ASSOCIATION_BATCH:
            yield from _with_contacts(client, kind, object_type, batch)
            batch = []
    if batch:
        yield from _with_contacts(client, kind, object_type, batch)


def _with_contacts(
    client: HubSpotClient, kind: str, object_type: str, objs: list[dict[str, Any]]
) -> Iterator[ActivityRecord]:
    answer = client.call(
        f"associations.{object_type}.read",
        "crm.associations.v4.batch_api",
        "get_page",
        object_type,
        "contacts",
        {"inputs": [{"id": str(o["id"])} for o in objs]},
    )
    contacts: dict[str, list[str]] = {}
    for row in answer.get("results") or []:
        source = str((row.get("from") or {}).get("id"))
        contacts[source] = [str(t["toObjectId"]) for t in row.get("to") or []]
    for obj in objs:
        yield from engagement_activities(client.name, kind, obj, contacts.get(str(obj["id"]), []))


def engagement_activities(
    connector: str, kind: str, obj: dict[str, Any], contact_ids: Sequence[str]
) -> Iterator[ActivityRecord]:
    """A meeting or call as one activity per associated contact (none when unassociated).

    One whose time cannot be read comes ``deleted`` (it cannot count)."""
    props = _mapping(obj.get("properties"))
    archived = obj.get("archived") is True
    read = ValueReader(RecordRef(connector, kind, object_id_text(obj.get("id"))))
    times = (
        ("hs_meeting_start_time", props.get("hs_meeting_start_time")),
        ("hs_timestamp", props.get("hs_timestamp")),
        ("createdAt", obj.get("createdAt")),
    )
    occurred = read.first_time(*times)
    at, early, late = _timing(occurred, times)
    modified = (
        read.time(
            "hs_lastmodifieddate",
            props.get("hs_lastmodifieddate"),
            "not a date-time; updatedAt used",
        )
        or parse_time(obj.get("updatedAt"))
        or occurred
        or UNKNOWN_TIME
    )
    title_field = "hs_meeting_title" if kind == "meeting" else "hs_call_title"
    title = read.text(title_field, props.get(title_field))
    owner = read.object_id("hubspot_owner_id", props.get("hubspot_owner_id"))
    for contact_id in contact_ids:
        ref = RecordRef(connector, kind, f"{read.ref.external_id}:{contact_id}")
        yield ActivityRecord(
            ref=ref,
            kind=kind,
            occurred_at=at,
            early_s=early,
            late_s=late,
            modified_at=modified,
            person=RecordRef(connector, "contact", contact_id),
            name=title,
            actor_id=owner,
            deleted=archived or occurred is None,
            # Each contact's copy carries the problems, under its own ref.
            unreadable=()
            if archived
            else tuple(UnreadableValue(ref, n.field, n.raw, n.problem) for n in read.notes),
        )
