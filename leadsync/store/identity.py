"""Who is who: normalizing emails, fingerprinting records, moving history between people."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from leadsync.store.members import among
from leadsync.store.schema import (
    activities,
    crm_records,
    handoffs,
    pending_writes,
    people,
    recycles,
    returning_people,
    score_history,
    scores,
)

#: Values per ``IN``/``ANY`` lookup and rows per executemany. An ingest batch (5,000 records)
#: took ten statements for each lookup at 500: at 100k leads / 1M activities, 5,000 took
#: leadsync's CPU from 72.1 to 66.5 s and the activity pull from 40.0 to 36.3 s. SQLite
#: (3.32 and later) takes up to 32,766 parameters a statement.
_CHUNK = 5_000
#: A table is re-analyzed once it changed by this many rows and by as many as it holds.
_ANALYZE_MIN_CHANGES = 5_000


def fingerprint(values: Any) -> str:
    """Stable hash of JSON-able values: equal inputs, equal hash, on every run and machine."""
    blob: bytes | None
    try:
        blob = orjson.dumps(values, default=_json_default, option=_FINGERPRINT_JSON)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, which json writes as is
        blob = None
    if blob is None or not blob.isascii() or b"\x7f" in blob:
        # Fingerprints stored before orjson came from json.dumps, which escapes non-ASCII and
        # DEL (orjson writes both as they are); encoding those the same way keeps an upgrade
        # from re-scoring everyone with an accent.
        text = json.dumps(values, sort_keys=True, default=_json_default, separators=(",", ":"))
        blob = text.encode("ascii")
    return hashlib.sha1(blob, usedforsecurity=False).hexdigest()


#: orjson writes datetimes itself (ISO 8601); anything else JSON has no type for is its repr.
_FINGERPRINT_JSON = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # json.dumps' path; orjson writes datetimes the same way
    return repr(value)


def chunks(items: list[Any], size: int = _CHUNK) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def mark_dirty(conn: sa.Connection, person_ids: Iterable[int | None], now: datetime) -> None:
    ids = sorted({pid for pid in person_ids if pid is not None})
    for part in chunks(ids):
        conn.execute(
            sa.update(people)
            .where(among(conn, people.c.id, part), people.c.dirty.is_(False))
            .values(dirty=True, updated_at=now)
        )


def person_by_email(conn: sa.Connection, emails: Iterable[str]) -> dict[str, int]:
    """Map each email to the person of a live record with that email (lowest record id wins),
    else of a record merged into another (a CRM merge says its address is the survivor's
    person too, whichever the store met first). A deleted record's address is nobody's."""
    found: dict[str, int] = {}
    for part in chunks(sorted(set(emails))):
        merged = crm_records.c.merged_into.is_not(None)
        rows = conn.execute(
            sa.select(crm_records.c.email_norm, crm_records.c.person_id)
            .where(
                among(conn, crm_records.c.email_norm, part),
                sa.or_(crm_records.c.deleted.is_(False), merged),
            )
            .order_by(merged, crm_records.c.id)
        )
        for email, person_id in rows:
            found.setdefault(email, person_id)
    return found


def merge_people(conn: sa.Connection, from_id: int, into_id: int, now: datetime) -> None:
    """Move every record, activity and history row of one person to another, then drop it.

    Used when a converted or merged CRM record, or an email change, shows two people are one.
    What LeadSync did about the person moves too: hand-offs and recycles (numbered after the
    survivor's own, so their keys stay unique), the team it acted on when that was sales (so
    the merged person is not handed off a second time), the recycle baseline, and a pending
    re-read after ``forget``.
    """
    if from_id == into_id:
        return
    for table in (crm_records, activities, score_history):
        conn.execute(sa.update(table).where(table.c.person_id == from_id).values(person_id=into_id))
    for table in (handoffs, recycles):
        _renumber_into(conn, table, from_id, into_id)
    if conn.execute(
        sa.select(returning_people.c.person_id).where(returning_people.c.person_id == from_id)
    ).first():
        conn.execute(sa.delete(returning_people).where(returning_people.c.person_id == from_id))
        if not conn.execute(
            sa.select(returning_people.c.person_id).where(returning_people.c.person_id == into_id)
        ).first():
            conn.execute(sa.insert(returning_people).values(person_id=into_id, found_at=now))
    loser = conn.execute(sa.select(people).where(people.c.id == from_id)).first()
    survivor = conn.execute(sa.select(people).where(people.c.id == into_id)).first()
    conn.execute(sa.delete(scores).where(scores.c.person_id == from_id))
    conn.execute(sa.delete(people).where(people.c.id == from_id))
    head = _merged_head(loser, survivor) if loser is not None and survivor is not None else {}
    if head:
        conn.execute(sa.update(people).where(people.c.id == into_id).values(**head))
    mark_dirty(conn, [into_id], now)


def _merged_head(loser: Any, survivor: Any) -> dict[str, Any]:
    """The survivor's acted team and recycle baseline after taking in the loser's."""
    values: dict[str, Any] = {}
    if loser.acted_team == "sales" and survivor.acted_team != "sales":
        values.update(acted_team=loser.acted_team, acted_cell=loser.acted_cell)
    if loser.recycle_count:
        values["recycle_count"] = max(loser.recycle_count, survivor.recycle_count)
        values["recycled_at"] = max(
            (t for t in (loser.recycled_at, survivor.recycled_at) if t is not None), default=None
        )
    return values


def _renumber_into(conn: sa.Connection, table: sa.Table, from_id: int, into_id: int) -> None:
    """Give ``from_id``'s rows of ``table`` (hand-offs or recycles) to ``into_id``, numbered
    after its own: ``(person_id, seq)`` is unique."""
    top = conn.execute(
        sa.select(sa.func.coalesce(sa.func.max(table.c.seq), 0)).where(table.c.person_id == into_id)
    ).scalar_one()
    moving = conn.execute(
        sa.select(table.c.id).where(table.c.person_id == from_id).order_by(table.c.seq)
    ).scalars()
    for n, row_id in enumerate(list(moving), start=1):
        conn.execute(
            sa.update(table).where(table.c.id == row_id).values(person_id=into_id, seq=top + n)
        )


def move_record(
    conn: sa.Connection, record_id: int, uid: str, from_person: int, to_person: int
) -> None:
    """Move one record and the activities it owns to another person.

    A record's activities are its person's (linking, moves and merges keep them together) or
    still waiting for it: both are found through an index, not by the uid of every activity.
    """
    conn.execute(
        sa.update(crm_records).where(crm_records.c.id == record_id).values(person_id=to_person)
    )
    conn.execute(
        sa.update(activities)
        .where(
            activities.c.record_uid == uid,
            sa.or_(activities.c.person_id == from_person, activities.c.person_id.is_(None)),
        )
        .values(person_id=to_person)
    )


def drop_pending_for(conn: sa.Connection, record_ids: list[int]) -> None:
    """A deleted or merged-away record takes no more writes."""
    for part in chunks(record_ids):
        conn.execute(sa.delete(pending_writes).where(among(conn, pending_writes.c.record_id, part)))


def refresh_planner_stats(conn: sa.Connection, tables: Iterable[sa.Table]) -> None:
    """On PostgreSQL, ANALYZE the tables that have doubled in changes since their last ANALYZE.

    psycopg prepares a statement on the server after a few runs, and PostgreSQL keeps that
    statement's generic plan until the table's statistics change. A plan made while a table
    was nearly empty (a sequential scan) then outlives the table's growth, and every lookup
    of a backfill scans the whole table; autovacuum may be off or too slow during a bulk load.
    ANALYZE refreshes the statistics, which also invalidates those plans. It skips a table
    another transaction is analyzing rather than wait for it.
    """
    if conn.dialect.name != "postgresql":
        return
    names = [table.name for table in tables]
    rows = conn.execute(
        sa.text(
            "SELECT relname, n_mod_since_analyze, n_live_tup FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = ANY(:names)"
        ),
        {"names": names},
    )
    stale = [
        name
        for name, changed, live in rows
        if changed >= _ANALYZE_MIN_CHANGES and changed >= live - changed
    ]
    for name in stale:
        conn.execute(sa.text(f'ANALYZE (SKIP_LOCKED) "{name}"'))
