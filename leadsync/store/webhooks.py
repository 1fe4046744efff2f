"""What HubSpot webhooks leave in the store, so every replica acts as one.

Event ids: a delivery is a replay if any replica accepted one of its ids in the last ten
minutes (HubSpot's signature tolerance is five, either way). Records: a standby replica that
receives a delivery cannot run a cycle, so it hands the named records to the leader here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import sqlalchemy as sa

from leadsync.records import RecordRef
from leadsync.store import Store
from leadsync.store.actions import ref_of
from leadsync.store.identity import chunks
from leadsync.store.schema import webhook_events, webhook_records

#: How long an accepted event id is remembered: twice the signature tolerance.
REMEMBER = timedelta(minutes=10)


class StoredEventIds:
    """``claim`` for ``connectors.hubspot.webhooks.verify_v3``, shared by every replica."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def claim(self, event_ids: Sequence[str], now: datetime) -> list[str]:
        """Record ``event_ids`` unless some were seen; then return those and record none."""
        ids = list(dict.fromkeys(event_ids))
        try:
            with self._store.transaction() as conn:
                conn.execute(
                    sa.delete(webhook_events).where(webhook_events.c.received_at < now - REMEMBER)
                )
                seen = [
                    row.event_id
                    for part in chunks(ids)
                    for row in conn.execute(
                        sa.select(webhook_events.c.event_id).where(
                            webhook_events.c.event_id.in_(part)
                        )
                    )
                ]
                if seen:
                    return seen
                if ids:
                    conn.execute(
                        sa.insert(webhook_events),
                        [{"event_id": i, "received_at": now} for i in ids],
                    )
        except sa.exc.IntegrityError:
            # Another replica recorded the same ids between our look and our insert.
            return ids
        return []


def hand_over(conn: sa.Connection, refs: Sequence[RecordRef], now: datetime) -> int:
    """Leave ``refs`` for the leader's next requested cycle; returns how many were new."""
    uids = list(dict.fromkeys(str(ref) for ref in refs))
    known = {
        row.uid
        for part in chunks(uids)
        for row in conn.execute(
            sa.select(webhook_records.c.uid).where(webhook_records.c.uid.in_(part))
        )
    }
    fresh = [ref for ref in dict.fromkeys(refs) if str(ref) not in known]
    if fresh:
        conn.execute(
            sa.insert(webhook_records),
            [{"uid": str(r), "source": r.source, "received_at": now} for r in fresh],
        )
    return len(fresh)


def take_handed_over(conn: sa.Connection) -> dict[str, list[RecordRef]]:
    """The records standbys left, by connector, removed from the store."""
    rows = conn.execute(sa.select(webhook_records.c.uid, webhook_records.c.source)).all()
    taken: dict[str, list[RecordRef]] = {}
    for row in rows:
        taken.setdefault(row.source, []).append(ref_of(row.uid))
    for part in chunks([row.uid for row in rows]):
        conn.execute(sa.delete(webhook_records).where(webhook_records.c.uid.in_(part)))
    return taken
