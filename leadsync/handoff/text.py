"""Small text helpers shared by the task renderers: clipping to CRM limits, local times."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from leadsync.config.operations import BusinessHours, HandoffSettings

#: Salesforce Task.Subject is a 255-character string.
SUBJECT_LIMIT = 255
#: Salesforce Task.Description is a 32,000-character long text area (HubSpot allows more).
BODY_LIMIT = 32_000

READINESS_WORDS = {
    "hand_raiser": "hand-raiser",
    "sales_ready": "sales-ready",
    "unready": "unready",
    "do_not_contact": "do not contact",
}


def clip(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > limit // 2 else cut).rstrip() + "…"


def local_time(at: datetime, hours: BusinessHours | HandoffSettings) -> str:
    """``at`` as a rep reads it, in their hours' time zone: ``Mon 03 Jun 2024 09:05 BST``.

    Given ``[handoff]`` settings, the org's time zone.
    """
    if isinstance(hours, HandoffSettings):
        hours = hours.business_hours
    local = at.astimezone(ZoneInfo(hours.time_zone))
    return f"{local:%a %d %b %Y %H:%M} {local.tzname()}"
