"""Which ``leadsync run`` process runs the scheduler: exactly one per store.

SQLite is single-process (``jobs.lock`` refuses a second process), so its one process always
leads (``SoleLease``).

PostgreSQL may have any number of replicas. They compete for a session-level advisory lock,
each on a dedicated connection of its own (``AdvisoryLease``); the holder runs cycles, the
others stand by and try again every ``lease / 2`` seconds. An advisory lock rather than a
lease row with an expiry renewed by heartbeat, because:

- the server releases it the moment the holder's session ends: a leader killed with
  ``kill -9`` has its socket closed by the kernel, its backend exits, and a standby takes over
  at its next try, without waiting out an expiry;
- it does not depend on the replicas' clocks agreeing (an expiry compared across machines
  does), and a leader cannot lose it by being late to renew while it is healthy;
- it writes nothing: no row updated every few seconds, no vacuum churn.

What it leaves to us is a leader cut off from the server while its process lives on. Both
sides then watch the connection: the server is told (``SET tcp_keepalives_*``) to drop a
silent client after about ``2 * lease`` seconds; the leader checks its lock every
``lease / 2`` seconds with a ``lease / 4`` statement timeout and a TCP user timeout, so it
notices the loss within about ``lease`` seconds and steps down (its cycle ends its pull at
the next batch boundary) before the server would hand the lock to anyone else. A cycle
also writes through the same server, so a leader that cannot reach it cannot commit either.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.pool import NullPool

from leadsync.store.cycle_lock import LOCK_CLASS

log = structlog.get_logger(__name__)

#: ``pg_try_advisory_lock(LOCK_CLASS, SCHEDULER_LOCK)``: "LS" and the scheduler's number.
#: Advisory locks are per database, so two deployments on one server never collide.
SCHEDULER_LOCK = 1

LEADER, STANDBY = "leader", "standby"

Callback = Callable[[], None]


class Lease(Protocol):
    """What the service needs of a lease: its role now, start and stop."""

    @property
    def role(self) -> str: ...

    @property
    def since(self) -> datetime: ...

    def start(self, on_elected: Callback, on_deposed: Callback) -> None: ...

    def stop(self) -> None: ...


class SoleLease:
    """The single process of a SQLite store: leader from the start (``jobs.lock`` holds it)."""

    role = LEADER

    def __init__(self) -> None:
        self.since = datetime.now(UTC)

    def start(self, on_elected: Callback, on_deposed: Callback) -> None:
        on_elected()

    def stop(self) -> None:
        return None


class AdvisoryLease:
    """A PostgreSQL session advisory lock on a connection of its own, kept by a thread.

    ``on_elected`` and ``on_deposed`` run on the lease thread; ``on_deposed`` may block while
    the running cycle winds down: the lease is not sought again until it returns.
    """

    def __init__(self, url: str, lease: timedelta, *, lock: int = SCHEDULER_LOCK) -> None:
        seconds = lease.total_seconds()
        if seconds < 2:
            raise ValueError("a lease shorter than 2 s cannot be watched by TCP keepalives")
        self.lease = lease
        self._lock = lock
        self._tick = seconds / 2
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
        self._held = False
        self.since = datetime.now(UTC)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_elected: Callback = lambda: None
        self._on_deposed: Callback = lambda: None

    @property
    def role(self) -> str:
        return LEADER if self._held else STANDBY

    def start(self, on_elected: Callback, on_deposed: Callback) -> None:
        self._on_elected, self._on_deposed = on_elected, on_deposed
        self._thread = threading.Thread(target=self._loop, name="scheduler-lease", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop seeking the lease and give it up (closing the session releases the lock)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._close()
        self._engine.dispose()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._held:
                    self._check()
                else:
                    self._try_acquire()
            except sa.exc.SQLAlchemyError as exc:
                self._lost(f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
            self._stop.wait(self._tick)

    def _try_acquire(self) -> None:
        if self._conn is None:
            self._conn = self._engine.connect()
            # Server side: drop this session about 2 * lease after the client falls silent.
            self._conn.execute(
                sa.text(
                    "SELECT set_config('tcp_keepalives_idle', :idle, false), "
                    "set_config('tcp_keepalives_interval', :interval, false), "
                    "set_config('tcp_keepalives_count', '2', false), "
                    "set_config('idle_session_timeout', '0', false), "
                    "set_config('statement_timeout', :timeout, false)"
                ),
                {
                    "idle": str(max(1, int(self.lease.total_seconds()))),
                    "interval": str(max(1, int(self.lease.total_seconds() / 2))),
                    "timeout": str(max(1, int(self.lease.total_seconds() * 1000 / 4))),
                },
            )
        got = self._conn.execute(
            sa.text("SELECT pg_try_advisory_lock(:cls, :obj)"),
            {"cls": LOCK_CLASS, "obj": self._lock},
        ).scalar_one()
        if not got or self._stop.is_set():
            if got:
                self._close()
            return
        self._held, self.since = True, datetime.now(UTC)
        log.info("lease.elected", role=LEADER, lease_seconds=self.lease.total_seconds())
        self._on_elected()

    def _check(self) -> None:
        assert self._conn is not None
        held = self._conn.execute(
            sa.text(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' "
                "AND pid = pg_backend_pid() AND classid = :cls AND objid = :obj AND granted"
            ),
            {"cls": LOCK_CLASS, "obj": self._lock},
        ).scalar_one()
        if not held:
            self._lost("the server no longer lists our advisory lock")

    def _lost(self, why: str) -> None:
        was_leader = self._held
        self._held, self.since = False, datetime.now(UTC)
        self._close()
        if was_leader:
            log.error("lease.lost", reason=why, note="stepping down; the cycle in hand winds down")
            self._on_deposed()
        else:
            log.warning("lease.unavailable", reason=why)

    def _close(self) -> None:
        if self._conn is None:
            return
        # A failing close means the connection is already gone, and with it the lock.
        with contextlib.suppress(sa.exc.SQLAlchemyError):
            self._conn.close()
        self._conn = None
        self._held = False
