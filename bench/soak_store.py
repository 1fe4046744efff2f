"""The soak's secondary activity check: the CRMs' activities against LeadSync's store.

The primary check (``bench/soak_model.py``) never reads the store. This one does, on purpose:
an activity counted twice would hide behind the model's de-duplication by id and its caps, so
here every CRM activity must be exactly one live store row, on a store person holding one of
the records the checker joined that activity's person from.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from bench.soak_model import People


@dataclass
class StoreActivities:
    crm_activities: int = 0
    store_rows: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    misattributed: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    people_compared: int = 0
    unlinked_in_crm: int = 0

    def problems(self) -> list[str]:
        return [
            *(f"lost (in the CRM, not in the store): {p}" for p in self.lost),
            *(f"doubled (two store rows for one CRM activity): {p}" for p in self.doubled),
            *(f"on the wrong person in the store: {p}" for p in self.misattributed),
            *(f"in the store, not in the CRM: {p}" for p in self.extra),
        ]


def compare_with_store(people: People, url: str) -> StoreActivities:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT uid, person_id FROM activities WHERE NOT deleted")
            ).all()
            records: dict[str, int] = {
                uid: person
                for uid, person in conn.execute(sa.text("SELECT uid, person_id FROM crm_records"))
            }
    finally:
        engine.dispose()
    out = StoreActivities(store_rows=len(rows), unlinked_in_crm=len(people.unlinked))
    stored: dict[str, list[int | None]] = defaultdict(list)
    for uid, person_id in rows:
        stored[str(uid)].append(person_id)
    claimed: set[str] = {str(item.record.ref) for item in people.unlinked}
    for key, items in sorted(people.activities.items()):
        owners = {records.get(str(r.person.ref)) for r in people.records.get(key, [])} - {None}
        out.people_compared += 1
        for item in items:
            uid = str(item.record.ref)
            claimed.add(uid)
            out.crm_activities += 1
            found = stored.get(uid, [])
            if not found:
                out.lost.append(f"{key} {uid}")
            elif len(found) > 1:
                out.doubled.append(f"{key} {uid} x{len(found)}")
            elif found[0] not in owners:
                out.misattributed.append(f"{key} {uid} on store person {found[0]}")
    out.crm_activities += len(people.unlinked)
    out.extra = sorted(uid for uid in stored if uid not in claimed)
    return out
