"""The scoring queue: people whose inputs changed, their inputs, and their saved results."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.store.bulk_insert import insert_rows
from leadsync.store.bulk_update import update_rows
from leadsync.store.identity import chunks, refresh_planner_stats
from leadsync.store.members import among
from leadsync.store.raw_reads import json_value, maybe_utc, raw, utc
from leadsync.store.schema import (
    activities,
    crm_records,
    people,
    returning_people,
    score_history,
    scores,
)
from leadsync.store.writes import queue_writes


@dataclass(frozen=True, slots=True)
class StoredRecord:
    id: int
    uid: str
    source: str
    object_type: str
    external_id: str
    email: str | None
    attributes: Mapping[str, Any]
    owner_id: str | None
    status: str | None
    opted_out: bool
    account_id: str | None
    converted_at: datetime | None
    modified_at: datetime
    created_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class StoredActivity:
    uid: str
    kind: str
    occurred_at: datetime
    name: str | None
    campaign_type: str | None
    member_status: str | None
    url: str | None
    actor_id: str | None
    #: Seconds before and after ``occurred_at`` the true instant may lie (0, 0: exact).
    early_s: int = 0
    late_s: int = 0


@dataclass(frozen=True, slots=True)
class PersonInputs:
    person_id: int
    email: str | None
    recycled_at: datetime | None
    recycle_count: int
    records: tuple[StoredRecord, ...]
    activities: tuple[StoredActivity, ...]
    previous: Mapping[str, Any] | None = None
    recycle_reason: str | None = None


@dataclass(frozen=True, slots=True)
class ScoreRow:
    """A person's new result as the engine computed it."""

    person_id: int
    fit: str
    score: int
    readiness: str
    team: str
    cell: str
    outputs: Mapping[str, Any]
    result: Mapping[str, Any]
    cause: Mapping[str, Any] = field(default_factory=dict)
    #: The account the person rolls up to (account id or company domain), when known.
    account_key: str | None = None
    #: Fingerprint of the model that made it ("" for a scorer without one).
    model: str = ""


@dataclass(slots=True)
class SaveCounts:
    scored: int = 0
    changed: int = 0
    writes_queued: int = 0


@dataclass(frozen=True, slots=True)
class Holds:
    """Who is neither scored nor acted on in this cycle, and why."""

    #: Connectors whose last pull did not complete: people with a record or an activity
    #: from one of them wait until it does (see ``leadsync.store.runs.PullGap``).
    sources: tuple[str, ...] = ()
    #: People back after ``forget`` wait until they are re-read whole (``store.returning``).
    returning: bool = False
    #: Everyone waits: a CRM whose pull failed has never completed one, so nobody can tell
    #: whom it holds.
    everyone: bool = False

    def __bool__(self) -> bool:
        return bool(self.sources) or self.returning or self.everyone

    def holds(self, person_id: Any) -> Any:
        """SQL: whether the person with ``person_id`` is held."""
        if self.everyone:
            return sa.true()
        clauses = []
        if self.sources:
            clauses.append(
                sa.exists().where(
                    crm_records.c.person_id == person_id,
                    crm_records.c.source.in_(list(self.sources)),
                )
            )
            clauses.append(
                sa.exists().where(
                    activities.c.person_id == person_id,
                    sa.or_(*(activities.c.uid.startswith(f"{s}:") for s in self.sources)),
                )
            )
        if self.returning:
            clauses.append(sa.exists().where(returning_people.c.person_id == person_id))
        return sa.or_(*clauses) if clauses else sa.false()


NO_HOLDS = Holds()


def dirty_people(
    conn: sa.Connection, after_id: int, limit: int, held: Holds = NO_HOLDS
) -> list[int]:
    """People queued for scoring, in id order, but those ``held`` (they stay queued)."""
    query = (
        sa.select(people.c.id)
        .where(people.c.dirty.is_(True), people.c.id > after_id)
        .order_by(people.c.id)
        .limit(limit)
    )
    if held:
        query = query.where(~held.holds(people.c.id))
    return list(conn.execute(query).scalars())


def waiting_people(conn: sa.Connection, held: Holds, sample: int = 10) -> tuple[int, list[str]]:
    """How many queued people are ``held``, and a few of their emails."""
    if not held:
        return 0, []
    where = [people.c.dirty.is_(True), held.holds(people.c.id)]
    count = conn.execute(sa.select(sa.func.count()).select_from(people).where(*where))
    emails = conn.execute(
        sa.select(sa.func.coalesce(people.c.email_norm, sa.cast(people.c.id, sa.String)))
        .where(*where)
        .order_by(people.c.id)
        .limit(sample)
    )
    return int(count.scalar_one()), [str(e) for e in emails.scalars()]


def held_among(conn: sa.Connection, person_ids: Sequence[int], held: Holds) -> set[int]:
    """Which of ``person_ids`` are ``held``."""
    if not held or not person_ids:
        return set()
    out: set[int] = set()
    for part in chunks(sorted(set(person_ids))):
        query = sa.select(people.c.id).where(
            among(conn, people.c.id, part), held.holds(people.c.id)
        )
        out.update(conn.execute(query).scalars())
    return out


def history_mark(conn: sa.Connection) -> int:
    """The newest score-history id, so later changes can be told apart (see ``cell_moves``)."""
    return int(
        conn.execute(sa.select(sa.func.coalesce(sa.func.max(score_history.c.id), 0))).scalar_one()
    )


def cell_moves(conn: sa.Connection, after_id: int) -> dict[str, int]:
    """``{"old -> new": people}`` for cell changes recorded after ``after_id`` (new: "new")."""
    query = (
        sa.select(score_history.c.old_cell, score_history.c.new_cell, sa.func.count())
        .where(score_history.c.id > after_id, score_history.c.old_cell.is_distinct_from(
            score_history.c.new_cell))
        .group_by(score_history.c.old_cell, score_history.c.new_cell)
    )  # fmt: skip
    return {f"{old or 'new'} -> {new}": n for old, new, n in conn.execute(query)}


def dirty_count(conn: sa.Connection, held: Holds = NO_HOLDS) -> int:
    """How many people are queued for this score phase (the size of its progress bar)."""
    query = sa.select(sa.func.count()).select_from(people).where(people.c.dirty.is_(True))
    if held:
        query = query.where(~held.holds(people.c.id))
    return int(conn.execute(query).scalar_one())


def scored_people(
    conn: sa.Connection, after_id: int, limit: int, held: Holds = NO_HOLDS
) -> list[int]:
    """Active people with a score, in id order (the daily decay pass walks them all), but
    those ``held``."""
    query = (
        sa.select(scores.c.person_id)
        .join(people, people.c.id == scores.c.person_id)
        .where(people.c.active.is_(True), scores.c.person_id > after_id)
        .order_by(scores.c.person_id)
        .limit(limit)
    )
    if held:
        query = query.where(~held.holds(scores.c.person_id))
    return list(conn.execute(query).scalars())


def mark_all_dirty(conn: sa.Connection, now: datetime) -> int:
    """Queue everyone for re-scoring (a backfill after a model change)."""
    result = conn.execute(
        sa.update(people).where(people.c.active.is_(True)).values(dirty=True, updated_at=now)
    )
    return result.rowcount or 0


_ACTIVITY_COLUMNS = [activities.c[f.name] for f in fields(StoredActivity)]


def live_records(conn: sa.Connection, which: Any) -> dict[int, list[StoredRecord]]:
    """Person id -> the person's live (undeleted, unmerged) records matching ``which`` (a
    condition on ``crm_records``), in the order the store met them."""
    c = crm_records.c
    query = (
        sa.select(
            c.person_id, c.id, c.uid, c.source, c.object_type, c.external_id, c.email_norm,
            raw(c.attributes), c.owner_id, c.status, c.opted_out, c.account_id,
            raw(c.converted_at), raw(c.modified_at), raw(c.created_at),
        )
        .where(which, c.deleted.is_(False), c.merged_into.is_(None))
        .order_by(c.id)
    )  # fmt: skip
    found: dict[int, list[StoredRecord]] = defaultdict(list)
    for row in conn.execute(query).all():
        (pid, rid, uid, source, otype, xid, email, attrs, owner, status, opted, account,
         converted, modified, created) = row  # fmt: skip
        found[pid].append(
            StoredRecord(
                id=rid, uid=uid, source=source, object_type=otype, external_id=xid,
                email=email, attributes=json_value(attrs), owner_id=owner, status=status,
                opted_out=bool(opted), account_id=account, converted_at=maybe_utc(converted),
                modified_at=utc(modified), created_at=maybe_utc(created),
            )
        )  # fmt: skip
    return found


def load_inputs(conn: sa.Connection, person_ids: Sequence[int]) -> list[PersonInputs]:
    """Live records, counted activities and the previous result of each active person."""
    ids = list(person_ids)
    records: dict[int, list[StoredRecord]] = defaultdict(list)
    acts: dict[int, list[StoredActivity]] = defaultdict(list)
    previous: dict[int, dict[str, Any]] = {}
    heads: dict[int, Any] = {}
    for part in chunks(ids):
        for row in conn.execute(
            sa.select(people).where(among(conn, people.c.id, part), people.c.active.is_(True))
        ):
            heads[row.id] = row
        for pid, found_records in live_records(
            conn, among(conn, crm_records.c.person_id, part)
        ).items():
            records[pid] += found_records
        # Selected in StoredActivity's field order and unpacked: a backfill loads ten
        # activities a person, and reading each column of a Row by name cost more than the query.
        found = conn.execute(
            sa.select(activities.c.person_id, *_ACTIVITY_COLUMNS)
            .where(among(conn, activities.c.person_id, part), activities.c.deleted.is_(False))
            .order_by(activities.c.occurred_at, activities.c.id)
        )
        for person_id, *values in found:
            acts[person_id].append(StoredActivity(*values))
        for row in conn.execute(sa.select(scores).where(among(conn, scores.c.person_id, part))):
            previous[row.person_id] = dict(row._mapping)
    return [
        PersonInputs(
            person_id=pid,
            email=heads[pid].email_norm,
            recycled_at=heads[pid].recycled_at,
            recycle_count=heads[pid].recycle_count,
            records=tuple(records[pid]),
            activities=tuple(acts[pid]),
            previous=previous.get(pid),
            recycle_reason=heads[pid].recycle_reason,
        )
        for pid in ids
        if pid in heads and records[pid]
    ]


def _update_people(conn: sa.Connection, rows: Sequence[ScoreRow], done_ids: Sequence[int]) -> None:
    """Take ``done_ids`` off the queue and remember each scored person's account (so the
    roll-up can find an account's members), in one update of each person's row."""
    done = set(done_ids)
    cleared = [row for row in rows if row.person_id in done]
    update_rows(
        conn,
        people,
        "id",
        [{"id": row.person_id, "dirty": False, "account_key": row.account_key} for row in cleared],
    )
    others = [row for row in rows if row.person_id not in done]
    update_rows(
        conn, people, "id", [{"id": r.person_id, "account_key": r.account_key} for r in others]
    )
    scored = {row.person_id for row in rows}
    unscored = [pid for pid in done_ids if pid not in scored]
    for part in chunks(unscored):
        conn.execute(sa.update(people).where(among(conn, people.c.id, part)).values(dirty=False))


_UPDATE_SCORE = sa.update(scores).where(scores.c.person_id == sa.bindparam("_person"))


def save_scores(
    conn: sa.Connection, rows: Sequence[ScoreRow], done_ids: Sequence[int], now: datetime
) -> SaveCounts:
    """Save results, record history for changes, queue the CRM writes that differ.

    ``done_ids`` are every person taken from the queue in this batch (including inactive
    ones that produced no row); their dirty flag clears in the same transaction.
    """
    counts = SaveCounts(scored=len(rows))
    ids = [r.person_id for r in rows]
    old: dict[int, Any] = {}
    for part in chunks(ids):
        for stored in conn.execute(sa.select(scores).where(among(conn, scores.c.person_id, part))):
            old[stored.person_id] = stored
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    for row in rows:
        values = {
            "fit": row.fit,
            "score": row.score,
            "readiness": row.readiness,
            "team": row.team,
            "cell": row.cell,
            "outputs": dict(row.outputs),
            "result": dict(row.result),
            "scored_at": now,
            "model": row.model,
        }
        before = old.get(row.person_id)
        if before is None:
            inserts.append({"person_id": row.person_id, **values})
        elif (
            before.outputs != values["outputs"]
            or before.result != values["result"]
            or before.model != row.model
        ):
            updates.append({"_person": row.person_id, **values})
        else:
            continue
        counts.changed += 1
        if before is None or before.score != row.score or before.cell != row.cell:
            history.append(
                {
                    "person_id": row.person_id,
                    "at": now,
                    "old_score": before.score if before is not None else None,
                    "new_score": row.score,
                    "old_cell": before.cell if before is not None else None,
                    "new_cell": row.cell,
                    "cause": dict(row.cause),
                }
            )
    insert_rows(conn, scores, inserts)
    for part in chunks(updates):
        conn.execute(_UPDATE_SCORE, part)
    insert_rows(conn, score_history, history)
    counts.writes_queued = queue_writes(conn, {r.person_id: r.outputs for r in rows}, now)
    _update_people(conn, rows, done_ids)
    refresh_planner_stats(conn, (scores, score_history, people))
    return counts
