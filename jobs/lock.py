"""One ``leadsync run`` per SQLite store: an exclusive lock file next to the database.

SQLite is embedded and single-process: two services syncing into one file would double every
CRM call and fight over the write lock. PostgreSQL stores take no lock here (replicas elect a
leader, ``jobs.lease``).
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import structlog

from leadsync.errors import StoreError
from leadsync.store.lock_file import LockFile, LockHeld, beside_sqlite

log = structlog.get_logger(__name__)


def lock_path_for(store_url: str) -> Path | None:
    """The lock file for a SQLite store URL (``<db>.lock``); ``None`` for other databases."""
    return beside_sqlite(store_url, ".lock")


class ProcessLock:
    """An exclusive, non-blocking lock on ``path``, held until ``release`` (or process exit)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = LockFile(path)

    def acquire(self) -> None:
        """Take the lock or raise ``StoreError`` naming the process that holds it."""
        try:
            self._file.acquire()
        except LockHeld as held:
            raise StoreError(
                f"another leadsync run (pid {held.holder}) is using this SQLite store "
                f"(lock {self.path}); SQLite is single-process: stop that process, or move "
                "the store to PostgreSQL to run several"
            ) from None
        log.info("service.lock_acquired", path=str(self.path))

    def release(self) -> None:
        self._file.release()

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
