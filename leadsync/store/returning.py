"""People who come back after ``leadsync forget``.

``forget`` removes every row about a person, but the CRMs are the systems of record: if one
still holds them, the next incremental pull reads back only their recently changed records
and activities. Scored on that, they would get a wrong score written to both CRMs, and a
backfill would hand them off again with a second task. So ``forget`` keeps, per forgotten
record and per forgotten address, a SHA-256 of the CRM id or the address (neither is kept
itself) with what LeadSync had done about the person: the team and cell it acted on and the
recycle baseline. A record stored later whose id or address hashes to one of them (the
person's own record, or another CRM's record of them the store had not met) puts its person
in ``returning_people``: not scored until the engine has re-read them whole, and then
welcomed back with that state.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.records import RecordRef
from leadsync.store.identity import chunks, mark_dirty
from leadsync.store.members import among
from leadsync.store.schema import crm_records, forgotten_records, people, returning_people


def uid_hash(uid: str) -> str:
    return hashlib.sha256(uid.encode("utf-8")).hexdigest()


def address_hash(email: str) -> str:
    return uid_hash(f"email:{email}")


def remember_forgotten(conn: sa.Connection, person_ids: Sequence[int], now: datetime) -> int:
    """Before ``forget`` deletes ``person_ids``: keep a hash of each of their records' ids
    with what LeadSync had done about them. Returns how many records are remembered."""
    kept = 0
    for part in chunks(sorted(set(person_ids))):
        heads = {
            row.id: row
            for row in conn.execute(
                sa.select(
                    people.c.id,
                    people.c.acted_team,
                    people.c.acted_cell,
                    people.c.recycled_at,
                    people.c.recycle_count,
                ).where(among(conn, people.c.id, part))
            )
        }
        keys: dict[str, int] = {}
        for pid, uid, email in conn.execute(
            sa.select(crm_records.c.person_id, crm_records.c.uid, crm_records.c.email_norm).where(
                among(conn, crm_records.c.person_id, part)
            )
        ):
            keys[uid_hash(uid)] = pid
            if email:
                keys.setdefault(address_hash(email), pid)
        rows = [
            {
                "uid_hash": key,
                "acted_team": heads[pid].acted_team if pid in heads else None,
                "acted_cell": heads[pid].acted_cell if pid in heads else None,
                "recycled_at": heads[pid].recycled_at if pid in heads else None,
                "recycle_count": heads[pid].recycle_count if pid in heads else 0,
                "forgotten_at": now,
            }
            for key, pid in keys.items()
        ]
        hashes = [row["uid_hash"] for row in rows]
        conn.execute(sa.delete(forgotten_records).where(forgotten_records.c.uid_hash.in_(hashes)))
        if rows:
            conn.execute(sa.insert(forgotten_records), rows)
        kept += len(rows)
    return kept


def any_forgotten(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(forgotten_records.c.uid_hash).limit(1)).first() is not None


def remember_forgotten_address(conn: sa.Connection, address: str, now: datetime) -> None:
    """``forget`` of an address only activities carried (an email event of a contact never
    pulled): keep its hash, so a record with it later is read whole, and those activities
    with it, instead of scored without them."""
    key = address_hash(address)
    conn.execute(sa.delete(forgotten_records).where(forgotten_records.c.uid_hash == key))
    conn.execute(
        sa.insert(forgotten_records),
        [{"uid_hash": key, "acted_team": None, "acted_cell": None, "recycled_at": None,
          "recycle_count": 0, "forgotten_at": now}],
    )  # fmt: skip


def find_returning(conn: sa.Connection, records: Mapping[str, str | None], now: datetime) -> int:
    """Queue the people of stored records (uid -> address) whose id or address was
    forgotten; how many."""
    by_hash = {uid_hash(uid): uid for uid in records}
    for uid, email in records.items():
        if email:
            by_hash.setdefault(address_hash(email), uid)
    back: list[str] = []
    for part in chunks(sorted(by_hash)):
        found = conn.execute(
            sa.select(forgotten_records.c.uid_hash).where(forgotten_records.c.uid_hash.in_(part))
        )
        back.extend(by_hash[h] for h in found.scalars())
    if not back:
        return 0
    person_ids: set[int] = set()
    for part in chunks(back):
        person_ids.update(
            conn.execute(
                sa.select(crm_records.c.person_id).where(among(conn, crm_records.c.uid, part))
            ).scalars()
        )
    queued = set(
        conn.execute(
            sa.select(returning_people.c.person_id).where(
                returning_people.c.person_id.in_(sorted(person_ids))
            )
        ).scalars()
    )
    fresh = [{"person_id": pid, "found_at": now} for pid in sorted(person_ids - queued)]
    if fresh:
        conn.execute(sa.insert(returning_people), fresh)
    return len(fresh)


def any_returning(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(returning_people.c.person_id).limit(1)).first() is not None


@dataclass(frozen=True, slots=True)
class Returning:
    """A person back after ``forget``: their addresses and the records the store has."""

    person_id: int
    emails: tuple[str, ...]
    refs: tuple[RecordRef, ...]


def returning_people_of(conn: sa.Connection, limit: int = 1_000) -> list[Returning]:
    """Returning people (the oldest first), to read again whole: by id, and by address in
    every CRM (their other records were forgotten too).

    Every address of their records counts, not only the person's own: a record that came
    back by a merge into a person the store kept (seed 3404) brings its address, under
    which the other CRM still holds the rest of the forgotten person."""
    heads = conn.execute(
        sa.select(returning_people.c.person_id, people.c.email_norm)
        .join(people, people.c.id == returning_people.c.person_id)
        .order_by(returning_people.c.found_at, returning_people.c.person_id)
        .limit(limit)
    ).all()
    refs: dict[int, list[RecordRef]] = defaultdict(list)
    emails: dict[int, set[str]] = {pid: {email} if email else set() for pid, email in heads}
    for part in chunks([pid for pid, _ in heads]):
        query = sa.select(
            crm_records.c.person_id,
            crm_records.c.source,
            crm_records.c.object_type,
            crm_records.c.external_id,
            crm_records.c.email_norm,
            crm_records.c.deleted,
            crm_records.c.merged_into,
        ).where(among(conn, crm_records.c.person_id, part))
        for row in conn.execute(query):
            if row.email_norm:
                emails[row.person_id].add(row.email_norm)
            if not row.deleted and row.merged_into is None:
                refs[row.person_id].append(RecordRef(row.source, row.object_type, row.external_id))
    return [
        Returning(pid, tuple(sorted(emails[pid])), tuple(refs.get(pid, ()))) for pid, _ in heads
    ]


def welcome_back(conn: sa.Connection, person_ids: Sequence[int], now: datetime) -> None:
    """These returning people were re-read whole: give them back what LeadSync had done
    about them (so an unchanged person is not handed off again), forget the hashes of their
    records, and queue them for scoring."""
    for part in chunks(sorted(set(person_ids))):
        keys: dict[int, set[str]] = defaultdict(set)
        for pid, uid, email in conn.execute(
            sa.select(crm_records.c.person_id, crm_records.c.uid, crm_records.c.email_norm).where(
                among(conn, crm_records.c.person_id, part)
            )
        ):
            keys[pid].add(uid_hash(uid))
            if email:
                keys[pid].add(address_hash(email))
        for pid in part:
            hashes = sorted(keys.get(pid, ()))
            kept = conn.execute(
                sa.select(forgotten_records)
                .where(forgotten_records.c.uid_hash.in_(hashes))
                .order_by(forgotten_records.c.forgotten_at.desc())
            ).first()
            if kept is not None:
                conn.execute(
                    sa.update(people)
                    .where(people.c.id == pid)
                    .values(
                        acted_team=kept.acted_team,
                        acted_cell=kept.acted_cell,
                        recycled_at=kept.recycled_at,
                        recycle_count=kept.recycle_count,
                        updated_at=now,
                    )
                )
            conn.execute(
                sa.delete(forgotten_records).where(forgotten_records.c.uid_hash.in_(hashes))
            )
        conn.execute(
            sa.delete(returning_people).where(among(conn, returning_people.c.person_id, part))
        )
        mark_dirty(conn, part, now)
