"""A lock file that lets one journal writer at a time in, across processes, and wakes the next one at once.

SQLite's own write lock is enough for correctness, but a writer that finds it taken can only poll for
it (every 5 ms here). With a second process writing all the time (`server.intake_process`), polling
would add those milliseconds to the answers of webhooks. A blocking `flock` instead hands the lock
over the moment the other process lets go of it. Where `fcntl` does not exist, it does nothing and
SQLite's lock alone serializes the writers.
"""

from __future__ import annotations

import os
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class WriteLock:
    """An exclusive `flock` on `<database>.lock`, taken around each write transaction."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self._fd: int | None = None

    def open(self) -> None:
        """Open (or create) the lock file."""
        if fcntl is not None and self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def try_acquire(self) -> bool:
        """Take the lock if it is free; never waits."""
        if self._fd is None:
            return True
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def acquire(self) -> None:
        """Wait for the lock (blocks the calling thread: never call it on the event loop)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        """Let the next writer in (harmless when not held)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file (which releases the lock)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
