"""Which of a person's records wins does not depend on which one LeadSync wrote last.

Found by bench/life.py seed 1542: fit came from the most recently *modified* lead of the fit
source, and the hand-off acted on the most recently modified lead, a stamp LeadSync's own
write-backs move; a store that lived through the writes and a fresh one picked different
leads. Both now go by creation (then the CRM id), which no write moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from leadsync.engine.moves import target_record
from leadsync.engine.scoring import merged_attributes
from leadsync.store.scoring import StoredRecord

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)


def lead(n: int, created_h: int, modified_h: int, **attributes: str) -> StoredRecord:
    return StoredRecord(
        id=n,
        uid=f"sf:Lead:00Q{n}",
        source="sf",
        object_type="Lead",
        external_id=f"00Q{n}",
        email="p@acme.io",
        attributes=attributes,
        owner_id=None,
        status="Open",
        opted_out=False,
        account_id=None,
        converted_at=None,
        modified_at=T0 + timedelta(hours=modified_h),
        created_at=T0 + timedelta(hours=created_h),
    )


@given(
    st.lists(st.integers(0, 5), min_size=2, max_size=4, unique=True),
    st.lists(st.integers(6, 30), min_size=4, max_size=4),
    st.permutations(range(4)),
)
def test_the_newest_lead_wins_whatever_the_modification_stamps(
    created: list[int], modified: list[int], store_order: list[int]
) -> None:
    leads = [
        lead(n, created_h=c, modified_h=modified[n], title=f"title {n}")
        for n, c in enumerate(created)
    ]
    # Store ids follow the order a store met the records in; that must not matter either.
    met = [leads[i] for i in store_order if i < len(leads)]
    newest = max(range(len(created)), key=lambda n: created[n])
    assert merged_attributes(met, "sf")["title"] == f"title {newest}"
    chosen = target_record(met, "sf", ["sf"])
    assert chosen is not None and chosen.external_id == f"00Q{newest}"


def test_an_empty_value_in_the_newest_lead_keeps_the_older_ones() -> None:
    old = lead(1, created_h=0, modified_h=9, title="CTO", country="DE")
    new = lead(2, created_h=3, modified_h=4, title="", country="FR")
    assert merged_attributes([new, old], "sf") == {"title": "CTO", "country": "FR"}
