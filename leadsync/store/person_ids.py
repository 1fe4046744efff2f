"""Person ids are never handed out twice.

A person's id names things outside the store: hand-off task keys (``ls-<person>-<seq>``) the
CRM keeps after the person is forgotten or merged away. PostgreSQL's sequence never reuses an
id. SQLite's own choice, the largest id + 1, gives the next new person the id of the deleted
one if it was the largest, so their first hand-off carried the deleted person's task key and
the CRM upserted the old task onto the new lead. On SQLite the store therefore keeps the
highest id it ever issued (in ``store_meta``) and draws above it.

A store made before this mark existed starts it at its largest id: an id deleted before the
upgrade can still come back once.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from leadsync.store.schema import people, store_meta

_MARK = "people.last_id"


def next_sqlite_ids(conn: sa.Connection, count: int, now: datetime) -> list[int]:
    """``count`` new person ids, above every id this store ever issued; records the mark.

    Safe without a lock of its own: the caller's BEGIN IMMEDIATE makes it the only writer.
    """
    largest = conn.execute(sa.select(sa.func.coalesce(sa.func.max(people.c.id), 0))).scalar_one()
    mark = conn.execute(sa.select(store_meta.c.value).where(store_meta.c.key == _MARK)).scalar()
    first = max(int(largest), int(mark or 0)) + 1
    last = first + count - 1
    if mark is None:
        conn.execute(sa.insert(store_meta).values(key=_MARK, value=str(last), updated_at=now))
    else:
        conn.execute(
            sa.update(store_meta)
            .where(store_meta.c.key == _MARK)
            .values(value=str(last), updated_at=now)
        )
    return list(range(first, last + 1))
