"""The generated org's hidden truth: who converts, and when.

Each live lead (not unqualified) converts with a known propensity over its fit and its
engagement, drawn after its history is generated::

    log-odds = BASE + FIT * boxes + HAND_RAISE * hand_raises + ENGAGEMENT * points / 100
               + normal(0, NOISE)

- ``boxes``: how many of ``config.example.toml``'s ICP boxes the lead meets: a manufacturer,
  under 1,000 employees, in the UK or France, privately owned, a decision maker (C-suite, VP or
  director title), a target account (see ``icp_boxes``);
- ``hand_raises``: its Contact Us and Demo Request submissions (at most two count);
- ``points``: the example config's points for its other engagement: 50 per price-sheet
  submission or webinar registration, 10 per ebook download.

The cycle starts at the lead's first activity (its creation without any) and lasts a delay
drawn from a gamma distribution (median about 57 days, 20 to 88 days, so inside the report's
90-day sales cycle); what the lead did before that day drives it. A day after ``now`` has not
come yet: the lead stays open. So ``leadsync report`` on the
synced org shows good-fit hand-raisers converting best, and ``leadsync tune`` recovers the
drivers: the hand-raise rules strongest, then price sheet and webinars, blog views and email
opens nothing, every ICP box positive. The draws use their own random stream, so the rest of
the org is what the seed always gave.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

#: A campaign membership as the truth reads it: (campaign name, campaign type, status,
#: responded, when).
Membership = tuple[str, str, str, bool, datetime]

#: The hidden model (log-odds).
BASE = -5.4
FIT = 1.0
HAND_RAISE = 2.0
ENGAGEMENT = 2.0
NOISE = 0.5
#: Most hand-raises that add to the propensity (a third form adds nothing new).
HAND_RAISE_CAP = 2
#: Sales cycle after the last engagement: gamma(shape, scale) days, bounded.
CYCLE_SHAPE = 6.0
CYCLE_SCALE_DAYS = 10.0
CYCLE_MIN_DAYS = 20.0
CYCLE_MAX_DAYS = 88.0

#: Campaigns whose submission raises a hand, and the example config's points for the rest.
HAND_RAISE_CAMPAIGNS = frozenset({"Contact Us", "Demo Request"})
ENGAGEMENT_POINTS = {"Price Sheet Download": 50, "Ebook: Smart Factory Guide": 10}
WEBINAR_POINTS = 50
EBOOK_POINTS = 10

_MANUFACTURING = frozenset({"manufacturing", "industrial machinery", "mfg", "manufacturer"})
_UK_FRANCE = frozenset(
    {"united kingdom", "uk", "gb", "great britain", "england", "france", "fr", "royaume-uni"}
)
_TARGETS = ("acme engineering", "globex.co.uk")
_DECISION_MAKER = re.compile(
    r"\b(ceo|cfo|coo|cto|cio|chief|founder|president|vp|svp|vice president|director|dir\.?)\b",
    re.IGNORECASE,
)


def icp_boxes(lead: Mapping[str, Any]) -> int:
    """How many of ``config.example.toml``'s ICP boxes a Lead row meets."""
    industry = str(lead.get("Industry") or "").strip().casefold()
    employees = lead.get("NumberOfEmployees")
    country = str(lead.get("Country") or "").strip().casefold()
    ownership = lead.get("Ownership__c")
    title = str(lead.get("Title") or "")
    place = f"{lead.get('Company') or ''} {lead.get('Website') or ''}".casefold()
    return sum(
        (
            industry in _MANUFACTURING,
            isinstance(employees, int) and employees < 1000,
            country in _UK_FRANCE,
            ownership is not None and ownership != "Public",
            bool(_DECISION_MAKER.search(title)),
            any(target in place for target in _TARGETS),
        )
    )


def engagement_of(memberships: Iterable[Membership], before: datetime) -> tuple[int, float]:
    """(hand-raises, engagement points) of a lead's campaign memberships before ``before``."""
    hand_raises, points = 0, 0.0
    for name, kind, status, responded, when in memberships:
        if not responded or when >= before:
            continue
        if name in HAND_RAISE_CAMPAIGNS:
            hand_raises += 1
        elif kind == "Webinar" and status == "Registered":
            points += WEBINAR_POINTS
        elif name.startswith("Price"):
            points += ENGAGEMENT_POINTS["Price Sheet Download"]
        elif name.startswith("Ebook"):
            points += EBOOK_POINTS
    return hand_raises, points


def propensity(boxes: int, hand_raises: int, points: float, noise: float) -> float:
    """The hidden probability of converting."""
    logit = (
        BASE
        + FIT * boxes
        + HAND_RAISE * min(hand_raises, HAND_RAISE_CAP)
        + ENGAGEMENT * points / 100
        + noise
    )
    return 1 / (1 + math.exp(-logit))


def draw_conversion(
    rng: random.Random,
    boxes: int,
    memberships: Sequence[Membership],
    created: datetime,
    now: datetime,
) -> datetime | None:
    """When the lead converts, or ``None``: it does not, or not yet (the day is after
    ``now``). The cycle starts at its first activity (its creation without any); what it did
    before the day of converting is what drives it."""
    entered = min((m[4] for m in memberships), default=created)
    days = min(max(rng.gammavariate(CYCLE_SHAPE, CYCLE_SCALE_DAYS), CYCLE_MIN_DAYS), CYCLE_MAX_DAYS)
    when = entered + timedelta(days=days)
    hand_raises, points = engagement_of(memberships, when)
    chance = propensity(boxes, hand_raises, points, rng.gauss(0, NOISE))
    converts = rng.random() < chance
    return when if converts and when <= now else None


def converted_emails(leads: Iterable[Mapping[str, Any]]) -> dict[str, datetime]:
    """Email -> the day its Lead converted (midnight UTC, as ``ConvertedDate`` reads), for
    the HubSpot portal's shared people."""
    out: dict[str, datetime] = {}
    for lead in leads:
        day, email = lead.get("ConvertedDate"), lead.get("Email")
        if lead.get("IsConverted") and isinstance(email, str) and isinstance(day, date):
            moment = datetime(day.year, day.month, day.day, tzinfo=UTC)
            out[email] = min(moment, out.get(email, moment))
    return out
