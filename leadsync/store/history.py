"""The past as the report and ``tune`` read it: every person's records and activities, when
they were first scored and converted, and the score history, hand-offs and recycles of a
period.

Scoring reads the present (``scoring.load_inputs``: active people, live records); a report
reads everyone who has a history, so a person whose records were all deleted or merged away
still counts, read from the records they had. Both return the store's own values
(``PersonInputs``), which the engine turns into the model's (``engine.scoring``): the report
sees the very activities scoring does, time precision included.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime

import sqlalchemy as sa

from leadsync.store.identity import chunks
from leadsync.store.members import among
from leadsync.store.schema import (
    activities,
    crm_records,
    handoffs,
    people,
    recycles,
    score_history,
)
from leadsync.store.scoring import PersonInputs, StoredActivity, StoredRecord


@dataclass(frozen=True, slots=True)
class PersonHistory:
    """One person's whole history in the store."""

    #: ``records`` are the live ones, or every one the person had when none is live;
    #: ``email`` is their first record's.
    inputs: PersonInputs
    first_scored_at: datetime | None
    #: The earliest conversion (see ``conversions``).
    converted_at: datetime | None
    #: When the person entered the CRM: the earliest creation time of any record they had
    #: (a Contact converted from a Lead entered when the Lead was created); None when no
    #: record's is known (stored before creation times were pulled).
    created_at: datetime | None = None


def _record_column(name: str) -> sa.ColumnElement[object]:
    return crm_records.c.email_norm.label(name) if name == "email" else crm_records.c[name]


# Selected in the value's field order and unpacked, as ``scoring.load_inputs`` does.
_RECORD_COLUMNS = [_record_column(f.name) for f in fields(StoredRecord)]
_ACTIVITY_COLUMNS = [activities.c[f.name] for f in fields(StoredActivity)]


def histories(conn: sa.Connection, stages: Iterable[str] = ()) -> Iterator[PersonHistory]:
    """Every person with at least one CRM record, in id order, a batch of queries at a time.
    ``stages`` are the lifecycle stages that count as converted (see ``conversions``)."""
    stage_list = list(stages)
    ids = list(conn.execute(sa.select(people.c.id).order_by(people.c.id)).scalars())
    for part in chunks(ids):
        yield from _histories(conn, part, stage_list)


def _histories(
    conn: sa.Connection, part: Sequence[int], stages: Sequence[str]
) -> Iterator[PersonHistory]:
    heads = {
        row.id: row for row in conn.execute(sa.select(people).where(among(conn, people.c.id, part)))
    }
    records: dict[int, list[StoredRecord]] = defaultdict(list)
    live: dict[int, list[StoredRecord]] = defaultdict(list)
    found = conn.execute(
        sa.select(crm_records.c.person_id, crm_records.c.deleted, crm_records.c.merged_into)
        .add_columns(*_RECORD_COLUMNS)
        .where(among(conn, crm_records.c.person_id, part))
        .order_by(crm_records.c.id)
    )
    for person_id, deleted, merged_into, *values in found:
        record = StoredRecord(*values)
        if not isinstance(record.attributes, dict):  # a hand-edited row: read as no attributes
            record = replace(record, attributes={})
        records[person_id].append(record)
        if not deleted and merged_into is None:
            live[person_id].append(record)
    acts: dict[int, list[StoredActivity]] = defaultdict(list)
    for person_id, *values in conn.execute(
        sa.select(activities.c.person_id, *_ACTIVITY_COLUMNS)
        .where(among(conn, activities.c.person_id, part), activities.c.deleted.is_(False))
        .order_by(activities.c.occurred_at, activities.c.id)
    ):
        acts[person_id].append(StoredActivity(*values))
    first_scored = dict(
        conn.execute(
            sa.select(score_history.c.person_id, sa.func.min(score_history.c.at))
            .where(among(conn, score_history.c.person_id, part))
            .group_by(score_history.c.person_id)
        ).all()
    )
    converted = conversions(conn, part, stages)
    created = dict(
        conn.execute(
            sa.select(crm_records.c.person_id, sa.func.min(crm_records.c.created_at))
            .where(among(conn, crm_records.c.person_id, part))
            .group_by(crm_records.c.person_id)
        ).all()
    )
    for pid in part:
        head = heads.get(pid)
        if head is None or not records[pid]:
            continue
        inputs = PersonInputs(
            person_id=pid,
            email=records[pid][0].email,
            recycled_at=head.recycled_at,
            recycle_count=head.recycle_count,
            records=tuple(live[pid] or records[pid]),
            activities=tuple(acts[pid]),
            recycle_reason=head.recycle_reason,
        )
        yield PersonHistory(inputs, first_scored.get(pid), converted.get(pid), created.get(pid))


def conversions(
    conn: sa.Connection, person_ids: Sequence[int] | None = None, stages: Iterable[str] = ()
) -> dict[int, datetime]:
    """When each person converted: the earliest ``converted_at`` of any of their records
    (converted and merged ones included). With ``stages``, a record whose ``lifecycle_stage``
    attribute is one of them also counts, dated by its last modification."""
    wanted = {s.strip().casefold() for s in stages if s.strip()}
    columns = (
        crm_records.c.person_id,
        crm_records.c.converted_at,
        crm_records.c.modified_at,
        crm_records.c.attributes,
    )
    query = sa.select(*columns)
    if not wanted:
        query = query.where(crm_records.c.converted_at.is_not(None))
    found: dict[int, datetime] = {}
    parts: Iterable[Sequence[int] | None] = (
        [None] if person_ids is None else chunks(list(person_ids))
    )
    for part in parts:
        bounded = query if part is None else query.where(among(conn, crm_records.c.person_id, part))
        for pid, converted_at, modified_at, attrs in conn.execute(bounded):
            when = converted_at
            if when is None and wanted:
                stage = attrs.get("lifecycle_stage") if isinstance(attrs, dict) else None
                if isinstance(stage, str) and stage.strip().casefold() in wanted:
                    when = modified_at
            if when is not None and (pid not in found or when < found[pid]):
                found[pid] = when
    return found


@dataclass(frozen=True, slots=True)
class CellEntry:
    """A person entering a matrix cell (their first cell, or a move to another)."""

    person_id: int
    at: datetime
    cell: str


def cell_entries(conn: sa.Connection, start: datetime, end: datetime) -> Iterator[CellEntry]:
    """Entries into matrix cells between ``start`` and ``end`` (inclusive), oldest first."""
    query = (
        sa.select(score_history.c.person_id, score_history.c.at, score_history.c.new_cell)
        .where(
            score_history.c.at >= start,
            score_history.c.at <= end,
            sa.or_(
                score_history.c.old_cell.is_(None),
                score_history.c.old_cell != score_history.c.new_cell,
            ),
        )
        .order_by(score_history.c.at, score_history.c.id)
    )
    for pid, at, cell in conn.execute(query):
        yield CellEntry(pid, at, cell)


@dataclass(frozen=True, slots=True)
class HandedOff:
    person_id: int
    readiness: str | None
    handed_off_at: datetime
    #: The rep's first touch after the hand-off, if any yet.
    touched_at: datetime | None


def handed_off_since(conn: sa.Connection, start: datetime) -> Iterator[HandedOff]:
    """Hand-offs made at or after ``start``."""
    query = sa.select(
        handoffs.c.person_id,
        handoffs.c.readiness,
        handoffs.c.handed_off_at,
        handoffs.c.touched_at,
    ).where(handoffs.c.handed_off_at.is_not(None), handoffs.c.handed_off_at >= start)
    for pid, readiness, handed, touched in conn.execute(query):
        yield HandedOff(pid, readiness, handed, touched)


def people_handed_off_since(conn: sa.Connection, start: datetime) -> int:
    """How many people were handed off at or after ``start``."""
    query = sa.select(sa.func.count(sa.distinct(handoffs.c.person_id))).where(
        handoffs.c.handed_off_at.is_not(None), handoffs.c.handed_off_at >= start
    )
    return int(conn.execute(query).scalar_one())


@dataclass(frozen=True, slots=True)
class Recycled:
    person_id: int
    reason: str | None
    recycled_at: datetime
    requalified_at: datetime | None


def recycled_since(conn: sa.Connection, start: datetime) -> Iterator[Recycled]:
    """Recycles made at or after ``start``."""
    query = sa.select(
        recycles.c.person_id, recycles.c.reason, recycles.c.recycled_at, recycles.c.requalified_at
    ).where(recycles.c.recycled_at >= start)
    for pid, reason, recycled_at, requalified_at in conn.execute(query):
        yield Recycled(pid, reason, recycled_at, requalified_at)
