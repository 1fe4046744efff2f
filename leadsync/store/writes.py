"""The ledger of values written to each CRM record, and the outbox of writes still owed.

Deciding a write and making it are separate steps: scoring queues the values that differ
from what the ledger says was last written; flushing hands them to the connector and moves
them into the ledger when the CRM confirms. A crash in between leaves them queued, so no
write is lost, and re-sending the same values is harmless.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import sqlalchemy as sa

from leadsync.records import RecordRef, WriteOutcome
from leadsync.store.bulk_insert import insert_rows
from leadsync.store.identity import chunks, refresh_planner_stats
from leadsync.store.members import among
from leadsync.store.schema import actions, crm_records, ledger, pending_writes

#: Written with every change so sales sees when the values were decided; never a reason to write.
SCORED_AT = "scored_at"


@dataclass(frozen=True, slots=True)
class DueWrite:
    id: int
    record_id: int
    ref: RecordRef
    values: Mapping[str, Any]
    attempts: int


def queue_writes(
    conn: sa.Connection, outputs_by_person: Mapping[int, Mapping[str, Any]], now: datetime
) -> int:
    """Queue, for every live record of these people, the output values that differ."""
    if not outputs_by_person:
        return 0
    targets: list[Any] = []
    for part in chunks(sorted(outputs_by_person)):
        targets.extend(
            conn.execute(
                sa.select(crm_records.c.id, crm_records.c.person_id, crm_records.c.source).where(
                    among(conn, crm_records.c.person_id, part),
                    crm_records.c.deleted.is_(False),
                    crm_records.c.merged_into.is_(None),
                )
            )
        )
    record_ids = [t.id for t in targets]
    written = _values_by_record(conn, ledger, record_ids)
    owed = _values_by_record(conn, pending_writes, record_ids)
    inserts: list[dict[str, Any]] = []
    merges: list[dict[str, Any]] = []
    for target in targets:
        desired = {k: v for k, v in outputs_by_person[target.person_id].items() if k != SCORED_AT}
        known = {**written.get(target.id, {}), **owed.get(target.id, {})}
        changed = {k: v for k, v in desired.items() if known.get(k, _MISSING) != v}
        if not changed:
            continue
        changed[SCORED_AT] = now.isoformat()
        if target.id in owed:
            # A newer decision merges into the write still owed for this record.
            values = {**owed[target.id], **changed}
            merges.append({"_record": target.id, "values": values, "updated_at": now})
        else:
            inserts.append(
                {
                    "record_id": target.id,
                    "source": target.source,
                    "values": changed,
                    "state": "pending",
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    insert_rows(conn, pending_writes, inserts)
    for part in chunks(merges):
        conn.execute(_MERGE_PENDING, part)
    return len(inserts) + len(merges)


_MISSING = object()

_MERGE_PENDING = sa.update(pending_writes).where(
    pending_writes.c.record_id == sa.bindparam("_record")
)


def _values_by_record(
    conn: sa.Connection, table: sa.Table, record_ids: list[int]
) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for part in chunks(record_ids):
        query = sa.select(table.c.record_id, table.c["values"]).where(
            among(conn, table.c.record_id, part)
        )
        for record_id, values in conn.execute(query):
            found[record_id] = dict(values)
    return found


def due_writes(
    conn: sa.Connection, source: str, now: datetime, limit: int, *, after: int = 0
) -> list[DueWrite]:
    """Pending writes for one connector whose backoff has passed, in record order (record ids
    > ``after``).

    Record order, not queue order: records of one CRM object are stored together, so a page
    of writes mostly holds one object's records. A connector that sends an object's records in
    one job can then answer a page once that object's job is done; in queue order (people
    order) each page mixed every object, and no page could be answered before the last job.
    """
    query = _DUE.where(
        pending_writes.c.source == source,
        pending_writes.c.state == "pending",
        pending_writes.c.next_attempt_at <= now,
        pending_writes.c.record_id > after,
    )
    return _due(conn, query.order_by(pending_writes.c.record_id).limit(limit))


def writes_by_id(conn: sa.Connection, ids: Sequence[int]) -> dict[int, DueWrite]:
    """The pending writes among ``ids`` as they are now (a write settled or erased is absent)."""
    found: dict[int, DueWrite] = {}
    for part in chunks(list(ids)):
        query = _DUE.where(
            among(conn, pending_writes.c.id, part), pending_writes.c.state == "pending"
        )
        found.update((item.id, item) for item in _due(conn, query))
    return found


def values_digest(values: Mapping[str, Any]) -> bytes:
    """A short digest of a write's values: tells whether they changed since it was sent."""
    blob = orjson.dumps(values, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.blake2b(blob, digest_size=16).digest()


_DUE = sa.select(
    pending_writes.c.id,
    pending_writes.c.record_id,
    pending_writes.c["values"],
    pending_writes.c.attempts,
    crm_records.c.source,
    crm_records.c.object_type,
    crm_records.c.external_id,
).join(crm_records, crm_records.c.id == pending_writes.c.record_id)


def _due(conn: sa.Connection, query: sa.Select[Any]) -> list[DueWrite]:
    return [
        DueWrite(
            id=row.id,
            record_id=row.record_id,
            ref=RecordRef(row.source, row.object_type, row.external_id),
            values=row.values,
            attempts=row.attempts,
        )
        for row in conn.execute(query)
    ]


@dataclass(slots=True)
class OutcomeCounts:
    written: int = 0
    rejected: int = 0
    parked: int = 0


def record_outcomes(
    conn: sa.Connection,
    due: Sequence[DueWrite],
    outcomes: Sequence[WriteOutcome],
    now: datetime,
    *,
    max_attempts: int,
    backoff: timedelta,
) -> OutcomeCounts:
    """Move confirmed writes into the ledger; keep rejected ones with the CRM's own words.

    A rejection waits ``backoff * 2**(attempts-1)`` before its next try and parks after
    ``max_attempts``: visible in ``leadsync status``, replayed by ``sync --retry-failed``.
    """
    if len(due) != len(outcomes):
        raise ValueError(f"{len(outcomes)} outcomes for {len(due)} writes")
    counts = OutcomeCounts()
    written = _values_by_record(conn, ledger, [d.record_id for d in due])
    ledger_inserts: list[dict[str, Any]] = []
    ledger_updates: list[dict[str, Any]] = []
    settled: list[DueWrite] = []
    rejections: list[dict[str, Any]] = []
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.ok:
            counts.written += 1
            merged = {**written.get(item.record_id, {}), **item.values}
            entry = {"values": merged, "written_at": now}
            if item.record_id in written:
                ledger_updates.append({"_record": item.record_id, **entry})
            else:
                ledger_inserts.append({"record_id": item.record_id, **entry})
            settled.append(item)
            continue
        counts.rejected += 1
        attempts = item.attempts + 1
        error = outcome.error
        parked = attempts >= max_attempts
        counts.parked += int(parked)
        rejections.append(
            {
                "_id": item.id,
                "attempts": attempts,
                "state": "parked" if parked else "pending",
                "next_attempt_at": now + backoff * (2 ** (attempts - 1)),
                "error_code": error.code if error else "UNKNOWN",
                "error_message": error.message if error else "the CRM gave no reason",
                "error_fields": list(error.fields) if error else [],
                "updated_at": now,
            }
        )
    insert_rows(conn, ledger, ledger_inserts)
    for part in chunks(ledger_updates):
        conn.execute(_UPDATE_LEDGER, part)
    _settle(conn, settled)
    for part in chunks(rejections):
        conn.execute(_UPDATE_PENDING, part)
    refresh_planner_stats(conn, (ledger, pending_writes))
    return counts


_UPDATE_LEDGER = sa.update(ledger).where(ledger.c.record_id == sa.bindparam("_record"))
_UPDATE_PENDING = sa.update(pending_writes).where(pending_writes.c.id == sa.bindparam("_id"))


def _settle(conn: sa.Connection, confirmed: Sequence[DueWrite]) -> None:
    """Remove confirmed outbox rows, except values merged into them since they were read."""
    current: dict[int, dict[str, Any]] = {}
    for part in chunks([item.id for item in confirmed]):
        query = sa.select(pending_writes.c.id, pending_writes.c["values"]).where(
            among(conn, pending_writes.c.id, part)
        )
        current.update({row_id: dict(values) for row_id, values in conn.execute(query)})
    done: list[int] = []
    newer: list[dict[str, Any]] = []
    for item in confirmed:
        if item.id not in current:
            continue
        remaining = {k: v for k, v in current[item.id].items() if item.values.get(k, _MISSING) != v}
        if remaining and set(remaining) != {SCORED_AT}:
            newer.append(
                {
                    "_id": item.id,
                    "values": remaining,
                    "attempts": 0,
                    "error_code": None,
                    "error_message": None,
                }
            )
        else:
            done.append(item.id)
    for part in chunks(done):
        conn.execute(sa.delete(pending_writes).where(among(conn, pending_writes.c.id, part)))
    for part in chunks(newer):
        conn.execute(_UPDATE_PENDING, part)


def replay_failed(conn: sa.Connection, source: str | None, now: datetime) -> int:
    """Put parked and waiting rejected writes back in line for an immediate try."""
    query = (
        sa.update(pending_writes)
        .where(pending_writes.c.attempts > 0)
        .values(state="pending", attempts=0, next_attempt_at=now, updated_at=now)
    )
    if source is not None:
        query = query.where(pending_writes.c.source == source)
    return conn.execute(query).rowcount or 0


def owed_state(state: str, attempts: int) -> str:
    """What a screen calls an owed write: ``pending`` (never tried, or put back in line),
    ``retrying`` (the CRM rejected it; it waits for its next try) or ``parked``."""
    if state == "parked":
        return "parked"
    return "retrying" if attempts > 0 else "pending"


#: The writes the CRM rejected (retrying or parked): what ``rejected_writes`` lists.
_REJECTED = pending_writes.c.attempts > 0


def rejected_writes(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Rejected writes (retrying or parked) with the CRM's code, message and fields, newest
    first; ``state`` is ``owed_state``'s word, as ``pending_counts`` counts them."""
    query = (
        sa.select(
            crm_records.c.uid,
            pending_writes.c.state,
            pending_writes.c.attempts,
            pending_writes.c.error_code,
            pending_writes.c.error_message,
            pending_writes.c.error_fields,
            pending_writes.c.next_attempt_at,
        )
        .join(crm_records, crm_records.c.id == pending_writes.c.record_id)
        .where(_REJECTED)
        .order_by(pending_writes.c.updated_at.desc())
        .limit(limit)
    )
    return [
        {**row._mapping, "state": owed_state(row.state, row.attempts)}
        for row in conn.execute(query)
    ]


def rejected_write_count(conn: sa.Connection) -> int:
    """How many writes ``rejected_writes`` would list without a limit."""
    query = sa.select(sa.func.count()).select_from(pending_writes).where(_REJECTED)
    return int(conn.execute(query).scalar_one())


def owes_due(conn: sa.Connection, source: str, now: datetime) -> bool:
    """Whether connector ``source`` has writes due now, or actions (hand-offs, recycles)
    still to send: whether this cycle will change anything in that CRM."""
    writes = sa.exists().where(
        pending_writes.c.source == source,
        pending_writes.c.state == "pending",
        pending_writes.c.next_attempt_at <= now,
    )
    acts = sa.exists().where(actions.c.source == source, actions.c.state == "pending")
    return bool(conn.execute(sa.select(sa.or_(writes, acts))).scalar())


def pending_counts(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Outbox size per connector, by ``owed_state``: pending, retrying, parked."""
    query = sa.select(
        pending_writes.c.source,
        pending_writes.c.state,
        (pending_writes.c.attempts > 0).label("rejected"),
        sa.func.count(),
    ).group_by(pending_writes.c.source, pending_writes.c.state, sa.text("3"))
    out: dict[str, dict[str, int]] = {}
    for source, state, rejected, n in conn.execute(query):
        bucket = out.setdefault(source, {"pending": 0, "retrying": 0, "parked": 0})
        bucket[owed_state(state, int(bool(rejected)))] += n
    return out


def written_values(conn: sa.Connection, record_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The values last written to each record (the ledger), for a dry run's old -> new diff."""
    out: dict[int, dict[str, Any]] = {}
    for part in chunks(list(record_ids)):
        query = sa.select(ledger.c.record_id, ledger.c["values"]).where(
            among(conn, ledger.c.record_id, part)
        )
        out.update({rid: dict(values) for rid, values in conn.execute(query)})
    return out
