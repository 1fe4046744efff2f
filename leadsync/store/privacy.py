"""Forgetting a person on request: every row the store holds about them, in one transaction.

The CRMs are the systems of record and are not touched: a person still present there is read
again by the next backfill (or by an incremental sync once their record changes), so erase or
anonymise them in the CRM first, then run ``leadsync forget``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from leadsync.emails import normalize_email
from leadsync.store import unreadable
from leadsync.store.identity import chunks
from leadsync.store.returning import remember_forgotten, remember_forgotten_address
from leadsync.store.schema import (
    actions,
    activities,
    crm_records,
    handoffs,
    ledger,
    pending_writes,
    people,
    recycles,
    returning_people,
    score_history,
    scores,
    unreadable_values,
)


@dataclass
class Forgotten:
    people: int = 0
    rows: dict[str, int] = field(default_factory=dict)


def forget(conn: sa.Connection, email: str, now: datetime) -> Forgotten:
    """Delete every person any of whose records carries ``email``, with all their rows.

    Activities linked to the person, orphan activities carrying the address, and those
    waiting for a deleted record of the person to come back (they name it by its CRM id) go
    too.
    What is kept: per record, a SHA-256 of its CRM id with the team LeadSync acted on and
    the recycle baseline (``leadsync.store.returning``), so that a person the CRM still
    holds is read whole, not handed off twice, if they come back.
    """
    address = normalize_email(email)
    if address is None:
        raise ValueError(f"{email!r} is not an email address")
    person_ids = sorted(
        set(
            conn.execute(
                sa.select(crm_records.c.person_id).where(crm_records.c.email_norm == address)
            ).scalars()
        )
        | set(conn.execute(sa.select(people.c.id).where(people.c.email_norm == address)).scalars())
    )
    result = Forgotten(people=len(person_ids))
    result.rows["remembered_record_hashes"] = remember_forgotten(conn, person_ids, now)
    record_ids: list[int] = []
    uids: list[str] = []
    for part in chunks(person_ids):
        for rid, uid in conn.execute(
            sa.select(crm_records.c.id, crm_records.c.uid).where(crm_records.c.person_id.in_(part))
        ):
            record_ids.append(rid)
            uids.append(uid)

    def delete(table: sa.Table, condition: sa.ColumnElement[bool]) -> None:
        count = conn.execute(sa.delete(table).where(condition)).rowcount or 0
        result.rows[table.name] = result.rows.get(table.name, 0) + count

    # What could not be read in their records and activities names them too (a raw value
    # may be their address): gone with the rest.
    activity_uids = list(
        conn.execute(
            sa.select(activities.c.uid).where(activities.c.email_norm == address)
        ).scalars()
    )
    for part in chunks(person_ids):
        activity_uids += conn.execute(
            sa.select(activities.c.uid).where(activities.c.person_id.in_(part))
        ).scalars()
    for part in chunks(uids):
        activity_uids += conn.execute(
            sa.select(activities.c.uid).where(
                activities.c.person_id.is_(None), activities.c.record_uid.in_(part)
            )
        ).scalars()
    if activity_uids and not person_ids:
        # Only activities carried the address: its return must still be read whole.
        remember_forgotten_address(conn, address, now)
        result.rows["remembered_record_hashes"] += 1
    result.rows[unreadable_values.name] = unreadable.forget(conn, [*uids, *activity_uids])
    # Children before parents (foreign keys), the outbox before the records it points at.
    for part in chunks(uids):
        delete(actions, actions.c.record_uid.in_(part))
    for part in chunks(person_ids):
        delete(actions, actions.c.handoff_id.in_(
            sa.select(handoffs.c.id).where(handoffs.c.person_id.in_(part))
        ))  # fmt: skip
        delete(actions, actions.c.recycle_id.in_(
            sa.select(recycles.c.id).where(recycles.c.person_id.in_(part))
        ))  # fmt: skip
        delete(returning_people, returning_people.c.person_id.in_(part))
        delete(handoffs, handoffs.c.person_id.in_(part))
        delete(recycles, recycles.c.person_id.in_(part))
        delete(score_history, score_history.c.person_id.in_(part))
        delete(scores, scores.c.person_id.in_(part))
        delete(activities, activities.c.person_id.in_(part))
    delete(activities, activities.c.email_norm == address)
    for part in chunks(uids):
        delete(activities, activities.c.record_uid.in_(part) & activities.c.person_id.is_(None))
    # A rep's daily digest lists several people: drop the digests that name this one.
    digests = [
        row.id
        for row in conn.execute(
            sa.select(actions.c.id, actions.c.payload).where(actions.c.key.like("ls-digest-%"))
        )
        if address in json.dumps(row.payload).lower()
    ]
    for part in chunks(digests):
        delete(actions, actions.c.id.in_(part))
    for part in chunks(record_ids):
        delete(ledger, ledger.c.record_id.in_(part))
        delete(pending_writes, pending_writes.c.record_id.in_(part))
    for part in chunks(person_ids):
        delete(crm_records, crm_records.c.person_id.in_(part))
        delete(people, people.c.id.in_(part))
    return result
