"""The SQLite connection: WAL, explicit synchronous and busy_timeout, one writer thread."""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import sqlite_utils

from bridge.store.migrations import migrate

log = logging.getLogger("bridge.store")
T = TypeVar("T")
P = ParamSpec("P")
Durability = Literal["normal", "full"]


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """A UTC timestamp as stored: ISO 8601 with microseconds."""
    if moment.tzinfo is not UTC:  # most are UTC already (`utcnow`); the conversion is not free
        moment = moment.astimezone(UTC)
    return moment.isoformat(timespec="microseconds")


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
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception (no half-written rows).

    Inside the store's group commit a transaction is already open: it becomes a savepoint, so its
    writes still stand or fall together, and become durable with the batch's single COMMIT.
    """
    if conn.in_transaction:
        conn.execute("SAVEPOINT tx")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK TO tx")
            conn.execute("RELEASE tx")
            raise
        conn.execute("RELEASE tx")
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]
    loop: asyncio.AbstractEventLoop
    read: bool = False  # answered before the batch's writes run, without waiting for its COMMIT
    result: Any = None
    error: BaseException | None = None


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.cancelled():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("a deferred journal write failed (a restart repairs it from the broker): %r", error)


def _answer(jobs: list[_Job]) -> None:
    """Wake each event loop once for all its answered jobs (a wake-up is a syscall and a loop turn)."""
    by_loop: dict[int, list[_Job]] = {}
    for job in jobs:
        by_loop.setdefault(id(job.loop), []).append(job)
    for waiting in by_loop.values():
        waiting[0].loop.call_soon_threadsafe(_settle, waiting)


class Store:
    """Owns the journal connection: one writer thread that commits waiting work in groups.

    Every call runs on the writer thread. The thread takes every job waiting, runs each inside its own
    savepoint within one `BEGIN IMMEDIATE` transaction, commits once, and only then answers the callers:
    a webhook still gets its 200 only after its row is durable, but a burst pays one fsync, not one each.

    Reads (`read`) of the batch run first, before its transaction begins: they see committed data only,
    so they are answered at once instead of waiting for the batch's fsync.
    """

    MAX_BATCH = 256

    def __init__(self, path: Path | str, durability: Durability = "full", busy_timeout_ms: int = 1500,
                 max_bytes: int | None = None) -> None:  # fmt: skip
        self.max_bytes = max_bytes
        self.path = Path(path)
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self._jobs: queue.SimpleQueue[_Job | list[_Job] | None] = queue.SimpleQueue()
        self._deferred: list[_Job] = []  # `later` writes of this loop turn
        self._thread: threading.Thread | None = None
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # `peek`: the event loop's read-only connection

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
        """Open the connection and apply migrations, then start the writer thread."""
        await asyncio.to_thread(self.open_sync)
        self._reader = connect(self.path, self.durability, self.busy_timeout_ms)
        self._reader.execute("PRAGMA query_only=ON")  # `peek` functions read; should one write, it fails
        self._thread = threading.Thread(target=self._write_loop, name="bridge-db", daemon=True)
        self._thread.start()

    def peek(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a small read-only `fn(conn, ...)` right here, on a read-only connection of the event loop's own.

        It sees committed data only, like `read`, without the round trip to the writer thread: for the
        indexed lookups of every signal's execution. WAL readers never wait for the writer, so this does not
        block; anything that scans (the dashboard, the API) uses `read` instead.
        """
        if self._reader is None:
            raise RuntimeError("store is not open")
        return fn(self._reader, *args, **kwargs)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` on the writer thread; the result comes back once its writes are committed."""
        if self._thread is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        job = _Job(lambda: fn(*args, **kwargs), loop.create_future(), loop)
        self._put(job)
        result: T = await job.future
        return result

    def later(self, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> None:
        """Queue a write nobody waits for: it goes with the next `run` or `read`, or alone at the end of this loop turn.

        For bookkeeping a restart repairs by itself (an order's status, which recovery asks the broker for
        again); a failure is logged. Writes keep their order: a `run` queued after it commits no earlier. A
        `read` does not see it before it is committed.
        """
        loop = asyncio.get_running_loop()
        job = _Job(lambda: fn(*args, **kwargs), loop.create_future(), loop)
        job.future.add_done_callback(_log_failure)
        self._deferred.append(job)
        if len(self._deferred) == 1:
            loop.call_soon(self._flush_deferred)

    def _put(self, job: _Job) -> None:
        if self._deferred:  # with the deferred writes, in one piece: the writer takes them into one batch
            jobs, self._deferred = [*self._deferred, job], []
            self._jobs.put(jobs)
        else:
            self._jobs.put(job)

    def _flush_deferred(self) -> None:
        if self._deferred:
            jobs, self._deferred = self._deferred, []
            self._jobs.put(jobs)

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read-only `fn` on the writer thread, answered without waiting for other jobs' COMMIT.

        It sees only committed data. Should it write after all, each of its statements commits (and is
        durable) on its own before the answer, as outside the group commit.
        """
        if self._thread is None:
            raise RuntimeError("store is not open")
        loop = asyncio.get_running_loop()
        job = _Job(lambda: fn(*args, **kwargs), loop.create_future(), loop, read=True)
        self._put(job)
        result: T = await job.future
        return result

    def _write_loop(self) -> None:
        while True:
            first = self._jobs.get()
            if first is None:
                return
            batch = first if isinstance(first, list) else [first]
            while len(batch) < self.MAX_BATCH:
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    self._jobs.put(None)  # stop after this batch
                    break
                if isinstance(more, list):
                    batch.extend(more)
                else:
                    batch.append(more)
            writes = [job for job in batch if not job.read]
            self._run_reads([job for job in batch if job.read])
            if writes:
                self._run_batch(writes)

    def _run_reads(self, reads: list[_Job]) -> None:
        conn = self.conn
        for job in reads:
            try:
                job.result = job.fn()
            except BaseException as exc:  # the writer thread must never die
                job.error = exc
            if conn.in_transaction:  # left open, it would swallow the next batch's BEGIN
                conn.execute("ROLLBACK")
                job.error = job.error or RuntimeError("a read left a transaction open; it was rolled back")
        _answer(reads)

    def _run_batch(self, batch: list[_Job]) -> None:
        try:
            rest = self._commit_group(batch)
        except BaseException as exc:  # the writer thread must never die: every caller gets an answer
            for job in batch:
                job.error = job.error or exc
            rest = []
        again = {id(job) for job in rest}
        _answer([job for job in batch if id(job) not in again])
        if rest:
            self._run_batch(rest)

    def _commit_group(self, batch: list[_Job]) -> list[_Job]:
        """Run the batch in one transaction; return the jobs to run again if SQLite rolled it all back."""
        conn = self.conn
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked past busy_timeout: every caller hears it (webhooks answer 503)
            for job in batch:
                job.error = exc
            return []
        alone = len(batch) == 1  # nothing to keep apart: the transaction itself is the job's savepoint
        for index, job in enumerate(batch):
            if not alone:
                conn.execute("SAVEPOINT job")
            try:
                job.result = job.fn()
                if not alone:
                    conn.execute("RELEASE job")
            except BaseException as exc:
                job.error = exc
                if not conn.in_transaction:  # SQLite aborted the whole transaction (disk full, I/O error)
                    for earlier in batch[:index]:
                        earlier.error = exc  # their writes went with it
                    return batch[index + 1 :]
                if alone:
                    conn.execute("ROLLBACK")
                    return []
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
        try:
            conn.execute("COMMIT")
        except sqlite3.Error as exc:  # nothing of the batch is durable: nobody may be told otherwise
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for job in batch:
                # Even a job that raised gets this error: a `Duplicate` names a signal of this very batch,
                # which is now gone, so answering "duplicate" (200) would acknowledge a lost signal.
                job.error = exc
        return []

    def close_sync(self) -> None:
        """Close the connection (CLI use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Finish the waiting work, stop the writer thread and close the connection."""
        if self._thread is not None:
            self._flush_deferred()
            self._jobs.put(None)
            await asyncio.to_thread(self._thread.join)
            self._thread = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self.close_sync()
