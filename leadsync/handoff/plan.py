"""Everything one hand-off writes, assembled from a transition and a routing decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadsync.config.operations import HandoffSettings, NotifyMode
from leadsync.handoff.routing import RoutingDecision
from leadsync.handoff.tasks import DigestLead, HandoffPerson, notify_mode, render_task
from leadsync.handoff.transitions import HandoffHistory, Transition
from leadsync.model.result import Result
from leadsync.records import OwnerChange, TaskRequest


@dataclass(frozen=True, slots=True)
class HandoffPlan:
    """One hand-off's writes. Exactly one of ``task`` and ``digest_lead`` is set.

    ``owner_change`` is ``None`` when the owner stays and no status is configured. Persist
    ``history`` and ``decision.state_updates`` in the transaction that queues these writes.
    """

    decision: RoutingDecision
    owner_change: OwnerChange | None
    mode: NotifyMode
    task: TaskRequest | None
    digest_lead: DigestLead | None
    due_at: datetime
    history: HandoffHistory


def plan_handoff(
    person: HandoffPerson,
    current_owner: str | None,
    result: Mapping[str, Any],
    decided: Transition,
    decision: RoutingDecision,
    history: HandoffHistory,
    settings: HandoffSettings,
    record_link: str | None,
    now: datetime,
) -> HandoffPlan:
    """Owner change, task or digest entry, and new history for a ``handoff`` transition.

    Raises ``ValueError`` for another kind of transition or an unrouted decision.
    """
    if decided.kind != "handoff":
        raise ValueError(f"plan_handoff needs a handoff transition, got {decided.kind}")
    if decision.owner_id is None:
        raise ValueError("cannot hand off without an owner; the decision is unrouted")
    task = render_task(person, result, decision, settings, record_link, now, seq=decided.seq)
    status = settings.owner_status
    change = None
    if decision.owner_id != current_owner or status is not None:
        change = OwnerChange(person.ref, decision.owner_id, status)
    mode = notify_mode(decided.to_cell, settings)
    digest_lead = None
    if mode == "daily_digest":
        scored = Result.from_dict(dict(result))
        digest_lead = DigestLead(
            person=person,
            readiness=scored.readiness,
            score=scored.score,
            cell=scored.cell,
            reason=scored.reason(now),
            due_at=task.due_at,
            link=record_link,
        )
    return HandoffPlan(
        decision=decision,
        owner_change=change,
        mode=mode,
        task=task if mode == "immediate" else None,
        digest_lead=digest_lead,
        due_at=task.due_at,
        history=HandoffHistory(
            handoffs=decided.seq,
            handed_off_at=now,
            recycles=history.recycles,
            recycled_at=history.recycled_at,
            last_sales_touch_at=history.last_sales_touch_at,
        ),
    )
