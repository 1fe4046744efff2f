"""One cycle at a time per store, whichever process or thread starts it.

Every cycle scores everyone it queued and writes to every CRM, so two at once (the service's
scheduled cycle and an ops engineer's ``leadsync sync``, or two backfills) would pull the same
pages twice and could send the same write twice. The scheduler already runs one job at a time
and only on the leader; this lock covers what starts cycles outside it.

- PostgreSQL: a session advisory lock (class "LS", object 2; the scheduler's lease is object
  1, see ``jobs.lease``), taken without waiting on a connection held for the cycle. The server
  drops it when that session ends, so a killed process never leaves it behind.
- SQLite: a lock file, ``<db>.cycle.lock`` (``leadsync.store.lock_file``), which also keeps
  two threads of one process apart.
- An in-memory SQLite database is private to its connection: nothing to keep apart.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

from leadsync.errors import CycleBusy
from leadsync.store.lock_file import LockFile, LockHeld, beside_sqlite

#: Advisory lock class of every lock LeadSync takes ("LS"); objects: 1 the scheduler's lease
#: (``jobs.lease``), 2 the cycle lock. Advisory locks are per database.
LOCK_CLASS = 0x4C53
CYCLE_LOCK = 2

_BUSY = "run it again once that one has finished (`leadsync status` lists recent runs)"


@contextmanager
def cycle_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold the store's cycle lock for the block, or raise ``CycleBusy`` at once."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine):
            yield
        return
    path = beside_sqlite(engine.url, ".cycle.lock")
    if path is None:
        yield
        return
    with _flock(path):
        yield


@contextmanager
def _advisory(engine: sa.Engine) -> Iterator[None]:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:cls, :obj)"),
            {"cls": LOCK_CLASS, "obj": CYCLE_LOCK},
        ).scalar_one()
        if not got:
            raise CycleBusy(f"another cycle is running on this store ({_holder(conn)}); {_BUSY}")
        try:
            yield
        finally:
            conn.execute(
                sa.text("SELECT pg_advisory_unlock(:cls, :obj)"),
                {"cls": LOCK_CLASS, "obj": CYCLE_LOCK},
            )


def _holder(conn: sa.Connection) -> str:
    row = conn.execute(
        sa.text(
            "SELECT a.pid, a.client_addr, a.backend_start "
            "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.classid = :cls AND l.objid = :obj "
            "AND l.granted AND l.database = (SELECT oid FROM pg_database "
            "WHERE datname = current_database())"
        ),
        {"cls": LOCK_CLASS, "obj": CYCLE_LOCK},
    ).first()
    if row is None:
        return "it has just finished"
    where = f" from {row.client_addr}" if row.client_addr else ""
    return f"server pid {row.pid}{where}, connected since {row.backend_start:%Y-%m-%d %H:%M:%S %Z}"


@contextmanager
def _flock(path: Path) -> Iterator[None]:
    lock = LockFile(path)
    try:
        lock.acquire()
    except LockHeld as held:
        raise CycleBusy(
            f"another cycle is running on this store (process {held.holder}, lock {path}); {_BUSY}"
        ) from None
    try:
        yield
    finally:
        lock.release()
