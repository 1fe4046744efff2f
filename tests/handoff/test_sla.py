"""Business-time SLA math: weekends, time zones, DST, and the breach test."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from holidays import country_holidays
from hypothesis import example, given, settings
from hypothesis import strategies as st

from leadsync.config.operations import BusinessHours
from leadsync.handoff import (
    add_business_minutes,
    business_minutes_between,
    due_at,
    is_business_time,
    sales_touches,
    sla_breached,
)
from leadsync.records import ActivityRecord, RecordRef
from tests.handoff.factories import handoff_settings

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")


def _london(**values: object) -> BusinessHours:
    base: dict[str, object] = {"time_zone": "Europe/London", "end": "17:30"}
    base.update(values)
    return BusinessHours.model_validate(base)


def _at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)  # type: ignore[misc]


def test_hand_raiser_inside_business_hours_is_due_in_five_minutes() -> None:
    settings = handoff_settings(business_hours={"time_zone": "Europe/London"})
    now = _at(LONDON, 2024, 6, 5, 10, 0)
    assert due_at("hand_raiser", settings, now) == now + timedelta(minutes=5)


def test_friday_evening_hand_raiser_is_due_monday_morning() -> None:
    settings = handoff_settings(business_hours={"time_zone": "Europe/London"})
    friday_evening = _at(LONDON, 2024, 6, 7, 18, 0)
    due = due_at("hand_raiser", settings, friday_evening)
    assert due == _at(LONDON, 2024, 6, 10, 9, 5)
    assert due.tzinfo == UTC


def test_sales_ready_gets_one_business_day_carried_over_the_weekend() -> None:
    settings = handoff_settings(business_hours={"time_zone": "Europe/London", "end": "17:30"})
    friday_late = _at(LONDON, 2024, 6, 7, 16, 0)  # 90 minutes left on Friday
    assert due_at("sales_ready", settings, friday_late) == _at(LONDON, 2024, 6, 10, 15, 30)


def test_business_day_in_another_time_zone() -> None:
    settings = handoff_settings(business_hours={"time_zone": "America/New_York"})
    # 14:00 UTC is 10:00 in New York (EDT) but already 15:00 in London.
    now = datetime(2024, 6, 5, 14, 0, tzinfo=UTC)
    assert due_at("sales_ready", settings, now) == _at(NEW_YORK, 2024, 6, 6, 10, 0)


def test_weekend_business_days_when_configured() -> None:
    hours = _london(days=("sat", "sun"))
    friday = _at(LONDON, 2024, 6, 7, 12, 0)
    assert add_business_minutes(friday, 30, hours) == _at(LONDON, 2024, 6, 8, 9, 30)


def test_sla_over_the_spring_dst_change() -> None:
    hours = _london()
    friday = _at(LONDON, 2024, 3, 29, 17, 0)  # GMT; the clocks go forward on Sunday
    due = add_business_minutes(friday, 480, hours)
    assert due == _at(LONDON, 2024, 4, 1, 16, 30)  # BST
    assert due == datetime(2024, 4, 1, 15, 30, tzinfo=UTC)


def test_a_window_the_clock_change_shortens_counts_real_time() -> None:
    night = BusinessHours.model_validate(
        {"time_zone": "Europe/London", "days": ["sun"], "start": "00:00", "end": "06:00"}
    )
    spring = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
    assert business_minutes_between(spring, spring + timedelta(days=1), night) == 300
    autumn = datetime(2024, 10, 26, 23, 0, tzinfo=UTC)  # 00:00 BST
    assert business_minutes_between(autumn, autumn + timedelta(days=1), night) == 420


def test_a_skipped_start_opens_at_the_clock_change() -> None:
    skipped = BusinessHours.model_validate(
        {"time_zone": "Europe/London", "days": ["sun"], "start": "01:30", "end": "06:00"}
    )
    sunday = datetime(2024, 3, 31, 0, 0, tzinfo=UTC)
    # 01:30 never happens that night: the window opens at 01:00 UTC, when 01:00 GMT became
    # 02:00 BST.
    assert add_business_minutes(sunday, 60, skipped) == datetime(2024, 3, 31, 2, 0, tzinfo=UTC)
    assert is_business_time(datetime(2024, 3, 31, 1, 0, tzinfo=UTC), skipped)
    assert not is_business_time(datetime(2024, 3, 31, 0, 59, tzinfo=UTC), skipped)


def test_a_repeated_hour_counts_both_times_it_happens() -> None:
    repeated = BusinessHours.model_validate(
        {"time_zone": "Europe/London", "days": ["sun"], "start": "00:00", "end": "01:30"}
    )
    saturday = datetime(2024, 10, 26, 22, 0, tzinfo=UTC)
    # 00:00-01:30 BST is 23:00-00:30 UTC; then the clocks go back at 01:00 UTC and
    # 01:00-01:30 GMT happens again. 01:30-02:00 BST, in between, is after hours.
    assert business_minutes_between(saturday, saturday + timedelta(hours=6), repeated) == 120
    assert not is_business_time(datetime(2024, 10, 27, 0, 45, tzinfo=UTC), repeated)
    assert is_business_time(datetime(2024, 10, 27, 1, 15, tzinfo=UTC), repeated)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add_business_minutes(datetime(2024, 6, 5, 10, 0), 5, _london())


def test_sla_breached_only_without_a_touch_in_time() -> None:
    handed = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)
    due = handed + timedelta(minutes=5)
    late = due + timedelta(minutes=1)
    assert not sla_breached(handed, due, [], due)
    assert sla_breached(handed, due, [], late)
    assert not sla_breached(handed, due, [handed + timedelta(minutes=3)], late)
    assert not sla_breached(handed, due, [due], late)
    assert sla_breached(handed, due, [late], late + timedelta(minutes=1))
    assert sla_breached(handed, due, [handed - timedelta(minutes=1)], late)


def test_sales_touches_are_the_owners_own_activities_since_the_handoff() -> None:
    since = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)

    def activity(kind: str, actor: str | None, minutes: int, deleted: bool = False):  # type: ignore[no-untyped-def]
        at = since + timedelta(minutes=minutes)
        return ActivityRecord(
            ref=RecordRef("salesforce", "Task", f"{kind}{actor}{minutes}"),
            kind=kind,
            occurred_at=at,
            modified_at=at,
            actor_id=actor,
            deleted=deleted,
        )

    touches = sales_touches(
        [
            activity("call", "r1", 10),
            activity("task", "r1", 5),
            activity("call", "r2", 3),  # someone else
            activity("email_open", "r1", 2),  # the lead's own engagement
            activity("meeting", "r1", -5),  # before the hand-off
            activity("call", "r1", 1, deleted=True),
        ],
        "r1",
        since,
    )
    assert touches == [since + timedelta(minutes=5), since + timedelta(minutes=10)]


@settings(max_examples=150, deadline=None)
@given(
    touch_s=st.integers(-3, 3) | st.integers(297, 303) | st.integers(-900, 1200),
    late_s=st.integers(1, 600),
)
@example(touch_s=0, late_s=60)  # a touch exactly at the hand-off
@example(touch_s=300, late_s=60)  # ... exactly at the due time
@example(touch_s=-1, late_s=60)
@example(touch_s=301, late_s=60)
def test_a_touch_counts_from_the_hand_off_to_the_due_time_both_included(
    touch_s: int, late_s: int
) -> None:
    """A rep's call ``touch_s`` seconds after the hand-off (due 5 minutes after it), checked
    ``late_s`` seconds past the due time."""
    handed = datetime(2024, 6, 5, 10, 0, tzinfo=UTC)
    due = handed + timedelta(minutes=5)
    at = handed + timedelta(seconds=touch_s)
    call = ActivityRecord(
        ref=RecordRef("salesforce", "Task", "t1"),
        kind="call",
        occurred_at=at,
        modified_at=at,
        actor_id="r1",
    )
    touches = sales_touches([call], "r1", handed)
    assert touches == ([at] if touch_s >= 0 else [])
    in_time = 0 <= touch_s <= 300
    assert sla_breached(handed, due, [at], due + timedelta(seconds=late_s)) is not in_time
    assert sla_breached(handed, due, touches, due + timedelta(seconds=late_s)) is not in_time
    assert not sla_breached(handed, due, [], due)  # not yet past due


ZONES = [
    "UTC",
    "Europe/London",
    "America/New_York",
    "Australia/Sydney",
    "America/Santiago",  # changes at midnight
    "Asia/Kolkata",
    "Pacific/Chatham",  # a 45-minute offset
    "Australia/Lord_Howe",  # a 30-minute DST shift
]
#: Public-holiday calendars (none, national, with a subdivision) the hours may follow.
CALENDARS: list[tuple[dict[str, str], ...]] = [
    (),
    ({"country": "GB", "subdivision": "ENG"},),
    ({"country": "US"},),
    ({"country": "DE", "subdivision": "BY"},),
    ({"country": "AU", "subdivision": "NSW"},),
    ({"country": "CL"},),
    ({"country": "GB", "subdivision": "SCT"}, {"country": "IE"}),
]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
MINUTES_TO_2030 = 10 * 366 * 24 * 60
DAY = 24 * 60

instants = st.integers(0, MINUTES_TO_2030).map(lambda m: EPOCH + timedelta(minutes=m))


def _clock(minute: int) -> time:
    return time(minute // 60, minute % 60)


@st.composite
def cases(draw: st.DrawFn) -> tuple[BusinessHours, datetime]:
    """Hours (same-day or past-midnight windows, holidays, half days) and an instant near
    which the org's own holidays and half days fall, so they matter."""
    now = draw(instants)
    start = draw(st.integers(0, DAY - 1))
    end = draw(st.integers(0, DAY - 1).filter(lambda e: e != start))
    length = (end - start) % DAY  # minutes the window lasts; past midnight when end < start
    near = st.integers(-2, 20).map(lambda d: now.date() + timedelta(days=d))
    half_days = draw(
        st.dictionaries(near, st.integers(1, length).map(lambda k: _clock((start + k) % DAY)))
    )
    hours = BusinessHours.model_validate(
        {
            "time_zone": draw(st.sampled_from(ZONES)),
            "days": draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True)),
            "start": _clock(start),
            "end": _clock(end),
            "holidays": draw(st.sampled_from(CALENDARS)),
            "extra_holidays": draw(st.lists(near, max_size=6, unique=True)),
            "half_days": half_days,
        }
    )
    return hours, now


@settings(max_examples=300, deadline=None)
@given(case=cases(), minutes=st.integers(1, 5000))
@example(  # Santiago's clocks go back at midnight: 23:44-23:45 happens twice that Saturday
    case=(
        BusinessHours(
            time_zone="America/Santiago",
            days=("mon", "tue", "wed", "thu", "fri", "sat"),
            start=time(23, 44),
            end=time(23, 45),
        ),
        EPOCH,
    ),
    minutes=84,
)
def test_due_is_never_before_now_and_always_in_business_hours(
    case: tuple[BusinessHours, datetime], minutes: int
) -> None:
    hours, now = case
    due = add_business_minutes(now, minutes, hours)
    assert due >= now
    assert is_business_time(due, hours)
    assert business_minutes_between(now, due, hours) == pytest.approx(minutes)
    # The window holding the due time opened on a working day that is no holiday.
    opened = _window_opened(due, hours)
    assert opened is not None
    assert WEEKDAYS[opened.weekday()] in hours.days and not _holiday(opened, hours)


@settings(max_examples=150, deadline=None)
@given(case=cases(), first=st.integers(0, 3000), second=st.integers(1, 3000))
def test_due_grows_with_the_minutes_and_adds_up(
    case: tuple[BusinessHours, datetime], first: int, second: int
) -> None:
    """Monotonic in N, and N then M business minutes land where N + M do."""
    hours, now = case
    earlier = add_business_minutes(now, first, hours)
    later = add_business_minutes(now, first + second, hours)
    assert earlier < later
    assert add_business_minutes(earlier, second, hours) == later


_HOLIDAYS: dict[tuple[str, str | None, int], set[date]] = {}


def _holiday(day: date, hours: BusinessHours) -> bool:
    """The definition of a closed day, straight from the ``holidays`` library."""
    for calendar in hours.holidays:
        key = (calendar.country, calendar.subdivision, day.year)
        if key not in _HOLIDAYS:
            found = country_holidays(calendar.country, subdiv=calendar.subdivision, years=day.year)
            _HOLIDAYS[key] = set(found)
        if day in _HOLIDAYS[key]:
            return True
    return day in hours.extra_holidays


def _window_opened(at: datetime, hours: BusinessHours) -> date | None:
    """The day whose window holds ``at``, read off the wall clock (the test's own definition,
    independent of the window arithmetic): a window opens at ``start`` on a listed day that
    is not a holiday and closes at ``end`` (or the half day's time), the next day when that
    is not after ``start``."""
    wall = at.astimezone(ZoneInfo(hours.time_zone)).replace(tzinfo=None)
    for opened in (wall.date(), wall.date() - timedelta(days=1)):
        if WEEKDAYS[opened.weekday()] not in hours.days or _holiday(opened, hours):
            continue
        close = hours.half_days.get(opened, hours.end)
        closes_on = opened if close > hours.start else opened + timedelta(days=1)
        if datetime.combine(opened, hours.start) <= wall <= datetime.combine(closes_on, close):
            return opened
    return None


def _wall_clock_business(at: datetime, hours: BusinessHours) -> bool:
    return _window_opened(at, hours) is not None


@settings(max_examples=80, deadline=None)
@given(case=cases(), minutes=st.integers(1, 90))
def test_due_matches_a_minute_by_minute_wall_clock_count(
    case: tuple[BusinessHours, datetime], minutes: int
) -> None:
    """An independent oracle: walk the clock a minute at a time, counting business minutes."""
    hours, now = case
    step, inside = timedelta(minutes=1), timedelta(seconds=59)
    cursor, counted = now, 0
    while counted < minutes:
        if _wall_clock_business(cursor, hours) and _wall_clock_business(cursor + inside, hours):
            counted += 1
        cursor += step
    assert add_business_minutes(now, minutes, hours) == cursor


@settings(max_examples=200, deadline=None)
@given(case=cases(), later=st.integers(0, 30 * DAY), seconds=st.integers(0, 59))
def test_is_business_time_agrees_with_the_wall_clock(
    case: tuple[BusinessHours, datetime], later: int, seconds: int
) -> None:
    hours, now = case
    moment = now + timedelta(minutes=later, seconds=seconds)
    assert is_business_time(moment, hours) == _wall_clock_business(moment, hours)


@settings(max_examples=100, deadline=None)
@given(case=cases(), minutes=st.integers(0, 2000))
def test_business_minutes_never_exceed_the_time_that_passed(
    case: tuple[BusinessHours, datetime], minutes: int
) -> None:
    """Business minutes are real minutes inside windows: never more than elapsed time."""
    hours, now = case
    later = now + timedelta(minutes=minutes)
    counted = business_minutes_between(now, later, hours)
    assert 0 <= counted <= minutes
    if counted == 0 and minutes > 0:
        assert not (
            is_business_time(now, hours) and is_business_time(now + timedelta(minutes=1), hours)
        )
