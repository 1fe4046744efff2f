"""Pure parts of the HubSpot connector: pacing, webhooks, mapping, outcomes, checks."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hubspot.crm.contacts.exceptions import ApiException as ContactsApiException
from hubspot.crm.objects.tasks.exceptions import ApiException as TasksApiException

from connectors.hubspot.activities import (
    email_event_activity,
    engagement_activities,
    participation_activity,
)
from connectors.hubspot.client import HubSpotRejected, translate_error
from connectors.hubspot.mapping import (
    format_value,
    load_mapping,
    output_properties,
    person_from_contact,
)
from connectors.hubspot.pacing import RatePacer, Throttle
from connectors.hubspot.properties import check_against, output_definition
from connectors.hubspot.tasks import task_properties
from connectors.hubspot.webhooks import (
    ReplayGuard,
    WebhookRejected,
    parse_events,
    signature_v3,
    verify_v3,
)
from connectors.hubspot.write import chunks_without_repeats, errors_by_id
from leadsync.errors import AuthError, BudgetExhausted, ConfigError, RetriableSyncError
from leadsync.records import RecordRef, TaskRequest
from mappings import MAPPING_FILE, default_mapping_path

MAPPING = load_mapping(default_mapping_path("hubspot"))


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


# -- pacing -------------------------------------------------------------------------------------


def _pacer(t: FakeTime, **kw: object) -> RatePacer:
    return RatePacer(clock=t.clock, sleep=t.sleep, connector="hubspot", **kw)  # type: ignore[arg-type]


def test_pacer_keeps_calls_within_the_burst_window() -> None:
    t = FakeTime()
    pacer = _pacer(t, max_per_interval=10)
    for _ in range(35):
        pacer.before_call()
    # 35 calls at 10 per 10 s need three full waits.
    assert t.now == pytest.approx(30.0)


def test_pacer_learns_the_limit_from_headers() -> None:
    t = FakeTime()
    pacer = _pacer(t, max_per_interval=10)
    pacer.observe(
        {
            "X-HubSpot-RateLimit-Max": "190",
            "X-HubSpot-RateLimit-Daily": "500000",
            "X-HubSpot-RateLimit-Daily-Remaining": "1234",
        }
    )
    for _ in range(190):
        pacer.before_call()
    assert t.slept == []
    assert pacer.daily_remaining == 1234 and pacer.daily_limit == 500000


def test_pacer_waits_when_the_portal_says_nothing_remains() -> None:
    t = FakeTime()
    pacer = _pacer(t, max_per_interval=100)
    pacer.observe({"X-HubSpot-RateLimit-Remaining": "0"})
    pacer.before_call()
    assert t.slept == [10.0]


def test_search_is_paced_to_its_own_limit() -> None:
    t = FakeTime()
    pacer = _pacer(t, search_per_second=4.0)
    for _ in range(9):
        pacer.before_call(search=True)
    assert t.now == pytest.approx(2.0)


def test_daily_reserve_and_daily_429_raise_budget_exhausted() -> None:
    t = FakeTime()
    pacer = _pacer(t, daily_reserve=1000)
    pacer.observe({"X-HubSpot-RateLimit-Daily-Remaining": "999"})
    with pytest.raises(BudgetExhausted):
        pacer.before_call()
    with pytest.raises(BudgetExhausted):
        _pacer(t).throttled(Throttle("DAILY"))


def test_ten_secondly_429_waits_retry_after_or_the_window() -> None:
    t = FakeTime()
    pacer = _pacer(t)
    pacer.throttled(Throttle("TEN_SECONDLY_ROLLING", retry_after=3.0))
    pacer.throttled(Throttle("TEN_SECONDLY_ROLLING"))
    assert t.slept == [3.0, 10.0]


# -- error translation --------------------------------------------------------------------------


class _Resp:
    def __init__(self, status: int, body: dict[str, object]) -> None:
        self.status, self.reason = status, "x"
        self.data = json.dumps(body).encode()

    def getheaders(self) -> dict[str, str]:
        return {"Retry-After": "2"}


def test_every_packages_api_exception_is_translated() -> None:
    auth = translate_error(ContactsApiException(http_resp=_Resp(401, {"message": "expired"})), "hs")
    assert isinstance(auth, AuthError) and "access_token" in str(auth)
    bad = translate_error(
        TasksApiException(
            http_resp=_Resp(
                400, {"category": "VALIDATION_ERROR", "message": "bad", "context": {"ids": ["7"]}}
            )
        ),
        "hs",
    )
    assert isinstance(bad, HubSpotRejected)
    assert (bad.category, bad.hubspot_message, bad.ids) == ("VALIDATION_ERROR", "bad", ("7",))
    busy = translate_error(TasksApiException(http_resp=_Resp(503, {"message": "x"})), "hs")
    assert isinstance(busy, RetriableSyncError) and busy.retry_after == 2.0


# -- webhooks -----------------------------------------------------------------------------------

# The test vector published with hubspot-api-client (tests/spec/utils/test_signature.py).
VECTOR = {
    "secret": "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy",
    "body": b"{'example_field':'example_value'}",
    "uri": "https://www.example.com/webhook_uri",
    "timestamp": "15000000",
    "signature": "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
}


def test_signature_matches_the_client_librarys_test_vector() -> None:
    sig = signature_v3(
        VECTOR["secret"],
        "POST",
        VECTOR["uri"],
        VECTOR["body"],
        VECTOR["timestamp"],  # type: ignore[arg-type]
    )
    assert sig == VECTOR["signature"]
    sent = datetime.fromtimestamp(15000, tz=UTC)
    headers = {
        "X-HubSpot-Signature-v3": VECTOR["signature"],
        "X-HubSpot-Request-Timestamp": VECTOR["timestamp"],
    }
    verify_v3(
        "POST",
        VECTOR["uri"],
        VECTOR["body"],
        headers,
        VECTOR["secret"],  # type: ignore[arg-type]
        sent + timedelta(minutes=4),
    )
    with pytest.raises(WebhookRejected, match="5 minutes"):
        verify_v3(
            "POST",
            VECTOR["uri"],
            VECTOR["body"],
            headers,
            VECTOR["secret"],  # type: ignore[arg-type]
            sent + timedelta(minutes=6),
        )
    with pytest.raises(WebhookRejected, match="signature"):
        verify_v3(
            "POST",
            VECTOR["uri"],
            b"{}",
            headers,
            VECTOR["secret"],  # type: ignore[arg-type]
            sent,
        )


def test_replayed_event_ids_are_rejected_and_encoded_uris_decoded() -> None:
    now = datetime(2024, 5, 1, tzinfo=UTC)
    ts = str(int(now.timestamp() * 1000))
    body = json.dumps(
        [
            {
                "eventId": 11,
                "subscriptionType": "contact.propertyChange",
                "objectId": 5,
                "propertyName": "email",
                "propertyValue": "a@b.c",
                "occurredAt": int(now.timestamp() * 1000),
            }
        ]
    ).encode()
    uri = "https://x.example/hooks?next=%2Fhome"
    sig = signature_v3("s", "POST", "https://x.example/hooks?next=/home", body, ts)
    headers = {"x-hubspot-signature-v3": sig, "x-hubspot-request-timestamp": ts}
    guard = ReplayGuard()
    verify_v3("POST", uri, body, headers, "s", now, guard)
    with pytest.raises(WebhookRejected, match="replayed"):
        verify_v3("POST", uri, body, headers, "s", now, guard)
    (event,) = parse_events("hubspot", body)
    assert event.kind == "changed" and event.ref == RecordRef("hubspot", "contact", "5")
    assert (event.property, event.value) == ("email", "a@b.c")


# -- mapping ------------------------------------------------------------------------------------


def test_contact_maps_to_person_with_canonical_attributes() -> None:
    person = person_from_contact(
        "hubspot",
        {
            "id": "42",
            "properties": {
                "email": " a@b.co ",
                "lastmodifieddate": "2024-05-01T10:00:00.000Z",
                "numemployees": "25-50",
                "jobtitle": "VP Sales",
                "hubspot_owner_id": "7",
                "hs_lead_status": "OPEN",
                "hs_email_optout": "true",
                "lifecyclestage": "customer",
                "hs_lifecyclestage_customer_date": "2024-04-01T00:00:00Z",
                "industry": "",
            },
        },
        MAPPING,
    )
    assert person.ref == RecordRef("hubspot", "contact", "42") and person.email == "a@b.co"
    assert person.attributes == {"employees": "25-50", "title": "VP Sales"}
    assert (person.owner_id, person.status, person.opted_out) == ("7", "OPEN", True)
    assert person.converted_at == datetime(2024, 4, 1, tzinfo=UTC)
    assert person.modified_at == datetime(2024, 5, 1, 10, tzinfo=UTC)


def test_outputs_become_property_strings() -> None:
    props = output_properties(
        {"fit": "good", "score": 70.0, "scored_at": datetime(2024, 5, 1, 9, tzinfo=UTC)}, MAPPING
    )
    assert props == {
        "leadsync_fit": "good",
        "leadsync_score": "70",
        "leadsync_scored_at": "2024-05-01T09:00:00.000Z",
    }
    assert format_value(True) == "true"


def test_bad_mapping_file_names_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "hubspot.toml"
    path.write_text('[outputs.fit]\nproperty = "x"\nlabel = "X"\ntype = "enumeraton"\n')
    with pytest.raises(ConfigError) as info:
        load_mapping(path)
    assert f"{path}: outputs.fit.type" in str(info.value)


# -- outcomes, tasks, checks --------------------------------------------------------------------


def test_multi_status_errors_are_keyed_by_context_ids() -> None:
    answer = {
        "errors": [
            {
                "category": "VALIDATION_ERROR",
                "message": "bad option",
                "context": {"ids": ["1", "2"], "propertyName": ["leadsync_fit"]},
            }
        ]
    }
    errors = errors_by_id(answer)
    assert set(errors) == {"1", "2"} and errors["1"].fields == ("leadsync_fit",)
    assert errors["1"].code == "VALIDATION_ERROR" and not errors["1"].retriable


def test_chunks_hold_at_most_100_and_never_repeat_an_id() -> None:
    chunks = list(chunks_without_repeats(["a"] * 2 + [str(i) for i in range(150)], key=str))
    assert [len(c) for c in chunks] == [1, 100, 51]


def test_task_properties() -> None:
    task = TaskRequest(
        key="h-1",
        person=RecordRef("hubspot", "contact", "5"),
        owner_id="7",
        subject="Call",
        body="why",
        due_at=datetime(2024, 5, 2, tzinfo=UTC),
        priority="High",
    )
    props = task_properties(task, "leadsync_key")
    assert (
        props["hs_task_priority"] == "HIGH" and props["hs_timestamp"] == "2024-05-02T00:00:00.000Z"
    )
    assert props["hubspot_owner_id"] == "7" and props["hs_task_status"] == "NOT_STARTED"
    assert props["leadsync_key"] == "h-1"


def test_check_reports_missing_mistyped_and_optionless() -> None:
    contacts = {p: {"name": p, "type": "string"} for p in MAPPING.read_properties()}
    contacts["leadsync_fit"] = {
        "name": "leadsync_fit",
        "type": "enumeration",
        "options": [{"value": "good"}],
    }
    contacts["leadsync_score"] = {"name": "leadsync_score", "type": "string"}
    problems = check_against(MAPPING, contacts, {"leadsync_key": {"name": "leadsync_key"}})
    text = "\n".join(map(str, problems))
    assert (
        "leadsync_fit: LeadSync writes 'poor' for fit = poor ([values.fit]), not one of the "
        "property's options (good)"
    ) in text
    assert "leadsync_score: type is 'string'" in text
    assert "contact.leadsync_team: output 'team' has no property" in text
    assert "task.leadsync_key: the task key property does not require unique values" in text
    assert output_definition(MAPPING, "team")["options"][0]["value"] == "sales"


def test_activity_conversions() -> None:
    click = email_event_activity(
        "hs",
        {
            "id": "e1",
            "type": "CLICK",
            "created": 1714550400000,
            "recipient": "a@b.co",
            "url": "https://x/p",
        },
    )
    assert click is not None and (click.kind, click.url, click.email) == (
        "email_click",
        "https://x/p",
        "a@b.co",
    )
    unsub = email_event_activity(
        "hs",
        {
            "id": "e2",
            "type": "STATUSCHANGE",
            "created": 1,
            "recipient": "a@b.co",
            "subscriptions": [{"id": 1, "status": "UNSUBSCRIBED"}],
        },
    )
    assert unsub is not None and unsub.kind == "unsubscribe"
    assert email_event_activity("hs", {"id": "e3", "type": "DELIVERED", "created": 1}) is None
    reg = participation_activity(
        "hs",
        {
            "id": "p1",
            "createdAt": "2024-05-01T00:00:00Z",
            "properties": {"attendanceState": "ATTENDED", "occurredAt": 1714550400000},
            "associations": {
                "contact": {"contactId": "5", "email": "a@b.co"},
                "marketingEvent": {"name": "Webinar A"},
            },
        },
    )
    assert reg is not None and reg.kind == "webinar_attended" and reg.name == "Webinar A"
    assert reg.person == RecordRef("hs", "contact", "5")
    meetings = list(
        engagement_activities(
            "hs",
            "meeting",
            {
                "id": "m1",
                "properties": {
                    "hs_timestamp": "2024-05-01T00:00:00Z",
                    "hubspot_owner_id": "7",
                    "hs_meeting_title": "Demo",
                },
            },
            ["5", "6"],
        )
    )
    assert [m.ref.external_id for m in meetings] == ["m1:5", "m1:6"]
    assert meetings[0].actor_id == "7" and meetings[0].person == RecordRef("hs", "contact", "5")


def test_merge_notification_points_absorbed_records_at_the_survivor() -> None:
    body = json.dumps(
        [
            {
                "eventId": 3,
                "subscriptionType": "contact.merge",
                "objectId": 9,
                "primaryObjectId": 9,
                "mergedObjectIds": [4, 9],
                "occurredAt": 1,
            }
        ]
    )
    (event,) = parse_events("hubspot", body.encode())
    assert event.kind == "merged" and event.ref == RecordRef("hubspot", "contact", "4")
    assert event.merged_into == RecordRef("hubspot", "contact", "9")


def test_check_compares_each_read_propertys_type_with_what_is_read() -> None:
    """A conversion date kept in a text property, an opt-out in a number, employees in a date:
    reported with the type that fixes each; the shipped types are clean."""
    kinds = {
        "email": "string",
        "lastmodifieddate": "datetime",
        "hubspot_owner_id": "enumeration",
        "hs_lead_status": "enumeration",
        "hs_email_optout": "bool",
        "lifecyclestage": "enumeration",
        "hs_lifecyclestage_customer_date": "datetime",
        "createdate": "datetime",
        "associatedcompanyid": "number",
        "numemployees": "enumeration",
    }
    contacts = {p: {"name": p, "type": kinds.get(p, "string")} for p in MAPPING.read_properties()}
    tasks = {"leadsync_key": {"name": "leadsync_key", "hasUniqueValue": True}}
    clean = [p for p in check_against(MAPPING, contacts, tasks) if p.field in contacts]
    assert clean == []
    contacts["hs_lifecyclestage_customer_date"]["type"] = "string"
    contacts["hs_email_optout"]["type"] = "number"
    contacts["numemployees"]["type"] = "date"
    problems = {p.field: p for p in check_against(MAPPING, contacts, tasks) if p.field in contacts}
    assert set(problems) == {"hs_lifecyclestage_customer_date", "hs_email_optout", "numemployees"}
    converted = problems["hs_lifecyclestage_customer_date"]
    assert "[contact].converted_at is read as a date-time" in converted.problem
    assert "datetime" in converted.fix and MAPPING_FILE in converted.fix
    assert "bool" in problems["hs_email_optout"].fix
    assert "[attributes].employees" in problems["numemployees"].problem
