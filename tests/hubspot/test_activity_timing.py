"""HubSpot activity times carry their precision (issue 22): instants are exact, a bare date
spans its day in any zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from connectors.hubspot.activities import (
    email_event_activity,
    engagement_activities,
    form_submission_activity,
    participation_activity,
)
from leadsync.model.values import DATE_EARLY_S, DATE_LATE_S
from leadsync.records import ActivityRecord

instants = st.datetimes(datetime(2000, 1, 1), datetime(2080, 1, 1), timezones=st.just(UTC))
days = st.dates(date(2000, 1, 1), date(2080, 1, 1))


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _exact(activity: ActivityRecord | None, moment: datetime) -> None:
    assert activity is not None and not activity.deleted
    assert abs(activity.occurred_at - moment) < timedelta(milliseconds=1)
    assert (activity.early_s, activity.late_s) == (0, 0)


def _participation(occurred: object) -> ActivityRecord | None:
    row = {
        "id": "77",
        "createdAt": "2024-05-01T00:00:00Z",
        "properties": {"attendanceState": "REGISTERED", "occurredAt": occurred},
        "associations": {"contact": {"contactId": "5"}, "marketingEvent": {"name": "W"}},
    }
    return participation_activity("hubspot", row)


def _call(stamp: object) -> ActivityRecord:
    obj = {"id": "9", "properties": {"hs_timestamp": stamp, "hs_call_title": "Intro"}}
    (activity,) = engagement_activities("hubspot", "call", obj, ["101"])
    return activity


@given(instants)
def test_forms_email_events_and_engagements_in_ms_are_exact(moment: datetime) -> None:
    sub = {"submittedAt": _ms(moment), "values": [{"name": "email", "value": "a@b.co"}]}
    _exact(form_submission_activity("hubspot", "f-1", "Contact Us", sub), moment)
    event = {"id": "e", "type": "STATUSCHANGE", "created": _ms(moment), "recipient": "a@b.co"}
    event["portalSubscriptionStatus"] = "UNSUBSCRIBED"
    _exact(email_event_activity("hubspot", event), moment)
    _exact(_participation(_ms(moment)), moment)
    _exact(_call(str(_ms(moment))), moment)  # epoch ms as text: all digits, never a date
    _exact(_call(moment.isoformat().replace("+00:00", "Z")), moment)


@given(days)
def test_a_bare_date_spans_its_day(day: date) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    for activity in (_participation(day.isoformat()), _call(day.isoformat())):
        assert activity is not None and not activity.deleted
        assert activity.occurred_at == noon
        assert (activity.early_s, activity.late_s) == (DATE_EARLY_S, DATE_LATE_S)
