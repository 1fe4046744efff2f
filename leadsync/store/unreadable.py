"""Values a connector could not read: kept per record and field until read fine again.

Ingest calls :func:`replace` in the transaction that stores a batch: each record stored gets
exactly the unreadable values its latest pull reported, so a field read fine again, or a
record the CRM deleted (connectors report nothing for those), clears its rows. A record
stored unchanged (its fingerprint covers these values) only has them :func:`seen` again. ``leadsync
status`` and the dashboard read them through :func:`summary`; ``leadsync forget`` removes a
person's through :func:`forget`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.records import RecordRef, UnreadableValue
from leadsync.store.identity import chunks
from leadsync.store.members import among
from leadsync.store.schema import unreadable_values


@dataclass(frozen=True, slots=True)
class UnreadableRow:
    """One stored unreadable value, as status and the dashboard show it."""

    record: str
    source: str
    object_type: str
    crm_id: str
    field: str
    raw: str
    problem: str
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, str]:
        return {
            "record": self.record,
            "source": self.source,
            "object_type": self.object_type,
            "crm_id": self.crm_id,
            "field": self.field,
            "raw": self.raw,
            "problem": self.problem,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class UnreadableSummary:
    """How many values are unreadable now, and the most recently seen of them."""

    count: int
    latest: tuple[UnreadableRow, ...]


def unstorable_uid(ref: RecordRef) -> str:
    """Where a record whose id the store cannot hold (empty, over 128 characters, a NUL
    byte) keeps its problem: the id's digest stands in for it."""
    text = ref.external_id if isinstance(ref.external_id, str) else repr(ref.external_id)
    digest = hashlib.sha1(text.encode("utf-8", "replace"), usedforsecurity=False).hexdigest()
    return f"{_text(ref.source, 64)}:{_text(ref.object_type, 64)}:#{digest}"


def unstorable(ref: RecordRef) -> tuple[str, tuple[UnreadableValue, ...]]:
    """The problem of a record skipped for its id, under the uid the store keeps it at."""
    problem = "record id is empty, longer than 128 characters or has a NUL byte; record skipped"
    return unstorable_uid(ref), (UnreadableValue.of(ref, "Id", ref.external_id, problem),)


def keep(
    conn: sa.Connection,
    found: Mapping[str, Sequence[UnreadableValue]],
    updated: Sequence[str],
    unchanged: Sequence[str],
    now: datetime,
) -> None:
    """Ingest's call for one stored batch: its word on each record replaces what was kept.

    Only changed records can have changed values (their fingerprint covers them), so an
    unchanged one is only :func:`seen` again, and a new one has nothing kept yet. A page of
    unchanged records with nothing unreadable costs no query at all."""
    same = set(unchanged)
    replace(conn, updated, {uid: notes for uid, notes in found.items() if uid not in same}, now)
    seen(conn, [uid for uid in unchanged if uid in found], now)


def replace(
    conn: sa.Connection,
    stored: Iterable[str],
    found: Mapping[str, Sequence[UnreadableValue]],
    now: datetime,
) -> None:
    """Give each record uid in ``stored`` and in ``found`` exactly the values ``found`` lists
    for it (none: its rows go); a value already known keeps its ``first_seen``."""
    rows = {
        (uid, _text(value.field, 255)): value for uid, values in found.items() for value in values
    }
    uids = sorted(set(stored) | set(found))
    if not uids or (not rows and not _any_stored(conn)):
        return  # the usual page: nothing unreadable in it, and nothing to clear
    first_seen: dict[tuple[str, str], datetime] = {}
    for part in chunks(uids):
        query = sa.select(
            unreadable_values.c.record_uid,
            unreadable_values.c.field,
            unreadable_values.c.first_seen,
        ).where(among(conn, unreadable_values.c.record_uid, part))
        for uid, field, seen in conn.execute(query):
            first_seen[(uid, field)] = seen
    # Only the records that had rows are deleted from; their current rows go back in below.
    for part in chunks(sorted({uid for uid, _ in first_seen})):
        conn.execute(
            sa.delete(unreadable_values).where(among(conn, unreadable_values.c.record_uid, part))
        )
    inserts = [
        {
            "record_uid": uid,
            "field": field,
            "source": _text(value.ref.source, 64),
            "object_type": _text(value.ref.object_type, 64),
            "external_id": _text(value.ref.external_id, 128),
            "raw": _text(value.raw, None),
            "problem": _text(value.problem, None),
            "first_seen": first_seen.get((uid, field), now),
            "last_seen": now,
        }
        for (uid, field), value in rows.items()
    ]
    for part in chunks(inserts):
        conn.execute(sa.insert(unreadable_values), part)


def seen(conn: sa.Connection, uids: Sequence[str], now: datetime) -> None:
    """These records were read again with the same unreadable values: ``last_seen`` moves."""
    for part in chunks(sorted(uids)):
        conn.execute(
            sa.update(unreadable_values)
            .where(among(conn, unreadable_values.c.record_uid, part))
            .values(last_seen=now)
        )


def _any_stored(conn: sa.Connection) -> bool:
    return conn.execute(sa.select(unreadable_values.c.record_uid).limit(1)).first() is not None


def _text(value: object, size: int | None) -> str:
    """Text a column holds: no NUL byte (PostgreSQL refuses them), at most ``size``."""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\x00", "\\0")
    return text if size is None else text[:size]


def summary(conn: sa.Connection, limit: int = 20) -> UnreadableSummary:
    """The number of unreadable values and the ``limit`` most recently seen."""
    count = conn.execute(sa.select(sa.func.count()).select_from(unreadable_values)).scalar_one()
    t = unreadable_values.c
    query = (
        sa.select(unreadable_values)
        .order_by(t.last_seen.desc(), t.record_uid, t.field)
        .limit(limit)
    )
    latest = tuple(
        UnreadableRow(
            record=row.record_uid,
            source=row.source,
            object_type=row.object_type,
            crm_id=row.external_id,
            field=row.field,
            raw=row.raw,
            problem=row.problem,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )
        for row in conn.execute(query)
    )
    return UnreadableSummary(count=int(count), latest=latest)


def forget(conn: sa.Connection, uids: Sequence[str]) -> int:
    """Delete the rows of these record and activity uids; how many went."""
    gone = 0
    for part in chunks(sorted(set(uids))):
        result = conn.execute(
            sa.delete(unreadable_values).where(among(conn, unreadable_values.c.record_uid, part))
        )
        gone += result.rowcount or 0
    return gone
