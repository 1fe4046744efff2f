"""Read-only questions about people: find one by email or CRM id, count the matrix."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from leadsync.emails import normalize_email
from leadsync.store.members import among
from leadsync.store.schema import crm_records, ledger, people, score_history, scores


def find_person(conn: sa.Connection, needle: str) -> int | None:
    """Person id for an email address, a CRM record id, or a full ``source:Object:id`` uid."""
    needle = needle.strip()
    email = normalize_email(needle)
    if email is not None:
        condition = crm_records.c.email_norm == email
    else:
        condition = sa.or_(crm_records.c.uid == needle, crm_records.c.external_id == needle)
    query = (
        sa.select(crm_records.c.person_id)
        .where(condition)
        .order_by(crm_records.c.deleted, crm_records.c.id)
        .limit(1)
    )
    return conn.execute(query).scalar_one_or_none()


def person_detail(conn: sa.Connection, person_id: int) -> dict[str, Any]:
    """Everything ``leadsync explain`` shows: records, current result, ledger, history."""
    head = conn.execute(sa.select(people).where(people.c.id == person_id)).one()
    records = [
        dict(row._mapping)
        for row in conn.execute(sa.select(crm_records).where(crm_records.c.person_id == person_id))
    ]
    record_ids = [r["id"] for r in records]
    written = {
        row.record_id: dict(row.values)
        for row in conn.execute(
            sa.select(ledger).where(among(conn, ledger.c.record_id, record_ids))
        )
    }
    score = conn.execute(sa.select(scores).where(scores.c.person_id == person_id)).first()
    history = [
        dict(row._mapping)
        for row in conn.execute(
            sa.select(score_history)
            .where(score_history.c.person_id == person_id)
            .order_by(score_history.c.id.desc())
            .limit(20)
        )
    ]
    return {
        "person": dict(head._mapping),
        "records": records,
        "written": written,
        "score": dict(score._mapping) if score is not None else None,
        "history": history,
    }


def matrix_counts(conn: sa.Connection) -> dict[str, int]:
    """Active people per matrix cell (``good/hand_raiser`` ...)."""
    query = (
        sa.select(scores.c.cell, sa.func.count())
        .join(people, people.c.id == scores.c.person_id)
        .where(people.c.active.is_(True))
        .group_by(scores.c.cell)
    )
    return {cell: n for cell, n in conn.execute(query)}


def record_count(conn: sa.Connection, source: str) -> int:
    """How many records (live or deleted) the store holds from connector ``source``."""
    query = sa.select(sa.func.count()).where(crm_records.c.source == source)
    return int(conn.execute(query).scalar() or 0)
