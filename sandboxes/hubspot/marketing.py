"""Marketing endpoints: forms and their submissions, email events, marketing events.

- ``GET /marketing/v3/forms/`` (v3 form definitions, ``after`` paging, ``limit`` <= 50)
- ``GET /form-integrations/v1/submissions/forms/{formGuid}`` (newest first, ``limit`` <= 50)
- ``GET /email/public/v1/events`` (newest first, ``offset``/``hasMore`` paging, ``limit`` <= 1000)
- ``GET /email/public/v1/campaigns/{campaignId}``
- ``GET /marketing/v3/marketing-events/`` and the participation breakdowns by event and contact.
"""

from __future__ import annotations

import base64
from typing import Any

from sandboxes.hubspot.http import ApiError, Request, Response, Router
from sandboxes.hubspot.portal import Form, MarketingEvent, PortalState
from sandboxes.hubspot.schema import iso_instant, to_millis

FORMS_LIMIT = 50
SUBMISSIONS_LIMIT = 50
EMAIL_EVENTS_LIMIT = 1000
MARKETING_EVENTS_LIMIT = 100
EMAIL_EVENT_TYPES = frozenset(
    {
        "SENT",
        "DROPPED",
        "PROCESSED",
        "DELIVERED",
        "DEFERRED",
        "BOUNCE",
        "OPEN",
        "CLICK",
        "STATUSCHANGE",
        "SPAMREPORT",
        "SUPPRESSED",
    }
)
PARTICIPATION_STATES = frozenset({"REGISTERED", "ATTENDED", "CANCELLED", "NO_SHOW"})


def _encode(position: int) -> str:
    return base64.urlsafe_b64encode(f"pos:{position}".encode()).decode().rstrip("=")


def _decode(token: str | None, name: str) -> int:
    """Read an opaque cursor this sandbox issued; anything else is a 400, as in HubSpot."""
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
        if not text.startswith("pos:"):
            raise ValueError(text)
        return int(text[4:])
    except ValueError:
        raise ApiError.validation(f"Invalid {name} cursor: {token}") from None


def _field(name: str, label: str, field_type: str, required: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "objectTypeId": "0-1",
        "name": name,
        "label": label,
        "required": required,
        "hidden": False,
        "fieldType": field_type,
        "dependentFields": [],
    }
    if field_type == "email":
        body["validation"] = {"blockedEmailDomains": [], "useDefaultBlockList": False}
    return body


def form_definition(form: Form) -> dict[str, Any]:
    """A v3 ``hubspot`` form definition in the documented shape."""
    stamp = iso_instant(form.created_at)
    return {
        "id": form.guid,
        "name": form.name,
        "formType": "hubspot",
        "createdAt": stamp,
        "updatedAt": stamp,
        "archived": False,
        "fieldGroups": [
            {
                "groupType": "default_group",
                "richTextType": "text",
                "fields": [
                    _field("firstname", "First name", "single_line_text", False),
                    _field("lastname", "Last name", "single_line_text", False),
                    _field("email", "Email", "email", True),
                    _field("company", "Company name", "single_line_text", False),
                ],
            }
        ],
        "configuration": {
            "language": "en",
            "cloneable": True,
            "postSubmitAction": {"type": "thank_you", "value": "Thanks for submitting the form."},
            "editable": True,
            "archivable": True,
            "recaptchaEnabled": False,
            "notifyContactOwner": False,
            "notifyRecipients": [],
            "createNewContactForNewEmail": False,
            "prePopulateKnownValues": True,
            "allowLinkToResetKnownValues": False,
            "lifecycleStages": [],
        },
        "displayOptions": {
            "renderRawHtml": False,
            "theme": "default_style",
            "submitButtonText": "Submit",
            "style": {
                "fontFamily": "arial, helvetica, sans-serif",
                "backgroundWidth": "100%",
                "labelTextColor": "#33475b",
                "labelTextSize": "14px",
                "helpTextColor": "#7C98B6",
                "helpTextSize": "11px",
                "legalConsentTextColor": "#33475b",
                "legalConsentTextSize": "14px",
                "submitColor": "#ff7a59",
                "submitAlignment": "left",
                "submitFontColor": "#ffffff",
                "submitSize": "12px",
            },
        },
        "legalConsentOptions": {"type": "none"},
    }


def _marketing_event(event: MarketingEvent) -> dict[str, Any]:
    counts = {s: 0 for s in PARTICIPATION_STATES}
    for record in event.participations:
        counts[record["state"]] += 1
    return {
        "objectId": event.object_id,
        "externalEventId": event.external_event_id,
        "eventName": event.name,
        "eventType": event.event_type,
        "eventOrganizer": event.organizer,
        "eventDescription": f"{event.event_type}: {event.name}",
        "eventUrl": f"https://events.example.com/{event.external_event_id}",
        "eventCancelled": False,
        "eventCompleted": True,
        "startDateTime": iso_instant(event.start),
        "endDateTime": iso_instant(event.end),
        "registrants": counts["REGISTERED"],
        "attendees": counts["ATTENDED"],
        "cancellations": counts["CANCELLED"],
        "noShows": counts["NO_SHOW"],
        "customProperties": [],
        "createdAt": iso_instant(event.created_at),
        "updatedAt": iso_instant(event.updated_at),
    }


def _participation(event: MarketingEvent, record: dict[str, Any]) -> dict[str, Any]:
    contact: dict[str, Any] = {"contactId": str(record["contact_id"]), "email": record["email"]}
    for key in ("firstname", "lastname"):
        if record.get(key):
            contact[key] = record[key]
    return {
        "id": record["id"],
        "createdAt": iso_instant(record["created_at"]),
        "associations": {
            "marketingEvent": {
                "marketingEventId": event.object_id,
                "externalEventId": event.external_event_id,
                "externalAccountId": event.external_account_id,
                "name": event.name,
            },
            "contact": contact,
        },
        "properties": {
            "occurredAt": to_millis(record["occurred_at"]),
            "attendanceState": record["state"],
        },
    }


class MarketingApi:
    def __init__(self, portal: PortalState) -> None:
        self.portal = portal

    def register(self, router: Router) -> None:
        router.add("GET", "/marketing/v3/forms", self.list_forms)
        router.add("GET", "/marketing/v3/forms/{formId}", self.read_form)
        router.add(
            "GET", "/form-integrations/v1/submissions/forms/{formGuid}", self.form_submissions
        )
        router.add("GET", "/email/public/v1/events", self.email_events)
        router.add("GET", "/email/public/v1/campaigns/{campaignId}", self.email_campaign)
        events = "/marketing/v3/marketing-events"
        router.add("GET", events, self.list_marketing_events)
        router.add("GET", events + "/participations/{marketingEventId}/breakdown", self.breakdown)
        router.add(
            "GET",
            events + "/participations/contacts/{contactIdentifier}/breakdown",
            self.contact_breakdown,
        )
        router.add("GET", events + "/{objectId}", self.read_marketing_event)

    # -- forms ----------------------------------------------------------------------------------

    def list_forms(self, request: Request) -> Response:
        limit = request.int_arg("limit", 20, low=1, high=FORMS_LIMIT)
        after = _decode(request.arg("after"), "after")
        with self.portal.lock:
            forms = sorted(self.portal.forms.values(), key=lambda f: (f.created_at, f.guid))
        body: dict[str, Any] = {
            "results": [form_definition(f) for f in forms[after : after + limit]]
        }
        if after + limit < len(forms):
            cursor = _encode(after + limit)
            body["paging"] = {"next": {"after": cursor, "link": f"{request.path}?after={cursor}"}}
        return Response(200, body)

    def read_form(self, request: Request) -> Response:
        form = self.portal.forms.get(request.params["formId"])
        if form is None:
            raise ApiError.not_found(f"Form {request.params['formId']} does not exist")
        return Response(200, form_definition(form))

    def form_submissions(self, request: Request) -> Response:
        limit = request.int_arg("limit", 20, low=1, high=SUBMISSIONS_LIMIT)
        after = _decode(request.arg("after"), "after")
        with self.portal.lock:
            form = self.portal.forms.get(request.params["formGuid"])
            if form is None:
                raise ApiError.not_found(f"Form {request.params['formGuid']} does not exist")
            newest_first = sorted(form.submissions, key=lambda s: -s["submittedAt"])
        page = newest_first[after : after + limit]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(newest_first):
            cursor = _encode(after + limit)
            body["paging"] = {"next": {"after": cursor, "link": f"{request.path}?after={cursor}"}}
        return Response(200, body)

    # -- email ----------------------------------------------------------------------------------

    def email_events(self, request: Request) -> Response:
        limit = request.int_arg("limit", 100, low=1, high=EMAIL_EVENTS_LIMIT)
        offset = _decode(request.arg("offset"), "offset")
        start = request.int_arg("startTimestamp", 0)
        end = request.int_arg("endTimestamp", 2**62)
        event_type = request.arg("eventType")
        if event_type is not None and event_type not in EMAIL_EVENT_TYPES:
            raise ApiError.validation(
                f"eventType must be one of {', '.join(sorted(EMAIL_EVENT_TYPES))}"
            )
        recipient = (request.arg("recipient") or "").lower()
        campaign = request.arg("campaignId")
        with self.portal.lock:
            matched = [
                e
                for e in self.portal.email_events
                if start <= e["created"] <= end
                and (event_type is None or e["type"] == event_type)
                and (not recipient or e["recipient"].lower() == recipient)
                and (campaign is None or str(e.get("emailCampaignId")) == campaign)
            ]
        matched.sort(key=lambda e: (-e["created"], e["id"]))
        page = matched[offset : offset + limit]
        has_more = offset + limit < len(matched)
        body: dict[str, Any] = {"hasMore": has_more, "events": page}
        body["offset"] = _encode(offset + len(page))
        return Response(200, body)

    def email_campaign(self, request: Request) -> Response:
        try:
            key = int(request.params["campaignId"])
        except ValueError:
            raise ApiError.validation("campaignId must be a number") from None
        campaign = self.portal.email_campaigns.get(key)
        if campaign is None:
            raise ApiError.not_found(f"Email campaign {key} does not exist")
        return Response(200, campaign)

    # -- marketing events ----------------------------------------------------------------------

    def list_marketing_events(self, request: Request) -> Response:
        limit = request.int_arg("limit", 10, low=1, high=MARKETING_EVENTS_LIMIT)
        after = _decode(request.arg("after"), "after")
        with self.portal.lock:
            events = sorted(self.portal.marketing_events.values(), key=lambda e: int(e.object_id))
            page = [_marketing_event(e) for e in events[after : after + limit]]
        body: dict[str, Any] = {"results": page}
        if after + limit < len(events):
            cursor = _encode(after + limit)
            body["paging"] = {"next": {"after": cursor, "link": f"{request.path}?after={cursor}"}}
        return Response(200, body)

    def read_marketing_event(self, request: Request) -> Response:
        with self.portal.lock:
            event = self.portal.marketing_events.get(request.params["objectId"])
            if event is None:
                raise ApiError.not_found(
                    f"Marketing event {request.params['objectId']} does not exist"
                )
            return Response(200, _marketing_event(event))

    def _breakdown(
        self, request: Request, rows: list[tuple[MarketingEvent, dict[str, Any]]]
    ) -> Response:
        limit = request.int_arg("limit", 10, low=1, high=MARKETING_EVENTS_LIMIT)
        after = _decode(request.arg("after"), "after")
        state = request.arg("state")
        if state is not None and state not in PARTICIPATION_STATES:
            raise ApiError.validation(
                f"state must be one of {', '.join(sorted(PARTICIPATION_STATES))}"
            )
        matched = [(e, r) for e, r in rows if state is None or r["state"] == state]
        matched.sort(key=lambda pair: int(pair[1]["id"]))
        body: dict[str, Any] = {
            "total": len(matched),
            "results": [_participation(e, r) for e, r in matched[after : after + limit]],
        }
        if after + limit < len(matched):
            cursor = _encode(after + limit)
            body["paging"] = {"next": {"after": cursor, "link": f"{request.path}?after={cursor}"}}
        return Response(200, body)

    def _contact_filter(self, identifier: str | None) -> set[str] | None:
        """Contact ids an identifier (id or email) names; ``None`` when no filter was given."""
        if not identifier:
            return None
        if "@" in identifier:
            found = self.portal.find_unique("contacts", "email", identifier)
            return {str(found.id)} if found is not None else set()
        return {identifier}

    def breakdown(self, request: Request) -> Response:
        with self.portal.lock:
            event = self.portal.marketing_events.get(request.params["marketingEventId"])
            if event is None:
                raise ApiError.not_found(
                    f"Marketing event {request.params['marketingEventId']} does not exist"
                )
            wanted = self._contact_filter(request.arg("contactIdentifier"))
            rows = [
                (event, r)
                for r in event.participations
                if wanted is None or str(r["contact_id"]) in wanted
            ]
        return self._breakdown(request, rows)

    def contact_breakdown(self, request: Request) -> Response:
        with self.portal.lock:
            wanted = self._contact_filter(request.params["contactIdentifier"]) or set()
            rows = [
                (e, r)
                for e in self.portal.marketing_events.values()
                for r in e.participations
                if str(r["contact_id"]) in wanted
            ]
        return self._breakdown(request, rows)
