"""Who is who after a merge whose survivor was deleted, whatever order the store met it in.

bench/life.py seed 859: Salesforce merged lead L2 (p2@) into L6 (p6@), both people also
HubSpot contacts, then deleted L6. A store that saw the merge happen had every record on one
person; a fresh store joined p2's contact to the deleted survivor's person and left p6's
apart. A merge now joins the survivor's own address too, also once the survivor is gone.
"""

from __future__ import annotations

import itertools
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from hypothesis import given, settings
from hypothesis import strategies as st

from leadsync.records import PersonRecord, RecordRef
from leadsync.store import Store
from leadsync.store.ingest import upsert_people
from leadsync.store.schema import crm_records

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
_FOLDER = tempfile.TemporaryDirectory()
#: One store for every example (migrating a store for each took most of the time); each
#: example has records and addresses of its own.
_STORE = Store(f"sqlite:///{Path(_FOLDER.name) / 'ls.db'}")
_EXAMPLES = itertools.count()


def records(n: int) -> tuple[PersonRecord, ...]:
    """Lead L2 merged into L6 and L6 deleted; the contacts H2 and H6 with their addresses."""
    l2, l6 = RecordRef("sf", "Lead", f"L2-{n}"), RecordRef("sf", "Lead", f"L6-{n}")
    p2, p6 = f"p2-{n}@shop.de", f"p6-{n}@usine.fr"
    return (
        PersonRecord(l2, p2, T0, deleted=True, merged_into=l6),
        PersonRecord(l6, p6, T0, deleted=True),
        PersonRecord(RecordRef("hs", "contact", f"H2-{n}"), p2, T0),
        PersonRecord(RecordRef("hs", "contact", f"H6-{n}"), p6, T0),
    )


@settings(max_examples=60, deadline=None)
@given(st.permutations(range(4)), st.lists(st.integers(1, 3), min_size=4, max_size=4))
def test_both_addresses_join_the_merge_in_any_order(order: list[int], batches: list[int]) -> None:
    made = records(next(_EXAMPLES))
    pending = [made[i] for i in order]
    at = T0
    for size in batches:
        batch, pending = pending[:size], pending[size:]
        at += timedelta(minutes=1)
        if batch:
            with _STORE.transaction() as conn:
                upsert_people(conn, batch, at)
    uids = [str(r.ref) for r in made if not r.deleted]
    with _STORE.reading() as conn:
        persons = set(
            conn.execute(
                sa.select(crm_records.c.person_id).where(crm_records.c.uid.in_(uids))
            ).scalars()
        )
    assert len(persons) == 1, (order, batches)
