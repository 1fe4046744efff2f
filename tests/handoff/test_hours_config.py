"""``[handoff.business_hours]``, pools' ``business_hours`` and ``[handoff.rep_hours]``: what
loads, and errors that name the key and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from leadsync.config.loading import validate
from leadsync.config.operations import HandoffSettings
from leadsync.errors import ConfigError


def _config_error(**handoff: Any) -> str:
    with pytest.raises(ConfigError) as caught:
        validate(HandoffSettings, handoff, "leadsync.toml")
    return str(caught.value)


@pytest.mark.parametrize(
    ("handoff", "expected"),
    [
        (
            {"business_hours": {"start": "09:00", "end": "09:00"}},
            "leadsync.toml: business_hours: start and end are both 09:00:00",
        ),
        (
            {"business_hours": {"holidays": {"country": "England"}}},
            "leadsync.toml: business_hours.holidays[0]: country 'ENGLAND' has no holiday "
            "calendar; use an ISO 3166 alpha-2 code such as GB",
        ),
        (
            {"business_hours": {"holidays": {"country": "GB", "subdivision": "England"}}},
            "subdivision 'ENGLAND' is not one of GB's; allowed: ENG, NIR, SCT, WLS",
        ),
        (
            {"business_hours": {"extra_holidays": ["24/12/2026"]}},
            "leadsync.toml: business_hours.extra_holidays[0]: not a date; write YYYY-MM-DD",
        ),
        (
            {"business_hours": {"half_days": {"2026-12-24": "18:00"}}},
            "half_days 2026-12-24: 18:00:00 is not inside the window 09:00:00 to 17:00:00",
        ),
        (
            {"business_hours": {"days": []}},
            "leadsync.toml: business_hours.days: days must name at least one weekday",
        ),
        (
            {"pools": [{"name": "UK", "members": ["r1"], "business_hours": {"tme_zone": "UTC"}}]},
            "leadsync.toml: pools[0].business_hours.tme_zone: unknown key",
        ),
        (
            {"pools": [{"name": "UK", "members": ["r1"], "business_hours": {"end": "09:00"}}]},
            "leadsync.toml: (top level): pools[0].business_hours (pool UK): start and end are both",
        ),
        (
            {"rep_hours": {"r9": {"time_zone": "Mars/Olympus"}}},
            "leadsync.toml: rep_hours.r9.time_zone: not an IANA time zone",
        ),
        (
            {"rep_hours": {"r9": {"start": "17:00"}}},
            "rep_hours.r9: start and end are both 17:00:00",
        ),
        (
            {
                "pools": [
                    {"name": "UK", "members": ["r1"]},
                    {"name": "US", "members": ["r1"], "business_hours": {"time_zone": "EST5EDT"}},
                ]
            },
            "r1 is a member of pools UK, US, whose business_hours differ; add "
            '[handoff.rep_hours."r1"]',
        ),
    ],
)
def test_config_errors_name_the_key_and_what_is_allowed(
    handoff: dict[str, Any], expected: str
) -> None:
    assert expected in _config_error(**handoff)
