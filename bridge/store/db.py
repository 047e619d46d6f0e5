"""The SQLite connection: WAL, explicit synchronous and busy_timeout, one writer thread."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, ParamSpec, TypeVar

import sqlite_utils

from bridge.store.migrations import migrate

T = TypeVar("T")
P = ParamSpec("P")
Durability = Literal["normal", "full"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A UTC timestamp as stored: ISO 8601 with microseconds."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def connect(path: Path | str, durability: Durability = "full", busy_timeout_ms: int = 1500,
            max_bytes: int | None = None) -> sqlite3.Connection:  # fmt: skip
    """Open a connection in autocommit mode with the journal's pragmas."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys=ON")
    if max_bytes is not None:  # `database_max_mb`: past it every write fails with SQLITE_FULL (webhooks get 503)
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        conn.execute(f"PRAGMA max_page_count={max(1, max_bytes // page_size)}")
    return conn


@contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception (no half-written rows)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


class Store:
    """Owns the journal connection; every call runs on one dedicated thread, so there is one writer."""

    def __init__(self, path: Path | str, durability: Durability = "full", busy_timeout_ms: int = 1500,
                 max_bytes: int | None = None) -> None:  # fmt: skip
        self.max_bytes = max_bytes
        self.path = Path(path)
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection; only use it from inside `run`."""
        if self._conn is None:
            raise RuntimeError("store is not open")
        return self._conn

    def open_sync(self) -> None:
        """Open and migrate on the calling thread (CLI use)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = connect(self.path, self.durability, self.busy_timeout_ms, self.max_bytes)
        migrate(sqlite_utils.Database(self._conn))

    async def open(self) -> None:
        """Start the writer thread, open the connection and apply migrations."""
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bridge-db")
        await self.run(self.open_sync)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the writer thread and await its result."""
        if self._executor is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    def close_sync(self) -> None:
        """Close the connection (CLI use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Close the connection and stop the writer thread."""
        if self._executor is not None:
            await self.run(self.close_sync)
            self._executor.shutdown(wait=True)
            self._executor = None
