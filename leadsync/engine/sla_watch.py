"""The SLA watch: whether each open hand-off's rep touched the lead in time.

Before scoring, per CRM: every open hand-off follows the lead's real owner (a human may
have re-assigned it since), gathers the rep's touches (activities, or the status the
hand-off asked the rep to set), and is marked touched, re-checked for inactivity (a lead
left alone ``recycle.inactivity_days`` is scored again, which may recycle it) or breached.
A breach escalates as ``handoff.sla.on_breach`` says: a task for the manager, a re-route
to another rep (a new hand-off, queued and planned here), or only the record of it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import structlog

from leadsync.emails import FREE_MAIL_DOMAINS
from leadsync.engine import payloads
from leadsync.engine.handoffs import PlannedHandoff, queue_plan
from leadsync.engine.scoring import merged_attributes
from leadsync.handoff import (
    Breach,
    Candidates,
    HandoffHistory,
    Transition,
    due_at,
    escalate,
    hours_for,
    person_facts,
    plan_handoff,
    sla_breached,
)
from leadsync.store import Connection
from leadsync.store import actions as outbox
from leadsync.store import handoffs as ledger
from leadsync.store.scoring import Holds, held_among, load_inputs

if TYPE_CHECKING:
    from leadsync.engine.act import Acting, LazyUsers

log = structlog.get_logger(__name__)


def sweep(acting: Acting, store: Any, name: str, held: Holds) -> None:
    """Before scoring: SLA breaches, and people whose inactivity or cool-down ran out.

    No breach is called for a ``held`` person (e.g. the last pull of one of their CRMs
    did not complete): the rep's touch may be in what was not read."""
    users = acting.users_of(name)
    now = acting.clock()
    inactivity = timedelta(days=acting.settings.recycle.inactivity_days)
    with store.transaction() as conn:
        recheck = set(ledger.held_due(conn, now))
        open_items = ledger.open_handoffs(conn, name)
        waiting = held_among(conn, [item.person_id for item in open_items], held)
        for found in open_items:
            if found.person_id in waiting:
                continue
            item = _follow_owner(acting, conn, found, users, now)
            if item is None:
                continue
            touches = ledger.sales_touch_times(
                conn, item.person_id, (item.owner_id, item.holder), item.handed_off_at
            )
            status_touch = ledger.status_touch(conn, item, acting.settings.handoff.owner_status)
            if status_touch is not None:
                touches = sorted([*touches, status_touch])
            first = next((t for t in touches if t <= item.due_at), None)
            last = touches[-1] if touches else None
            if (first and item.touched_at is None) or (last and last != item.last_touch_at):
                ledger.update_handoff(
                    conn,
                    item.id,
                    touched_at=item.touched_at or (touches[0] if touches else None),
                    last_touch_at=last,
                )
            if acting.settings.recycle.enabled:
                latest = max(filter(None, (item.handed_off_at, last)))
                if now - latest >= inactivity:
                    recheck.add(item.person_id)
            if (
                item.breached_at is None
                and item.touched_at is None
                and first is None
                and sla_breached(
                    item.handed_off_at,
                    item.due_at,
                    touches,
                    now,
                    hours_for(item.holder, acting.settings.handoff),
                )
            ):
                _breach(acting, conn, name, item, users, now)
        ledger.mark_dirty(conn, recheck, now)


def _follow_owner(
    acting: Acting, conn: Connection, item: ledger.OpenHandoff, users: LazyUsers, now: datetime
) -> ledger.OpenHandoff | None:
    """The SLA watch follows the lead's real owner: when a human re-assigned it to
    another rep after the hand-off, that rep holds it from then, with a fresh SLA window,
    and touches by either count. Moved to a queue or to the nurture owner, nobody holds
    it for sales any more: the watch ends (``None``)."""
    current = ledger.record_owner(conn, item.record_uid)
    if (
        current is None
        or not current.owner_id
        or current.owner_id == item.holder
        or current.modified_at <= item.holder_since
    ):
        return item
    new_owner = current.owner_id
    user = next((u for u in users.get() if u.id == new_owner), None)
    if user is None or user.is_queue or new_owner == acting.settings.recycle.nurture_owner:
        what = "a queue" if user is not None and user.is_queue else "a non-rep owner"
        ledger.update_handoff(conn, item.id, closed_at=now, closed_by="reassigned")
        log.info("handoff.watch_ended", person=item.person_id, owner=new_owner, to=what)
        return None
    due = due_at(item.readiness, acting.settings.handoff, current.modified_at, owner_id=new_owner)
    ledger.update_handoff(
        conn, item.id, watch_owner_id=new_owner, watch_since=current.modified_at, due_at=due
    )
    log.info(
        "handoff.watch_moved",
        person=item.person_id,
        routed=item.owner_id,
        holder=new_owner,
        due=due.isoformat(),
    )
    return replace(item, watch_owner_id=new_owner, watch_since=current.modified_at,
                   due_at=due)  # fmt: skip


def _breach(
    acting: Acting,
    conn: Connection,
    name: str,
    item: ledger.OpenHandoff,
    users: LazyUsers,
    now: datetime,
) -> None:
    acting.report.breaches += 1
    found = load_inputs(conn, [item.person_id])
    record = next((r for i in found for r in i.records if r.uid == item.record_uid), None)
    on_breach = acting.settings.handoff.sla.on_breach
    if not found or record is None:
        gone = {"why": "record gone; breach recorded only"}
        ledger.update_handoff(conn, item.id, breached_at=now, escalation=gone)
        return
    inputs = found[0]
    attributes = merged_attributes(inputs.records, record.source)
    person = payloads.handoff_person(item.person_id, record, attributes, inputs.email)
    facts = person_facts(
        attributes, email=inputs.email, owner_id=record.owner_id, aliases=acting.settings.aliases
    )
    state = ledger.load_routing_state(conn, name)
    candidates = Candidates.of(
        users.get(), ignored_domains=FREE_MAIL_DOMAINS, never=acting.settings.handoff.never_owners
    )
    breach = Breach(person, facts, item.holder, item.seq, item.handed_off_at, item.due_at)
    answer = escalate(
        breach,
        on_breach,
        candidates,
        acting.settings.handoff,
        state,
        now,
        nurture_owner=acting.settings.recycle.nurture_owner,
        aliases=acting.settings.aliases,
    )
    ledger.update_handoff(
        conn,
        item.id,
        breached_at=now,
        escalation={
            "why": answer.why,
            "manager_task": answer.manager_task.key if answer.manager_task else None,
            "rerouted_to": answer.reroute.owner_id if answer.reroute else None,
        },
    )
    log.warning("handoff.sla_breached", person=item.person_id, why=answer.why)
    if answer.manager_task is not None:
        outbox.queue_action(
            conn,
            key=answer.manager_task.key,
            kind="task",
            ref=person.ref,
            payload=payloads.task_payload(answer.manager_task),
            now=now,
        )
    if answer.reroute is None:
        return
    result = ledger.results_of(conn, [item.person_id]).get(item.person_id)
    if result is None:
        return
    ledger.update_handoff(conn, item.id, closed_at=now, closed_by="sla_reroute")
    # Not item.seq + 1: a later hand-off may have been queued and cancelled meanwhile.
    seq = ledger.last_seq(conn, item.person_id) + 1
    new_id = ledger.insert_handoff(
        conn,
        {
            "person_id": item.person_id,
            "seq": seq,
            "record_uid": item.record_uid,
            "source": name,
            "state": ledger.QUEUED,
            "trigger": "sla_reroute",
            "from_cell": None,
            "to_cell": str(result.get("cell")),
            "readiness": item.readiness,
            "score": int(result.get("score") or 0),
            "reason": answer.why[:1000],
            "queued_at": now,
            "previous_owner_id": item.holder,
        },
    )
    decided = Transition("handoff", "entered_sales", seq, None, str(result.get("cell")), answer.why)
    plan = plan_handoff(
        person, item.holder, result, decided, answer.reroute,
        HandoffHistory(handoffs=seq - 1), acting.settings.handoff, None, now,
    )  # fmt: skip
    queue_plan(acting, conn, PlannedHandoff(new_id, item.person_id, plan, person), now)
    ledger.save_routing_state(conn, name, answer.reroute.state_updates, now)
