"""One ``leadsync run`` per SQLite store: an exclusive lock file next to the database.

SQLite is embedded and single-process: two services syncing into one file would double every
CRM call and fight over the write lock. ``flock`` is released by the kernel when the process
dies, so a crashed service never leaves a stale lock behind. PostgreSQL stores take no lock
here (several replicas come with leader election, later).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from types import TracebackType

import sqlalchemy as sa
import structlog

from leadsync.errors import StoreError

log = structlog.get_logger(__name__)


def lock_path_for(store_url: str) -> Path | None:
    """The lock file for a SQLite store URL (``<db>.lock``); ``None`` for other databases."""
    url = sa.engine.make_url(store_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database)
    return database.with_name(database.name + ".lock")


class ProcessLock:
    """An exclusive, non-blocking lock on ``path``, held until ``release`` (or process exit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``StoreError`` naming the process that holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreError(
                f"another leadsync run (pid {holder}) is using this SQLite store "
                f"(lock {self.path}); SQLite is single-process: stop that process, or move "
                "the store to PostgreSQL to run several"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd
        log.info("service.lock_acquired", path=str(self.path))

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> ProcessLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
