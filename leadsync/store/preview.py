"""What ``leadsync preview`` reads: everyone's scoring inputs, a range of person ids at a time.

The preview re-scores the whole store with a candidate model and writes nothing, so it reads
by id range (one indexed range scan per table) instead of the score phase's lists of dirty
ids, and only what scoring and the hand-off decision need: the previous result is read as its
cell and score, not its stored explanation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from leadsync.store.raw_reads import raw, utc
from leadsync.store.schema import activities, crm_records, people, scores
from leadsync.store.scoring import PersonInputs, live_records


@dataclass(frozen=True, slots=True)
class Before:
    """A person's stored result: where the preview's moves start."""

    cell: str
    score: int


def person_id_range(conn: sa.Connection) -> tuple[int, int] | None:
    """The lowest and highest id of an active person; ``None`` for an empty store."""
    low, high = conn.execute(
        sa.select(sa.func.min(people.c.id), sa.func.max(people.c.id)).where(
            people.c.active.is_(True)
        )
    ).one()
    return None if low is None else (int(low), int(high))


@dataclass(frozen=True, slots=True)
class PreviewInputs:
    """A slice of people to preview: their inputs as ``load_inputs`` gives them but without
    activities or previous result; their activities, in time order, as ``inputs_between``'s
    caller made them; their stored results."""

    people: list[PersonInputs]
    activities: dict[int, list[Any]]
    before: dict[int, Before]


def inputs_between(
    conn: sa.Connection, low: int, high: int, activity: Callable[..., Any]
) -> PreviewInputs:
    """The active people with ``low <= id <= high`` who have a live record, each activity
    made by ``activity`` from an ``ACTIVITY_ROW``'s values (the engine makes the model's)."""
    heads = {
        row.id: row
        for row in conn.execute(
            sa.select(
                people.c.id,
                people.c.email_norm,
                people.c.recycled_at,
                people.c.recycle_count,
                people.c.recycle_reason,
            ).where(people.c.id.between(low, high), people.c.active.is_(True))
        )
    }
    records = live_records(conn, crm_records.c.person_id.between(low, high))
    acts = _activities_between(conn, low, high, activity)
    before = {
        row.person_id: Before(row.cell, row.score)
        for row in conn.execute(
            sa.select(scores.c.person_id, scores.c.cell, scores.c.score).where(
                scores.c.person_id.between(low, high)
            )
        )
    }
    inputs = [
        PersonInputs(
            person_id=pid,
            email=head.email_norm,
            recycled_at=head.recycled_at,
            recycle_count=head.recycle_count,
            records=tuple(records[pid]),
            activities=(),
            previous=None,
            recycle_reason=head.recycle_reason,
        )
        for pid, head in sorted(heads.items())
        if records[pid]
    ]
    return PreviewInputs(inputs, acts, before)


#: The columns of an activity row ``inputs_between`` gives, in this order (the order of
#: ``leadsync.model.Activity``'s fields, so the engine builds one from a row's values).
ACTIVITY_ROW = (
    "uid", "kind", "occurred_at", "name", "campaign_type", "member_status", "url",
    "early_s", "late_s",
)  # fmt: skip


def _activities_between(
    conn: sa.Connection, low: int, high: int, make: Callable[..., Any]
) -> dict[int, list[Any]]:
    """Live activities of people ``low`` to ``high``, each person's in time order, each made
    by ``make`` from an ``ACTIVITY_ROW``'s values: no intermediate object, and the driver's
    rows as they come (no SQLAlchemy row per activity), since ten activities a person were
    half of a preview's time."""
    a = activities.c
    query = (
        sa.select(
            a.person_id, a.uid, a.kind, raw(a.occurred_at), a.name, a.campaign_type,
            a.member_status, a.url, a.early_s, a.late_s,
        )
        .where(a.person_id.between(low, high), a.deleted.is_(False))
        .order_by(a.occurred_at, a.id)
    )  # fmt: skip
    result = conn.execute(query)
    try:
        rows = result.cursor.fetchall()
    finally:
        result.close()
    found: dict[int, list[Any]] = defaultdict(list)
    for pid, uid, kind, at, name, ctype, status, url, early, late in rows:
        found[pid].append(make(uid, kind, utc(at), name, ctype, status, url, early, late))
    return found
