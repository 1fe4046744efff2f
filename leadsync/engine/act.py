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

The ``Actor`` lives as long as the engine (settings, connectors, clock); each cycle gets an
``Acting`` from ``Actor.begin_cycle`` holding what is that cycle's alone (the report it
counts into, the CRM users it read, the owner changes riding in its writes), gone with it.
Deciding lives here; the rest by what it does: :mod:`~leadsync.engine.handoffs` (routing
queued hand-offs), :mod:`~leadsync.engine.send` (sending owed actions),
:mod:`~leadsync.engine.sla_watch` (SLA breaches, inactivity and cool-downs).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import structlog

from connectors.base import Connector
from leadsync.config.operations import (
    HandoffSettings,
    NurtureSettings,
    RecycleSettings,
)
from leadsync.engine import handoffs, payloads, send, sla_watch
from leadsync.engine.moves import QuietMoves, target_record
from leadsync.engine.riders import OwnerRiders
from leadsync.handoff import (
    HandoffHistory,
    Transition,
    plan_recycle,
    transition,
)
from leadsync.handoff.recycle import nurture_target
from leadsync.records import CrmUser, NurtureKind
from leadsync.store import Connection
from leadsync.store import actions as outbox
from leadsync.store import handoffs as ledger
from leadsync.store.cycle_lock import NO_LOCK, HeldLock
from leadsync.store.scoring import (
    NO_HOLDS,
    Holds,
    PersonInputs,
    ScoreRow,
    StoredRecord,
)

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]


class Placed(Protocol):
    """Where the model put a person: a ``ScoreRow``, or the preview's lighter placement."""

    @property
    def team(self) -> str: ...
    @property
    def cell(self) -> str: ...


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


def decide_one(
    settings: ActSettings,
    head: ledger.Acted,
    placed: Placed,
    target: StoredRecord,
    history: HandoffHistory | None,
    now: datetime,
) -> Transition | None:
    """What changes hands for one re-scored person (``placed`` in a team and cell) whose
    hand-off would act on ``target``: the rule ``decide`` applies, and ``leadsync preview``
    counts without acting."""
    return transition(
        head.team,
        placed.team,
        head.cell,
        placed.cell,
        status=target.status,
        history=history,
        handoff=settings.handoff,
        recycle=settings.recycle,
        now=now,
    )


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


class LazyUsers:
    """The CRM's users, fetched at most once per cycle and only when a decision needs them."""

    def __init__(self, connector: Connector) -> None:
        self._connector = connector
        self._users: list[CrmUser] | None = None

    def get(self) -> list[CrmUser]:
        if self._users is None:
            self._users = self._connector.users()
        return self._users


class Actor:
    """Decides transitions while scoring and carries them out against each CRM; what it
    does in one cycle, it does through that cycle's ``Acting`` (``begin_cycle``)."""

    def __init__(
        self, settings: ActSettings, connectors: Mapping[str, Connector], clock: Clock
    ) -> None:
        self.settings = settings
        self.connectors = dict(connectors)
        self.clock = clock

    def begin_cycle(self, acted: ActReport) -> Acting:
        """This cycle's acting: it counts the cycle's work into ``acted``, which the cycle
        owns and reports, and reads each CRM's users again (at most once)."""
        return Acting(self, acted, {name: LazyUsers(c) for name, c in self.connectors.items()})

    def quiet_moves(self) -> QuietMoves:
        """What ``decide(no_actions=True)`` does, without this actor's connectors."""
        return QuietMoves(self.settings.sales_crm, tuple(self.connectors))


@dataclass
class Acting:
    """One cycle's acting: the actor's parts, and what belongs to this cycle alone."""

    actor: Actor
    #: The cycle's count of what was done (the cycle report's ``actions``).
    report: ActReport
    #: Each CRM's users, read at most once this cycle and only when a decision needs them.
    users: dict[str, LazyUsers]
    #: Each CRM's owner changes riding in this cycle's field write (``riders``), until
    #: ``after_write`` counts them.
    riding: dict[str, OwnerRiders] = field(default_factory=dict)

    @property
    def settings(self) -> ActSettings:
        return self.actor.settings

    @property
    def connectors(self) -> dict[str, Connector]:
        return self.actor.connectors

    def clock(self) -> datetime:
        return self.actor.clock()

    # -- decide (inside the scoring transaction) --------------------------------------------

    def decide(
        self,
        conn: Connection,
        inputs: Sequence[PersonInputs],
        rows: Sequence[ScoreRow],
        now: datetime,
        *,
        no_actions: bool = False,
    ) -> None:
        if no_actions:
            self.actor.quiet_moves().record(conn, inputs, rows)
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
            decided = decide_one(
                self.settings, head, row, target, history.get(person.person_id), now
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
        conn: Connection,
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
                if payloads.kind_of(target) != self.nurture_kind(record.source):
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
        conn: Connection,
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
            self.nurture_kind(target.source),
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
        """Before scoring: SLA breaches, and people whose inactivity or cool-down ran out
        (see :mod:`~leadsync.engine.sla_watch`)."""
        sla_watch.sweep(self, store, name, held)

    def act(self, store: Any, name: str, held: Holds = NO_HOLDS, lock: HeldLock = NO_LOCK) -> None:
        """After scoring: route queued hand-offs, then send every owed action; for a CRM whose
        owner changes ride in the field write, the write takes them (``riders``) and
        ``after_write`` sends the rest.

        A queued hand-off of a ``held`` person stays queued: an owner change or a task made
        on half the truth cannot be taken back. ``lock`` is verified before every call that
        changes the CRM."""
        handoffs.reroute_deactivated(self, store, name)
        handoffs.route_queued(self, store, name, held)
        with store.transaction() as conn:
            for key, uid in outbox.retarget_to_successors(conn, name, self.clock()):
                log.info("handoff.action_retargeted", connector=name, action=key, record=uid)
        if not self.rides(name):
            send.send_owed(self, store, name, lock)

    def riders(self, store: Any, name: str) -> OwnerRiders | None:
        """The owner changes due now, for the field write to carry (``None``: this CRM's
        connector takes them only through ``reassign``)."""
        return send.riders(self, store, name)

    def after_write(self, store: Any, name: str, lock: HeldLock = NO_LOCK) -> None:
        """After the field write that carried the owner changes: count them, send the rest."""
        send.after_write(self, store, name, lock)

    def rides(self, name: str) -> bool:
        """Whether CRM ``name``'s owner changes ride in its field write."""
        return self.connectors[name].capabilities.owner_in_write

    def users_of(self, name: str) -> LazyUsers:
        if name not in self.users:
            self.users[name] = LazyUsers(self.connectors[name])
        return self.users[name]

    def nurture_kind(self, source: str) -> NurtureKind | None:
        """How the CRM ``source`` keeps nurture programmes (its connector's capability)."""
        connector = self.connectors.get(source)
        return connector.capabilities.nurture if connector is not None else None

    def nurture_target(self, source: str) -> str | None:
        return nurture_target(self.settings.recycle, self.nurture_kind(source))
