"""A batch inserted with COPY (PostgreSQL, 100 rows and more) reads back exactly as one
inserted row by row: hostile text, NULLs, aware datetimes, JSON, and Python-side defaults."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.psycopg import dialect as psycopg_dialect

from leadsync.store import Store
from leadsync.store.bulk_insert import COPY_MIN_ROWS, _binary_types, insert_rows
from leadsync.store.schema import activities, metadata, people, runs, scores

T0 = datetime(2026, 3, 2, 9, 30, 15, 123456, tzinfo=UTC)
HOSTILE = ["tab\there", "new\nline", "back\\slash", "quote \" and '", "\\N", "Zoë 東京", ""]


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
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


def test_json_values_round_trip_whole(store: Store) -> None:
    """JSON goes through the same serializer as an INSERT: nesting, floats, non-ASCII, NUL-free
    hostile text and nulls come back as they went in."""
    now = T0
    outputs = {"fit": "good", "nested": {"list": [1, 2.5, None, True], "text": HOSTILE}}
    with store.transaction() as conn:
        ids = list(range(1, COPY_MIN_ROWS + 21))
        insert_rows(
            conn,
            people,
            [{"id": i, "email_norm": None, "created_at": now, "updated_at": now} for i in ids],
        )
        insert_rows(
            conn,
            scores,
            [
                {
                    "person_id": i, "fit": "good", "score": i, "readiness": "unready",
                    "team": "marketing", "cell": "good-unready", "scored_at": now,
                    "outputs": {**outputs, "i": i}, "result": {"why": ["rule é", i / 3]},
                }
                for i in ids
            ],
        )  # fmt: skip
    with store.reading() as conn:
        got = conn.execute(sa.select(scores).order_by(scores.c.person_id)).mappings().all()
    assert [row["outputs"] for row in got] == [{**outputs, "i": i} for i in ids]
    assert [row["result"] for row in got] == [{"why": ["rule é", i / 3]} for i in ids]
    assert {row["scored_at"] for row in got} == {now}


def test_every_table_copies_in_binary_on_postgresql() -> None:
    """A column type with no binary form would silently make its table's COPY text, which
    costs psycopg about twice the CPU a row."""
    dialect = psycopg_dialect()
    missing = [
        table.name
        for table in metadata.sorted_tables
        if _binary_types(list(table.columns), dialect) is None
    ]
    assert missing == []
