"""When each Salesforce activity happened, from the most precise stamp the org has.

Every activity carries a best-estimate time and how far before and after it the true instant
may lie (``ActivityRecord.early_s`` / ``late_s``): the do-not-contact rule lifts an opt-out
only for a hand-raise surely after it, so a stamp must never claim more precision than it
has. A date with no time spans its day in any zone, UTC+14 to UTC-12, around noon UTC on it
(``leadsync.model.values.on_date``): Salesforce keeps dates without a zone.

==========================  ================================================  ===============
activity                    time (best estimate)                              bounds
==========================  ================================================  ===============
CampaignMember with a       CreatedDate when never modified since (created    the later of
``FirstRespondedDate``      as responded); else LastModifiedDate when on the  CreatedDate and
(it responded once)         first-responded date (in any zone); else noon     the date's
                            UTC on ``FirstRespondedDate``                     start, to
                                                                              LastModifiedDate
CampaignMember that never   CreatedDate                                       CreatedDate to
responded                                                                     LastModifiedDate
Task (closed only)          CompletedDateTime; else ActivityDate (the due     exact; a date
                            date); else CreatedDate                           spans its day
Event                       StartDateTime; else ActivityDateTime; else        exact
                            CreatedDate
Form submission (custom     the submitted-at field (a datetime, or a date);   exact; a date
object)                     else CreatedDate                                  spans its day
==========================  ================================================  ===============

A member's status was set at or before its last modification (LastModifiedDate, or
SystemModstamp when that cannot be read), never before the member was created: those bound a
status change the date alone cannot place, such as an unsubscribe at 20:00 whose
``FirstRespondedDate`` reads only "some time that day". ``FirstRespondedDate`` dates the
first response, so a later status (Attended after Registered, Unsubscribed after Opened) is
bounded by the last modification, not by the end of that day; it never came before it.
An all-day Event's StartDateTime is read as an instant (Salesforce keeps its date in
ActivityDate): meetings neither opt out nor raise a hand, so nothing turns on their hour.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from leadsync.model.values import spanning

#: When an activity happened: best estimate, and the seconds before and after it that the
#: true instant may lie.
Timing = tuple[datetime, int, int]

_BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")

#: The late bound of a status change nothing bounds: as far as the store holds (68 years).
NO_BOUND_S = 2**31 - 1


def is_date(value: Any) -> bool:
    """Whether a time value as Salesforce sent it is a date with no time (``2024-03-04``)."""
    if isinstance(value, str):
        return _BARE_DATE.fullmatch(value.strip()) is not None
    return isinstance(value, date) and not isinstance(value, datetime)


def member_timing(
    created: datetime | None, changed: datetime | None, first_responded: Timing | None
) -> Timing | None:
    """When a campaign member reached its current status.

    ``created`` is its CreatedDate, ``changed`` its last modification, ``first_responded``
    the span of its FirstRespondedDate (``on_date``) when it responded. None when nothing
    places it: neither a creation time nor a response date."""
    if first_responded is None:
        if created is None:
            return None
        if changed is None:  # set at some unknown time after it was created
            return created, 0, NO_BOUND_S
        return spanning(created, created, max(created, changed))
    noon, early, late = first_responded
    day_start, day_end = noon - timedelta(seconds=early), noon + timedelta(seconds=late)
    earliest = max(created, day_start) if created is not None else day_start
    if changed is None:
        return spanning(noon, earliest, day_end)
    if created is not None and changed == created:
        best = created  # never modified since it was created, as responded
    elif day_start <= changed <= day_end:
        best = changed  # the response is most likely what modified it last
    else:
        best = noon
    return spanning(best, earliest, max(changed, earliest))
