"""An exclusive lock file beside a SQLite database.

``flock`` belongs to an open file, so two opens in one process exclude each other as two
processes do, and the kernel releases it when its process dies: a crash never leaves a stale
lock behind. The holder writes its pid into the file so a refusal can name it.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa


class LockHeld(Exception):
    """Someone else holds the lock; ``holder`` is the pid it wrote (or "unknown")."""

    def __init__(self, path: Path, holder: str) -> None:
        super().__init__(f"{path} is held by process {holder}")
        self.path = path
        self.holder = holder


def beside_sqlite(store_url: str | sa.URL, suffix: str) -> Path | None:
    """``<db><suffix>`` for a SQLite file store; ``None`` for other databases and ``:memory:``."""
    url = sa.engine.make_url(store_url)
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        return None
    database = Path(url.database)
    return database.with_name(database.name + suffix)


class LockFile:
    """A non-blocking exclusive lock on ``path``, held from ``acquire`` until ``release``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock or raise ``LockHeld``."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise LockHeld(self.path, holder) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode("ascii"), 0)
        self._fd = fd

    def still_held(self) -> bool:
        """Whether the lock we hold is still the one at ``path``: a lock file deleted (or
        replaced) while held lets another process lock a new file at the same path."""
        if self._fd is None:
            return False
        try:
            at_path = os.stat(self.path)
        except FileNotFoundError:
            return False
        ours = os.fstat(self._fd)
        return (at_path.st_dev, at_path.st_ino) == (ours.st_dev, ours.st_ino)

    def release(self) -> None:
        if self._fd is None:
            return
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None
