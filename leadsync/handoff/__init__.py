"""Hand-off to sales, SLA watch and recycle: the pure decisions, no I/O.

Every function here takes values (settings, records, state, ``now``) and returns frozen
values; nothing reads a clock, a database or the network. The engine passes state in and
persists what comes back, in the same transaction that queues the resulting CRM writes, so a
crash re-decides exactly what was not yet durable and every key makes the retry an upsert.

Wiring, per scored person (``result`` is ``Result.to_dict()``):

1. ``transition(previous_team, new_team, previous_cell, new_cell, status=..., history=...,
   handoff=settings.handoff, recycle=settings.recycle, now=now) -> Transition | None``.
   Persist the new team/cell as "last acted on" unless the result is ``held`` (a recycle
   leaves the person ``marketing``'s). ``held.until`` says when to look again.
2. ``handoff``: queue a ``PendingHandoff``; each cycle ``prioritise(queue, cap)`` (cap is
   ``[sync] handoffs_per_cycle``) says which go now. For each:
   ``facts = person_facts(attributes, email=..., owner_id=..., aliases=spec_aliases)``,
   ``decision = route(facts, Candidates.of(connector.users(), account_owners,
   ignored_domains=FREE_MAIL_DOMAINS), settings.handoff, routing_state, now,
   nurture_owner=settings.recycle.nurture_owner)``, then
   ``plan = plan_handoff(person, owner, result, transition, decision, history,
   settings.handoff, record_link, now)``. Write ``plan.owner_change`` with
   ``Connector.reassign``, ``plan.task`` with ``Connector.create_tasks``, or add
   ``plan.digest_lead`` to the owner's digest for the day and (re-)send
   ``render_digest(owner, leads, settings.handoff, day)`` (same key all day, sent once when
   the day's business window closes: ``digest_day``).
   Persist ``plan.history``, ``decision.state_updates`` (``RoutingState.to_dict``) and
   ``decision.to_dict()`` for ``leadsync explain`` (``explain_routing(stored)``).
3. SLA watch, for open hand-offs: ``sla_breached(handed_off_at, plan.due_at,
   sales_touches(activities, owner, handed_off_at) + status change times, now,
   hours_for(owner, settings.handoff))``; on a breach ``escalate(Breach(...), on_breach,
   candidates, settings.handoff, routing_state, now)`` gives a manager task and/or a
   re-route (a new hand-off: task the new owner with ``seq + 1``).
4. ``recycle``: ``plan_recycle(ref, owner, transition, history, settings.recycle, now)``:
   owner change to nurture, recycle count and reason outputs, nurture campaign or list, and
   the history to persist; set the person's ``recycled_at`` (engagement baseline) to ``now``.

Business-time math (``due_at``, ``add_business_minutes``, ``business_minutes_between``,
``is_business_time``) follows a ``BusinessHours`` in its IANA time zone, DST, holidays and
windows past midnight included. Whose: ``hours_for(owner_id, settings.handoff)`` (the rep's
``rep_hours`` over their pool's over ``[handoff.business_hours]``); a task's due time follows
its owner's, a pool's daily caps its ``business_day(now, settings, pool)``.
"""

from __future__ import annotations

from leadsync.handoff.escalation import Breach, Escalation, escalate, escalation_key
from leadsync.handoff.facts import PersonFacts, match_pool, person_facts
from leadsync.handoff.hours import hours_for, is_holiday, local_day, pool_hours
from leadsync.handoff.plan import HandoffPlan, plan_handoff
from leadsync.handoff.queueing import PendingHandoff, prioritise, priority_key
from leadsync.handoff.recycle import RecyclePlan, plan_recycle
from leadsync.handoff.roundrobin import RoutingState
from leadsync.handoff.routing import (
    Candidates,
    RoutingDecision,
    business_day,
    explain_routing,
    members_as_users,
    route,
)
from leadsync.handoff.sla import (
    add_business_minutes,
    business_minutes_between,
    due_at,
    is_business_time,
    sales_touches,
    sla_breached,
    sla_minutes,
)
from leadsync.handoff.tasks import (
    DigestLead,
    HandoffPerson,
    digest_day,
    digest_key,
    notify_mode,
    render_digest,
    render_task,
    task_key,
)
from leadsync.handoff.transitions import (
    HandoffHistory,
    Transition,
    cool_down_until,
    is_recycle_status,
    transition,
)

__all__ = [
    "Breach",
    "Candidates",
    "DigestLead",
    "Escalation",
    "HandoffHistory",
    "HandoffPerson",
    "HandoffPlan",
    "PendingHandoff",
    "PersonFacts",
    "RecyclePlan",
    "RoutingDecision",
    "RoutingState",
    "Transition",
    "add_business_minutes",
    "business_day",
    "business_minutes_between",
    "cool_down_until",
    "digest_day",
    "digest_key",
    "due_at",
    "escalate",
    "escalation_key",
    "explain_routing",
    "hours_for",
    "is_business_time",
    "is_holiday",
    "is_recycle_status",
    "local_day",
    "match_pool",
    "members_as_users",
    "notify_mode",
    "person_facts",
    "plan_handoff",
    "plan_recycle",
    "pool_hours",
    "prioritise",
    "priority_key",
    "render_digest",
    "render_task",
    "route",
    "sales_touches",
    "sla_breached",
    "sla_minutes",
    "task_key",
    "transition",
]
