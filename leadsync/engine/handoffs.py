"""Routing queued hand-offs to sales: who gets each lead, and what they are owed.

Per CRM, after scoring: hand-offs whose person is no longer sales are cancelled, owed
owner changes to reps the CRM now lists as inactive are routed again, and the queued
hand-offs are routed (at most the per-cycle cap, hand-raisers first). Each routed hand-off
persists, in one transaction, the owner decision, the round-robin state and the owed owner
change, task (or digest line) and enrolments; ``leadsync.engine.send`` sends them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import structlog

from leadsync.emails import FREE_MAIL_DOMAINS, email_domain
from leadsync.engine import payloads
from leadsync.engine.scoring import merged_attributes
from leadsync.engine.send import OWED_LIMIT
from leadsync.handoff import (
    Candidates,
    DigestLead,
    HandoffHistory,
    HandoffPerson,
    PendingHandoff,
    RoutingDecision,
    Transition,
    digest_day,
    digest_key,
    person_facts,
    plan_handoff,
    prioritise,
    render_digest,
    route,
)
from leadsync.store import Connection
from leadsync.store import actions as outbox
from leadsync.store import handoffs as ledger
from leadsync.store.scoring import Holds, PersonInputs, StoredRecord, held_among, load_inputs

if TYPE_CHECKING:
    from leadsync.engine.act import Acting, ActSettings

log = structlog.get_logger(__name__)


class PlannedHandoff(NamedTuple):
    """A hand-off routed to its owner (its row's id, its person), with its plan and the
    person the plan's task is about."""

    handoff_id: int
    person_id: int
    plan: Any
    person: HandoffPerson


class _Picked(NamedTuple):
    """A queued hand-off picked this cycle, with its person's inputs, the record it is for
    and the person's latest result."""

    item: ledger.QueuedHandoff
    inputs: PersonInputs
    record: StoredRecord
    result: Mapping[str, Any]


def reroute_deactivated(acting: Acting, store: Any, name: str) -> None:
    """An owed owner change to a user the CRM now lists as inactive (deactivated while the
    hand-off waited) is not sent: the hand-off goes back in the queue and routing, which
    skips inactive users, picks its owner again. The hand-off keeps its number, so its
    owner change and task keep their keys: re-queued with the new owner, never doubled."""
    with store.reading() as conn:
        due = outbox.due_actions(conn, name, "owner", acting.clock(), OWED_LIMIT)
    owed = [a for a in due if a.handoff_id is not None and a.payload.get("owner_id")]
    if not owed:
        return
    inactive = {u.id for u in acting.users_of(name).get() if not u.active and not u.is_queue}
    gone = [a for a in owed if a.payload["owner_id"] in inactive]
    if not gone:
        return
    with store.transaction() as conn:
        # Held back until routing re-owns them (which makes them due at once); if no one
        # can take the lead now, they wait a back-off instead of being refused each cycle.
        outbox.defer_actions(conn, gone, acting.clock() + acting.settings.action_backoff)
        for action in gone:
            owner = action.payload["owner_id"]
            assert action.handoff_id is not None
            ledger.update_handoff(
                conn,
                action.handoff_id,
                state=ledger.QUEUED,
                note=f"owner {owner} became inactive in the CRM before the owner change",
            )
            log.warning(
                "handoff.owner_inactive",
                connector=name,
                action=action.key,
                record=str(action.ref),
                owner=owner,
            )


def route_queued(acting: Acting, store: Any, name: str, held: Holds) -> None:
    """Route the hand-offs queued for CRM ``name``: at most ``handoffs_per_cycle``, the
    most ready first; a ``held`` person's hand-off waits (see ``Acting.act``)."""
    queued = _drop_stale(acting, store, name)
    with store.reading() as conn:
        waiting = held_among(conn, [q.person_id for q in queued], held)
    if waiting:
        acting.report.waiting += sum(1 for q in queued if q.person_id in waiting)
        queued = [q for q in queued if q.person_id not in waiting]
    if not queued:
        return
    pending = [PendingHandoff(str(q.id), q.readiness, q.score, q.seq, q.queued_at) for q in queued]
    chosen, later = prioritise(pending, acting.settings.handoffs_per_cycle)
    acting.report.waiting += len(later)
    by_id = {str(q.id): q for q in queued}
    now = acting.clock()
    with store.transaction() as conn:
        state = ledger.load_routing_state(conn, name)
        picked = [by_id[p.person_key] for p in chosen]
        people = {i.person_id: i for i in load_inputs(conn, sorted({q.person_id for q in picked}))}
        domains = [email_domain(i.email) for i in people.values()]
        candidates = Candidates.of(
            acting.users_of(name).get(),
            ledger.account_owners(conn, name, [d for d in domains if d]),
            ignored_domains=FREE_MAIL_DOMAINS,
            never=acting.settings.handoff.never_owners,
        )
        results = ledger.results_of(conn, list(people))
        for item in picked:
            inputs = people.get(item.person_id)
            result = results.get(item.person_id)
            if inputs is None or result is None:
                ledger.update_handoff(conn, item.id, state="cancelled", closed_at=now,
                                      closed_by="person gone")  # fmt: skip
                continue
            record = next((r for r in inputs.records if r.uid == item.record_uid), None)
            if record is None:
                ledger.update_handoff(conn, item.id, state="cancelled", closed_at=now,
                                      closed_by="record gone")  # fmt: skip
                continue
            picked_one = _Picked(item, inputs, record, result)
            state = _hand_off(acting, conn, picked_one, candidates, state, now)
        ledger.save_routing_state(conn, name, state, now)


def _drop_stale(acting: Acting, store: Any, name: str) -> list[ledger.QueuedHandoff]:
    """The hand-offs waiting for their turn, less those whose person is no longer in a
    sales cell (opted out, unsubscribed, re-scored): those are cancelled before any is
    picked, so they take no one's place under the cap and reach no rep."""
    now = acting.clock()
    with store.transaction() as conn:
        queued = ledger.queued_handoffs(conn, name)
        results = ledger.results_of(conn, [q.person_id for q in queued])
        kept = []
        for item in queued:
            result = results.get(item.person_id)
            if result is not None and (
                result.get("team") != "sales" or result.get("readiness") == "do_not_contact"
            ):
                why = f"no longer sales: {result.get('cell')}"[:32]
                ledger.update_handoff(
                    conn, item.id, state="cancelled", closed_at=now, closed_by=why
                )
                log.info("handoff.cancelled", person=item.person_id, why=why)
                continue
            kept.append(item)
    return kept


def _hand_off(
    acting: Acting,
    conn: Connection,
    picked: _Picked,
    candidates: Candidates,
    state: Any,
    now: datetime,
) -> Any:
    item, inputs, record, result = picked
    attributes = merged_attributes(inputs.records, record.source)
    facts = person_facts(
        attributes, email=inputs.email, owner_id=record.owner_id, aliases=acting.settings.aliases
    )
    decision = _route_one(facts, candidates, acting.settings, state, now)
    if decision.owner_id is None:
        ledger.update_handoff(conn, item.id, note=decision.why)
        acting.report.unrouted += 1
        log.warning("handoff.unrouted", person=item.person_id, why=decision.why)
        return state
    person = payloads.handoff_person(item.person_id, record, attributes, inputs.email)
    trigger: Any = item.trigger
    decided = Transition("handoff", trigger, item.seq, item.from_cell, item.to_cell, item.reason)
    history = HandoffHistory(handoffs=item.seq - 1)
    plan = plan_handoff(
        person, record.owner_id, result, decided, decision, history,
        acting.settings.handoff, None, now,
    )  # fmt: skip
    queue_plan(acting, conn, PlannedHandoff(item.id, item.person_id, plan, person), now)
    acting.report.handed_off += 1
    return decision.state_updates


def queue_plan(acting: Acting, conn: Connection, planned: PlannedHandoff, now: datetime) -> None:
    """Owe what a routed hand-off's plan says (owner change, leaving nurture, a task or a
    line in the owner's digest) and record its decision: the hand-off is acting from now."""
    handoff_id, person_id, plan, person = planned
    decision: RoutingDecision = plan.decision
    stored = decision.to_dict()
    prefix = f"ls-{person_id}-{plan.history.handoffs}"
    owner_key = None
    if plan.owner_change is not None:
        owner_key = f"{prefix}-owner"
        outbox.queue_action(
            conn,
            key=owner_key,
            kind="owner",
            ref=person.ref,
            payload={
                "owner_id": plan.owner_change.owner_id,
                "status": plan.owner_change.status,
            },
            now=now,
            handoff_id=handoff_id,
        )
    nurture = acting.nurture_target(person.ref.source)
    if nurture and ledger.was_recycled(conn, person_id):
        outbox.queue_action(
            conn,
            key=f"{prefix}-unenrol",
            kind="enrol",
            ref=person.ref,
            payload={"target_id": nurture, "status": None, "remove": True},
            now=now,
            handoff_id=handoff_id,
        )
    if plan.task is not None:
        outbox.queue_action(
            conn,
            key=plan.task.key,
            kind="task",
            ref=person.ref,
            payload=payloads.task_payload(plan.task),
            now=now,
            after=owner_key,
            handoff_id=handoff_id,
        )
    else:
        lead: DigestLead = plan.digest_lead
        # The owner's business day: the digest key and date follow their hours, not the org's.
        day, _ = digest_day(now, str(decision.owner_id), acting.settings.handoff)
        key = digest_key(str(decision.owner_id), day)
        stored["digest"] = {"key": key, **payloads.digest_dict(lead)}
    ledger.update_handoff(
        conn,
        handoff_id,
        state=ledger.ACTING,
        owner_id=decision.owner_id,
        mode=plan.mode,
        decision=stored,
        note=None,
        handed_off_at=now,
        due_at=plan.due_at,
    )
    if plan.task is None:
        _queue_digest(acting, conn, str(decision.owner_id), stored["digest"]["key"], now)
    log.info(
        "handoff.routed",
        person=person_id,
        record=str(person.ref),
        owner=decision.owner_id,
        rule=decision.rule,
        mode=plan.mode,
    )


def _queue_digest(acting: Acting, conn: Connection, owner_id: str, key: str, now: datetime) -> None:
    leads = [payloads.digest_lead(d) for d in ledger.digest_leads(conn, owner_id, key)]
    day, send_at = digest_day(now, owner_id, acting.settings.handoff)
    task = render_digest(owner_id, leads, acting.settings.handoff, day)
    outbox.queue_action(
        conn,
        key=key,
        kind="task",
        ref=task.person,
        payload=payloads.task_payload(task),
        now=now,
        not_before=send_at,
    )


def _route_one(
    facts: Any, candidates: Candidates, settings: ActSettings, state: Any, now: datetime
) -> RoutingDecision:
    return route(
        facts,
        candidates,
        settings.handoff,
        state,
        now,
        nurture_owner=settings.recycle.nurture_owner,
        aliases=settings.aliases,
    )
