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

A lock can be lost while held: the PostgreSQL session ended (terminated by an admin, a
network cut, a server restart) or the lock file was deleted. Another cycle may then start
beside this one, so the holder calls ``HeldLock.verify`` before each step that writes to a
CRM and stops with ``CycleLockLost`` when the lock is gone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import sqlalchemy as sa

from leadsync.errors import CycleBusy, CycleLockLost
from leadsync.store.lock_file import LockFile, LockHeld, beside_sqlite

#: Advisory lock class of every lock LeadSync takes ("LS"); objects: 1 the scheduler's lease
#: (``jobs.lease``), 2 the cycle lock. Advisory locks are per database.
LOCK_CLASS = 0x4C53
CYCLE_LOCK = 2

_BUSY = "run it again once that one has finished (`leadsync status` lists recent runs)"


_LOST = "another cycle may have started beside it; this one stops before its next write"


class HeldLock:
    """The cycle lock while held; ``verify`` raises ``CycleLockLost`` once it is not."""

    def __init__(self, check: Callable[[], str | None]) -> None:
        self._check = check

    def verify(self) -> None:
        problem = self._check()
        if problem is not None:
            raise CycleLockLost(f"the store's cycle lock was lost ({problem}); {_LOST}")


NO_LOCK = HeldLock(lambda: None)


@contextmanager
def cycle_lock(engine: sa.Engine) -> Iterator[HeldLock]:
    """Hold the store's cycle lock for the block, or raise ``CycleBusy`` at once."""
    if engine.dialect.name == "postgresql":
        with _advisory(engine) as held:
            yield held
        return
    path = beside_sqlite(engine.url, ".cycle.lock")
    if path is None:
        yield NO_LOCK
        return
    with _flock(path) as held:
        yield held


_HELD_BY_ME = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = :cls "
    "AND objid = :obj AND granted AND pid = pg_backend_pid()"
)


@contextmanager
def _advisory(engine: sa.Engine) -> Iterator[HeldLock]:
    args = {"cls": LOCK_CLASS, "obj": CYCLE_LOCK}
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:cls, :obj)"), args).scalar_one()
        if not got:
            raise CycleBusy(f"another cycle is running on this store ({_holder(conn)}); {_BUSY}")

        def check() -> str | None:
            # On the lock's own session: if that session ended, so did the lock.
            try:
                held = conn.execute(_HELD_BY_ME, args).scalar_one()
            except sa.exc.DBAPIError as exc:
                return f"its PostgreSQL session ended: {str(exc.orig).splitlines()[0][:200]}"
            return None if held else "PostgreSQL no longer lists it as held by this session"

        lost = False
        try:
            yield HeldLock(check)
        except CycleLockLost:
            lost = True
            raise
        finally:
            if not lost and not conn.invalidated:
                # If the session is gone, so is the lock: nothing to release.
                with suppress(sa.exc.DBAPIError):
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:cls, :obj)"), args)


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
def _flock(path: Path) -> Iterator[HeldLock]:
    lock = LockFile(path)
    try:
        lock.acquire()
    except LockHeld as held:
        raise CycleBusy(
            f"another cycle is running on this store (process {held.holder}, lock {path}); {_BUSY}"
        ) from None
    try:
        yield HeldLock(lambda: None if lock.still_held() else f"lock file {path} was removed")
    finally:
        lock.release()
