"""A batch inserted with COPY (PostgreSQL, 100 rows and more) reads back exactly as one
inserted row by row: hostile text, NULLs, aware datetimes, JSON, and Python-side defaults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from leadsync.store import Store
from leadsync.store.bulk_insert import COPY_MIN_ROWS, insert_rows
from leadsync.store.schema import activities, people, runs

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
HOSTILE = ["tab\there", "new\nline", "back\\slash", "quote \" and '", "\\N", "Zoë 東京", ""]


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    s = Store(store_url)
    yield s
    s.close()


def _activity(i: int) -> dict[str, object]:
    return {
        "uid": f"sf:Task:{i:05d}",
        "person_id": None,
        "record_uid": None if i % 3 else f"sf:Lead:{i}",
        "email_norm": None,
        "kind": "call",
        "occurred_at": T0 + timedelta(minutes=i),
        "modified_at": T0,
        "name": HOSTILE[i % len(HOSTILE)],
        "campaign_type": None,
        "member_status": None,
        "url": None,
        "actor_id": "005A",
        "deleted": bool(i % 2),
        "fingerprint": f"{i:040d}",
    }


@pytest.mark.parametrize("count", [COPY_MIN_ROWS - 1, COPY_MIN_ROWS + 50])
def test_rows_read_back_as_written(store: Store, count: int) -> None:
    rows = [_activity(i) for i in range(count)]
    with store.transaction() as conn:
        insert_rows(conn, activities, rows)
    with store.reading() as conn:
        got = conn.execute(sa.select(activities).order_by(activities.c.uid)).mappings().all()
    assert len(got) == count
    for row, back in zip(rows, got, strict=True):
        assert {k: back[k] for k in row} == row


def test_left_out_columns_take_their_defaults_and_json_round_trips(store: Store) -> None:
    now = T0
    with store.transaction() as conn:
        # people.dirty / active / recycle_count have Python-side defaults
        emails = [f"p{i}@x.io" for i in range(150)]
        insert_rows(
            conn,
            people,
            [{"email_norm": e, "created_at": now, "updated_at": now} for e in emails],
        )
        insert_rows(
            conn,
            runs,
            [
                {
                    "connector": "salesforce",
                    "kind": "sync",
                    "started_at": now,
                    "status": "ok",
                    "counts": {"pulled": i, "note": HOSTILE[i % len(HOSTILE)], "none": None},
                    "api_calls": i,
                }
                for i in range(120)
            ],
        )
    with store.reading() as conn:
        flags = conn.execute(
            sa.select(people.c.dirty, people.c.active, people.c.recycle_count).distinct()
        ).all()
        counts = conn.execute(sa.select(runs.c.counts).order_by(runs.c.id)).scalars().all()
    assert flags == [(True, True, 0)]
    assert counts[7] == {"pulled": 7, "note": HOSTILE[0], "none": None}
    assert len(counts) == 120
