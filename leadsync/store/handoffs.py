"""Hand-offs, recycles and routing state: what LeadSync did about each person's team.

The engine decides (``leadsync.handoff`` is pure); these functions read what a decision needs
and persist what it decided, always inside the caller's transaction so the decision, the
person's new "acted on" team and the actions owed to the CRM land together or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa

from leadsync.handoff import HandoffHistory, RoutingState
from leadsync.handoff.sla import SALES_TOUCH_KINDS
from leadsync.store.bulk_update import update_rows
from leadsync.store.identity import chunks
from leadsync.store.members import among
from leadsync.store.schema import (
    actions,
    activities,
    crm_records,
    handoffs,
    people,
    recycles,
    routing_state,
    scores,
)

QUEUED, HELD, ACTING, DONE = "queued", "held", "acting", "done"
#: Hand-off states that count as decided (they hold their ``seq``).
DECIDED = (QUEUED, ACTING, DONE)


@dataclass(frozen=True, slots=True)
class Acted:
    team: str | None
    cell: str | None
    recycled_at: datetime | None
    recycle_count: int


@dataclass(frozen=True, slots=True)
class QueuedHandoff:
    id: int
    person_id: int
    seq: int
    record_uid: str
    source: str
    trigger: str
    from_cell: str | None
    to_cell: str
    readiness: str
    score: float
    reason: str
    queued_at: datetime


@dataclass(frozen=True, slots=True)
class OpenHandoff:
    id: int
    person_id: int
    seq: int
    record_uid: str
    owner_id: str
    readiness: str
    handed_off_at: datetime
    due_at: datetime
    touched_at: datetime | None
    last_touch_at: datetime | None
    breached_at: datetime | None
    #: The owner a human re-assigned the lead to after the hand-off, and when.
    watch_owner_id: str | None = None
    watch_since: datetime | None = None

    @property
    def holder(self) -> str:
        """Who holds the lead now, as far as the SLA watch knows."""
        return self.watch_owner_id or self.owner_id

    @property
    def holder_since(self) -> datetime:
        return self.watch_since or self.handed_off_at


@dataclass(frozen=True, slots=True)
class RecordOwner:
    owner_id: str | None
    modified_at: datetime


def acted_state(conn: sa.Connection, person_ids: Sequence[int]) -> dict[int, Acted]:
    out: dict[int, Acted] = {}
    for part in chunks(list(person_ids)):
        query = sa.select(
            people.c.id,
            people.c.acted_team,
            people.c.acted_cell,
            people.c.recycled_at,
            people.c.recycle_count,
        ).where(among(conn, people.c.id, part))
        for row in conn.execute(query):
            out[row.id] = Acted(row.acted_team, row.acted_cell, row.recycled_at, row.recycle_count)
    return out


def set_acted(conn: sa.Connection, changes: Sequence[tuple[int, str, str]]) -> None:
    """``(person_id, team, cell)``: the team and cell LeadSync has now acted on."""
    update_rows(
        conn,
        people,
        "id",
        [{"id": pid, "acted_team": team, "acted_cell": cell} for pid, team, cell in changes],
    )


def histories(
    conn: sa.Connection, person_ids: Sequence[int], acted: Mapping[int, Acted]
) -> dict[int, HandoffHistory]:
    """Each person's hand-off history; people never handed off get the empty history.

    ``handoffs`` is the highest hand-off number the person has used, cancelled ones included:
    a cancelled hand-off keeps its ``seq`` (and its row), so the next one must take a new
    number. (Counting only decided ones reused a cancelled ``seq`` and broke the unique key
    on every later cycle.) A held one is replaced when it is queued, so it holds no number.
    ``recycles`` likewise is at least the highest recycle number used: a merge numbers the
    merged person's recycles after the survivor's, above the survivor's recycle count.
    """
    latest: dict[int, Any] = {}
    recycled: dict[int, int] = {}
    for part in chunks(list(person_ids)):
        query = (
            sa.select(recycles.c.person_id, sa.func.max(recycles.c.seq))
            .where(among(conn, recycles.c.person_id, part))
            .group_by(recycles.c.person_id)
        )
        recycled.update({pid: int(top) for pid, top in conn.execute(query)})
    counts: dict[int, int] = {}
    for part in chunks(list(person_ids)):
        query = (
            sa.select(handoffs)
            .where(among(conn, handoffs.c.person_id, part), handoffs.c.state != HELD)
            .order_by(handoffs.c.seq)
        )
        for found in conn.execute(query):
            counts[found.person_id] = found.seq
            if found.state in DECIDED:
                latest[found.person_id] = found
    out: dict[int, HandoffHistory] = {}
    for pid in person_ids:
        head = acted.get(pid)
        row: Any = latest.get(pid)
        count = max(head.recycle_count if head else 0, recycled.get(pid, 0))
        if row is None and not count:
            continue
        out[pid] = HandoffHistory(
            handoffs=counts.get(pid, 0),
            handed_off_at=row.handed_off_at if row is not None else None,
            recycles=count,
            recycled_at=head.recycled_at if head else None,
            last_sales_touch_at=row.last_touch_at if row is not None else None,
        )
    return out


def queue_handoffs(conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Decided hand-offs (``state`` queued or held); a person's held one is replaced."""
    if not rows:
        return
    for part in chunks([r["person_id"] for r in rows]):
        conn.execute(
            sa.delete(handoffs).where(
                among(conn, handoffs.c.person_id, part), handoffs.c.state == HELD
            )
        )
    for part in chunks([dict(r) for r in rows], 1_000):
        conn.execute(sa.insert(handoffs), part)


def mark_requalified(conn: sa.Connection, person_ids: Sequence[int], now: datetime) -> None:
    """These people's latest recycle came back to sales."""
    for part in chunks(list(person_ids)):
        conn.execute(
            sa.update(recycles)
            .where(among(conn, recycles.c.person_id, part), recycles.c.requalified_at.is_(None))
            .values(requalified_at=now)
        )


def queued_handoffs(conn: sa.Connection, source: str) -> list[QueuedHandoff]:
    query = (
        sa.select(handoffs)
        .where(handoffs.c.source == source, handoffs.c.state == QUEUED)
        .order_by(handoffs.c.id)
    )
    return [
        QueuedHandoff(
            id=r.id,
            person_id=r.person_id,
            seq=r.seq,
            record_uid=r.record_uid,
            source=r.source,
            trigger=r.trigger,
            from_cell=r.from_cell,
            to_cell=r.to_cell,
            readiness=r.readiness,
            score=r.score,
            reason=r.reason,
            queued_at=r.queued_at,
        )
        for r in conn.execute(query)
    ]


def update_handoff(conn: sa.Connection, handoff_id: int, **values: Any) -> None:
    conn.execute(sa.update(handoffs).where(handoffs.c.id == handoff_id).values(**values))


def last_seq(conn: sa.Connection, person_id: int) -> int:
    """The highest hand-off number this person has used (0: none), whatever its state."""
    query = sa.select(sa.func.max(handoffs.c.seq)).where(handoffs.c.person_id == person_id)
    return int(conn.execute(query).scalar_one() or 0)


def insert_handoff(conn: sa.Connection, values: Mapping[str, Any]) -> int:
    result = conn.execute(sa.insert(handoffs).values(**values).returning(handoffs.c.id))
    return int(result.scalar_one())


#: What acts on a person's team and owes actions until the CRM confirmed them: a hand-off
#: to sales or a recycle to nurture, each with its own table.
ActingKind = Literal["handoff", "recycle"]
ACTING_KINDS: tuple[ActingKind, ...] = ("handoff", "recycle")
_TABLES: dict[str, sa.Table] = {"handoff": handoffs, "recycle": recycles}


def _table_of(kind: ActingKind) -> sa.Table:
    table = _TABLES.get(kind)
    if table is None:
        raise ValueError(f"unknown acting kind {kind!r}; one of {', '.join(ACTING_KINDS)}")
    return table


def finish(conn: sa.Connection, kind: ActingKind, ids: Iterable[int], now: datetime) -> int:
    """Mark hand-offs or recycles (``kind``) ``done`` once the CRM confirmed every action
    they owed."""
    table = _table_of(kind)
    ids = list(ids)
    for part in chunks(ids):
        conn.execute(
            sa.update(table)
            .where(among(conn, table.c.id, part), table.c.state == ACTING)
            .values(state=DONE, done_at=now)
        )
    return len(ids)


def acting_ids(conn: sa.Connection, kind: ActingKind, source: str) -> list[int]:
    """The hand-offs or recycles (``kind``) of CRM ``source`` still acting (owing actions)."""
    table = _table_of(kind)
    query = sa.select(table.c.id).where(table.c.source == source, table.c.state == ACTING)
    return list(conn.execute(query).scalars())


def close_open_handoffs(conn: sa.Connection, person_id: int, now: datetime, by: str) -> None:
    conn.execute(
        sa.update(handoffs)
        .where(
            handoffs.c.person_id == person_id,
            handoffs.c.state.in_((ACTING, DONE)),
            handoffs.c.closed_at.is_(None),
        )
        .values(closed_at=now, closed_by=by)
    )
    # A hand-off still waiting for its turn is moot once sales said no.
    conn.execute(
        sa.update(handoffs)
        .where(handoffs.c.person_id == person_id, handoffs.c.state.in_((QUEUED, HELD)))
        .values(state="cancelled", closed_at=now, closed_by=by)
    )
    # So are its owner change and task the CRM has not taken yet (a locked row, an outage):
    # landing after the recycle's, they gave the lead back to the rep with a task a day
    # later (bench/life.py seed 3036). They count as done, superseded.
    conn.execute(
        sa.update(actions)
        .where(
            actions.c.handoff_id.in_(
                sa.select(handoffs.c.id).where(handoffs.c.person_id == person_id)
            ),
            actions.c.state.in_(("pending", "parked")),
        )
        .values(
            state="done",
            done_at=now,
            error_code="SUPERSEDED",
            error_message=f"not sent: the lead was recycled first ({by})",
        )
    )


def insert_recycle(conn: sa.Connection, values: Mapping[str, Any]) -> int:
    result = conn.execute(sa.insert(recycles).values(**values).returning(recycles.c.id))
    return int(result.scalar_one())


def record_recycle_on_person(
    conn: sa.Connection, person_id: int, seq: int, reason: str, now: datetime
) -> None:
    """New engagement baseline and recycle count; re-score so the outputs carry them."""
    conn.execute(
        sa.update(people)
        .where(people.c.id == person_id)
        .values(
            recycled_at=now,
            recycle_count=seq,
            recycle_reason=reason,
            dirty=True,
            updated_at=now,
        )
    )


def open_handoffs(conn: sa.Connection, source: str) -> list[OpenHandoff]:
    """Hand-offs sales holds: acted on or done, not yet closed by a recycle or a re-route.

    A hand-off whose owner change the CRM has not taken (refused, e.g. by a validation rule,
    or still owed) is not held by anyone yet: its SLA does not run, so no manager is tasked
    about a lead the rep never received. ``leadsync status`` lists the refused action.
    """
    owner_owed = (
        sa.select(actions.c.id)
        .where(
            actions.c.handoff_id == handoffs.c.id,
            actions.c.kind == "owner",
            actions.c.state != "done",
        )
        .exists()
    )
    query = (
        sa.select(handoffs)
        .where(
            handoffs.c.source == source,
            handoffs.c.state.in_((ACTING, DONE)),
            handoffs.c.closed_at.is_(None),
            handoffs.c.owner_id.is_not(None),
            ~owner_owed,
        )
        .order_by(handoffs.c.id)
    )
    return [
        OpenHandoff(
            id=r.id,
            person_id=r.person_id,
            seq=r.seq,
            record_uid=r.record_uid,
            owner_id=r.owner_id,
            readiness=r.readiness,
            handed_off_at=r.handed_off_at,
            due_at=r.due_at,
            touched_at=r.touched_at,
            last_touch_at=r.last_touch_at,
            breached_at=r.breached_at,
            watch_owner_id=r.watch_owner_id,
            watch_since=r.watch_since,
        )
        for r in conn.execute(query)
    ]


def record_owner(conn: sa.Connection, record_uid: str) -> RecordOwner | None:
    """The record's owner as last pulled, and when the CRM last modified the record."""
    row = conn.execute(
        sa.select(crm_records.c.owner_id, crm_records.c.modified_at).where(
            crm_records.c.uid == record_uid
        )
    ).first()
    return None if row is None else RecordOwner(row.owner_id, row.modified_at)


def sales_touch_times(
    conn: sa.Connection, person_id: int, owner_ids: Sequence[str], since: datetime
) -> list[datetime]:
    """When one of ``owner_ids`` logged a task, call, meeting or email on the person since
    ``since``."""
    query = (
        sa.select(activities.c.occurred_at)
        .where(
            activities.c.person_id == person_id,
            activities.c.actor_id.in_(sorted(set(owner_ids))),
            activities.c.kind.in_(sorted(SALES_TOUCH_KINDS)),
            activities.c.deleted.is_(False),
            activities.c.occurred_at >= since,
        )
        .order_by(activities.c.occurred_at)
    )
    return list(conn.execute(query).scalars())


def held_due(conn: sa.Connection, now: datetime) -> list[int]:
    query = sa.select(handoffs.c.person_id).where(
        handoffs.c.state == HELD, handoffs.c.hold_until <= now
    )
    return list(conn.execute(query).scalars())


def mark_dirty(conn: sa.Connection, person_ids: Iterable[int], now: datetime) -> None:
    for part in chunks(list(person_ids)):
        conn.execute(
            sa.update(people)
            .where(among(conn, people.c.id, part))
            .values(dirty=True, updated_at=now)
        )


def account_owners(conn: sa.Connection, source: str, domains: Iterable[str]) -> dict[str, str]:
    """Email domain -> owner of the most recently created Contact there (the account's rep).

    By creation, not modification: LeadSync's own write-backs move a Contact's modification
    stamp, and the rep a lead is routed to must not depend on which Contact it wrote last."""
    wanted = sorted({d for d in domains if d})
    owners: dict[str, str] = {}
    for part in chunks(wanted):
        query = (
            sa.select(crm_records.c.email_domain, crm_records.c.owner_id)
            .where(
                among(conn, crm_records.c.email_domain, part),
                crm_records.c.source == source,
                crm_records.c.object_type == "Contact",
                crm_records.c.owner_id.is_not(None),
                crm_records.c.deleted.is_(False),
            )
            .order_by(
                sa.func.coalesce(crm_records.c.created_at, crm_records.c.modified_at),
                crm_records.c.external_id,
            )
        )
        owners.update({domain: owner for domain, owner in conn.execute(query)})
    return owners


def load_routing_state(conn: sa.Connection, scope: str) -> RoutingState:
    row = conn.execute(
        sa.select(routing_state.c.state).where(routing_state.c.scope == scope)
    ).scalar()
    return RoutingState.from_dict(row) if row else RoutingState()


def save_routing_state(conn: sa.Connection, scope: str, state: RoutingState, now: datetime) -> None:
    data = state.to_dict()
    updated = conn.execute(
        sa.update(routing_state)
        .where(routing_state.c.scope == scope)
        .values(state=data, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(sa.insert(routing_state).values(scope=scope, state=data, updated_at=now))


def digest_leads(conn: sa.Connection, owner_id: str, digest_key: str) -> list[dict[str, Any]]:
    """The digest entries stored with every hand-off that joined one rep's digest."""
    query = (
        sa.select(handoffs.c.decision)
        .where(handoffs.c.owner_id == owner_id, handoffs.c.mode == "daily_digest")
        .order_by(handoffs.c.id)
    )
    return [
        d["digest"]
        for d in conn.execute(query).scalars()
        if d and d.get("digest", {}).get("key") == digest_key
    ]


def person_handoffs(conn: sa.Connection, person_id: int) -> list[dict[str, Any]]:
    """Every hand-off and recycle of one person, oldest first, for ``leadsync explain``."""
    rows: list[dict[str, Any]] = []
    for row in conn.execute(
        sa.select(handoffs).where(handoffs.c.person_id == person_id).order_by(handoffs.c.id)
    ):
        rows.append({"kind": "handoff", **dict(row._mapping)})
    for row in conn.execute(
        sa.select(recycles).where(recycles.c.person_id == person_id).order_by(recycles.c.id)
    ):
        rows.append({"kind": "recycle", **dict(row._mapping)})
    return rows


def handoff_summary(conn: sa.Connection, limit: int = 20) -> dict[str, Any]:
    """Hand-offs and recycles by state, and the hand-offs waiting with a reason, for status."""
    by_state = {
        state: n
        for state, n in conn.execute(
            sa.select(handoffs.c.state, sa.func.count()).group_by(handoffs.c.state)
        )
    }
    recycled = {
        state: n
        for state, n in conn.execute(
            sa.select(recycles.c.state, sa.func.count()).group_by(recycles.c.state)
        )
    }
    breached = conn.execute(
        sa.select(sa.func.count()).where(handoffs.c.breached_at.is_not(None))
    ).scalar_one()
    waiting = [
        {"record": row.record_uid, "queued_at": row.queued_at, "why": row.note}
        for row in conn.execute(
            sa.select(handoffs.c.record_uid, handoffs.c.queued_at, handoffs.c.note)
            .where(handoffs.c.state == QUEUED, handoffs.c.note.is_not(None))
            .order_by(handoffs.c.id)
            .limit(limit)
        )
    ]
    return {
        "handoffs": by_state,
        "recycles": recycled,
        "sla_breaches": breached,
        "unrouted": waiting,
    }


def recent_handoffs(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` hand-offs, newest first, every column."""
    query = sa.select(handoffs).order_by(handoffs.c.id.desc()).limit(limit)
    return [dict(row._mapping) for row in conn.execute(query)]


def sla_breaches(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """The ``limit`` hand-offs that breached their SLA most recently, latest breach first."""
    query = (
        sa.select(handoffs)
        .where(handoffs.c.breached_at.is_not(None))
        .order_by(handoffs.c.breached_at.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def recent_recycles(conn: sa.Connection, limit: int) -> list[dict[str, Any]]:
    """The newest ``limit`` recycles, newest first, each with the person's ``email_norm``."""
    query = (
        sa.select(recycles, people.c.email_norm)
        .join(people, people.c.id == recycles.c.person_id)
        .order_by(recycles.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def results_of(conn: sa.Connection, person_ids: Sequence[int]) -> dict[int, Mapping[str, Any]]:
    """The stored ``Result.to_dict()`` of each person that has one."""
    out: dict[int, Mapping[str, Any]] = {}
    if person_ids:
        query = sa.select(scores.c.person_id, scores.c.result).where(
            among(conn, scores.c.person_id, list(person_ids))
        )
        out.update({pid: result for pid, result in conn.execute(query)})
    return out


def was_recycled(conn: sa.Connection, person_id: int) -> bool:
    """Whether the person was ever sent back to nurture."""
    count = conn.execute(sa.select(people.c.recycle_count).where(people.c.id == person_id)).scalar()
    return bool(count)


def status_touch(conn: sa.Connection, item: OpenHandoff, set_status: str | None) -> datetime | None:
    """A status sales changed after the hand-off counts as a touch, at the record's modstamp."""
    row = conn.execute(
        sa.select(crm_records.c.status, crm_records.c.modified_at).where(
            crm_records.c.uid == item.record_uid
        )
    ).first()
    if row is None or row.modified_at < item.handed_off_at:
        return None
    if set_status is None or (row.status or "").casefold() == set_status.casefold():
        return None
    return row.modified_at
