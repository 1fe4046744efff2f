"""Whose business hours apply, and which days are holidays.

Hours resolve in three layers, each changing only the keys it gives: ``[handoff.business_hours]``
(the org), a pool's ``business_hours`` (its members), ``[handoff.rep_hours."<user id>"]`` (one
rep). A rep's hours are their own, whichever pool gave them a lead, so the due time, the breach
check and the "minutes late" of one hand-off all use the same hours: their first pool in file
order (the config refuses a rep in pools with different hours unless ``rep_hours`` says which),
with their ``rep_hours`` keys on top. A daily cap counts in its pool's day.

Public holidays come from the ``holidays`` library, computed once per calendar and year.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays as holiday_lib

from leadsync.config.operations import BusinessHours, HandoffSettings

_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def hours_for(owner_id: str | None, settings: HandoffSettings) -> BusinessHours:
    """The business hours of ``owner_id``: rep keys over their first pool's over the org's.

    An owner in no pool (an account owner, a fallback queue) keeps the org's hours, with their
    ``rep_hours`` keys if any; ``None`` (nobody yet) is the org's hours.
    """
    if owner_id is None:
        return settings.business_hours
    home = next((p.name for p in settings.pools if owner_id in p.members), None)
    base = pool_hours(home, settings)
    override = settings.rep_hours.get(owner_id)
    return override.over(base) if override is not None else base


def pool_hours(pool: str | None, settings: HandoffSettings) -> BusinessHours:
    """The hours of the pool named ``pool`` (the org's for ``None`` or an unknown name)."""
    found = next((p for p in settings.pools if p.name == pool), None)
    if found is None or found.business_hours is None:
        return settings.business_hours
    return found.business_hours.over(settings.business_hours)


def local_day(at: datetime, hours: BusinessHours) -> date:
    """The date ``at`` falls on in the hours' time zone."""
    return at.astimezone(ZoneInfo(hours.time_zone)).date()


@lru_cache(maxsize=512)
def _public_holidays(country: str, subdivision: str | None, year: int) -> frozenset[date]:
    # Observed days included: a Christmas on a Saturday gives the Monday off.
    calendar = holiday_lib.country_holidays(country, subdiv=subdivision, years=year)
    return frozenset(calendar.keys())


def is_holiday(day: date, hours: BusinessHours) -> bool:
    """Whether ``day`` is a public holiday of the hours' calendars or one of the org's own."""
    if day in hours.extra_holidays:
        return True
    return any(day in _public_holidays(c.country, c.subdivision, day.year) for c in hours.holidays)


def window_on(day: date, hours: BusinessHours) -> tuple[datetime, datetime] | None:
    """The wall-clock (naive) window that opens on ``day``, or ``None`` when none does.

    The window closes the next day when its closing time is not after ``start`` (a night
    shift); a half day closes it at the time given for ``day``.
    """
    if _WEEKDAYS[day.weekday()] not in hours.days or is_holiday(day, hours):
        return None
    close: time = hours.half_days.get(day, hours.end)
    closes_on = day if close > hours.start else day + timedelta(days=1)
    return datetime.combine(day, hours.start), datetime.combine(closes_on, close)
