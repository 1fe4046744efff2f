"""The action outbox: owner changes, tasks and enrolments owed to a CRM, exactly once.

An action is queued in the transaction that decides it (a hand-off, a recycle, an escalation)
and leaves the outbox only in the transaction that records the CRM's confirmation. Its
``key`` is also the CRM-side idempotency key (a task's external id), so an action re-sent
after a crash upserts instead of duplicating. ``after`` names the action that must be
confirmed first: a hand-off's task waits for its owner change, so a rep is never tasked for
a lead the CRM did not give them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from leadsync.records import RecordRef, WriteOutcome
from leadsync.store.identity import chunks, mark_dirty
from leadsync.store.members import among
from leadsync.store.schema import actions, crm_records

PENDING, DONE, PARKED = "pending", "done", "parked"
#: Action kinds, in the order a cycle sends them.
KINDS = ("owner", "enrol", "task")


@dataclass(frozen=True, slots=True)
class DueAction:
    id: int
    key: str
    kind: str
    ref: RecordRef
    payload: Mapping[str, Any]
    attempts: int
    handoff_id: int | None
    recycle_id: int | None


@dataclass(slots=True)
class ActionCounts:
    done: int = 0
    rejected: int = 0
    parked: int = 0


def ref_of(uid: str) -> RecordRef:
    """The ``RecordRef`` a stored uid (``source:object:id``) names."""
    source, object_type, external_id = uid.split(":", 2)
    return RecordRef(source, object_type, external_id)


def queue_action(
    conn: sa.Connection,
    *,
    key: str,
    kind: str,
    ref: RecordRef,
    payload: Mapping[str, Any],
    now: datetime,
    after: str | None = None,
    handoff_id: int | None = None,
    recycle_id: int | None = None,
    not_before: datetime | None = None,
) -> None:
    """Owe ``kind`` to the record's CRM, from ``not_before`` (default: now). Re-queueing a key
    with a new payload re-opens it.

    A daily digest is one task per rep and day, sent when that day's window closes: each lead
    that joins it before then re-queues the same key with the longer list.
    """
    first_try = max(now, not_before) if not_before is not None else now
    if kind not in KINDS:
        raise ValueError(f"unknown action kind {kind!r}; one of {', '.join(KINDS)}")
    existing = conn.execute(
        sa.select(actions.c.id, actions.c.payload, actions.c.state).where(actions.c.key == key)
    ).first()
    if existing is None:
        conn.execute(
            sa.insert(actions).values(
                key=key,
                kind=kind,
                source=ref.source,
                record_uid=str(ref),
                payload=dict(payload),
                after=after,
                handoff_id=handoff_id,
                recycle_id=recycle_id,
                state=PENDING,
                attempts=0,
                next_attempt_at=first_try,
                created_at=now,
            )
        )
        return
    if existing.payload == dict(payload) and existing.state != PARKED:
        return
    conn.execute(
        sa.update(actions)
        .where(actions.c.id == existing.id)
        .values(
            payload=dict(payload),
            record_uid=str(ref),
            state=PENDING,
            attempts=0,
            next_attempt_at=first_try,
            error_code=None,
            error_message=None,
            done_at=None,
        )
    )


def due_actions(
    conn: sa.Connection, source: str, kind: str, now: datetime, limit: int
) -> list[DueAction]:
    """Pending actions of one kind whose time has come and whose prerequisite is confirmed."""
    prior = actions.alias("prior")
    query = (
        sa.select(actions)
        .outerjoin(prior, prior.c.key == actions.c.after)
        .where(
            actions.c.source == source,
            actions.c.kind == kind,
            actions.c.state == PENDING,
            actions.c.next_attempt_at <= now,
            sa.or_(actions.c.after.is_(None), prior.c.state == DONE),
        )
        .order_by(actions.c.id)
        .limit(limit)
    )
    return [
        DueAction(
            id=row.id,
            key=row.key,
            kind=row.kind,
            ref=ref_of(row.record_uid),
            payload=row.payload,
            attempts=row.attempts,
            handoff_id=row.handoff_id,
            recycle_id=row.recycle_id,
        )
        for row in conn.execute(query)
    ]


def record_action_outcomes(
    conn: sa.Connection,
    due: Sequence[DueAction],
    outcomes: Sequence[WriteOutcome],
    now: datetime,
    *,
    max_attempts: int,
    backoff: timedelta,
) -> ActionCounts:
    """Settle each action with the CRM's answer: done, retry later with backoff, or park."""
    if len(due) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes for {len(due)} actions")
    counts = ActionCounts()
    done_ids = [item.id for item, outcome in zip(due, outcomes, strict=True) if outcome.ok]
    for part in chunks(done_ids):
        conn.execute(
            sa.update(actions)
            .where(among(conn, actions.c.id, part))
            .values(state=DONE, done_at=now, error_code=None, error_message=None)
        )
    counts.done = len(done_ids)
    _note_own_changes(conn, [i for i, o in zip(due, outcomes, strict=True) if o.ok], now)
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.ok:
            continue
        attempts = item.attempts + 1
        error = outcome.error
        parked = attempts >= max_attempts and not (error is not None and error.retriable)
        conn.execute(
            sa.update(actions)
            .where(actions.c.id == item.id)
            .values(
                state=PARKED if parked else PENDING,
                attempts=attempts,
                next_attempt_at=now + backoff * (2 ** min(attempts - 1, 10)),
                error_code=error.code if error else "UNKNOWN",
                error_message=error.message if error else "the CRM gave no reason",
            )
        )
        counts.parked += parked
        counts.rejected += not parked
    return counts


def _note_own_changes(conn: sa.Connection, done: Sequence[DueAction], now: datetime) -> None:
    """The owner and status a confirmed owner change gave a record are what the CRM now
    holds: pulls leave LeadSync's own writes out (``Capabilities.skips_own_writes``), so the
    stored copy takes them here, or a later read would take the owner it had before for
    someone else's re-assignment (the hand-off's SLA watch follows the record's owner). Its
    person is scored again next cycle, as the record read back would have had them."""
    uids: list[str] = []
    for item in done:
        values = {k: item.payload.get(k) for k in ("owner_id", "status")}
        values = {k: v for k, v in values.items() if v is not None}
        if item.kind == "owner" and values:
            uids.append(str(item.ref))
            update = sa.update(crm_records).where(crm_records.c.uid == uids[-1])
            conn.execute(update.values(**values))
    for part in chunks(uids):
        people = sa.select(crm_records.c.person_id).where(among(conn, crm_records.c.uid, part))
        mark_dirty(conn, conn.execute(people).scalars(), now)


def retarget_to_successors(
    conn: sa.Connection, source: str, now: datetime
) -> list[tuple[str, str]]:
    """Point owed actions on a converted or merged record at the record that absorbed it.

    A lead sales converts while its hand-off is owed cannot take the owner change or the task
    any more (Salesforce: CANNOT_UPDATE_CONVERTED_LEAD); the person lives on as the Contact.
    Once a pull has seen the conversion, the action moves there, owed afresh (a park for that
    reason is undone). Returns ``(key, new record uid)`` per action moved.
    """
    moved: list[tuple[str, str]] = []
    # A successor may itself have been merged since: follow the chain a few links.
    for _ in range(3):
        rows = conn.execute(
            sa.select(actions.c.id, actions.c.key, crm_records.c.merged_into)
            .join(crm_records, crm_records.c.uid == actions.c.record_uid)
            .where(
                actions.c.source == source,
                actions.c.state.in_([PENDING, PARKED]),
                crm_records.c.merged_into.is_not(None),
                crm_records.c.merged_into.like(f"{source}:%"),
            )
        ).all()
        if not rows:
            break
        for row in rows:
            conn.execute(
                sa.update(actions)
                .where(actions.c.id == row.id)
                .values(
                    record_uid=row.merged_into,
                    state=PENDING,
                    attempts=0,
                    next_attempt_at=now,
                    error_code=None,
                    error_message=None,
                )
            )
            moved.append((row.key, row.merged_into))
    return moved


def defer_actions(conn: sa.Connection, due: Sequence[DueAction], until: datetime) -> None:
    """Push actions to ``until`` without counting an attempt (the CRM was unreachable)."""
    for part in chunks([item.id for item in due]):
        conn.execute(
            sa.update(actions).where(among(conn, actions.c.id, part)).values(next_attempt_at=until)
        )


def unfinished(
    conn: sa.Connection, *, handoff_ids: Sequence[int] = (), recycle_ids: Sequence[int] = ()
) -> set[tuple[str, int]]:
    """Which of these hand-offs / recycles still owe an action (``("handoff", id)`` ...)."""
    owing: set[tuple[str, int]] = set()
    for column, name, ids in (
        (actions.c.handoff_id, "handoff", handoff_ids),
        (actions.c.recycle_id, "recycle", recycle_ids),
    ):
        for part in chunks(list(ids)):
            query = (
                sa.select(column)
                .where(among(conn, column, part), actions.c.state != DONE)
                .distinct()
            )
            owing.update((name, value) for value in conn.execute(query).scalars())
    return owing


def replay_parked(conn: sa.Connection, source: str, now: datetime) -> int:
    """Give parked actions a fresh set of attempts (``leadsync sync --retry-failed``)."""
    result = conn.execute(
        sa.update(actions)
        .where(actions.c.source == source, actions.c.state == PARKED)
        .values(state=PENDING, attempts=0, next_attempt_at=now)
    )
    return result.rowcount or 0


def action_state(state: str, error_code: str | None) -> str:
    """What a screen calls an owed action: ``pending`` (the CRM has not refused it),
    ``retrying`` (the CRM refused it; it waits for its next try) or ``parked``."""
    if state == PARKED:
        return "parked"
    return "retrying" if error_code is not None else "pending"


def action_counts(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """``{source: {pending, retrying, parked}}`` of actions not yet done (``action_state``)."""
    query = (
        sa.select(
            actions.c.source,
            actions.c.state,
            actions.c.error_code.is_not(None).label("refused"),
            sa.func.count(),
        )
        .where(actions.c.state != DONE)
        .group_by(actions.c.source, actions.c.state, sa.text("3"))
    )
    out: dict[str, dict[str, int]] = {}
    for source, state, refused, n in conn.execute(query):
        bucket = out.setdefault(source, {"pending": 0, "retrying": 0, "parked": 0})
        bucket[action_state(state, "refused" if refused else None)] += n
    return out


#: The actions the CRM refused and that are still owed: what ``stuck_actions`` lists.
_STUCK = sa.and_(actions.c.state != DONE, actions.c.error_code.is_not(None))


def stuck_actions(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Refused actions (retrying or parked) with the CRM's message, newest first; ``state``
    is ``action_state``'s word, as ``action_counts`` counts them."""
    query = sa.select(actions).where(_STUCK).order_by(actions.c.id.desc()).limit(limit)
    return [
        {
            "key": row.key,
            "kind": row.kind,
            "record": row.record_uid,
            "state": action_state(row.state, row.error_code),
            "attempts": row.attempts,
            "error_code": row.error_code,
            "error_message": row.error_message,
        }
        for row in conn.execute(query)
    ]


def stuck_action_count(conn: sa.Connection) -> int:
    """How many actions ``stuck_actions`` would list without a limit."""
    query = sa.select(sa.func.count()).select_from(actions).where(_STUCK)
    return int(conn.execute(query).scalar_one())
