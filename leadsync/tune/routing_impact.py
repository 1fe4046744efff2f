"""Who would get history's hand-offs: each routed again by the product's own ``route``.

History does not record whom a lead *would* have gone to under another matrix, so the
hand-offs of each config are replayed through ``leadsync.handoff.route`` in entry-time order,
with one ``RoutingState`` carried from one to the next: territory pools matched on the lead's
attributes, member weights (smooth weighted round-robin), daily caps counted per pool's
business day, reps the CRM user list shows inactive skipped, then the fallback owner.

What history cannot say is left out, and ``ASSUMES`` says so on screen: the lead's owner at
the time (so no kept owners) and account owners (so no account matches); without a CRM user
list every pool member counts as an active user.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from leadsync.config.operations import HandoffSettings
from leadsync.engine.scoring import merged_attributes
from leadsync.handoff import (
    Candidates,
    PersonFacts,
    RoutingState,
    members_as_users,
    person_facts,
    route,
)
from leadsync.handoff.facts import Aliases
from leadsync.records import CrmUser
from leadsync.store.history import PersonHistory

#: What the replay cannot know, said in one line under the table.
ASSUMES = (
    "replayed through [handoff] in entry order, without account or kept owners (history has "
    "neither), daily caps per pool business day"
)
#: Added to ``ASSUMES`` when no CRM user list was given.
NO_USERS = "every pool member active (the store has no CRM user list)"
#: The owner key of a hand-off no rule found anyone for.
UNROUTED = "(unrouted)"


@dataclass(frozen=True, slots=True)
class Router:
    """``[handoff]`` and the users it routes among, as ``route`` takes them."""

    settings: HandoffSettings
    candidates: Candidates
    aliases: Aliases | None = None
    nurture_owner: str | None = None
    #: Whether ``candidates`` came from a CRM user list (else every member is assumed active).
    knows_users: bool = False

    @classmethod
    def of(
        cls,
        settings: HandoffSettings,
        users: Iterable[CrmUser] | None = None,
        *,
        aliases: Aliases | None = None,
        nurture_owner: str | None = None,
    ) -> Router:
        """A router over ``users`` (the CRM's list); ``None``: every pool member is an
        active user named by their id."""
        known = members_as_users(settings) if users is None else list(users)
        candidates = Candidates.of(known, never=settings.never_owners)
        return cls(settings, candidates, aliases, nurture_owner, users is not None)

    @property
    def assumes(self) -> str:
        return ASSUMES if self.knows_users else f"{ASSUMES}, {NO_USERS}"

    def name(self, owner: str) -> str:
        """The owner's name from the user list, else their id."""
        user = self.candidates.users.get(owner)
        return user.name if user is not None and user.name else owner


def replay(router: Router, handoffs: Iterable[tuple[datetime, PersonFacts]]) -> list[str]:
    """The owner of each hand-off (``UNROUTED`` when nobody), routed in time order (a tie
    keeps the given order); the result is in that order too."""
    state = RoutingState()
    owners: list[str] = []
    for at, facts in sorted(handoffs, key=lambda item: item[0]):
        decision = route(
            facts,
            router.candidates,
            router.settings,
            state,
            at,
            nurture_owner=router.nurture_owner,
            aliases=router.aliases,
        )
        state = decision.state_updates
        owners.append(decision.owner_id or UNROUTED)
    return owners


def by_month(
    router: Router, handoffs: Iterable[tuple[datetime, PersonFacts]]
) -> dict[str, Counter[str]]:
    """Month of entry (``YYYY-MM``) -> owner -> hand-offs, every month replayed."""
    ordered = sorted(handoffs, key=lambda item: item[0])
    found: dict[str, Counter[str]] = {}
    for (at, _), owner in zip(ordered, replay(router, ordered), strict=True):
        found.setdefault(f"{at:%Y-%m}", Counter())[owner] += 1
    return found


def facts_by_person(
    people: Iterable[PersonHistory], fit_source: str | None, aliases: Aliases | None
) -> dict[str, PersonFacts]:
    """Routing facts per person id (as ``Lead.key`` names them), read from their records as
    the hand-off reads them; without owner or email, which the replay leaves out."""
    return {
        str(h.inputs.person_id): person_facts(
            merged_attributes(h.inputs.records, fit_source), aliases=aliases
        )
        for h in people
    }


def facts_from_values(values: Iterable[tuple[str, str]], aliases: Aliases | None) -> PersonFacts:
    """Routing facts from a ``Lead``'s text values (numbers such as employees are not kept
    there: ``facts_by_person`` reads them all)."""
    return person_facts(dict(values), aliases=aliases)


def top_owners(totals: Mapping[str, int], router: Router, shown: int) -> tuple[list[str], bool]:
    """The reps to show by name (most hand-offs first, then by id), at most ``shown``; the
    fallback owner and ``UNROUTED`` always get their own row. True when others were left."""
    special = {UNROUTED, router.settings.fallback_owner}
    reps = sorted((o for o in totals if o not in special), key=lambda o: (-totals[o], o))
    tail = [o for o in (router.settings.fallback_owner, UNROUTED) if o and o in totals]
    return reps[:shown] + tail, len(reps) > shown
