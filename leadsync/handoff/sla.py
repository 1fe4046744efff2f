"""Business-time arithmetic for the hand-off SLA, in the time zone of the hours given.

Business time is every instant whose wall-clock time in ``time_zone`` falls in a window: from
``start`` on one of ``days`` that is not a holiday, to ``end`` that day, or the next day when
``end`` is not after ``start`` (windows are closed: 17:00 itself is business time). Business
minutes are real elapsed minutes, so DST is exact: a window the clocks shorten is shorter, a
wall time the clocks skip never happens (the window opens at the jump), and a wall time that
happens twice counts both times. Whose hours apply is ``leadsync.handoff.hours``'s business.

Windows are found per stretch of constant UTC offset, where wall time is UTC plus the offset:
that handles every zone of the tz database without special cases for gaps and folds.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from leadsync.config.operations import BusinessHours, HandoffSettings, SlaSettings
from leadsync.handoff.hours import hours_for, window_on
from leadsync.records import ActivityRecord

#: Activity kinds logged by a rep that count as touching a lead. "email" is what the
#: Salesforce mapping calls a logged Email task; "email_sent" a sales email elsewhere.
SALES_TOUCH_KINDS = frozenset({"task", "call", "meeting", "email", "email_sent"})


def _aware(at: datetime, name: str) -> datetime:
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware (got naive {at.isoformat()})")
    return at.astimezone(UTC)


#: Offset changes are searched at this step; no zone changes its offset twice within it.
_PROBE = timedelta(hours=6)
#: Longest stretch examined at once when a zone has no offset change in sight.
_CHUNK = timedelta(days=7)


def _offset(at: datetime, zone: ZoneInfo) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None  # a ZoneInfo always knows its offset
    return offset


def _stretch_end(begin: datetime, zone: ZoneInfo) -> datetime:
    """The next offset change after ``begin``, or ``begin + _CHUNK`` if none comes sooner."""
    offset = _offset(begin, zone)
    probe, limit = begin, begin + _CHUNK
    while probe < limit:
        ahead = min(probe + _PROBE, limit)
        if _offset(ahead, zone) != offset:
            low, high = probe, ahead
            while high - low > timedelta(microseconds=1):
                middle = low + (high - low) / 2
                if _offset(middle, zone) == offset:
                    low = middle
                else:
                    high = middle
            return high
        probe = ahead
    return limit


def _pieces(since: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business intervals of each constant-offset stretch from ``since``, unmerged."""
    zone = ZoneInfo(hours.time_zone)
    # A window past midnight may have opened the day before the stretch's first date.
    lookback = timedelta(days=1 if hours.end < hours.start else 0)
    begin = since
    while True:
        end = _stretch_end(begin, zone)
        offset = _offset(begin, zone)
        day, last = (begin + offset).date() - lookback, (end + offset).date()
        while day <= last:
            window = window_on(day, hours)
            if window is not None:
                opens = window[0].replace(tzinfo=UTC) - offset
                closes = window[1].replace(tzinfo=UTC) - offset
                low, high = max(opens, begin), min(closes, end)
                if low <= high:
                    yield low, high
            day += timedelta(days=1)
        begin = end


def windows(start: datetime, hours: BusinessHours) -> Iterator[tuple[datetime, datetime]]:
    """Business windows (UTC, closed) that end at or after ``start``, in order, without end."""
    since = _aware(start, "start") - timedelta(days=1)
    pending: tuple[datetime, datetime] | None = None
    for low, high in _pieces(since, hours):
        if pending is not None and low <= pending[1]:
            pending = (pending[0], max(pending[1], high))
            continue
        if pending is not None and pending[1] >= start:
            yield pending
        pending = (low, high)


def is_business_time(at: datetime, hours: BusinessHours) -> bool:
    """Whether ``at`` falls inside a business window (both ends included)."""
    moment = _aware(at, "at")
    opens, _ = next(windows(moment, hours))
    return opens <= moment


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


def due_at(
    readiness: str, settings: HandoffSettings, now: datetime, *, owner_id: str | None = None
) -> datetime:
    """When the first sales touch is due for a lead handed to ``owner_id`` at ``now`` (UTC).

    The SLA runs in the owner's business hours (``hours_for``); without an owner, the org's.
    """
    hours = hours_for(owner_id, settings)
    return add_business_minutes(now, sla_minutes(readiness, settings.sla), hours)


def sla_breached(
    handed_off_at: datetime,
    due_at: datetime,
    touches: Iterable[datetime],
    now: datetime,
    hours: BusinessHours | None = None,
) -> bool:
    """Whether the SLA is missed: ``now`` is past ``due_at`` with no touch in between.

    A touch counts from the hand-off to the due time, both included; a touch after the due
    time does not undo the breach (the caller stops watching once a touch is recorded).
    With ``hours`` (those of whoever holds the lead) a due time outside them moves to their
    next business minute: a due time set before a holiday was added, or under another rep's
    hours, never breaches on the holder's holiday or night.
    """
    start, due, current = (
        _aware(handed_off_at, "handed_off_at"),
        _aware(due_at, "due_at"),
        _aware(now, "now"),
    )
    if hours is not None:
        due = add_business_minutes(due, 0, hours)
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
