"""Hostile CRM records: wrong types, nulls, NUL bytes, huge and odd-unicode values.

Whatever a CRM sends, ingest stores it (cleaned, clipped) or skips it with a reason; it never
crashes a batch, on SQLite or on PostgreSQL (which refuses NUL bytes, NaN in JSON and
over-long varchars that SQLite accepts).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadsync.records import ActivityRecord, PersonRecord, RecordRef
from leadsync.store import Store
from leadsync.store.ingest import upsert_activities, upsert_people
from leadsync.store.schema import activities, crm_records
from tests.conftest import fresh_store_url

NOW = datetime(2026, 3, 1, tzinfo=UTC)

odd_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=600
) | st.sampled_from(["\x00", "a\x00b", "🙂" * 300, "‮evil", "' OR 1=1 --", " " * 400])
scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | odd_text
)
value = st.recursive(scalar, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
    odd_text, inner, max_size=3), max_leaves=6)  # fmt: skip


@st.composite
def people(draw: st.DrawFn) -> list[PersonRecord]:
    out = []
    for n in range(draw(st.integers(1, 4))):
        out.append(
            PersonRecord(
                ref=RecordRef("salesforce", "Lead", f"00Q{n}{draw(odd_text)[:100]}"),
                email=draw(st.none() | odd_text | st.emails()),
                modified_at=NOW,
                attributes=draw(st.dictionaries(odd_text, value, max_size=5)),
                owner_id=draw(st.none() | odd_text),
                status=draw(st.none() | odd_text),
                opted_out=draw(st.booleans()),
                account_id=draw(st.none() | odd_text),
            )
        )
    return out


@st.composite
def acts(draw: st.DrawFn) -> list[ActivityRecord]:
    return [
        ActivityRecord(
            ref=RecordRef("hubspot", "form", f"f{n}{draw(odd_text)[:100]}"),
            kind=draw(odd_text),
            occurred_at=NOW,
            modified_at=NOW,
            email=draw(st.none() | odd_text | st.emails()),
            name=draw(st.none() | odd_text),
            campaign_type=draw(st.none() | odd_text),
            member_status=draw(st.none() | odd_text),
            url=draw(st.none() | odd_text),
            actor_id=draw(st.none() | odd_text),
        )
        for n in range(draw(st.integers(1, 4)))
    ]


def _clean(value: Any) -> bool:
    """No NUL byte and no non-finite float anywhere in a stored JSON value."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, list):
        return all(_clean(v) for v in value)
    if isinstance(value, dict):
        return all(_clean(k) and _clean(v) for k, v in value.items())
    return True


def fuzz(store: Store) -> None:
    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(people(), acts())
    def ingest(batch: list[PersonRecord], events: list[ActivityRecord]) -> None:
        with store.transaction() as conn:
            upsert_people(conn, batch, NOW)
            upsert_activities(conn, events, NOW)
        with store.reading() as conn:
            for row in conn.execute(sa.select(crm_records.c.attributes)):
                assert _clean(row.attributes)

    ingest()


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def test_hostile_records_never_break_a_batch(backend: str, tmp_path: Path) -> None:
    for url in fresh_store_url(backend, tmp_path):
        store = Store(url)
        try:
            fuzz(store)
            with store.reading() as conn:
                stored = conn.execute(sa.select(sa.func.count()).select_from(activities))
                assert stored.scalar_one() > 0
        finally:
            store.close()
