"""Whose business hours apply: pools, reps, holidays, night shifts, and their config errors."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadsync.config.loading import validate
from leadsync.config.operations import BusinessHours, HandoffSettings
from leadsync.handoff import (
    Breach,
    Candidates,
    PersonFacts,
    RoutingState,
    add_business_minutes,
    business_day,
    business_minutes_between,
    due_at,
    escalate,
    hours_for,
    is_business_time,
    is_holiday,
    pool_hours,
    render_task,
    route,
    sla_breached,
)
from tests.handoff.factories import handoff_settings, person, result_dict, user

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
ENGLAND = {"country": "GB", "subdivision": "ENG"}


# -- the scenario ----------------------------------------------------------------------

#: Org default in New York, so only the UK pool's own hours can give the English answer.
EASTER = handoff_settings(
    business_hours={"time_zone": "America/New_York"},
    pools=[
        {
            "name": "UK",
            "members": ["r1"],
            "business_hours": {"time_zone": "Europe/London", "holidays": ENGLAND},
        }
    ],
)
GOOD_FRIDAY_EVENING = datetime(2026, 4, 3, 18, 30, tzinfo=LONDON)


def test_good_friday_handoff_in_england_is_due_the_tuesday_after_easter_monday() -> None:
    # Good Friday 3 April 2026 is an English bank holiday, Saturday and Sunday are not
    # working days, Easter Monday 6 April is a bank holiday: the first window opens Tuesday
    # 7 April at 09:00 BST, and 480 business minutes later is 17:00 BST (16:00 UTC), the
    # window's closing minute. Without the holidays it would be Monday 17:00 BST.
    decision = route(
        PersonFacts(), Candidates.of([user("r1")]), EASTER, RoutingState(), GOOD_FRIDAY_EVENING
    )
    assert decision.owner_id == "r1"
    task = render_task(
        person(), result_dict("sales_ready"), decision, EASTER, None, GOOD_FRIDAY_EVENING, seq=1
    )
    expected = datetime(2026, 4, 7, 17, 0, tzinfo=LONDON)
    assert task.due_at == expected == datetime(2026, 4, 7, 16, 0, tzinfo=UTC)
    assert "due Tue 07 Apr 2026 17:00 BST" in task.body
    assert due_at("sales_ready", EASTER, GOOD_FRIDAY_EVENING, owner_id="r1") == expected


def test_no_breach_is_called_on_easter_monday() -> None:
    hours = hours_for("r1", EASTER)
    due = due_at("sales_ready", EASTER, GOOD_FRIDAY_EVENING, owner_id="r1")
    easter_monday = datetime(2026, 4, 6, 0, 0, tzinfo=LONDON)
    for minute in range(0, 24 * 60, 7):
        now = easter_monday + timedelta(minutes=minute)
        assert not sla_breached(GOOD_FRIDAY_EVENING, due, [], now, hours)
    assert sla_breached(GOOD_FRIDAY_EVENING, due, [], due + timedelta(minutes=1), hours)


def test_a_due_time_from_before_the_holidays_were_set_breaches_in_business_time_only() -> None:
    # A hand-off whose due time was worked out without the holidays (Easter Monday 17:00):
    # with the holder's hours it moves to their next business minute, Tuesday 09:00, and a
    # touch before then is in time.
    hours = hours_for("r1", EASTER)
    stale_due = datetime(2026, 4, 6, 17, 0, tzinfo=LONDON)
    monday_evening = datetime(2026, 4, 6, 17, 1, tzinfo=LONDON)
    assert sla_breached(GOOD_FRIDAY_EVENING, stale_due, [], monday_evening)  # no hours: breached
    assert not sla_breached(GOOD_FRIDAY_EVENING, stale_due, [], monday_evening, hours)
    tuesday = datetime(2026, 4, 7, 9, 1, tzinfo=LONDON)
    assert sla_breached(GOOD_FRIDAY_EVENING, stale_due, [], tuesday, hours)
    early_call = [datetime(2026, 4, 7, 8, 30, tzinfo=LONDON)]
    assert not sla_breached(GOOD_FRIDAY_EVENING, stale_due, early_call, tuesday, hours)


# -- who uses which hours ----------------------------------------------------------------------

THREE_COUNTRIES = handoff_settings(
    business_hours={"time_zone": "Europe/London", "end": "17:30", "holidays": ENGLAND},
    pools=[
        {"name": "UK", "members": ["uk1", "uk2"]},
        {
            "name": "US",
            "members": ["us1", "night"],
            "business_hours": {"time_zone": "America/New_York", "holidays": {"country": "US"}},
        },
        {
            "name": "DE",
            "members": ["de1", "uk2"],
            "business_hours": {"time_zone": "Europe/London", "end": "17:30"},
        },
    ],
    rep_hours={
        "night": {"start": "22:00", "end": "06:00"},
        "acct": {"time_zone": "Asia/Kolkata", "holidays": []},
    },
)


def test_hours_resolve_rep_over_pool_over_org() -> None:
    org = THREE_COUNTRIES.business_hours
    assert hours_for(None, THREE_COUNTRIES) == org
    assert hours_for("uk1", THREE_COUNTRIES) == org  # the pool sets nothing of its own
    us = hours_for("us1", THREE_COUNTRIES)
    # Keys the pool gives replace the org's; the others (days, start, end) are inherited.
    assert (us.time_zone, us.start, us.end, us.days) == (
        "America/New_York",
        time(9),
        time(17, 30),
        org.days,
    )
    assert [c.country for c in us.holidays] == ["US"]
    night = hours_for("night", THREE_COUNTRIES)
    assert (night.time_zone, night.start, night.end) == ("America/New_York", time(22), time(6))
    # A rep in no pool (an account owner) gets the org's hours under their own keys.
    account = hours_for("acct", THREE_COUNTRIES)
    assert (account.time_zone, account.holidays, account.end) == ("Asia/Kolkata", (), time(17, 30))
    assert pool_hours("US", THREE_COUNTRIES) == us
    assert pool_hours("UK", THREE_COUNTRIES) == pool_hours(None, THREE_COUNTRIES) == org


def test_a_task_is_due_in_its_owners_hours_and_reads_in_their_zone() -> None:
    at = datetime(2024, 7, 3, 16, 30, tzinfo=UTC)  # 17:30 in London, 12:30 in New York
    for owner, due in (
        ("uk1", datetime(2024, 7, 4, 9, 5, tzinfo=LONDON)),
        ("us1", at + timedelta(minutes=5)),
    ):
        decision = route(
            PersonFacts(owner_id=owner), Candidates.of([user(owner)]), THREE_COUNTRIES,
            RoutingState(), at,
        )  # fmt: skip
        assert decision.owner_id == owner
        task = render_task(person(), result_dict(), decision, THREE_COUNTRIES, None, at, seq=1)
        assert task.due_at == due
    assert "due Wed 03 Jul 2024 12:35 EDT" in task.body


def test_the_night_shift_rep_is_due_overnight() -> None:
    evening = datetime(2024, 7, 3, 20, 0, tzinfo=NEW_YORK)  # a Wednesday
    due = due_at("sales_ready", THREE_COUNTRIES, evening, owner_id="night")
    # 22:00 to 06:00 is 480 minutes: the whole shift that opens on Wednesday.
    assert due == datetime(2024, 7, 4, 6, 0, tzinfo=NEW_YORK)


def test_escalation_counts_lateness_in_the_holders_hours() -> None:
    due = datetime(2024, 7, 3, 16, 55, tzinfo=NEW_YORK)
    now = datetime(2024, 7, 5, 10, 0, tzinfo=NEW_YORK)  # Friday; Thursday was the 4th of July
    breach = Breach(person(), PersonFacts(owner_id="us1"), "us1", 1, due - timedelta(hours=1), due)
    candidates = Candidates.of([user("us1", manager="m1"), user("m1")])
    answer = escalate(breach, "escalate", candidates, THREE_COUNTRIES, RoutingState(), now)
    # 16:55-17:30 on Wednesday, nothing on Independence Day, 09:00-10:00 on Friday.
    assert "(95 business minutes late)" in answer.why
    assert "by Wed 03 Jul 2024 16:55 EDT" in answer.why


def test_daily_caps_count_in_the_pools_own_day() -> None:
    # 03:30 UTC on 4 July is still 3 July in New York.
    at = datetime(2024, 7, 4, 3, 30, tzinfo=UTC)
    assert business_day(at, THREE_COUNTRIES) == date(2024, 7, 4)
    assert business_day(at, THREE_COUNTRIES, "US") == date(2024, 7, 3)
    assert business_day(at, THREE_COUNTRIES, "UK") == date(2024, 7, 4)


# -- holidays and windows ----------------------------------------------------------------------


def test_holidays_come_from_the_calendar_and_the_org() -> None:
    hours = BusinessHours.model_validate(
        {"holidays": ENGLAND, "extra_holidays": ["2026-12-24", date(2026, 12, 31)]}
    )
    assert is_holiday(date(2026, 4, 3), hours)  # Good Friday
    assert is_holiday(date(2026, 12, 28), hours)  # Boxing Day, observed on the Monday
    assert is_holiday(date(2026, 12, 24), hours) and is_holiday(date(2026, 12, 31), hours)
    assert not is_holiday(date(2026, 12, 23), hours)
    scotland = BusinessHours.model_validate({"holidays": {"country": "gb", "subdivision": "sct"}})
    assert not is_holiday(date(2026, 4, 6), scotland)  # no Easter Monday in Scotland
    assert is_holiday(date(2026, 1, 2), scotland)


def test_a_half_day_closes_the_window_early() -> None:
    hours = BusinessHours.model_validate(
        {"time_zone": "Europe/London", "half_days": {"2026-12-23": "13:00"}}
    )
    morning = datetime(2026, 12, 23, 12, 0, tzinfo=UTC)  # 12:00 GMT
    assert add_business_minutes(morning, 90, hours) == datetime(2026, 12, 24, 9, 30, tzinfo=UTC)
    assert not is_business_time(datetime(2026, 12, 23, 13, 1, tzinfo=UTC), hours)


def test_a_night_window_runs_into_the_next_day_and_across_the_clock_change() -> None:
    night = BusinessHours.model_validate(
        {"time_zone": "Europe/London", "days": ["sat"], "start": "22:00", "end": "06:00"}
    )
    saturday = datetime(2024, 10, 26, 20, 0, tzinfo=UTC)  # 21:00 BST; clocks go back at 02:00
    # 22:00 BST (21:00 UTC) to 06:00 GMT (06:00 UTC) is nine real hours.
    assert business_minutes_between(saturday, saturday + timedelta(days=1), night) == 540
    assert is_business_time(datetime(2024, 10, 27, 5, 59, tzinfo=UTC), night)
    assert not is_business_time(datetime(2024, 10, 27, 6, 1, tzinfo=UTC), night)


def test_a_night_window_opening_on_a_holiday_does_not_open() -> None:
    night = BusinessHours.model_validate(
        {
            "time_zone": "Europe/London",
            "days": ["sun", "mon", "tue"],
            "start": "22:00",
            "end": "06:00",
            "holidays": ENGLAND,
        }
    )
    # Easter Monday's shift never opens; Sunday's runs into Monday morning.
    sunday = datetime(2026, 4, 5, 22, 0, tzinfo=LONDON)
    assert is_business_time(datetime(2026, 4, 6, 5, 0, tzinfo=LONDON), night)
    assert not is_business_time(datetime(2026, 4, 6, 23, 0, tzinfo=LONDON), night)
    assert add_business_minutes(sunday, 480 + 60, night) == datetime(
        2026, 4, 7, 23, 0, tzinfo=LONDON
    )


def test_night_shifts_half_days_and_a_rep_in_two_pools_with_their_own_hours_load() -> None:
    settings = validate(
        HandoffSettings,
        {
            "business_hours": {
                "start": "22:00",
                "end": "06:00",
                "half_days": {"2026-12-24": "02:00", "2026-12-31": "23:00"},
            },
            "pools": [
                {"name": "UK", "members": ["r1"]},
                {"name": "US", "members": ["r1"], "business_hours": {"time_zone": "EST5EDT"}},
            ],
            "rep_hours": {"r1": {"time_zone": "Europe/Dublin"}},
        },
        "leadsync.toml",
    )
    assert hours_for("r1", settings).time_zone == "Europe/Dublin"
