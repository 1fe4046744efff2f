"""Whom ``leadsync preview``'s hand-offs would go to, and on which day.

The hand-offs a candidate model would cause are queued at once and drained as the cycles
would drain them: at most ``handoffs_per_cycle`` a cycle, hand-raisers first, then by score
(``leadsync.handoff.queueing``), a cycle every ``interval``; each is routed by the product's
own ``route`` from the store's round-robin state, with the store's account owners and the
record's current owner. The preview calls no CRM, so it has no user list: every pool member
(and a record's current owner) counts as an active user, which ``ASSUMES`` says on screen.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from leadsync.emails import FREE_MAIL_DOMAINS, email_domain
from leadsync.engine.act import ActSettings
from leadsync.handoff import Candidates, PersonFacts, RoutingState, members_as_users, route
from leadsync.handoff.queueing import priority_key
from leadsync.store import Store
from leadsync.store import handoffs as ledger

#: What the routing of previewed hand-offs cannot know, said under its table.
ASSUMES = (
    "routed as the cycles would drain them (cap per cycle, hand-raisers first), with every "
    "pool member and current owner taken as an active CRM user (the preview calls no CRM)"
)
#: The owner key of a hand-off no rule found anyone for.
UNROUTED = "(unrouted)"


@dataclass(frozen=True, slots=True)
class WouldHandOff:
    """A hand-off the candidate model would queue, with what routing reads."""

    person_id: int
    readiness: str
    score: int
    source: str
    email: str | None
    facts: PersonFacts


def route_previewed(
    would: Sequence[WouldHandOff],
    acting: ActSettings,
    store: Store,
    now: datetime,
    interval: timedelta,
) -> dict[int, Counter[str]]:
    """Day (0: the day the change is applied) -> owner -> hand-offs."""
    ordered = sorted(would, key=priority_key)
    owners = [w.facts.owner_id for w in ordered if w.facts.owner_id]
    users = members_as_users(acting.handoff, owners)
    domains = {w.source: set[str]() for w in ordered}
    for item in ordered:
        domain = email_domain(item.email)
        if domain:
            domains[item.source].add(domain)
    states: dict[str, RoutingState] = {}
    candidates: dict[str, Candidates] = {}
    with store.reading() as conn:
        for source, wanted in domains.items():
            states[source] = ledger.load_routing_state(conn, source)
            candidates[source] = Candidates.of(
                users,
                ledger.account_owners(conn, source, wanted),
                ignored_domains=FREE_MAIL_DOMAINS,
                never=acting.handoff.never_owners,
            )
    per_day: dict[int, Counter[str]] = {}
    cap = max(1, acting.handoffs_per_cycle)
    for start in range(0, len(ordered), cap):
        at = now + interval * (start // cap)
        day = (at.date() - now.date()).days
        for item in ordered[start : start + cap]:
            decision = route(
                item.facts,
                candidates[item.source],
                acting.handoff,
                states[item.source],
                at,
                nurture_owner=acting.recycle.nurture_owner,
                aliases=acting.aliases,
            )
            states[item.source] = decision.state_updates
            per_day.setdefault(day, Counter())[decision.owner_id or UNROUTED] += 1
    return per_day
