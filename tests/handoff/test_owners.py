"""``leadsync check`` catches configured owners the CRM does not have, or cannot use."""

from __future__ import annotations

from leadsync.config.operations import HandoffSettings, RecycleSettings
from leadsync.handoff.owners import check_owners
from leadsync.records import CrmUser

USERS = [
    CrmUser("rep-1", "Ann"),
    CrmUser("rep-2", "Bob", active=False),
    CrmUser("q-sales", "Sales queue", is_queue=True),
    CrmUser("q-nurture", "Nurture queue", is_queue=True),
]


def settings(**handoff: object) -> HandoffSettings:
    base: dict[str, object] = {
        "enabled": True,
        "pools": [{"name": "UK", "members": ["rep-1"]}],
        "fallback_owner": "q-sales",
    }
    return HandoffSettings.model_validate({**base, **handoff})


def test_a_valid_setup_has_no_problems() -> None:
    recycle = RecycleSettings(nurture_owner="q-nurture")
    assert check_owners(settings(), recycle, USERS) == []


def test_unknown_inactive_and_queue_members_are_named_with_the_key() -> None:
    problems = check_owners(
        settings(pools=[{"name": "UK", "members": ["rep-1", "rep-2", "ghost", "q-sales"]}]),
        RecycleSettings(),
        USERS,
    )
    text = [str(p) for p in problems]
    assert len(text) == 3
    assert all("[[handoff.pools]] 'UK' members" in t for t in text)
    assert "Bob (rep-2) is inactive" in text[0]
    assert "no user or queue with id 'ghost'" in text[1]
    assert "is a queue, not a rep" in text[2]


def test_fallback_and_nurture_owner_must_exist() -> None:
    problems = check_owners(
        settings(fallback_owner="00Gmissing"), RecycleSettings(nurture_owner="rep-2"), USERS
    )
    text = [str(p) for p in problems]
    assert text[0].startswith("config.[handoff] fallback_owner: no user or queue")
    assert text[1].startswith("config.[recycle] nurture_owner: Bob (rep-2) is inactive")


def test_disabled_sections_are_not_checked() -> None:
    off = settings(enabled=False, fallback_owner="nobody")
    assert check_owners(off, RecycleSettings(enabled=False, nurture_owner="nobody"), []) == []
