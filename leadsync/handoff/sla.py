"""Business-time arithmetic for the hand-off SLA, in the admin's time zone.

A business window is ``[start, end]`` wall-clock time on each configured weekday. Business
minutes are real elapsed minutes inside windows, so a window that a DST change shortens
counts the time that really passed. Wall times a DST change makes ambiguous widen the window
(the earlier ``start``, the later ``end``); wall times it skips start or end the window at
the instant of the change.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from leadsync.config.operations import BusinessHours, HandoffSettings, SlaSettings
from leadsync.records import ActivityRecord

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Activity kinds that are a sales touch when the owner logged them.
SALES_TOUCH_KINDS = frozenset({"task", "call", "meeting", "email_sent"})


def _aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {at.isoformat()})")
    return at.astimezone(UTC)


def _wall_to_utc(day: date, wall: time, zone: ZoneInfo, *, latest: bool) -> datetime:
    """The UTC instant of a wall-clock time; see the module docstring for DST edges."""
    early = datetime.combine(day, wall, tzinfo=zone).astimezone(UTC)
    late = datetime.combine(day, wall, tzinfo=zone).replace(fold=1).astimezone(UTC)
    exists = early.astimezone(zone).replace(tzinfo=None) == datetime.combine(day, wall)
    if exists:
        return max(early, late) if latest else min(early, late)
    # Skipped wall time: the clock jumped over it between ``late`` and ``early``. Find the
    # jump to the second; offsets change on whole seconds in every tz database zone.
    low, high = min(early, late), max(early, late)
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def windows(start: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business windows (UTC) that end after ``start``, in order, without end."""
    zone = ZoneInfo(hours.time_zone)
    days = {_WEEKDAYS.index(d) for d in hours.days}
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        if day.weekday() in days:
            opens = _wall_to_utc(day, hours.start, zone, latest=False)
            closes = _wall_to_utc(day, hours.end, zone, latest=True)
            if closes > start and closes > opens:
                yield opens, closes
        day += timedelta(days=1)


def is_business_time(at: datetime, hours: BusinessHours) -> bool:
    """Whether ``at`` falls inside a business window (both ends included)."""
    local = _aware(at, "at").astimezone(ZoneInfo(hours.time_zone))
    return _WEEKDAYS[local.weekday()] in hours.days and hours.start <= local.time() <= hours.end


def add_business_minutes(start: datetime, minutes: float, hours: BusinessHours) -> datetime:
    """The instant ``minutes`` business minutes after ``start`` (UTC).

    Time before the next window does not count, so a lead handed off on Friday evening with
    a 5-minute SLA is due at 09:05 on Monday.
    """
    if minutes < 0:
        raise ValueError(f"minutes must not be negative (got {minutes})")
    cursor = _aware(start, "start")
    remaining = timedelta(minutes=minutes)
    for opens, closes in windows(cursor, hours):
        begin = max(opens, cursor)
        if remaining <= closes - begin:
            return begin + remaining
        remaining -= closes - begin
    raise AssertionError("windows() never ends")  # pragma: no cover - the loop only returns


def business_minutes_between(start: datetime, end: datetime, hours: BusinessHours) -> float:
    """Business minutes from ``start`` to ``end`` (0 when ``end`` is not after ``start``)."""
    begin, finish = _aware(start, "start"), _aware(end, "end")
    total = timedelta()
    if finish <= begin:
        return 0.0
    for opens, closes in windows(begin, hours):
        if opens >= finish:
            break
        total += min(closes, finish) - max(opens, begin)
    return total.total_seconds() / 60


def sla_minutes(readiness: str, sla: SlaSettings) -> int:
    """Business minutes sales has for a lead of this readiness (hand-raisers get the short one)."""
    return sla.hand_raiser if readiness == "hand_raiser" else sla.sales_ready


def due_at(readiness: str, settings: HandoffSettings, now: datetime) -> datetime:
    """When the first sales touch is due for a lead handed off at ``now`` (UTC)."""
    return add_business_minutes(now, sla_minutes(readiness, settings.sla), settings.business_hours)


def sla_breached(
    handed_off_at: datetime, due_at: datetime, touches: Iterable[datetime], now: datetime
) -> bool:
    """Whether the SLA is missed: ``now`` is past ``due_at`` with no touch in between.

    A touch counts from the hand-off to the due time, both included; a touch after the due
    time does not undo the breach (the caller stops watching once a touch is recorded).
    """
    start, due, current = (
        _aware(handed_off_at, "handed_off_at"),
        _aware(due_at, "due_at"),
        _aware(now, "now"),
    )
    if current <= due:
        return False
    return not any(start <= _aware(t, "touch") <= due for t in touches)


def sales_touches(
    activities: Iterable[ActivityRecord], owner_id: str, since: datetime
) -> list[datetime]:
    """When the owner touched the person since ``since``: tasks, calls, meetings, emails.

    A status change by sales is a touch too; the caller adds its time, since status history
    is not an activity.
    """
    start = _aware(since, "since")
    return sorted(
        _aware(a.occurred_at, "occurred_at")
        for a in activities
        if not a.deleted
        and a.kind in SALES_TOUCH_KINDS
        and a.actor_id == owner_id
        and _aware(a.occurred_at, "occurred_at") >= start
    )
