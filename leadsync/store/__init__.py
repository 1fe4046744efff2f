"""The state store: SQLAlchemy 2 Core over SQLite (embedded) or PostgreSQL (production).

``Store`` owns the engine and transactions; the modules beside it are functions over a
connection, one concern each: ``ingest`` (pulled records), ``scoring`` (the scoring queue and
results), ``writes`` (ledger and outbox), ``runs`` (cursors and cycles), ``lookup`` (reads),
``history`` (the past the report reads). All of LeadSync's SQL lives in this package: code
outside it calls these functions and names a connection ``leadsync.store.Connection``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from sqlalchemy import Connection

from leadsync.store import db
from leadsync.store.cycle_lock import HeldLock, cycle_lock


class Store:
    """An open, migrated store."""

    def __init__(self, url: str, *, migrate: bool = True) -> None:
        self.url = url
        self.engine = db.create_engine(url)
        if migrate:
            db.upgrade(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @property
    def concurrent_writers(self) -> bool:
        """Whether transactions on several connections at once work: PostgreSQL, not SQLite
        (one writer at a time, and an in-memory database is private to its connection)."""
        return self.dialect == "postgresql"

    @contextmanager
    def one_cycle(self) -> Iterator[HeldLock]:
        """The right to run a cycle: ``CycleBusy`` at once if another holds it anywhere.
        The holder calls ``verify()`` on what it yields before each CRM write."""
        with cycle_lock(self.engine) as held:
            yield held

    @contextmanager
    def transaction(self) -> Iterator[sa.Connection]:
        """One atomic unit: committed on success, rolled back on any exception."""
        with self.engine.begin() as conn:
            yield conn

    @contextmanager
    def reading(self) -> Iterator[sa.Connection]:
        with self.engine.connect() as conn:
            yield conn

    def close(self) -> None:
        self.engine.dispose()


__all__ = ["Connection", "Store"]
