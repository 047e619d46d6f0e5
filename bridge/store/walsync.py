"""`durability: full` with the write lock let go before the disk sync: the store syncs the WAL itself.

With `synchronous=FULL` SQLite syncs the WAL inside COMMIT, so the journal's write lock, and with it
the other process's next write (`server.intake_process`), waited for the disk too. The store's writer instead
commits with `synchronous=NORMAL` (the WAL is written, not synced), lets the lock go, then syncs the
WAL file here, and only then answers anyone who waited for that commit. What an answer promises is
unchanged: a commit is on the disk before its caller hears of it, and a later commit is only ever
answered after a sync that covers every earlier one (the WAL is one file, replayed in order).

Others may read a commit in the moment before its sync. Nothing outside the journal acts on such a
read: a broker call, a webhook's answer and a handed-over signal all wait for a commit's answer. Should
a sync fail, its commit stays readable though maybe not on the disk, so the store refuses every later
write until a restart (webhooks answer 503) rather than build on it.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("bridge.store")


class WalSync:
    """Syncs a journal's WAL file to the disk, as SQLite's own COMMIT would under `synchronous=FULL`."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + "-wal")
        # The WAL's directory entry must be on the disk too, or a power loss could lose the whole file.
        directory = os.open(self.path.parent, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)

    @classmethod
    def open(cls, database: Path) -> WalSync | None:
        """A syncer for this journal's WAL, or None where SQLite has to sync it itself (not POSIX, no WAL file)."""
        if os.name != "posix":
            return None
        try:
            return cls(database)
        except OSError as exc:
            log.warning("cannot open %s-wal to sync it (%s): SQLite syncs each commit itself", database.name, exc)
            return None

    def sync(self) -> None:
        """Put everything written to the WAL so far on the disk (the file, whichever descriptor wrote it).

        The file stays the one SQLite writes: it removes a WAL only as the last connection closes, and the
        store's writer stays open as long as this does.
        """
        os.fsync(self._fd)

    def close(self) -> None:
        """Close the WAL file's descriptor."""
        os.close(self._fd)
