"""A past written straight into the store, as the engine would have left it: a person with
one CRM record and its activities, and the score changes the model made. For generated
histories (``leadsync.tune.synthetic``, benchmarks and tests), never for live data: nothing
here checks identity, fingerprints or the scoring queue. Hand-offs and recycles are written
with ``handoffs.insert_handoff`` and ``handoffs.insert_recycle``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from leadsync.records import RecordRef
from leadsync.store.schema import activities, crm_records, people, score_history
from leadsync.store.scoring import StoredActivity

#: What a generated row holds where ingest keeps a hash of the CRM's content.
_GENERATED = "generated"


@dataclass(frozen=True, slots=True)
class PastLead:
    """A person known by one CRM record since ``entered_at``, and what they did."""

    person_id: int
    record: RecordRef
    email: str
    attributes: Mapping[str, Any]
    entered_at: datetime
    converted_at: datetime | None
    activities: Sequence[StoredActivity] = ()


def insert_lead(conn: sa.Connection, lead: PastLead) -> None:
    """The person (scored: not queued), their record and their activities."""
    at = lead.entered_at
    uid = str(lead.record)
    conn.execute(
        sa.insert(people),
        {"id": lead.person_id, "email_norm": lead.email, "dirty": False, "active": True,
         "created_at": at, "updated_at": at},
    )  # fmt: skip
    conn.execute(
        sa.insert(crm_records),
        {"uid": uid, "person_id": lead.person_id, "source": lead.record.source,
         "object_type": lead.record.object_type, "external_id": lead.record.external_id,
         "email_norm": lead.email, "attributes": dict(lead.attributes), "opted_out": False,
         "deleted": False, "converted_at": lead.converted_at, "modified_at": at,
         "fingerprint": _GENERATED, "updated_at": at},
    )  # fmt: skip
    if lead.activities:
        conn.execute(
            sa.insert(activities),
            [
                {**asdict(a), "person_id": lead.person_id, "record_uid": uid,
                 "email_norm": lead.email, "modified_at": a.occurred_at, "deleted": False,
                 "fingerprint": _GENERATED}
                for a in lead.activities
            ],
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Scored:
    score: int
    cell: str


def insert_score_change(
    conn: sa.Connection, person_id: int, at: datetime, old: Scored | None, new: Scored
) -> None:
    """A line of score history: the person's score and cell moved from ``old`` (None: first
    scored) to ``new`` at ``at``."""
    conn.execute(
        sa.insert(score_history),
        {"person_id": person_id, "at": at, "old_score": old.score if old else None,
         "new_score": new.score, "old_cell": old.cell if old else None, "new_cell": new.cell,
         "cause": {}},
    )  # fmt: skip
