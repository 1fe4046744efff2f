"""``leadsync check`` for the people a config names: pool members, fallback and nurture owners.

A configured id the CRM does not know, a rep who left, or a queue where a rep is expected is
caught before the first hand-off, with the config key to fix.
"""

from __future__ import annotations

from collections.abc import Iterable

from leadsync.config.operations import HandoffSettings, RecycleSettings
from leadsync.records import CheckProblem, CrmUser


def check_owners(
    handoff: HandoffSettings, recycle: RecycleSettings, users: Iterable[CrmUser]
) -> list[CheckProblem]:
    """Problems with the owners the config names, against the sales CRM's users and queues."""
    known = {u.id: u for u in users}
    problems: list[CheckProblem] = []
    if handoff.enabled:
        for pool in handoff.pools:
            key = f"[[handoff.pools]] {pool.name!r} members"
            for member in pool.members:
                user = known.get(member)
                if user is None:
                    problems.append(_unknown(key, member))
                elif user.is_queue:
                    problems.append(
                        CheckProblem(
                            "config", key, f"{user.name} ({member}) is a queue, not a rep",
                            "list sales users in pools; put a queue in fallback_owner",
                        )
                    )  # fmt: skip
                elif not user.active:
                    problems.append(
                        CheckProblem(
                            "config", key, f"{user.name} ({member}) is inactive in the CRM",
                            "remove them from the pool (hand-offs skip them meanwhile)",
                        )
                    )  # fmt: skip
        if handoff.fallback_owner:
            problems.extend(_owner("[handoff] fallback_owner", handoff.fallback_owner, known))
    if recycle.enabled and recycle.nurture_owner:
        problems.extend(_owner("[recycle] nurture_owner", recycle.nurture_owner, known))
    return problems


def _owner(key: str, owner_id: str, known: dict[str, CrmUser]) -> list[CheckProblem]:
    user = known.get(owner_id)
    if user is None:
        return [_unknown(key, owner_id)]
    if not user.is_queue and not user.active:
        return [
            CheckProblem(
                "config", key, f"{user.name} ({owner_id}) is inactive in the CRM",
                "name an active user or a queue",
            )
        ]  # fmt: skip
    return []


def _unknown(key: str, owner_id: str) -> CheckProblem:
    return CheckProblem(
        "config",
        key,
        f"no user or queue with id {owner_id!r} in the CRM",
        "copy the user's, queue's or owner's id from the CRM's user list and run "
        "`leadsync check` again",
    )
