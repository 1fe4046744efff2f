"""Which model the store's scores were made with.

Scores from two models must never mix: a replica with a stale config, or a hand-run command
with another file, would re-score some people with its model and leave the rest with the
other. The store therefore records one model (a fingerprint of the model's config); a cycle
with another one writes nothing unless it adopts it, and adopting re-scores everyone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from leadsync.store.schema import store_meta

_MODEL = "model"


@dataclass(frozen=True, slots=True)
class StoreModel:
    fingerprint: str
    adopted_at: datetime


def scored_with(conn: sa.Connection) -> StoreModel | None:
    """The model the store is scored with; ``None`` before the first cycle."""
    row = conn.execute(
        sa.select(store_meta.c.value, store_meta.c.updated_at).where(store_meta.c.key == _MODEL)
    ).first()
    return None if row is None else StoreModel(row.value, row.updated_at)


def adopt_model(conn: sa.Connection, fingerprint: str, now: datetime) -> None:
    updated = conn.execute(
        sa.update(store_meta)
        .where(store_meta.c.key == _MODEL)
        .values(value=fingerprint, updated_at=now)
    )
    if not updated.rowcount:
        conn.execute(sa.insert(store_meta).values(key=_MODEL, value=fingerprint, updated_at=now))
