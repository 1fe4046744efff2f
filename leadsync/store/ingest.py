"""Storing what was pulled: people and activities, de-duplicated by source id.

A re-pull of the same record or activity with the same content changes nothing (its
fingerprint matches); a changed one is updated and its person queued for scoring.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import structlog

from leadsync.emails import email_domain, normalize_email
from leadsync.records import ActivityRecord, PersonRecord, RecordRef, UnreadableValue
from leadsync.store import unreadable
from leadsync.store.bulk_insert import insert_rows
from leadsync.store.identity import (
    chunks,
    drop_pending_for,
    fingerprint,
    mark_dirty,
    merge_people,
    move_record,
    person_by_email,
    refresh_planner_stats,
)
from leadsync.store.members import among
from leadsync.store.person_ids import next_sqlite_ids
from leadsync.store.schema import activities, crm_records, people

log = structlog.get_logger(__name__)


@dataclass(slots=True)
class IngestCounts:
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    #: Records whose identity cannot be stored (an id too long or with a NUL byte).
    skipped: int = 0
    #: Values the connector could not read, and attribute values stored clipped; each is
    #: also kept in ``unreadable_values`` for `leadsync status`.
    unreadable: int = 0
    clipped: int = 0

    def add(self, other: IngestCounts) -> None:
        self.inserted += other.inserted
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.skipped += other.skipped
        self.unreadable += other.unreadable
        self.clipped += other.clipped


#: Column sizes of the identity parts; a longer id is refused, never clipped (two ids
#: clipped to the same prefix would merge two records).
_ID_LIMITS = {"source": 64, "object_type": 64, "external_id": 128}


def _storable(ref: RecordRef, kind: str) -> bool:
    source, object_type, external_id = ref.source, ref.object_type, ref.external_id
    # The usual case in one expression: a backfill checks twenty million refs.
    if (
        type(source) is str and type(object_type) is str and type(external_id) is str
        and 0 < len(source) <= 64 and 0 < len(object_type) <= 64 and 0 < len(external_id) <= 128
        and "\x00" not in source and "\x00" not in object_type and "\x00" not in external_id
    ):  # fmt: skip
        return True
    for part, limit in _ID_LIMITS.items():
        text = getattr(ref, part)
        if not isinstance(text, str) or not text or len(text) > limit or "\x00" in text:
            log.warning(
                "ingest.skipped", kind=kind, record=repr(str(ref))[:200],
                reason=f"{part} is empty, longer than {limit} characters or has a NUL byte",
            )  # fmt: skip
            return False
    return True


#: Longest attribute text stored. The model reads at most 512 characters of a value
#: (``leadsync.model.reading.MAX_TEXT``), so clipping here never changes a score; 4,000 keeps
#: every standard CRM text field whole (255) with room for long text areas, `explain` shows
#: enough to recognise a value, and a megabyte pasted into a field costs 4 KB a record, not
#: a megabyte in every row version and every backup.
ATTRIBUTE_CHARS = 4_000


def _attributes(rec: PersonRecord) -> tuple[dict[str, Any], list[UnreadableValue]]:
    """A record's attributes as stored (JSON-safe, text clipped), and what was clipped."""
    attributes: dict[str, Any] = {}
    clipped: list[UnreadableValue] = []
    for key, value in rec.attributes.items():
        name = _jsonable(str(key))
        if isinstance(value, str) and len(value) > ATTRIBUTE_CHARS:
            clipped.append(
                UnreadableValue.of(
                    rec.ref,
                    f"attributes.{name}",
                    value,
                    f"longer than {ATTRIBUTE_CHARS:,} characters; stored clipped",
                )
            )
            value = value[:ATTRIBUTE_CHARS]
        attributes[name] = _jsonable(value)
    return attributes, clipped


def _record_row(
    rec: PersonRecord, now: datetime, attributes: dict[str, Any], notes: Sequence[UnreadableValue]
) -> dict[str, Any]:
    email = normalize_email(rec.email)
    row = {
        "uid": str(rec.ref),
        "source": rec.ref.source,
        "object_type": rec.ref.object_type,
        "external_id": rec.ref.external_id,
        "email_norm": email,
        "email_domain": None,
        "attributes": attributes,
        "owner_id": _clip(rec.owner_id, 128),
        "status": _clip(rec.status, 255),
        "opted_out": bool(rec.opted_out),
        "account_id": _clip(rec.account_id, 128),
        "converted_at": rec.converted_at,
        "created_at": rec.created_at,
        "deleted": bool(rec.deleted),
        "merged_into": _clip(rec.merged_into, 300) if rec.merged_into else None,
        "modified_at": rec.modified_at,
        "updated_at": now,
    }
    # Content only: our own write-back bumps the CRM's modstamp without changing any input.
    content = {k: v for k, v in row.items() if k not in _NOT_FINGERPRINTED}
    if content["created_at"] is None:  # keeps the fingerprint it had before it was pulled
        del content["created_at"]
    row["fingerprint"] = fingerprint(_with_notes(content, notes))
    domain = email_domain(email)
    row["email_domain"] = domain if domain and len(domain) <= 255 else None
    return row


# Bookkeeping, and values derived from others: neither is a change to re-score for.
_NOT_FINGERPRINTED = frozenset({"updated_at", "modified_at", "email_domain"})


def _with_notes(content: dict[str, Any], notes: Sequence[UnreadableValue]) -> dict[str, Any]:
    """What a fingerprint covers: the row's content and, when there are any, what could not be
    read in it, so an unchanged fingerprint also means unchanged unreadable values (and a
    record with none keeps the fingerprint it had before they were kept)."""
    if not notes:
        return content
    return {**content, "unreadable": [[n.field, n.raw, n.problem] for n in notes]}


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # JSON has no NaN or infinity (PostgreSQL's JSONB refuses them)
    if isinstance(value, str):
        return value.replace("\x00", "")
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {_jsonable(str(k)): _jsonable(v) for k, v in value.items()}
    return _jsonable(str(value))


@dataclass(slots=True)
class PeopleRows:
    """A batch of people records as the rows to store (the newest of each), before any read,
    with what could not be read in them (by record uid: see :mod:`leadsync.store.unreadable`)."""

    rows: dict[str, dict[str, Any]]
    skipped: int
    unreadable: dict[str, tuple[UnreadableValue, ...]]
    clipped: int = 0


def people_rows(records: Sequence[PersonRecord], now: datetime) -> PeopleRows:
    """The rows :func:`store_people` stores: pure, so a pull prepares the next batch's rows
    while the store commits the batch before it (people batches commit one at a time)."""
    latest: dict[str, PersonRecord] = {}
    found: dict[str, tuple[UnreadableValue, ...]] = {}
    storable = []
    for rec in records:
        if _storable(rec.ref, "person"):
            storable.append(rec)
        else:
            uid, problem = unreadable.unstorable(rec.ref)
            found[uid] = problem
    for rec in storable:
        uid = str(rec.ref)
        if uid not in latest or latest[uid].modified_at <= rec.modified_at:
            latest[uid] = rec
    rows: dict[str, dict[str, Any]] = {}
    clipped = 0
    for uid, rec in latest.items():
        attributes, cut = _attributes(rec)
        notes = (*rec.unreadable, *cut)
        rows[uid] = _record_row(rec, now, attributes, notes)
        clipped += len(cut)
        if notes:
            found[uid] = notes
    return PeopleRows(rows, len(records) - len(storable), found, clipped)


def upsert_people(
    conn: sa.Connection, records: Sequence[PersonRecord], now: datetime
) -> IngestCounts:
    """Store one batch of pulled people records; link them to people by record id, then email."""
    return store_people(conn, people_rows(records, now), now)


def store_people(conn: sa.Connection, prepared: PeopleRows, now: datetime) -> IngestCounts:
    """Store rows from :func:`people_rows` (see :func:`upsert_people`)."""
    rows = prepared.rows
    counts = IngestCounts(
        skipped=prepared.skipped,
        unreadable=sum(map(len, prepared.unreadable.values())) - prepared.clipped,
        clipped=prepared.clipped,
    )
    existing = _existing_records(conn, list(rows))
    dirty: set[int] = set()
    gone: list[int] = []
    new_rows = [row for uid, row in rows.items() if uid not in existing]
    changed: list[dict[str, Any]] = []
    same: list[str] = []
    updated: list[str] = []
    deleted_now: list[str] = []
    revived: list[dict[str, Any]] = []
    for uid, row in rows.items():
        old = existing.get(uid)
        if old is None or old.fingerprint == row["fingerprint"]:
            if old is not None:
                counts.unchanged += 1
                same.append(uid)
            continue
        updated.append(uid)
        counts.updated += 1
        changed.append({"_id": old.id, **row})
        dirty.add(old.person_id)
        if row["deleted"] or row["merged_into"]:
            gone.append(old.id)
        if row["deleted"] and not old.deleted:
            deleted_now.append(uid)
        elif old.deleted and not row["deleted"]:
            revived.append({**row, "_id": old.id, "person_id": old.person_id})
        if row["email_norm"] != old.email_norm and row["email_norm"] and not row["deleted"]:
            # Relinking reads other records, so the updates before this one land first.
            _update_records(conn, changed)
            _follow_email_change(conn, old.id, uid, old.person_id, row["email_norm"], now, dirty)
    _update_records(conn, changed)
    _detach_activities(conn, deleted_now)
    _revive(conn, revived, now, dirty)
    if new_rows:
        counts.inserted += len(new_rows)
        dirty |= _insert_new_records(conn, new_rows, now)
    unreadable.keep(conn, prepared.unreadable, updated, same, now)
    _apply_merges(conn, rows, now, dirty)
    drop_pending_for(conn, gone)
    _refresh_active(conn, dirty, now)
    mark_dirty(conn, dirty, now)
    refresh_planner_stats(conn, (crm_records, people, activities))
    return counts


#: One changed record, by id; the SET clause comes from the keys of the parameter sets.
_UPDATE_RECORD = sa.update(crm_records).where(crm_records.c.id == sa.bindparam("_id"))


def _update_records(conn: sa.Connection, changed: list[dict[str, Any]]) -> None:
    """Write the changed records in as few round trips as the driver allows, then forget them."""
    for part in chunks(changed):
        conn.execute(_UPDATE_RECORD, part)
    changed.clear()


def _existing_records(conn: sa.Connection, uids: list[str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for part in chunks(uids):
        query = sa.select(
            crm_records.c.id,
            crm_records.c.uid,
            crm_records.c.person_id,
            crm_records.c.email_norm,
            crm_records.c.fingerprint,
            crm_records.c.deleted,
        ).where(among(conn, crm_records.c.uid, part))
        for row in conn.execute(query):
            found[row.uid] = row
    return found


def _insert_new_records(conn: sa.Connection, rows: list[dict[str, Any]], now: datetime) -> set[int]:
    """Give each new record a person: the merge survivor's, an email match, or a new person.

    Rows are taken in order; a row that needs a new person claims it for its email, so a later
    live row of the batch with that email joins it (a deleted row never joins anyone).
    """
    by_email = person_by_email(conn, [r["email_norm"] for r in rows if r["email_norm"]])
    absorbed = _people_merging_into(conn, [r["uid"] for r in rows])
    slots: list[str | None] = []  # one per person to create: its email
    slot_by_email: dict[str, int] = {}
    slot_of: dict[int, int] = {}  # row index -> slot
    # A merge survivor arriving after its merged-away record joins that record's person; when
    # its own address already names another person (the same person in the other CRM), the
    # two are one person, as for a store that saw the merge happen.
    joins: dict[int, int] = {}
    for index, row in enumerate(rows):
        email = row["email_norm"]
        person_id = absorbed.get(row["uid"])
        if person_id is not None and email and not row["deleted"]:
            known = by_email.get(email)
            if known is not None and known != person_id:
                joins[person_id] = known
                person_id = known
        if person_id is None and email and not row["deleted"]:
            if email in slot_by_email:
                slot_of[index] = slot_by_email[email]
                continue
            person_id = by_email.get(email)
        if person_id is not None:
            row["person_id"] = person_id
            continue
        slot_of[index] = len(slots)
        slots.append(email)
        if email:
            slot_by_email[email] = slot_of[index]
    created = _create_people(conn, slots, now)
    for index, slot in slot_of.items():
        rows[index]["person_id"] = created[slot]
    insert_rows(conn, crm_records, rows)
    _link_orphans(conn, rows)
    for loser, survivor in joins.items():
        merge_people(conn, loser, survivor, now)
    return {joins.get(row["person_id"], row["person_id"]) for row in rows}


def _create_people(conn: sa.Connection, emails: list[str | None], now: datetime) -> list[int]:
    """Insert one person per email (None: no address), returning their ids in that order."""
    if not emails:
        return []
    values = [
        {
            "email_norm": email,
            "dirty": True,
            "active": True,
            "recycle_count": 0,
            "created_at": now,
            "updated_at": now,
        }
        for email in emails
    ]
    if conn.dialect.name == "sqlite":
        # SQLite cannot return ids in parameter order from a multi-row INSERT; ids are given
        # here instead, never one a forgotten or merged-away person had (see person_ids).
        ids = next_sqlite_ids(conn, len(values), now)
        for person_id, row in zip(ids, values, strict=True):
            row["id"] = person_id
        for part in chunks(values, 1_000):
            conn.execute(sa.insert(people), part)
        return ids
    # Ids drawn from the table's own sequence in one round trip, then one COPY: an INSERT ..
    # RETURNING of thousands of rows was most of the time a backfill spent creating people.
    sequence = sa.func.pg_get_serial_sequence(people.name, people.c.id.name)
    draw = sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, len(values)))
    ids = sorted(int(person_id) for person_id in conn.execute(draw).scalars())
    for person_id, row in zip(ids, values, strict=True):
        row["id"] = person_id
    insert_rows(conn, people, values)
    return ids


def _people_merging_into(conn: sa.Connection, uids: list[str]) -> dict[str, int]:
    """For survivor uids, the person of a record already converted or merged into them."""
    found: dict[str, int] = {}
    for part in chunks(uids):
        query = (
            sa.select(crm_records.c.merged_into, crm_records.c.person_id)
            .where(among(conn, crm_records.c.merged_into, part))
            .order_by(crm_records.c.id)
        )
        for survivor, person_id in conn.execute(query):
            found.setdefault(survivor, person_id)
    return found


def _link_orphans(conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
    """Activities that arrived before their person now find them, by record id or email.

    One lookup per chunk finds the (usually no) waiting activities; the first live row of
    the batch that claims an activity owns it.
    """
    live = [row for row in rows if not row["deleted"]]
    by_uid: dict[str, int] = {}
    by_email: dict[str, int] = {}
    for row in live:
        by_uid.setdefault(row["uid"], row["person_id"])
        if row["email_norm"]:
            by_email.setdefault(row["email_norm"], row["person_id"])
    links: list[dict[str, int]] = []
    for part in chunks(list(by_uid)):
        query = sa.select(activities.c.id, activities.c.record_uid).where(
            activities.c.person_id.is_(None), among(conn, activities.c.record_uid, part)
        )
        links.extend({"_id": aid, "_person": by_uid[uid]} for aid, uid in conn.execute(query))
    for part in chunks(sorted(by_email)):
        query = sa.select(activities.c.id, activities.c.email_norm).where(
            activities.c.person_id.is_(None),
            activities.c.record_uid.is_(None),
            among(conn, activities.c.email_norm, part),
        )
        links.extend({"_id": aid, "_person": by_email[email]} for aid, email in conn.execute(query))
    for part in chunks(links):
        conn.execute(_LINK_ACTIVITY, part)


_LINK_ACTIVITY = (
    sa.update(activities)
    .where(activities.c.id == sa.bindparam("_id"))
    .values(person_id=sa.bindparam("_person"))
)


def _apply_merges(
    conn: sa.Connection, rows: dict[str, dict[str, Any]], now: datetime, dirty: set[int]
) -> None:
    """A converted or merged record's person joins the survivor's person, history and all.

    A merge is applied once both its records are stored, whichever came first: a merged
    record in this batch whose survivor is known, or a survivor in this batch that records
    already stored were merged into. A CRM merge also says the merged-away address is the
    survivor's person: whoever holds a live record with that address (the same person in
    the other CRM, met first by a fresh store) joins too, as for a store that saw it happen.
    So does whoever holds the survivor's own address, also once the survivor is deleted: a
    store that saw the merge had them together already, and a deletion splits nobody.
    """
    live = [row for row in rows.values() if not row["deleted"]]
    links = [(row["uid"], row["email_norm"], row["merged_into"]) for row in rows.values()]
    links = [link for link in links if link[2]]
    links += _stored_merges_into(conn, list(rows))
    links += _stored_merges_into_address(conn, [row["email_norm"] for row in live])
    if not links:
        return
    # One lookup for the whole batch: a backfill brings thousands of converted leads, mostly
    # with survivors not pulled yet, and asked two queries for each.
    persons, addresses = _people_and_addresses(
        conn, sorted({uid for link in links for uid in (link[0], link[2])})
    )
    holders = person_by_email(
        conn, [e for _, email, into in links for e in (email, addresses.get(into)) if e]
    )
    dirty |= _link_address_orphans(
        conn, [email for _, email, into in links if email and into in persons], holders
    )
    for uid, email, into in links:
        survivor = persons.get(into)
        if survivor is None:
            continue
        own = addresses.get(into) or ""
        for loser in (persons.get(uid), holders.get(email or ""), holders.get(own)):
            if loser is None or loser == survivor:
                continue
            merge_people(conn, loser, survivor, now)
            dirty.discard(loser)
            dirty.add(survivor)
            # merge_people moved every record of the loser to the survivor.
            persons = {u: survivor if p == loser else p for u, p in persons.items()}
            holders = {e: survivor if p == loser else p for e, p in holders.items()}


def _link_address_orphans(
    conn: sa.Connection, emails: list[str], holders: Mapping[str, int]
) -> set[int]:
    """Activities known only by a merged-away address, waiting for a live holder (it was
    forgotten, or never had a live record here), now go to the survivor's person: a merge
    says the address is that person's (``holders``: :func:`person_by_email` of the batch's
    addresses). Returns who got some."""
    wanted = sorted(set(emails))
    if not wanted:
        return set()
    links: list[dict[str, int]] = []
    for part in chunks(wanted):
        query = sa.select(activities.c.id, activities.c.email_norm).where(
            activities.c.person_id.is_(None),
            activities.c.record_uid.is_(None),
            among(conn, activities.c.email_norm, part),
        )
        links.extend(
            {"_id": aid, "_person": holders[email]}
            for aid, email in conn.execute(query)
            if email in holders
        )
    for part in chunks(links):
        conn.execute(_LINK_ACTIVITY, part)
    return {link["_person"] for link in links}


def _stored_merges_into(conn: sa.Connection, uids: list[str]) -> list[tuple[str, str, str]]:
    """``(uid, email, survivor)`` of stored records converted or merged into ``uids``."""
    found: list[tuple[str, str, str]] = []
    for part in chunks(uids):
        query = sa.select(
            crm_records.c.uid, crm_records.c.email_norm, crm_records.c.merged_into
        ).where(among(conn, crm_records.c.merged_into, part))
        found.extend((uid, email, into) for uid, email, into in conn.execute(query))
    return found


def _stored_merges_into_address(
    conn: sa.Connection, emails: list[str | None]
) -> list[tuple[str, str, str]]:
    """``(uid, email, survivor)`` of stored merges whose survivor has one of ``emails``."""
    survivor = crm_records.alias("survivor")
    found: list[tuple[str, str, str]] = []
    for part in chunks(sorted({e for e in emails if e})):
        query = (
            sa.select(crm_records.c.uid, crm_records.c.email_norm, crm_records.c.merged_into)
            .join(survivor, survivor.c.uid == crm_records.c.merged_into)
            .where(among(conn, survivor.c.email_norm, part))
        )
        found.extend((uid, email, into) for uid, email, into in conn.execute(query))
    return found


def _people_and_addresses(
    conn: sa.Connection, uids: list[str]
) -> tuple[dict[str, int], dict[str, str]]:
    """Each stored record's person and address, by uid."""
    persons: dict[str, int] = {}
    addresses: dict[str, str] = {}
    for part in chunks(uids):
        query = sa.select(
            crm_records.c.uid, crm_records.c.person_id, crm_records.c.email_norm
        ).where(among(conn, crm_records.c.uid, part))
        for uid, person_id, email in conn.execute(query):
            persons[uid] = person_id
            if email:
                addresses[uid] = email
    return persons, addresses


def _person_of_uids(conn: sa.Connection, uids: list[str]) -> dict[str, int]:
    found: dict[str, int] = {}
    for part in chunks(uids):
        query = sa.select(crm_records.c.uid, crm_records.c.person_id).where(
            among(conn, crm_records.c.uid, part)
        )
        found.update({uid: person_id for uid, person_id in conn.execute(query)})
    return found


def _follow_email_change(
    conn: sa.Connection,
    record_id: int,
    uid: str,
    person_id: int,
    new_email: str,
    now: datetime,
    dirty: set[int],
) -> None:
    """An email change relinks the record; it never creates a duplicate person."""
    match = conn.execute(
        sa.select(crm_records.c.person_id)
        .where(
            crm_records.c.email_norm == new_email,
            crm_records.c.deleted.is_(False),
            crm_records.c.person_id != person_id,
        )
        .order_by(crm_records.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if match is None:
        conn.execute(sa.update(people).where(people.c.id == person_id).values(email_norm=new_email))
        return
    others = conn.execute(
        sa.select(sa.func.count())
        .select_from(crm_records)
        .where(
            crm_records.c.person_id == person_id,
            crm_records.c.id != record_id,
            crm_records.c.deleted.is_(False),
        )
    ).scalar_one()
    if others:
        move_record(conn, record_id, uid, person_id, match)
    else:
        merge_people(conn, person_id, match, now)
        dirty.discard(person_id)
    dirty.add(match)


def _revive(
    conn: sa.Connection, revived: list[dict[str, Any]], now: datetime, dirty: set[int]
) -> None:
    """Records the CRM undeleted: each joins the live person holding its address, as a new
    record would (while it was deleted another record may have started that person), and
    the activities that waited for it come back with it."""
    for row in revived:
        if row["email_norm"]:
            _follow_email_change(
                conn, row["_id"], row["uid"], row["person_id"], row["email_norm"], now, dirty
            )
    current = _person_of_uids(conn, [row["uid"] for row in revived])
    _link_orphans(conn, [{**row, "person_id": current[row["uid"]]} for row in revived])


def _detach_activities(conn: sa.Connection, uids: list[str]) -> None:
    """A record the CRM deleted takes its activities with it: they wait, unlinked, for the
    record to come back (an undelete links them again), as they would in a store that first
    met the record deleted. Whoever holds the record's address is not credited with them."""
    for part in chunks(uids):
        conn.execute(
            sa.update(activities)
            .where(among(conn, activities.c.record_uid, part))
            .values(person_id=None)
        )


def _rehome_address_activities(conn: sa.Connection, person_ids: list[int]) -> None:
    """Activities known only by address (HubSpot's email events) follow the address: when
    the person holding them has no live record left, they go to whoever holds a live record
    with that address now, or wait for one. The store then links them as a store that saw
    only the CRMs' current state would."""
    for part in chunks(person_ids):
        found = conn.execute(
            sa.select(activities.c.id, activities.c.email_norm).where(
                among(conn, activities.c.person_id, part), activities.c.record_uid.is_(None)
            )
        ).all()
        if not found:
            continue
        holders = person_by_email(conn, [email for _, email in found if email])
        moves = [{"_id": aid, "_person": holders.get(email) if email else None}
                 for aid, email in found]  # fmt: skip
        for chunk in chunks(moves):
            conn.execute(_LINK_ACTIVITY, chunk)


def _refresh_active(conn: sa.Connection, person_ids: set[int], now: datetime) -> None:
    """A person with no live record left is inactive: not scored, not written, and the
    activities they held by address alone go to the address's live holder."""
    inactive: list[int] = []
    for part in chunks(sorted(person_ids)):
        live = sa.select(crm_records.c.id).where(
            crm_records.c.person_id == people.c.id,
            crm_records.c.deleted.is_(False),
            crm_records.c.merged_into.is_(None),
        )
        # Only where it changes: a new person is created active, and an update per person
        # (a new row version, its index entries) was much of a backfill's people pull.
        conn.execute(
            sa.update(people)
            .where(among(conn, people.c.id, part), people.c.active != sa.exists(live))
            .values(active=sa.exists(live), updated_at=now)
        )
        inactive.extend(
            conn.execute(
                sa.select(people.c.id).where(
                    among(conn, people.c.id, part), people.c.active.is_(False)
                )
            ).scalars()
        )
    _rehome_address_activities(conn, inactive)


def _activity_row(rec: ActivityRecord, uid: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "uid": uid,
        "record_uid": str(rec.person) if rec.person else None,
        "email_norm": normalize_email(rec.email),
        "kind": _clip(rec.kind, 64) or "unknown",
        "occurred_at": rec.occurred_at,
        "name": _clip(rec.name, 255),
        "campaign_type": _clip(rec.campaign_type, 128),
        "member_status": _clip(rec.member_status, 128),
        "url": _clip(rec.url, 8_000),
        "actor_id": _clip(rec.actor_id, 128),
        "deleted": bool(rec.deleted),
    }
    early, late = _seconds(rec.early_s), _seconds(rec.late_s)
    if early or late:  # an exact time keeps the fingerprint it had before times had bounds
        row["early_s"], row["late_s"] = early, late
    # Content only: the modstamp moves when nothing an activity says has changed.
    row["fingerprint"] = fingerprint(_with_notes(row, rec.unreadable))
    row["early_s"], row["late_s"] = early, late
    row["modified_at"] = rec.modified_at
    return row


#: The largest value the store's integer columns hold (68 years of seconds).
_MAX_SECONDS = 2**31 - 1


def _seconds(value: object) -> int:
    """A time bound's seconds as a column holds them: a whole number, 0 to ``_MAX_SECONDS``."""
    if not isinstance(value, int) or isinstance(value, bool):
        return 0
    return min(max(value, 0), _MAX_SECONDS)


def _clip(value: object, size: int) -> str | None:
    """Text as a column can hold it: no NUL byte (PostgreSQL refuses them), at most ``size``."""
    if value is None:
        return None
    text = value if isinstance(value, str) else str(value)
    return text.replace("\x00", "")[:size]


def upsert_activities(
    conn: sa.Connection, records: Sequence[ActivityRecord], now: datetime
) -> IngestCounts:
    """Store one batch of activities; an activity seen again with the same content is a no-op."""
    rows: dict[str, dict[str, Any]] = {}
    found: dict[str, tuple[UnreadableValue, ...]] = {}
    storable = []
    for rec in records:
        if not _storable(rec.ref, "activity"):
            uid, problem = unreadable.unstorable(rec.ref)
            found[uid] = problem
        elif rec.person is None or _storable(rec.person, "link"):
            storable.append(rec)
    for rec in storable:
        uid = str(rec.ref)
        if uid not in rows or rows[uid]["modified_at"] <= rec.modified_at:
            rows[uid] = _activity_row(rec, uid)
            found.pop(uid, None)
            if rec.unreadable:
                found[uid] = rec.unreadable
    counts = IngestCounts(
        skipped=len(records) - len(storable), unreadable=sum(map(len, found.values()))
    )
    existing: dict[str, Any] = {}
    for part in chunks(list(rows)):
        query = sa.select(
            activities.c.id, activities.c.uid, activities.c.fingerprint, activities.c.person_id
        ).where(among(conn, activities.c.uid, part))
        existing.update({row.uid: row for row in conn.execute(query)})
    owners = _resolve_people(conn, list(rows.values()))
    dirty: set[int | None] = set()
    inserts: list[dict[str, Any]] = []
    same: list[str] = []
    updated: list[str] = []
    for uid, row in rows.items():
        row["person_id"] = owners.get(uid)
        old = existing.get(uid)
        if old is None:
            inserts.append(row)
            dirty.add(row["person_id"])
        elif old.fingerprint == row["fingerprint"]:
            counts.unchanged += 1
            same.append(uid)
        else:
            counts.updated += 1
            updated.append(uid)
            conn.execute(sa.update(activities).where(activities.c.id == old.id).values(**row))
            dirty.update((old.person_id, row["person_id"]))
    insert_rows(conn, activities, inserts)
    counts.inserted = len(inserts)
    unreadable.keep(conn, found, updated, same, now)
    mark_dirty(conn, dirty, now)
    refresh_planner_stats(conn, (activities,))
    return counts


def _resolve_people(conn: sa.Connection, rows: list[dict[str, Any]]) -> dict[str, int]:
    """Person of each activity: through its CRM record, else through its email."""
    record_uids = sorted({r["record_uid"] for r in rows if r["record_uid"]})
    by_record: dict[str, int] = {}
    for part in chunks(record_uids):
        # A deleted record's activities wait for it (see ``_detach_activities``).
        query = sa.select(crm_records.c.uid, crm_records.c.person_id).where(
            among(conn, crm_records.c.uid, part), crm_records.c.deleted.is_(False)
        )
        by_record.update({uid: pid for uid, pid in conn.execute(query)})
    by_email = person_by_email(
        conn, [r["email_norm"] for r in rows if r["email_norm"] and not r["record_uid"]]
    )
    owners: dict[str, int] = {}
    for row in rows:
        if row["record_uid"]:
            person = by_record.get(row["record_uid"])
        else:
            person = by_email.get(row["email_norm"]) if row["email_norm"] else None
        if person is not None:
            owners[row["uid"]] = person
    return owners
