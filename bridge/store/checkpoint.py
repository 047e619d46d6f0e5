"""WAL checkpoints on a thread of their own, so that no commit waits for one."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import ClassVar

log = logging.getLogger("bridge.store")


class Checkpointer:
    """Copies the WAL into the database file every `interval` seconds, from its own connection.

    SQLite's automatic checkpoint runs inside the COMMIT that crosses its threshold: that commit, and
    every webhook waiting for the next batch, then waits for megabytes of page writes and an fsync of
    the database file (acknowledgement p99.9 of 0.6 s over 100,000 webhooks at 400/s, bench/). A
    PASSIVE checkpoint waits for no reader or writer; the automatic one stays only as a backstop, at a
    far larger WAL, should this thread ever fall behind.
    """

    BACKSTOP_PAGES = 20_000  # about 80 MB of WAL at SQLite's 4 KiB pages
    # With `durability: normal` no commit syncs the WAL, so a checkpoint's sync flushes everything written
    # since the last one, and appends to the WAL stall behind that flush. At 500 signals/s, acknowledgement
    # p99 was about 18 ms with a checkpoint every half second and about 5 ms with one every 0.1 s (bench/).
    # With `full` every commit has synced its own part already, and the interval made no difference.
    INTERVAL: ClassVar[Mapping[str, float]] = MappingProxyType({"normal": 0.1, "full": 0.5})  # s, by durability
    # Frames of WAL a checkpoint left uncopied (about 40 MB): only a reader's snapshot holds them back for that long.
    STUCK_FRAMES = 10_000
    WARN_EVERY = 60.0  # s between two warnings about it

    def __init__(self, open_connection: Callable[[], sqlite3.Connection], interval: float = INTERVAL["full"]) -> None:
        self.open_connection = open_connection  # called on the thread: the connection is the thread's own
        self.interval = interval
        self.runs = 0
        self._warned_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bridge-checkpoint", daemon=True)

    def start(self) -> None:
        """Start checkpointing."""
        self._thread.start()

    def _run(self) -> None:
        conn = self.open_connection()
        try:
            while not self._stop.wait(self.interval):
                try:
                    _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    self.runs += 1
                    self._note_stuck(frames - copied)
                except sqlite3.Error as exc:  # the backstop keeps the WAL bounded meanwhile
                    log.warning("WAL checkpoint failed: %s", exc)
        finally:
            conn.close()

    def _note_stuck(self, uncopied: int) -> None:
        """Warn (once a minute at most) while a reader keeps a large part of the WAL from being copied.

        A PASSIVE checkpoint copies nothing past the oldest open read transaction's snapshot, and the WAL only
        starts over once all of it is copied: an `sqlite3` shell left in a transaction, or a backup tool, makes it
        grow for as long as it stays open, past `database_max_mb` (which counts the database file only).
        """
        if uncopied < self.STUCK_FRAMES:
            return
        now = time.monotonic()
        if self._warned_at is not None and now - self._warned_at < self.WARN_EVERY:
            return
        self._warned_at = now
        log.warning("%d frames of the journal's WAL cannot be checkpointed: another connection keeps a read "
                    "transaction open on the journal (an sqlite3 shell, a backup tool?), and the WAL grows until it "
                    "ends; end that transaction", uncopied)  # fmt: skip

    def stop(self) -> None:
        """Stop after the checkpoint in progress, if any."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
