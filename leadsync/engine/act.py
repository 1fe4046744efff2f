"""Acting on the matrix: hand-offs to sales, SLA watch, recycles to nurture.

Two halves, both crash-safe the same way as the write-back:

* ``decide`` runs inside the scoring transaction. It compares each re-scored person's team
  with the team LeadSync last acted on and records the transition (a queued hand-off, a held
  one, or a recycle with its owed actions) together with the new "acted on" team. A crash
  before that commit re-decides; after it, the decision is never taken twice.
* ``act`` runs per CRM after scoring. It routes queued hand-offs (at most the per-cycle cap,
  hand-raisers first), persisting the owner decision, the round-robin state and the owed
  owner change, task and enrolments in one transaction; then it sends owed actions (owner
  before task), settles them with the CRM's answers, and watches SLAs and inactivity. For a
  CRM whose connector takes owner changes in the field write (``owner_in_write``), the
  cycle's write carries them (``engine.riders``) and ``after_write`` sends the rest. An owed
  owner change to a rep the CRM now lists as inactive is not sent: the hand-off is routed
  again.

Every CRM call is idempotent under a key decided before the call, so a re-sent owner change
sets the same owner and a re-sent task upserts the same task.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
import structlog

from connectors.base import Connector
from leadsync.config.operations import (
    HandoffSettings,
    NurtureSettings,
    RecycleSettings,
)
from leadsync.emails import FREE_MAIL_DOMAINS, email_domain
from leadsync.engine import payloads
from leadsync.engine.moves import QuietMoves, target_record
from leadsync.engine.riders import OwnerRiders, Retry
from leadsync.engine.scoring import merged_attributes
from leadsync.handoff import (
    Breach,
    Candidates,
    DigestLead,
    HandoffHistory,
    HandoffPerson,
    PendingHandoff,
    RoutingDecision,
    Transition,
    digest_day,
    digest_key,
    due_at,
    escalate,
    hours_for,
    person_facts,
    plan_handoff,
    plan_recycle,
    prioritise,
    render_digest,
    route,
    sla_breached,
    transition,
)
from leadsync.handoff.recycle import nurture_target
from leadsync.records import CrmUser, NurtureKind, WriteOutcome
from leadsync.store import actions as outbox
from leadsync.store import handoffs as ledger
from leadsync.store.cycle_lock import NO_LOCK, HeldLock
from leadsync.store.schema import handoffs as handoffs_table
from leadsync.store.schema import recycles as recycles_table
from leadsync.store.scoring import (
    NO_HOLDS,
    Holds,
    PersonInputs,
    ScoreRow,
    StoredRecord,
    held_among,
    load_inputs,
)

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
#: More owner changes than a cycle could owe: every one due is read at once.
OWED_LIMIT = 100_000


@dataclass(frozen=True, slots=True)
class ActSettings:
    handoff: HandoffSettings = field(default_factory=HandoffSettings)
    recycle: RecycleSettings = field(default_factory=RecycleSettings)
    nurture: NurtureSettings = field(default_factory=NurtureSettings)
    #: The CRM where owners and tasks live; ``None``: the first CRM that knows the person.
    sales_crm: str | None = None
    handoffs_per_cycle: int = 500
    aliases: Mapping[str, Mapping[str, str]] | None = None
    action_chunk: int = 1_000
    max_action_attempts: int = 8
    action_backoff: timedelta = timedelta(minutes=1)


@dataclass
class ActReport:
    handoffs_queued: int = 0
    handoffs_held: int = 0
    handed_off: int = 0
    unrouted: int = 0
    waiting: int = 0
    recycled: int = 0
    enrolled: int = 0
    unenrolled: int = 0
    breaches: int = 0
    actions_done: int = 0
    actions_rejected: int = 0
    actions_parked: int = 0

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


class _Picked(NamedTuple):
    """A queued hand-off picked this cycle, with its person's inputs, the record it is for
    and the person's latest result."""

    item: ledger.QueuedHandoff
    inputs: PersonInputs
    record: StoredRecord
    result: Mapping[str, Any]


class Actor:
    """Decides transitions while scoring and carries them out against each CRM."""

    def __init__(
        self, settings: ActSettings, connectors: Mapping[str, Connector], clock: Clock
    ) -> None:
        self.settings = settings
        self.connectors = dict(connectors)
        self.clock = clock
        self.report = ActReport()
        self._users: dict[str, _LazyUsers] = {}
        self._riders: dict[str, OwnerRiders] = {}

    def begin_cycle(self, acted: ActReport) -> None:
        """Count this cycle's work into ``acted``, which the cycle owns and reports, and read
        the CRM's users again (at most once) this cycle."""
        self.report = acted
        self._users = {name: _LazyUsers(c) for name, c in self.connectors.items()}
        self._riders = {}

    # -- decide (inside the scoring transaction) --------------------------------------------

    def quiet_moves(self) -> QuietMoves:
        """What ``decide(no_actions=True)`` does, without this actor's connectors."""
        return QuietMoves(self.settings.sales_crm, tuple(self.connectors))

    def decide(
        self,
        conn: sa.Connection,
        inputs: Sequence[PersonInputs],
        rows: Sequence[ScoreRow],
        now: datetime,
        *,
        no_actions: bool = False,
    ) -> None:
        if no_actions:
            self.quiet_moves().record(conn, inputs, rows)
            return
        ids = [i.person_id for i in inputs]
        acted = ledger.acted_state(conn, ids)
        history = ledger.histories(conn, ids, acted)
        moved: list[tuple[int, str, str]] = []
        queued: list[dict[str, Any]] = []
        requalified: list[int] = []
        order = list(self.connectors)
        for person, row in zip(inputs, rows, strict=True):
            head = acted.get(person.person_id)
            if head is None:
                continue
            target = target_record(person.records, self.settings.sales_crm, order)
            if target is None:
                continue  # no record in the CRM sales works in: nothing to act on yet
            decided = transition(
                head.team,
                row.team,
                head.cell,
                row.cell,
                status=target.status,
                history=history.get(person.person_id),
                handoff=self.settings.handoff,
                recycle=self.settings.recycle,
                now=now,
            )
            if head.cell != row.cell and self.settings.nurture.enrol:
                self._nurture(conn, person, head.cell, row, now)
            if decided is None:
                if (head.team, head.cell) != (row.team, row.cell):
                    moved.append((person.person_id, row.team, row.cell))
            elif decided.kind == "handoff":
                queued.append(
                    payloads.handoff_row(person.person_id, target, row, decided, "queued", now)
                )
                requalified.append(person.person_id)
                moved.append((person.person_id, "sales", row.cell))
                self.report.handoffs_queued += 1
            elif decided.kind == "held":
                queued.append(
                    payloads.handoff_row(person.person_id, target, row, decided, "held", now)
                )
                self.report.handoffs_held += 1
            else:
                past = history.get(person.person_id) or HandoffHistory()
                self._recycle(conn, person.person_id, target, decided, past, now)
                moved.append((person.person_id, "marketing", row.cell))
        # In bulk: a first sync or a model change can move a large share of people at once.
        ledger.queue_handoffs(conn, queued)
        ledger.mark_requalified(conn, requalified, now)
        ledger.set_acted(conn, moved)

    def _nurture(
        self,
        conn: sa.Connection,
        person: PersonInputs,
        old_cell: str | None,
        row: ScoreRow,
        now: datetime,
    ) -> None:
        """Join the programmes of the new cell (marketing's), leave those of the old one.

        One action key per record and programme: joining again re-opens the same key, so a
        person moving in and out many times owes at most one pending call per programme.
        """
        joining = payloads.programmes(
            self.settings.nurture, row.cell if row.team == "marketing" else None
        )
        leaving = payloads.programmes(self.settings.nurture, old_cell) - joining
        for record in person.records:
            if record.converted_at is not None:
                continue
            for target, status, remove in [(t, s, False) for t, s in joining] + [
                (t, s, True) for t, s in leaving
            ]:
                if payloads.kind_of(target) != self._nurture_kind(record.source):
                    continue
                outbox.queue_action(
                    conn,
                    key=f"ls-{person.person_id}-nurture-{target}-{record.id}",
                    kind="enrol",
                    ref=outbox.ref_of(record.uid),
                    payload={"target_id": target.split(":", 1)[1], "status": status,
                             "remove": remove},
                    now=now,
                )  # fmt: skip
                if remove:
                    self.report.unenrolled += 1
                else:
                    self.report.enrolled += 1

    def _recycle(
        self,
        conn: sa.Connection,
        person_id: int,
        target: StoredRecord,
        decided: Transition,
        history: HandoffHistory,
        now: datetime,
    ) -> None:
        ref = outbox.ref_of(target.uid)
        plan = plan_recycle(
            ref,
            target.owner_id,
            decided,
            history,
            self.settings.recycle,
            now,
            self._nurture_kind(target.source),
        )
        recycle_id = ledger.insert_recycle(
            conn,
            {
                "person_id": person_id,
                "seq": decided.seq,
                "record_uid": target.uid,
                "source": target.source,
                "state": ledger.ACTING,
                "trigger": decided.trigger,
                "from_cell": decided.from_cell,
                "reason": plan.reason,
                "owner_id": plan.owner_change.owner_id if plan.owner_change else None,
                "recycled_at": now,
            },
        )
        ledger.close_open_handoffs(conn, person_id, now, f"recycle:{decided.trigger}")
        ledger.record_recycle_on_person(conn, person_id, decided.seq, plan.reason, now)
        prefix = f"ls-{person_id}-r{decided.seq}"
        if plan.owner_change is not None:
            change = plan.owner_change
            outbox.queue_action(
                conn,
                key=f"{prefix}-owner",
                kind="owner",
                ref=ref,
                payload={"owner_id": change.owner_id, "status": change.status},
                now=now,
                recycle_id=recycle_id,
            )
        target_id = plan.nurture_id
        if target_id:
            outbox.queue_action(
                conn,
                key=f"{prefix}-enrol",
                kind="enrol",
                ref=ref,
                payload={"target_id": target_id, "status": None, "remove": False},
                now=now,
                recycle_id=recycle_id,
            )
        self.report.recycled += 1
        log.info("handoff.recycled", person=person_id, record=target.uid, reason=plan.reason)

    # -- act (per CRM, after scoring) --------------------------------------------------------

    def sweep(self, store: Any, name: str, held: Holds = NO_HOLDS) -> None:
        """Before scoring: SLA breaches, and people whose inactivity or cool-down ran out.

        No breach is called for a ``held`` person (e.g. the last pull of one of their CRMs
        did not complete): the rep's touch may be in what was not read."""
        self._sweep(store, name, self._users_of(name), held)

    def act(self, store: Any, name: str, held: Holds = NO_HOLDS, lock: HeldLock = NO_LOCK) -> None:
        """After scoring: route queued hand-offs, then send every owed action; for a CRM whose
        owner changes ride in the field write, the write takes them (``riders``) and
        ``after_write`` sends the rest.

        A queued hand-off of a ``held`` person stays queued: an owner change or a task made
        on half the truth cannot be taken back. ``lock`` is verified before every call that
        changes the CRM."""
        users = self._users_of(name)
        self._reroute_deactivated(store, name, users)
        self._route(store, name, users, held)
        with store.transaction() as conn:
            for key, uid in outbox.retarget_to_successors(conn, name, self.clock()):
                log.info("handoff.action_retargeted", connector=name, action=key, record=uid)
        if not self._rides(name):
            self._send(store, name, lock)

    def riders(self, store: Any, name: str) -> OwnerRiders | None:
        """The owner changes due now, for the field write to carry (``None``: this CRM's
        connector takes them only through ``reassign``)."""
        if not self._rides(name):
            return None
        with store.reading() as conn:
            due = outbox.due_actions(conn, name, "owner", self.clock(), OWED_LIMIT)
        retry = Retry(self.settings.max_action_attempts, self.settings.action_backoff)
        self._riders[name] = OwnerRiders(due, retry)
        return self._riders[name]

    def after_write(self, store: Any, name: str, lock: HeldLock = NO_LOCK) -> None:
        """After the field write that carried the owner changes: count their outcomes, then
        send what is owed now (the tasks they freed, enrolments), each kind in one pass. A
        write that did not finish sends nothing more: the CRM just failed."""
        riders = self._riders.pop(name, None)
        if riders is None:
            return
        self.report.actions_done += riders.counts.done
        self.report.actions_rejected += riders.counts.rejected
        self.report.actions_parked += riders.counts.parked
        if riders.finished:
            self._send(store, name, lock)

    def _rides(self, name: str) -> bool:
        return self.connectors[name].capabilities.owner_in_write

    def _reroute_deactivated(self, store: Any, name: str, users: _LazyUsers) -> None:
        """An owed owner change to a user the CRM now lists as inactive (deactivated while the
        hand-off waited) is not sent: the hand-off goes back in the queue and routing, which
        skips inactive users, picks its owner again. The hand-off keeps its number, so its
        owner change and task keep their keys: re-queued with the new owner, never doubled."""
        with store.reading() as conn:
            due = outbox.due_actions(conn, name, "owner", self.clock(), OWED_LIMIT)
        owed = [a for a in due if a.handoff_id is not None and a.payload.get("owner_id")]
        if not owed:
            return
        inactive = {u.id for u in users.get() if not u.active and not u.is_queue}
        gone = [a for a in owed if a.payload["owner_id"] in inactive]
        if not gone:
            return
        with store.transaction() as conn:
            # Held back until routing re-owns them (which makes them due at once); if no one
            # can take the lead now, they wait a back-off instead of being refused each cycle.
            outbox.defer_actions(conn, gone, self.clock() + self.settings.action_backoff)
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

    def _users_of(self, name: str) -> _LazyUsers:
        if name not in self._users:
            self._users[name] = _LazyUsers(self.connectors[name])
        return self._users[name]

    def _route(self, store: Any, name: str, users: _LazyUsers, held: Holds) -> None:
        queued = self._drop_stale(store, name)
        with store.reading() as conn:
            waiting = held_among(conn, [q.person_id for q in queued], held)
        if waiting:
            self.report.waiting += sum(1 for q in queued if q.person_id in waiting)
            queued = [q for q in queued if q.person_id not in waiting]
        if not queued:
            return
        pending = [
            PendingHandoff(str(q.id), q.readiness, q.score, q.seq, q.queued_at) for q in queued
        ]
        chosen, later = prioritise(pending, self.settings.handoffs_per_cycle)
        self.report.waiting += len(later)
        by_id = {str(q.id): q for q in queued}
        now = self.clock()
        with store.transaction() as conn:
            state = ledger.load_routing_state(conn, name)
            picked = [by_id[p.person_key] for p in chosen]
            people = {
                i.person_id: i for i in load_inputs(conn, sorted({q.person_id for q in picked}))
            }
            domains = [email_domain(i.email) for i in people.values()]
            candidates = Candidates.of(
                users.get(),
                ledger.account_owners(conn, name, [d for d in domains if d]),
                ignored_domains=FREE_MAIL_DOMAINS,
                never=self.settings.handoff.never_owners,
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
                state = self._hand_off(conn, picked_one, candidates, state, now)
            ledger.save_routing_state(conn, name, state, now)

    def _drop_stale(self, store: Any, name: str) -> list[ledger.QueuedHandoff]:
        """The hand-offs waiting for their turn, less those whose person is no longer in a
        sales cell (opted out, unsubscribed, re-scored): those are cancelled before any is
        picked, so they take no one's place under the cap and reach no rep."""
        now = self.clock()
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
        self,
        conn: sa.Connection,
        picked: _Picked,
        candidates: Candidates,
        state: Any,
        now: datetime,
    ) -> Any:
        item, inputs, record, result = picked
        attributes = merged_attributes(inputs.records, record.source)
        facts = person_facts(
            attributes, email=inputs.email, owner_id=record.owner_id, aliases=self.settings.aliases
        )
        decision = _route(facts, candidates, self.settings, state, now)
        if decision.owner_id is None:
            ledger.update_handoff(conn, item.id, note=decision.why)
            self.report.unrouted += 1
            log.warning("handoff.unrouted", person=item.person_id, why=decision.why)
            return state
        person = payloads.handoff_person(item.person_id, record, attributes, inputs.email)
        trigger: Any = item.trigger
        decided = Transition(
            "handoff", trigger, item.seq, item.from_cell, item.to_cell, item.reason
        )
        history = HandoffHistory(handoffs=item.seq - 1)
        plan = plan_handoff(
            person, record.owner_id, result, decided, decision, history,
            self.settings.handoff, None, now,
        )  # fmt: skip
        self._queue_plan(conn, item.id, item.person_id, plan, person, now)
        self.report.handed_off += 1
        return decision.state_updates

    def _queue_plan(
        self,
        conn: sa.Connection,
        handoff_id: int,
        person_id: int,
        plan: Any,
        person: HandoffPerson,
        now: datetime,
    ) -> None:
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
        nurture = self._nurture_target(person.ref.source)
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
            day, _ = digest_day(now, str(decision.owner_id), self.settings.handoff)
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
            self._queue_digest(conn, str(decision.owner_id), stored["digest"]["key"], now)
        log.info(
            "handoff.routed",
            person=person_id,
            record=str(person.ref),
            owner=decision.owner_id,
            rule=decision.rule,
            mode=plan.mode,
        )

    def _queue_digest(self, conn: sa.Connection, owner_id: str, key: str, now: datetime) -> None:
        leads = [payloads.digest_lead(d) for d in ledger.digest_leads(conn, owner_id, key)]
        day, send_at = digest_day(now, owner_id, self.settings.handoff)
        task = render_digest(owner_id, leads, self.settings.handoff, day)
        outbox.queue_action(
            conn,
            key=key,
            kind="task",
            ref=task.person,
            payload=payloads.task_payload(task),
            now=now,
            not_before=send_at,
        )

    def _nurture_kind(self, source: str) -> NurtureKind | None:
        """How the CRM ``source`` keeps nurture programmes (its connector's capability)."""
        connector = self.connectors.get(source)
        return connector.capabilities.nurture if connector is not None else None

    def _nurture_target(self, source: str) -> str | None:
        return nurture_target(self.settings.recycle, self._nurture_kind(source))

    # -- send owed actions -------------------------------------------------------------------

    def _send(self, store: Any, name: str, lock: HeldLock) -> None:
        connector = self.connectors[name]
        senders: dict[str, Callable[[list[outbox.DueAction]], list[WriteOutcome]]] = {
            "owner": lambda due: connector.reassign([payloads.owner_change(a) for a in due]),
            "enrol": lambda due: connector.enrol([payloads.enrolment(a) for a in due]),
            "task": lambda due: connector.create_tasks([payloads.task(a) for a in due]),
        }
        for kind in outbox.KINDS:
            while True:
                now = self.clock()
                with store.reading() as conn:
                    due = outbox.due_actions(conn, name, kind, now, self.settings.action_chunk)
                if not due:
                    break
                lock.verify()
                # A raise (CRM down, budget spent) records nothing: every action stays owed.
                outcomes = senders[kind](due)
                with store.transaction() as conn:
                    counts = outbox.record_action_outcomes(
                        conn,
                        due,
                        outcomes,
                        self.clock(),
                        max_attempts=self.settings.max_action_attempts,
                        backoff=self.settings.action_backoff,
                    )
                self.report.actions_done += counts.done
                self.report.actions_rejected += counts.rejected
                self.report.actions_parked += counts.parked
                for item, outcome in zip(due, outcomes, strict=True):
                    if not outcome.ok and outcome.error is not None:
                        log.warning(
                            "handoff.action_rejected",
                            connector=name,
                            action=item.key,
                            record=str(item.ref),
                            code=outcome.error.code,
                            message=outcome.error.message,
                        )
                if len(due) < self.settings.action_chunk:
                    break
        now = self.clock()
        with store.transaction() as conn:
            for table, kind in ((handoffs_table, "handoff"), (recycles_table, "recycle")):
                ids = ledger.acting_ids(conn, table, name)
                owing = outbox.unfinished(
                    conn,
                    handoff_ids=ids if kind == "handoff" else (),
                    recycle_ids=ids if kind == "recycle" else (),
                )
                ledger.finish(conn, table, [i for i in ids if (kind, i) not in owing], now)

    # -- SLA watch, inactivity and cool-downs ------------------------------------------------

    def _sweep(self, store: Any, name: str, users: _LazyUsers, held: Holds) -> None:
        now = self.clock()
        inactivity = timedelta(days=self.settings.recycle.inactivity_days)
        with store.transaction() as conn:
            recheck = set(ledger.held_due(conn, now))
            open_items = ledger.open_handoffs(conn, name)
            waiting = held_among(conn, [item.person_id for item in open_items], held)
            for found in open_items:
                if found.person_id in waiting:
                    continue
                item = self._follow_owner(conn, found, users, now)
                if item is None:
                    continue
                touches = ledger.sales_touch_times(
                    conn, item.person_id, (item.owner_id, item.holder), item.handed_off_at
                )
                status_touch = ledger.status_touch(conn, item, self.settings.handoff.owner_status)
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
                if self.settings.recycle.enabled:
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
                        hours_for(item.holder, self.settings.handoff),
                    )
                ):
                    self._breach(conn, name, item, users, now)
            ledger.mark_dirty(conn, recheck, now)

    def _follow_owner(
        self, conn: sa.Connection, item: ledger.OpenHandoff, users: _LazyUsers, now: datetime
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
        if user is None or user.is_queue or new_owner == self.settings.recycle.nurture_owner:
            what = "a queue" if user is not None and user.is_queue else "a non-rep owner"
            ledger.update_handoff(conn, item.id, closed_at=now, closed_by="reassigned")
            log.info("handoff.watch_ended", person=item.person_id, owner=new_owner, to=what)
            return None
        due = due_at(item.readiness, self.settings.handoff, current.modified_at, owner_id=new_owner)
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
        self,
        conn: sa.Connection,
        name: str,
        item: ledger.OpenHandoff,
        users: _LazyUsers,
        now: datetime,
    ) -> None:
        self.report.breaches += 1
        found = load_inputs(conn, [item.person_id])
        record = next((r for i in found for r in i.records if r.uid == item.record_uid), None)
        on_breach = self.settings.handoff.sla.on_breach
        if not found or record is None:
            gone = {"why": "record gone; breach recorded only"}
            ledger.update_handoff(conn, item.id, breached_at=now, escalation=gone)
            return
        inputs = found[0]
        attributes = merged_attributes(inputs.records, record.source)
        person = payloads.handoff_person(item.person_id, record, attributes, inputs.email)
        facts = person_facts(
            attributes, email=inputs.email, owner_id=record.owner_id, aliases=self.settings.aliases
        )
        state = ledger.load_routing_state(conn, name)
        candidates = Candidates.of(
            users.get(), ignored_domains=FREE_MAIL_DOMAINS, never=self.settings.handoff.never_owners
        )
        breach = Breach(person, facts, item.holder, item.seq, item.handed_off_at, item.due_at)
        answer = escalate(
            breach,
            on_breach,
            candidates,
            self.settings.handoff,
            state,
            now,
            nurture_owner=self.settings.recycle.nurture_owner,
            aliases=self.settings.aliases,
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
        decided = Transition(
            "handoff", "entered_sales", seq, None, str(result.get("cell")), answer.why
        )
        plan = plan_handoff(
            person, item.holder, result, decided, answer.reroute,
            HandoffHistory(handoffs=seq - 1), self.settings.handoff, None, now,
        )  # fmt: skip
        self._queue_plan(conn, new_id, item.person_id, plan, person, now)
        ledger.save_routing_state(conn, name, answer.reroute.state_updates, now)


class _LazyUsers:
    """The CRM's users, fetched at most once per cycle and only when a decision needs them."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._users: list[CrmUser] | None = None

    def get(self) -> list[CrmUser]:
        if self._users is None:
            self._users = self._connector.users()
        return self._users


def _route(
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
