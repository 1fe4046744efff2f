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

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Protocol

import structlog

from leadsync.store.cycle_lock import LOCK_CLASS
from leadsync.store.scheduler_lock import SCHEDULER_LOCK, LeaseSession, LeaseSessionFailed

__all__ = ["LEADER", "LOCK_CLASS", "SCHEDULER_LOCK", "STANDBY", "AdvisoryLease", "SoleLease"]

log = structlog.get_logger(__name__)

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
        self._tick = seconds / 2
        self._session = LeaseSession(url, lease, lock)
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
        self._session.dispose()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if self._held:
                    self._check()
                else:
                    self._try_acquire()
            except LeaseSessionFailed as exc:
                self._lost(str(exc))
            self._stop.wait(self._tick)

    def _try_acquire(self) -> None:
        got = self._session.try_lock()
        if not got or self._stop.is_set():
            if got:
                self._close()
            return
        self._held, self.since = True, datetime.now(UTC)
        log.info("lease.elected", role=LEADER, lease_seconds=self.lease.total_seconds())
        self._on_elected()

    def _check(self) -> None:
        held = self._session.holds()
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
        self._session.close()
        self._held = False
