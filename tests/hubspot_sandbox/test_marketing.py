"""Forms and submissions, email events, marketing events: shapes and paging."""

from __future__ import annotations

import requests
from hubspot import HubSpot
from hubspot.marketing.forms import Configuration as FormsConfiguration

from sandboxes.hubspot import HubSpotSandbox


def _get(sb: HubSpotSandbox, path: str, **params: object) -> requests.Response:
    return requests.get(
        sb.url + path,
        params=params,
        headers={"Authorization": f"Bearer {sb.access_token}"},
        timeout=5,
    )


def test_forms_list_pages(sb: HubSpotSandbox) -> None:
    first = _get(sb, "/marketing/v3/forms/", limit=4).json()
    assert len(first["results"]) == 4
    rest = _get(sb, "/marketing/v3/forms/", limit=4, after=first["paging"]["next"]["after"]).json()
    names = {f["name"] for f in first["results"] + rest["results"]}
    assert {"Contact Us", "Demo Request", "Price Sheet", "Newsletter signup"} <= names
    assert "paging" not in rest
    assert _get(sb, "/marketing/v3/forms/", limit=51).status_code == 400


def test_forms_deserialise_into_the_client_models(sb: HubSpotSandbox) -> None:
    # The generated client's flattened field union only admits payment_link_radio fields, so
    # real form definitions deserialise with its client-side validation off (a client bug).
    client = HubSpot(access_token=sb.access_token, host=sb.url)
    api = client.marketing.forms.forms_api
    config: FormsConfiguration = api.api_client.configuration
    config.client_side_validation = False
    page = api.get_page(limit=10)
    assert {f.form_type for f in page.results} == {"hubspot"}
    assert page.results[0].field_groups[0].fields[2].name == "email"


def test_form_submissions_page_newest_first(sb: HubSpotSandbox) -> None:
    form = max(sb.portal.forms.values(), key=lambda f: len(f.submissions))
    path = f"/form-integrations/v1/submissions/forms/{form.guid}"
    seen, after = [], None
    while True:
        body = _get(sb, path, limit=50, **({"after": after} if after else {})).json()
        seen += body["results"]
        if "paging" not in body:
            break
        after = body["paging"]["next"]["after"]
    assert len(seen) == len(form.submissions)
    stamps = [s["submittedAt"] for s in seen]
    assert stamps == sorted(stamps, reverse=True)
    assert {v["name"] for v in seen[0]["values"]} >= {"email"}
    assert _get(sb, path, limit=51).status_code == 400


def test_email_events_offset_paging_and_filters(sb: HubSpotSandbox) -> None:
    total = [e for e in sb.portal.email_events if e["type"] == "OPEN"]
    seen, offset = [], None
    while True:
        params = {"eventType": "OPEN", "limit": 500, **({"offset": offset} if offset else {})}
        body = _get(sb, "/email/public/v1/events", **params).json()
        seen += body["events"]
        if not body["hasMore"]:
            break
        offset = body["offset"]
    assert len(seen) == len(total)
    assert {e["type"] for e in seen} == {"OPEN"}
    unsubscribes = _get(sb, "/email/public/v1/events", eventType="STATUSCHANGE").json()["events"]
    assert unsubscribes and unsubscribes[0]["subscriptions"][0]["status"] == "UNSUBSCRIBED"
    campaign = _get(sb, f"/email/public/v1/campaigns/{seen[0]['emailCampaignId']}").json()
    assert campaign["name"]


def test_marketing_events_and_participations(client: HubSpot, sb: HubSpotSandbox) -> None:
    events = client.marketing.events.basic_api.get_all(limit=2)
    assert len(events.results) == 2 and events.paging.next.after
    event = max(sb.portal.marketing_events.values(), key=lambda e: len(e.participations))
    api = client.marketing.events.retrieve_participant_state_api
    attended = api.get_participations_breakdown_by_marketing_event_id(
        event.object_id, state="ATTENDED", limit=100
    )
    assert attended.total == sum(1 for p in event.participations if p["state"] == "ATTENDED")
    row = attended.results[0]
    assert row.properties.attendance_state == "ATTENDED"
    by_contact = api.get_participations_breakdown_by_contact_id(
        row.associations.contact.email, limit=100
    )
    assert row.id in {r.id for r in by_contact.results}
