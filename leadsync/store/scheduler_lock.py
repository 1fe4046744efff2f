"""The scheduler lease's PostgreSQL session: a connection of its own holding an advisory lock.

Which replica runs the scheduler, and why an advisory lock watched through TCP keepalives
rather than a lease row, is ``jobs.lease``'s business; this module is its SQL. The session
is told to drop a silent client after about ``2 * lease`` seconds, and every statement on it
times out after ``lease / 4`` seconds, so a leader cut off from the server learns it within
about ``lease`` seconds.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.pool import NullPool

from leadsync.errors import StoreError
from leadsync.store.cycle_lock import LOCK_CLASS

#: ``pg_try_advisory_lock(LOCK_CLASS, SCHEDULER_LOCK)``: "LS" and the scheduler's number.
#: Advisory locks are per database, so two deployments on one server never collide.
SCHEDULER_LOCK = 1

_SERVER_WATCH = sa.text(
    "SELECT set_config('tcp_keepalives_idle', :idle, false), "
    "set_config('tcp_keepalives_interval', :interval, false), "
    "set_config('tcp_keepalives_count', '2', false), "
    "set_config('idle_session_timeout', '0', false), "
    "set_config('statement_timeout', :timeout, false)"
)
_TRY_LOCK = sa.text("SELECT pg_try_advisory_lock(:cls, :obj)")
_HELD_BY_ME = sa.text(
    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
    "AND pid = pg_backend_pid() AND classid = :cls AND objid = :obj AND granted"
)


class LeaseSessionFailed(StoreError):
    """The lease's session failed (server unreachable, session ended, statement timed out):
    whatever lock it held is gone with it. Close the session and try again later."""


class LeaseSession:
    """One replica's session for the scheduler lease; opened on the first ``try_lock``.

    Every method but ``close`` and ``dispose`` raises ``LeaseSessionFailed`` when the server
    cannot answer; its message names the driver's error and its first line."""

    def __init__(self, url: str, lease: timedelta, lock: int = SCHEDULER_LOCK) -> None:
        seconds = lease.total_seconds()
        self._lease = lease
        self._args = {"cls": LOCK_CLASS, "obj": lock}
        self._engine = sa.create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "connect_timeout": max(2, int(seconds / 2)),
                "keepalives": 1,
                "keepalives_idle": max(1, int(seconds / 4)),
                "keepalives_interval": max(1, int(seconds / 4)),
                "keepalives_count": 2,
                "tcp_user_timeout": int(seconds * 1000 / 2),
                "application_name": "leadsync scheduler lease",
            },
        )
        self._conn: sa.Connection | None = None

    def try_lock(self) -> bool:
        """Take the lock without waiting (opening the session first if it is closed)."""
        with _failing_as_lease_error():
            if self._conn is None:
                self._conn = self._engine.connect()
                seconds = self._lease.total_seconds()
                # Server side: drop this session about 2 * lease after the client falls silent.
                self._conn.execute(
                    _SERVER_WATCH,
                    {
                        "idle": str(max(1, int(seconds))),
                        "interval": str(max(1, int(seconds / 2))),
                        "timeout": str(max(1, int(seconds * 1000 / 4))),
                    },
                )
            return bool(self._conn.execute(_TRY_LOCK, self._args).scalar_one())

    def holds(self) -> bool:
        """Whether the server still lists the lock as held by this session."""
        if self._conn is None:
            return False
        with _failing_as_lease_error():
            return bool(self._conn.execute(_HELD_BY_ME, self._args).scalar_one())

    def close(self) -> None:
        """End the session (which releases the lock); nothing to do when it is closed."""
        if self._conn is None:
            return
        # A failing close means the connection is already gone, and with it the lock.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self._conn.close()
        self._conn = None

    def dispose(self) -> None:
        """Close the session and let go of the engine for good."""
        self.close()
        self._engine.dispose()


@contextlib.contextmanager
def _failing_as_lease_error() -> Iterator[None]:
    try:
        yield
    except sa.exc.SQLAlchemyError as exc:
        first_line = str(exc).splitlines()[0][:200]
        raise LeaseSessionFailed(f"{type(exc).__name__}: {first_line}") from exc
