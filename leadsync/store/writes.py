"""The ledger of values written to each CRM record, and the outbox of writes still owed.

Deciding a write and making it are separate steps: scoring queues the values that differ
from what the ledger says was last written; flushing hands them to the connector and moves
them into the ledger when the CRM confirms. A crash in between leaves them queued, so no
write is lost, and re-sending the same values is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from leadsync.records import RecordRef, WriteOutcome
from leadsync.store.identity import chunks
from leadsync.store.schema import crm_records, ledger, pending_writes

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
                    crm_records.c.person_id.in_(part),
                    crm_records.c.deleted.is_(False),
                    crm_records.c.merged_into.is_(None),
                )
            )
        )
    record_ids = [t.id for t in targets]
    written = _values_by_record(conn, ledger, record_ids)
    owed = _values_by_record(conn, pending_writes, record_ids)
    queued = 0
    for target in targets:
        desired = {k: v for k, v in outputs_by_person[target.person_id].items() if k != SCORED_AT}
        known = {**written.get(target.id, {}), **owed.get(target.id, {})}
        changed = {k: v for k, v in desired.items() if known.get(k, _MISSING) != v}
        if not changed:
            continue
        changed[SCORED_AT] = now.isoformat()
        _merge_pending(conn, target.id, target.source, changed, target.id in owed, now)
        queued += 1
    return queued


_MISSING = object()


def _values_by_record(
    conn: sa.Connection, table: sa.Table, record_ids: list[int]
) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for part in chunks(record_ids):
        query = sa.select(table.c.record_id, table.c["values"]).where(table.c.record_id.in_(part))
        for record_id, values in conn.execute(query):
            found[record_id] = dict(values)
    return found


def _merge_pending(
    conn: sa.Connection,
    record_id: int,
    source: str,
    changed: dict[str, Any],
    exists: bool,
    now: datetime,
) -> None:
    if not exists:
        conn.execute(
            sa.insert(pending_writes).values(
                record_id=record_id,
                source=source,
                values=changed,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
            )
        )
        return
    current = conn.execute(
        sa.select(pending_writes.c["values"]).where(pending_writes.c.record_id == record_id)
    ).scalar_one()
    conn.execute(
        sa.update(pending_writes)
        .where(pending_writes.c.record_id == record_id)
        .values(values={**current, **changed}, updated_at=now)
    )


def due_writes(conn: sa.Connection, source: str, now: datetime, limit: int) -> list[DueWrite]:
    """Pending writes for one connector whose backoff has passed, oldest first."""
    query = (
        sa.select(
            pending_writes.c.id,
            pending_writes.c.record_id,
            pending_writes.c["values"],
            pending_writes.c.attempts,
            crm_records.c.source,
            crm_records.c.object_type,
            crm_records.c.external_id,
        )
        .join(crm_records, crm_records.c.id == pending_writes.c.record_id)
        .where(
            pending_writes.c.source == source,
            pending_writes.c.state == "pending",
            pending_writes.c.next_attempt_at <= now,
        )
        .order_by(pending_writes.c.id)
        .limit(limit)
    )
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
    for item, outcome in zip(due, outcomes, strict=True):
        if outcome.ok:
            counts.written += 1
            merged = {**written.get(item.record_id, {}), **item.values}
            if item.record_id in written:
                conn.execute(
                    sa.update(ledger)
                    .where(ledger.c.record_id == item.record_id)
                    .values(values=merged, written_at=now)
                )
            else:
                conn.execute(
                    sa.insert(ledger).values(
                        record_id=item.record_id, values=merged, written_at=now
                    )
                )
            _settle(conn, item)
            continue
        counts.rejected += 1
        attempts = item.attempts + 1
        error = outcome.error
        parked = attempts >= max_attempts
        counts.parked += int(parked)
        conn.execute(
            sa.update(pending_writes)
            .where(pending_writes.c.id == item.id)
            .values(
                attempts=attempts,
                state="parked" if parked else "pending",
                next_attempt_at=now + backoff * (2 ** (attempts - 1)),
                error_code=error.code if error else "UNKNOWN",
                error_message=error.message if error else "the CRM gave no reason",
                error_fields=list(error.fields) if error else [],
                updated_at=now,
            )
        )
    return counts


def _settle(conn: sa.Connection, item: DueWrite) -> None:
    """Remove the outbox row, unless newer values were merged into it meanwhile."""
    current = conn.execute(
        sa.select(pending_writes.c["values"]).where(pending_writes.c.id == item.id)
    ).scalar_one_or_none()
    if current is None:
        return
    remaining = {k: v for k, v in current.items() if item.values.get(k, _MISSING) != v}
    if remaining and set(remaining) != {SCORED_AT}:
        conn.execute(
            sa.update(pending_writes)
            .where(pending_writes.c.id == item.id)
            .values(values=remaining, attempts=0, error_code=None, error_message=None)
        )
    else:
        conn.execute(sa.delete(pending_writes).where(pending_writes.c.id == item.id))


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


def rejected_writes(conn: sa.Connection, limit: int = 50) -> list[dict[str, Any]]:
    """Rejected writes (waiting or parked) with the CRM's code, message and fields."""
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
        .where(pending_writes.c.attempts > 0)
        .order_by(pending_writes.c.updated_at.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def pending_counts(conn: sa.Connection) -> dict[str, dict[str, int]]:
    """Outbox size per connector: waiting writes, retrying rejections, parked ones."""
    query = sa.select(
        pending_writes.c.source,
        pending_writes.c.state,
        (pending_writes.c.attempts > 0).label("rejected"),
        sa.func.count(),
    ).group_by(pending_writes.c.source, pending_writes.c.state, sa.text("3"))
    out: dict[str, dict[str, int]] = {}
    for source, state, rejected, n in conn.execute(query):
        key = "parked" if state == "parked" else ("retrying" if rejected else "pending")
        bucket = out.setdefault(source, {"pending": 0, "retrying": 0, "parked": 0})
        bucket[key] += n
    return out
