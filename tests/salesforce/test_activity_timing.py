"""Salesforce activity times carry their precision (issue 22).

The world is generated first (when a member was created, when it got its current status, in
which zone the org's calendar runs, when it was last modified); the row is what Salesforce
shows of it; the activity's bounds must hold the true instant, whatever the zone.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from connectors.salesforce.mapping import load_mapping
from connectors.salesforce.pull import to_activity
from connectors.salesforce.timing import NO_BOUND_S
from leadsync.model import Activity, Person, build_spec, score
from leadsync.model.values import DATE_EARLY_S, DATE_LATE_S
from leadsync.records import ActivityRecord

MAPPING = load_mapping()
T0 = datetime(2024, 3, 1, tzinfo=UTC)
HOUR = 3600
zones = st.integers(-12 * 4, 14 * 4).map(lambda q: timezone(timedelta(minutes=15 * q)))
seconds = st.integers(0, 40 * 86_400)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def member_row(
    created: datetime,
    modified: datetime,
    first_response: datetime | None,
    zone: timezone = UTC,
    status: str = "Unsubscribed",
) -> dict[str, Any]:
    return {
        "Id": "00v000000000001",
        "SystemModstamp": _stamp(modified),
        "IsDeleted": False,
        "CreatedDate": _stamp(created),
        "LastModifiedDate": _stamp(modified),
        "LeadId": "00Q000000000001",
        "ContactId": None,
        "CampaignId": "701000000000001",
        "Campaign.Name": "Newsletter",
        "Campaign.Type": "Email",
        "Status": status,
        "HasResponded": first_response is not None,
        "FirstRespondedDate": (
            first_response.astimezone(zone).date().isoformat() if first_response else None
        ),
    }


def member(row: dict[str, Any]) -> ActivityRecord:
    activity = to_activity("salesforce", "CampaignMember", row, MAPPING)
    assert activity is not None and not activity.deleted, activity
    return activity


def bounds(activity: ActivityRecord) -> tuple[datetime, datetime]:
    return (
        activity.occurred_at - timedelta(seconds=activity.early_s),
        activity.occurred_at + timedelta(seconds=activity.late_s),
    )


@settings(max_examples=300, deadline=None)
@given(seconds, seconds, seconds, seconds, zones, st.booleans())
def test_a_members_bounds_hold_when_its_status_was_set_in_any_zone(
    to_response: int, to_status: int, to_modified: int, jitter: int, zone: timezone, same: bool
) -> None:
    """Responded at ``response``; maybe a later status (Attended after Registered) at
    ``status_set``; modified last at ``modified``: the bounds must hold ``status_set``."""
    created = T0 + timedelta(seconds=jitter % 3600)
    response = created + timedelta(seconds=to_response)
    status_set = response if same else response + timedelta(seconds=to_status)
    modified = status_set + timedelta(seconds=to_modified)
    activity = member(member_row(created, modified, response, zone))
    earliest, latest = bounds(activity)
    assert earliest <= status_set <= latest
    assert latest <= modified  # never later than what the org shows could have been
    if modified == created:
        assert (activity.occurred_at, activity.early_s, activity.late_s) == (created, 0, 0)


@settings(max_examples=200, deadline=None)
@given(seconds, seconds, seconds)
def test_a_member_that_never_responded_dates_from_creation_to_last_change(
    to_status: int, to_modified: int, jitter: int
) -> None:
    created = T0 + timedelta(seconds=jitter)
    status_set = created + timedelta(seconds=to_status)
    modified = status_set + timedelta(seconds=to_modified)
    activity = member(member_row(created, modified, None))
    assert activity.occurred_at == created
    earliest, latest = bounds(activity)
    assert earliest == created and latest == modified


def test_the_issue_unsubscribe_at_20_is_not_before_a_form_at_8() -> None:
    """A newsletter member since last week unsubscribes at 20:00; FirstRespondedDate says
    only the day. The member was timed at 00:00 and a Contact Us at 08:00 lifted it."""
    day = datetime(2024, 3, 12, tzinfo=UTC)
    unsubscribed = day + timedelta(hours=20)
    row = member_row(day - timedelta(days=7), unsubscribed, unsubscribed)
    out = member(row)
    assert out.occurred_at == unsubscribed and out.late_s == 0
    as_kind = Activity("u", "unsubscribe", out.occurred_at, early_s=out.early_s, late_s=out.late_s)
    form = Activity("f", "form_submission", day + timedelta(hours=8), name="Contact Us")
    spec = build_spec(criteria=[], good_fit_min=0)
    now = day + timedelta(days=1)
    assert score(Person("p"), [form, as_kind], spec, now).readiness == "do_not_contact"
    later = Activity("g", "form_submission", unsubscribed + timedelta(minutes=1), "Contact Us")
    assert score(Person("p"), [later, as_kind], spec, now).readiness == "hand_raiser"


def test_a_member_with_no_readable_last_change_is_unbounded_after_creation() -> None:
    row = member_row(T0, T0 + timedelta(days=3), None)
    row["LastModifiedDate"] = "soon"
    row["SystemModstamp"] = None
    activity = to_activity("salesforce", "CampaignMember", row, MAPPING)
    assert activity is not None and activity.occurred_at == T0
    assert (activity.early_s, activity.late_s) == (0, NO_BOUND_S)
    assert {n.field for n in activity.unreadable} == {"LastModifiedDate", "SystemModstamp"}


def _task(**times: str | None) -> dict[str, Any]:
    return {
        "Id": "00T000000000001",
        "SystemModstamp": "2024-03-09T10:00:00.000+0000",
        "IsDeleted": False,
        "CreatedDate": "2024-03-09T10:00:00.000+0000",
        "WhoId": "00Q000000000001",
        "OwnerId": "005000000000001",
        "Subject": "Call",
        "TaskSubtype": "Call",
        "IsClosed": True,
        "ActivityDate": None,
        "CompletedDateTime": None,
        **times,
    }


def test_task_times_completed_instant_then_due_date_then_created() -> None:
    done = to_activity(
        "sf", "Task", _task(CompletedDateTime="2024-03-05T09:30:00.000+0000"), MAPPING
    )
    assert done is not None and (done.early_s, done.late_s) == (0, 0)
    assert done.occurred_at == datetime(2024, 3, 5, 9, 30, tzinfo=UTC)
    due = to_activity("sf", "Task", _task(ActivityDate="2024-03-05"), MAPPING)
    assert due is not None and due.occurred_at == datetime(2024, 3, 5, 12, tzinfo=UTC)
    assert (due.early_s, due.late_s) == (DATE_EARLY_S, DATE_LATE_S)
    logged = to_activity("sf", "Task", _task(), MAPPING)
    assert logged is not None and logged.occurred_at == datetime(2024, 3, 9, 10, tzinfo=UTC)
    assert (logged.early_s, logged.late_s) == (0, 0)


@given(st.dates(date(2000, 1, 1), date(2080, 1, 1)), st.sampled_from(["REST", "Bulk"]))
def test_a_date_only_submission_time_spans_its_day(day: date, api: str) -> None:
    row = {
        "Id": "a01000000000001",
        "SystemModstamp": "2024-03-09T10:00:00.000+0000",
        "IsDeleted": "false" if api == "Bulk" else False,
        "CreatedDate": "2024-03-09T10:00:00.000+0000",
        "Email__c": "a@x.com",
        "Form_Name__c": "Contact Us",
        "Submitted_At__c": day.isoformat(),
    }
    form = to_activity("sf", "Form_Submission__c", row, MAPPING)
    assert form is not None and not form.deleted
    midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
    earliest, latest = bounds(form)
    assert earliest <= midnight - timedelta(hours=14)
    assert latest >= midnight + timedelta(days=1, hours=12)
