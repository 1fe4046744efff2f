"""Hand-offs and recycles still acting are named by their kind, which the store maps to its
table: the engine asks ``acting_ids(conn, "recycle", source)``, never for a table."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from leadsync.records import PersonRecord, RecordRef
from leadsync.store import Store
from leadsync.store import handoffs as ledger
from leadsync.store.ingest import upsert_people
from leadsync.store.schema import handoffs, people, recycles

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SOURCES = ("crm_a", "crm_b")
STATES = (ledger.QUEUED, ledger.ACTING, ledger.DONE)


@pytest.fixture
def store(migrated_store_url: str) -> Iterator[Store]:
    s = Store(migrated_store_url)
    yield s
    s.close()


def _row(kind: str, person_id: int, source: str, state: str) -> dict[str, Any]:
    row: dict[str, Any] = {
        "person_id": person_id,
        "seq": 1,
        "record_uid": f"{source}:Contact:{person_id}",
        "source": source,
        "state": state,
        "trigger": "entered_sales" if kind == "handoff" else "inactive",
        "reason": "test",
    }
    if kind == "handoff":
        return {**row, "to_cell": "A1", "readiness": "ready", "score": 80, "queued_at": T0}
    return {**row, "recycled_at": T0}


@pytest.mark.parametrize("seed", range(3))
def test_each_kind_reads_and_finishes_its_own_rows(store: Store, seed: int) -> None:
    rng = random.Random(seed)
    planned = [
        (rng.choice(ledger.ACTING_KINDS), rng.choice(SOURCES), rng.choice(STATES))
        for _ in range(24)
    ]
    records = [
        PersonRecord(RecordRef("crm_a", "Contact", f"003{i}"), f"p{i}@acme.com", T0)
        for i in range(len(planned))
    ]
    expected: dict[tuple[str, str], list[int]] = {}
    with store.transaction() as conn:
        upsert_people(conn, records, T0)
        person_ids = list(conn.execute(sa.select(people.c.id).order_by(people.c.id)).scalars())
        for person_id, (kind, source, state) in zip(person_ids, planned, strict=True):
            insert = ledger.insert_handoff if kind == "handoff" else ledger.insert_recycle
            row_id = insert(conn, _row(kind, person_id, source, state))
            if state == ledger.ACTING:
                expected.setdefault((kind, source), []).append(row_id)
    with store.transaction() as conn:
        for kind in ledger.ACTING_KINDS:
            for source in SOURCES:
                got = ledger.acting_ids(conn, kind, source)
                assert sorted(got) == expected.get((kind, source), [])
        finished = expected.get(("recycle", "crm_a"), [])
        assert ledger.finish(conn, "recycle", finished, T0 + timedelta(hours=1)) == len(finished)
    with store.transaction() as conn:
        assert ledger.acting_ids(conn, "recycle", "crm_a") == []
        assert sorted(ledger.acting_ids(conn, "handoff", "crm_a")) == expected.get(
            ("handoff", "crm_a"), []
        )
        done = sa.select(recycles.c.id).where(recycles.c.state == ledger.DONE)
        assert set(finished) <= set(conn.execute(done).scalars())
        # Finishing recycles touches no hand-off that happens to share an id.
        acting = sa.select(sa.func.count()).where(handoffs.c.state == ledger.ACTING)
        assert conn.execute(acting).scalar_one() == sum(
            len(ids) for (kind, _), ids in expected.items() if kind == "handoff"
        )


def test_an_unknown_kind_says_which_there_are(store: Store) -> None:
    with store.transaction() as conn, pytest.raises(ValueError, match="handoff, recycle"):
        ledger.acting_ids(conn, "handoffs", "crm_a")  # type: ignore[arg-type]
