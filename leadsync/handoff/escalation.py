"""What to do when a hand-off misses its SLA: task the owner's manager, re-route, or both.

``on_breach`` comes from ``[handoff.sla]``: ``escalate`` tasks the manager, ``reroute`` gives
the lead to the next rep (the late owner excluded), ``both`` does both, ``none`` only records
the breach. When ``escalate`` finds no active manager it re-routes instead, so a breach never
goes unanswered for want of an org chart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from leadsync.config.operations import HandoffSettings
from leadsync.handoff.facts import Aliases, PersonFacts
from leadsync.handoff.hours import hours_for
from leadsync.handoff.roundrobin import RoutingState
from leadsync.handoff.routing import Candidates, RoutingDecision, route
from leadsync.handoff.sla import business_minutes_between
from leadsync.handoff.tasks import HandoffPerson
from leadsync.handoff.text import BODY_LIMIT, SUBJECT_LIMIT, clip, local_time
from leadsync.records import TaskRequest

OnBreach = Literal["escalate", "reroute", "both", "none"]


@dataclass(frozen=True, slots=True)
class Breach:
    """A hand-off whose SLA ran out: who had it, since when, and its number."""

    person: HandoffPerson
    facts: PersonFacts
    owner_id: str
    seq: int
    handed_off_at: datetime
    due_at: datetime
    record_link: str | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    """The answer to one breach.

    ``manager_task`` is due at once and keyed per hand-off, so a retry upserts it. ``reroute``
    is a new hand-off: set its owner, persist its ``state_updates`` and task the new owner
    with ``seq + 1``.
    """

    manager_task: TaskRequest | None
    reroute: RoutingDecision | None
    why: str


def escalation_key(person_key: str, seq: int) -> str:
    """Idempotency key of the manager's task for a person's ``seq``-th hand-off."""
    return f"ls-{person_key}-{seq}-sla"


def escalate(
    breach: Breach,
    on_breach: OnBreach,
    candidates: Candidates,
    settings: HandoffSettings,
    state: RoutingState,
    now: datetime,
    *,
    nurture_owner: str | None = None,
    aliases: Aliases | None = None,
) -> Escalation:
    """Decide the answer to a missed SLA (see the module docstring for the modes)."""
    owner = candidates.users.get(breach.owner_id)
    owner_name = candidates.name(breach.owner_id)
    reasons: list[str] = []
    manager_id: str | None = None
    wants_manager = on_breach in ("escalate", "both")
    wants_reroute = on_breach in ("reroute", "both")
    if wants_manager:
        manager = candidates.users.get(owner.manager_id) if owner and owner.manager_id else None
        if manager is not None and manager.active and not manager.is_queue:
            manager_id = manager.id
            reasons.append(f"tasked manager {candidates.name(manager.id)}")
        else:
            missing = "has no active manager in the CRM"
            reasons.append(f"{owner_name} {missing}, so re-routing instead")
            wants_reroute = True
    decision: RoutingDecision | None = None
    if wants_reroute:
        decision = route(
            breach.facts,
            candidates,
            settings,
            state,
            now,
            nurture_owner=nurture_owner,
            exclude=(breach.owner_id,),
            aliases=aliases,
        )
        if decision.owner_id is None:
            reasons.append("no other owner found to re-route to")
            decision = None
        else:
            reasons.append(f"re-routed to {decision.why}")
    if on_breach == "none":
        reasons.append("on_breach = none: breach recorded only")
    # Late in the holder's business time, and read in their time zone.
    hours = hours_for(breach.owner_id, settings)
    late = business_minutes_between(breach.due_at, now, hours)
    why = (
        f"{owner_name} did not touch {breach.person.display_name} by "
        f"{local_time(breach.due_at, hours)} ({late:.0f} business minutes late): "
        + "; ".join(reasons)
    )
    if manager_id is None:
        return Escalation(None, decision, why)
    subject = f"LeadSync SLA missed: {breach.person.display_name} not contacted by {owner_name}"
    lines = [
        f"{breach.person.display_name} was handed to {owner_name} on "
        f"{local_time(breach.handed_off_at, hours)}; the first touch was due "
        f"{local_time(breach.due_at, hours)} and has not happened "
        f"({late:.0f} business minutes late).",
    ]
    if decision is not None:
        lines.append(f"LeadSync re-routed the lead: {decision.why}.")
    if breach.record_link:
        lines.append(f"Open the record: {breach.record_link}")
    task = TaskRequest(
        key=escalation_key(breach.person.key, breach.seq),
        person=breach.person.ref,
        owner_id=manager_id,
        subject=clip(subject, SUBJECT_LIMIT),
        body=clip("\n\n".join(lines), BODY_LIMIT),
        due_at=now,
        priority="High",
    )
    return Escalation(task, decision, why)
