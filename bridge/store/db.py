"""The SQLite journal: WAL, explicit synchronous, group commit from the event loop with COMMIT on a thread."""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from json import encoder as json_encoder
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from bridge.store.checkpoint import Checkpointer
from bridge.store.committer import CommitThread
from bridge.store.migrations import JournalUnusable, migrate, require_current
from bridge.store.pending import Pending, pending_of
from bridge.store.slow_commits import SlowCommits
from bridge.store.walsync import WalSync
from bridge.store.writelock import WriteLock

log = logging.getLogger("bridge.store")
T = TypeVar("T")
P = ParamSpec("P")
Durability = Literal["normal", "full"]


def _null(value: None) -> None:
    """None as SQL NULL: what the sqlite3 module binds it as anyway."""
    return value


# Without an adapter of its own, every None bound (a signal's or an order's optional columns: some forty a paper
# signal) was looked up as an adapter, then as an `__adapt__` and a `__conform__` attribute before the module
# settled on NULL: two thirds of the cost of binding it, some 3% of a signal's CPU. Found at once here, it binds
# the same NULL.
sqlite3.register_adapter(type(None), _null)


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


# `json.dumps` with its default settings makes a new C encoder, and its dict of objects seen, for every call: half
# of the 20,000 instructions of a signal's payload text, as many of a request's headers. The same encoder, made
# once, writes the same text. Without the check for a circular reference: the journal's JSON is decoded JSON, or
# dicts and lists of strings, neither of which can hold itself.
def _made_once() -> Any:
    """The C encoder `json.dumps` makes per call, made once; None where it is absent or writes other text."""
    make: Any = getattr(json_encoder, "c_make_encoder", None)  # None without the C accelerator
    if make is None:
        return None
    try:  # an internal of the json module: a Python that changed it falls back to json.dumps, never fails to start
        made = make(None, json.JSONEncoder().default, json_encoder.encode_basestring_ascii, None, ": ", ", ",
                    False, False, True)  # fmt: skip
        sample = {"a": [1, 2.5, None, True, 'é\n"x'], "b": {}}
        return made if "".join(made(sample, 0)) == json.dumps(sample) else None
    except Exception:
        return None


_ENCODER: Any = _made_once()


def dumps(value: Any) -> str:
    """`json.dumps(value)`'s text (default settings) for the journal's JSON columns, its encoder made once."""
    if _ENCODER is None:
        return json.dumps(value)
    return "".join(_ENCODER(value, 0))


_second: tuple[tuple[int, ...], str] = ((), "")  # the last whole second stamped, and its text


def iso(moment: datetime) -> str:
    """A UTC timestamp as stored: ISO 8601 with microseconds (`isoformat(timespec="microseconds")` in UTC)."""
    global _second
    utc = moment if moment.tzinfo is UTC else moment.astimezone(UTC)  # most are UTC already (`utcnow`)
    # A signal stamps a dozen rows, nearly always within one second: its text is made once, not each time.
    key = (utc.year, utc.month, utc.day, utc.hour, utc.minute, utc.second)
    known, text = _second
    if key != known:
        text = "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}".format(*key)
        _second = (key, text)
    return f"{text}.{utc.microsecond:06d}+00:00"


# What the WAL file is cut back to once it starts over. It is reused rather than shrunk, so one long read
# transaction held by another program (a backup, an `sqlite3` shell), during which every commit grew it, would
# otherwise keep that much disk taken until the daemon stops. Far above what half a second of commits between
# two checkpoints writes (a few MB at 1,000 signals/s), so it is never cut in the normal course.
WAL_SIZE_LIMIT = 64 * 1024 * 1024

# Of `database_max_mb`, the share only the executions of signals already accepted may use: requests are refused
# (503) once the rest is full, so a signal answered 200 can still journal its plan, its orders and their answers.
EXECUTION_RESERVE = 0.1

# Pages kept for each execution accepted and not yet finished, where they add up to more than that tenth (a small
# cap, a flood waiting behind a slow broker, many delayed signals). An execution on the paper broker writes about
# half a page (its orders, the venue's rows, its decision); a bracket at a real broker, three orders and their
# answers, about a page: two is above either with room for the B-tree's half-full pages.
PAGES_PER_WAITING_EXECUTION = 2


class JournalFull(sqlite3.OperationalError):
    """The room left under `database_max_mb` is the executions': a request's rows are refused (answered 503)."""


class JournalConnection(sqlite3.Connection):
    """A journal connection; under `database_max_mb` it knows the pages the webhooks' own rows may fill."""

    max_pages: int | None = None  # None: no cap
    intake_pages: int | None = None  # what requests may fill at most: the cap less `EXECUTION_RESERVE`
    pending: Pending | None = None  # memory changed by the open transaction (`pending`), set by `connect`


def require_room_for_intake(conn: sqlite3.Connection) -> None:
    """Refuse a request's rows (SQLITE_FULL's words, so it is answered 503) while the room left is the executions'.

    Without it the webhooks filled the journal to the cap, and the signals they had just been answered 200 for
    failed to execute: their plans could no longer be journaled ("database or disk is full"). The room kept is a
    tenth of the cap, or `PAGES_PER_WAITING_EXECUTION` for each execution accepted and not yet finished, whichever
    is more: a fixed tenth of a small cap ran out under a burst (28 signals waiting behind a 400 KiB journal),
    and the last of them failed.
    """
    limit, cap = getattr(conn, "intake_pages", None), getattr(conn, "max_pages", None)
    if limit is None or cap is None:
        return
    used = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    if used < limit:
        # Counted only as far as it matters: the executions whose pages, with this signal's own, would reach past
        # what is left. The WHERE is the partial index `executions_unfinished`'s, so it reads that index alone.
        enough = (cap - used) // PAGES_PER_WAITING_EXECUTION - 1
        if enough > 0 and _unfinished_executions(conn, enough) < enough:
            return
    raise JournalFull(
        "database or disk is full: the rest of the journal's database_max_mb is kept for the signals already "
        "accepted; raise database_max_mb or lower retention_days"
    )


def _unfinished_executions(conn: sqlite3.Connection, at_most: int) -> int:
    """How many executions are accepted and not finished, counted up to `at_most`."""
    row = conn.execute(
        "SELECT count(*) FROM (SELECT 1 FROM executions WHERE state IN ('received', 'processing') LIMIT ?)", (at_most,)
    ).fetchone()
    return int(row[0])


def connect(path: Path | str, durability: Durability = "full", busy_timeout_ms: int = 1500,
            max_bytes: int | None = None) -> sqlite3.Connection:  # fmt: skip
    """Open a connection in autocommit mode with the journal's pragmas."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=busy_timeout_ms / 1000,
                           factory=JournalConnection)  # fmt: skip
    conn.pending = Pending()
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={'FULL' if durability == 'full' else 'NORMAL'}")
    conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")  # whichever connection starts the WAL over cuts it
    if max_bytes is not None:  # `database_max_mb`: past it every write fails with SQLITE_FULL (webhooks get 503)
        page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        pages = max(1, max_bytes // page_size)
        conn.execute(f"PRAGMA max_page_count={pages}")
        conn.max_pages = pages
        conn.intake_pages = int(pages * (1 - EXECUTION_RESERVE))
    return conn


def _connect_readonly(path: Path, timeout: float) -> sqlite3.Connection:
    """A read-only connection to the existing file at `path` (`mode=ro`: never created, never written)."""
    return sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)


def open_readonly(path: Path, fix: str, busy_timeout_ms: int = 1500) -> sqlite3.Connection:
    """Open an existing journal at this version's schema read-only: it is never created, migrated or written.

    For the commands that only read it (listings, replay). `fix` tells a user whose journal is not
    there what to do (the config's `database` may name the wrong file).
    """
    if not path.is_file():  # sqlite would create it (or fail with "unable to open database file")
        raise JournalUnusable(f"no journal at {path}: {fix}")
    conn = _connect_readonly(path, busy_timeout_ms / 1000)
    conn.row_factory = sqlite3.Row
    try:
        _require_journal(conn, path, fix)
    except BaseException:
        conn.close()
        raise
    return conn


def require_servable(path: Path, fix: str) -> None:
    """Refuse, touching nothing, a file the daemon must not open as its journal: not SQLite, or another program's.

    Without it the daemon failed to start with a traceback ("file is not a database") naming neither the file
    nor the setting, or migrated the bridge's tables into another program's database. A missing file is fine
    (the daemon creates it); a journal newer than this version is refused by the migration, with its own words.
    """
    if not path.is_file():
        return
    conn = _connect_readonly(path, 1.5)
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        tables = int(conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0])
    except sqlite3.OperationalError:  # locked or unreadable: the daemon's own open says so
        return
    except sqlite3.DatabaseError as exc:  # "file is not a database"
        raise JournalUnusable(f"{path} is not a bridge journal ({exc}): {fix}") from exc
    finally:
        conn.close()
    if version == 0 and tables:  # every bridge journal is at version 1 or more once it holds a table
        raise JournalUnusable(f"{path} holds another program's tables, not a bridge journal: {fix}")


def _require_journal(conn: sqlite3.Connection, path: Path, fix: str) -> None:
    try:
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    except sqlite3.OperationalError:  # locked, unreadable: SQLite's own words say it
        raise
    except sqlite3.DatabaseError as exc:  # "file is not a database"
        raise JournalUnusable(f"no journal at {path} ({exc}): {fix}") from exc
    if version == 0:  # an empty file, or another program's database
        raise JournalUnusable(f"no journal at {path} (the file holds no bridge tables): {fix}")
    require_current(conn)


# Connections (by id) whose innermost savepoint is the store's savepoint for the job now running, opened
# when `total_changes` had this value: while it still has it, the job has written nothing since.
_job_savepoint: dict[int, int] = {}


class Transaction:
    """`BEGIN IMMEDIATE` ... `COMMIT`, rolled back on any exception (no half-written rows).

    Inside the store's group commit a transaction is already open: it becomes a savepoint, so its
    writes still stand or fall together, and become durable with the batch's single COMMIT.
    A class rather than a generator-based context manager: it is entered several times per signal.
    """

    __slots__ = ("_kind", "_mark", "conn")
    _OWN, _SAVEPOINT, _JOBS = 1, 2, 3  # what was opened: a transaction, a savepoint, or the job's savepoint

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self._kind = 0
        self._mark = 0

    def __enter__(self) -> sqlite3.Connection:
        conn = self.conn
        pending = pending_of(conn)
        if not conn.in_transaction:
            conn.execute("BEGIN IMMEDIATE")
            if pending is not None:
                pending.begin()
            self._kind = self._OWN
            return conn
        mark = _job_savepoint.get(id(conn))
        if mark is not None and mark == conn.total_changes:
            # The first write of a job: the store's own savepoint for the job holds nothing yet, so rolling
            # back to it undoes exactly this block. Two statements fewer for almost every job.
            del _job_savepoint[id(conn)]  # a transaction nested in this block takes a savepoint of its own
            self._kind = self._JOBS
            return conn
        conn.execute("SAVEPOINT tx")
        self._kind = self._SAVEPOINT
        if pending is not None:
            self._mark = pending.mark()
        return conn

    def __exit__(self, error_type: type[BaseException] | None, error: BaseException | None, tb: object) -> None:
        conn, kind = self.conn, self._kind
        pending = pending_of(conn)
        if error_type is None:
            if kind == self._OWN:
                try:
                    conn.execute("COMMIT")
                except BaseException:
                    # A refused COMMIT (a deferred constraint) leaves the transaction open: ended here, as the group
                    # commit ends its own, or the connection's next statement would write into the refused one.
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    if pending is not None:
                        pending.rollback()
                    raise
                if pending is not None:
                    pending.commit()
            elif kind == self._SAVEPOINT:
                conn.execute("RELEASE tx")
            return
        if not conn.in_transaction:
            # SQLite rolled the whole transaction back itself (disk full, I/O error): there is nothing left to roll
            # back to, and trying would replace the error that says why ("no such savepoint").
            if pending is not None:
                pending.rollback()
            return
        if kind == self._OWN:
            conn.execute("ROLLBACK")
            if pending is not None:
                pending.rollback()
        elif kind == self._SAVEPOINT:
            conn.execute("ROLLBACK TO tx")
            conn.execute("RELEASE tx")
            if pending is not None:
                pending.undo_to(self._mark)
        else:
            conn.execute("ROLLBACK TO job")
            _job_savepoint[id(conn)] = conn.total_changes  # back to nothing written since the savepoint
            if pending is not None:
                pending.undo_to(pending.job_mark)


def transaction(conn: sqlite3.Connection) -> Transaction:
    """A write transaction on `conn` (see `Transaction`): `with transaction(conn): ...`."""
    return Transaction(conn)


@dataclass
class _Job:
    fn: Callable[[], Any]
    future: asyncio.Future[Any]
    read: bool = False  # answered before the batch's writes run, without waiting for its COMMIT
    since: float = 0.0  # loop time it was queued: it waits for another process's write lock this long at most
    result: Any = None
    error: BaseException | None = None


def _settle(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.future.done():
            continue
        if job.error is not None:
            job.future.set_exception(job.error)
        else:
            job.future.set_result(job.result)


def _log_failure(future: asyncio.Future[Any]) -> None:
    if not future.cancelled() and (error := future.exception()) is not None:
        log.error("a deferred journal write failed (a restart repairs it from the broker): %r", error)


def _identity(path: Path) -> tuple[int, int] | None:
    """The file at `path` as (device, inode), or None if there is none."""
    try:
        found = path.stat()
    except OSError:
        return None
    return found.st_dev, found.st_ino


def _busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


class Store:
    """Owns the journal connection and commits waiting work in groups.

    Jobs (`run`) wait for the next batch: the store takes every job waiting, runs each inside its own
    savepoint within one `BEGIN IMMEDIATE` transaction, hands the single COMMIT (its fsync) to its commit
    thread, and only then answers the callers: a webhook still gets its 200 only after its row is
    durable, but a burst pays one fsync, not one each. Jobs that arrive while a COMMIT runs form the
    next batch, and so do the next writes of the callers that COMMIT answers (an execution's next step).

    The statements run on the event loop's thread, and only the COMMIT on another: the sqlite3 module
    lets go of the GIL around every statement, and a writer thread had to win it back from the busy
    event loop each time, up to a switch interval (5 ms) per statement under load.

    Reads (`read`) of a batch run first, before its transaction begins: they see committed data only,
    so they are answered at once instead of waiting for the batch's fsync.

    Each batch holds the journal's `WriteLock` from its BEGIN to the end of its COMMIT, so another
    process writing the same journal (the intake process) takes turns with it without polling; the jobs
    queued while a batch waits for that lock join it. There (`shared`), with `durability: full`, the disk
    sync comes after the lock is let go (`WalSync`), and still before anyone is answered.
    """

    MAX_BATCH = 256
    BUSY_RETRY_SECONDS = 0.005

    def __init__(self, path: Path | str, durability: Durability = "full", busy_timeout_ms: int = 1500,
                 max_bytes: int | None = None, checkpoints: bool = True, shared: bool = False) -> None:  # fmt: skip
        self.max_bytes = max_bytes
        self.checkpoints = checkpoints  # False: another process's store checkpoints this journal
        self.shared = shared  # another process writes this journal all the time (`server.intake_process`)
        self.path = Path(path)
        self.durability = durability
        self.busy_timeout_ms = busy_timeout_ms
        self._waiting: list[_Job] = []
        self._drain_scheduled = False
        self._committing = False
        self._busy_since: float | None = None  # another process holds the write lock since (loop time)
        self._lock_wait: list[_Job] | None = None  # the batch waiting for the write lock another process holds
        self._lock_timer: asyncio.TimerHandle | None = None  # when the longest waiter has waited too long
        self._committer: CommitThread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None  # `peek`: the event loop's read-only connection
        self._lock = WriteLock(self.path)
        self._wal_sync: WalSync | None = None  # `durability: full`: the WAL synced after COMMIT, the lock let go
        # Set when a sync failed: the commit before it is visible but maybe not on the disk, so no later write
        # may build on it (a webhook's resend would be answered "duplicate" of a signal never executed). Set too
        # when the journal's file is no longer the one at its path: its writes would be lost to the next start.
        self._refused: sqlite3.OperationalError | None = None
        self._identity: tuple[int, int] | None = None  # (device, inode) of the journal file opened
        self.checkpointer: Checkpointer | None = None
        # Told each COMMIT's duration in seconds, on the commit thread (metrics; a warning when the disk stalls).
        self.commit_observers: list[Callable[[float], None]] = [SlowCommits()]
        # The config's secrets (the service sets them), masked in what a venue says before it is journaled
        # (`journal.masked`): an order's error may quote the venue's own request, key included.
        self.secrets: Callable[[], Sequence[str]] = tuple

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
        try:
            migrate(self._conn)
        except BaseException:  # a journal too new for this version, say: nothing may use it
            self.close_sync()
            raise

    async def open(self) -> None:
        """Open the connections and apply migrations; the store then serves this event loop."""
        await asyncio.to_thread(self.open_sync)
        self._identity = _identity(self.path)
        # The event loop must never sleep in SQLite's busy handler: a lock held by another process (a CLI
        # command) is waited for by retrying the batch, up to busy_timeout_ms, while the loop serves on.
        self.conn.execute("PRAGMA busy_timeout=0")
        # Every write of a job runs inside a savepoint, and a savepoint keeps a copy of each page it changes.
        # Past 64 KiB SQLite moves those copies to a temporary file: a plan placed with its paper orders
        # (a dozen tables and indexes) crossed that and paid a write() per page. With this, the writer's
        # savepoint copies, temporary tables and sorts stay in memory; each is bounded by one job (pruning,
        # for one, deletes in limited steps).
        self.conn.execute("PRAGMA temp_store=MEMORY")
        self.conn.execute(f"PRAGMA wal_autocheckpoint={Checkpointer.BACKSTOP_PAGES}")
        if self.checkpoints:
            self.checkpointer = Checkpointer(lambda: connect(self.path, self.durability, self.busy_timeout_ms),
                                             Checkpointer.INTERVAL[self.durability])  # fmt: skip
            self.checkpointer.start()
        self._reader = connect(self.path, self.durability, self.busy_timeout_ms)
        self._reader.execute("PRAGMA query_only=ON")  # `peek` functions read; should one write, it fails
        self._lock.open()
        if self.durability == "full" and self.shared:
            # The other process's next write need not wait for this one's disk sync (walsync.py). Alone, SQLite
            # syncs inside COMMIT: a sync of our own would be one more wait for the GIL on the commit thread,
            # up to a switch interval when the event loop is busy (acknowledgement p50 up to 7 ms later).
            self._wal_sync = WalSync.open(self.path)
            if self._wal_sync is not None:  # COMMIT writes the WAL; `_commit` syncs it once the lock is let go
                self.conn.execute("PRAGMA synchronous=NORMAL")
        self._loop = asyncio.get_running_loop()
        self._committer = CommitThread(self._loop, "bridge-db")

    def transaction_serial(self) -> int | None:
        """Which write transaction the writer has open (a number none before it had), None while it has none.

        While it has one, it holds the journal's write lock: no other process commits meanwhile, so what
        `peek` reads of the journal is the same all through it.
        """
        conn = self._conn
        pending = pending_of(conn) if conn is not None else None
        return pending.serial if pending is not None and conn is not None and conn.in_transaction else None

    def peek(self, fn: Callable[Concatenate[sqlite3.Connection, P], T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a small read-only `fn(conn, ...)` right here, on a read-only connection of the event loop's own.

        It sees committed data only, like `read`, without waiting for a batch: for the indexed lookups of
        every signal's execution. WAL readers never wait for the writer, so this does not block; anything
        that scans (the dashboard, the API) uses `read` instead.
        """
        if self._reader is None:
            raise RuntimeError("store is not open")
        return fn(self._reader, *args, **kwargs)

    async def run(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn` in the next batch; the result comes back once its writes are committed."""
        job = self._enqueue(lambda: fn(*args, **kwargs))
        result: T = await job.future
        return result

    async def read(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run a read-only `fn` ahead of the next batch's writes, answered without waiting for their COMMIT.

        It sees only committed data. Should it write after all, each of its statements commits (and is
        durable) on its own before the answer, as outside the group commit.
        """
        job = self._enqueue(lambda: fn(*args, **kwargs), read=True)
        result: T = await job.future
        return result

    def later(self, fn: Callable[P, object], *args: P.args, **kwargs: P.kwargs) -> asyncio.Future[Any]:
        """Queue a write nobody waits for; it commits with the next batch, in order with the other writes.

        For bookkeeping a restart repairs by itself (an order's status, which recovery asks the broker for
        again); a failure is logged. A `read` does not see it before it is committed. The future returned is
        done once it is committed or failed: `fn` itself may run more than once (a batch that SQLite aborts
        runs again), so what must happen once after it belongs in a callback of that future, not in `fn`.
        """
        future = self._enqueue(lambda: fn(*args, **kwargs)).future
        future.add_done_callback(_log_failure)
        return future

    def _enqueue(self, fn: Callable[[], Any], read: bool = False) -> _Job:
        if self._loop is None or self._committer is None:
            raise RuntimeError("store is not open")
        job = _Job(fn, self._loop.create_future(), read=read, since=self._loop.time())
        self._waiting.append(job)
        if not self._drain_scheduled and not self._committing:
            # On the next loop turn, not now: the jobs queued meanwhile join the same batch.
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)
        return job

    def _drain(self) -> None:
        """Run the waiting jobs as one batch (reads first) and start its COMMIT."""
        self._drain_scheduled = False
        if self._committing or not self._waiting:
            return
        batch, self._waiting = self._waiting[: self.MAX_BATCH], self._waiting[self.MAX_BATCH :]
        self._run_reads([job for job in batch if job.read])
        writes = [job for job in batch if not job.read]
        if writes:
            self._lock_then_write(writes)
        self._drain_soon()

    def _drain_soon(self) -> None:
        if self._waiting and not self._committing and not self._drain_scheduled and self._loop is not None:
            self._drain_scheduled = True
            self._loop.call_soon(self._drain)

    def _lock_then_write(self, batch: list[_Job]) -> None:
        """Run the batch now if the write lock is free, else once the commit thread (idle now) has it."""
        if self._lock.try_acquire():
            self._run_writes(batch)
            return
        assert self._loop is not None and self._committer is not None
        self._committing = True  # nothing else may start meanwhile; jobs arriving now form the next batch
        self._lock_wait = batch
        self._committer.submit(self._lock.acquire, lambda _, error: self._locked(batch, error))
        self._lock_timer = self._loop.call_later(self.busy_timeout_ms / 1000, self._expire_lock_waits)

    def _expire_lock_waits(self) -> None:
        """Fail the jobs that waited longer than busy_timeout_ms for the lock: they answer as SQLite's busy does.

        The lock is still waited for on the commit thread: a holder that was stopped (SIGSTOP) or hangs
        would otherwise hold every write here, and every webhook's answer, for as long as it does.
        """
        if self._lock_wait is None or self._loop is None:
            return
        now, limit = self._loop.time(), self.busy_timeout_ms / 1000
        error = sqlite3.OperationalError(
            f"database is locked: another process has held the journal's write lock for over {limit:g}s"
        )
        # A job whose caller is gone (cancelled) still runs once the lock comes, as in any batch.
        waiting = [job for job in (*self._lock_wait, *self._waiting) if job.error is None and not job.future.done()]
        expired = [job for job in waiting if now - job.since >= limit]
        for job in expired:
            job.error = error
        _settle(expired)
        self._waiting = [job for job in self._waiting if job.error is None]
        left = [job.since for job in waiting if job.error is None]
        delay = max(0.001, min(left) + limit - now) if left else limit
        self._lock_timer = self._loop.call_later(delay, self._expire_lock_waits)

    def _locked(self, batch: list[_Job], error: BaseException | None) -> None:
        self._committing = False
        self._lock_wait = None
        if self._lock_timer is not None:
            self._lock_timer.cancel()
            self._lock_timer = None
        if error is not None:
            # SQLite's own lock still keeps the writers apart: going on without ours only costs latency.
            log.warning("could not take the journal's write lock (%r); writing without it", error)
        batch = [job for job in batch if job.error is None]  # less those answered "locked" meanwhile
        # The jobs queued while the lock was waited for join this batch: left for the next one, they would
        # also wait for this batch's whole run and COMMIT. With the intake process writing beside the daemon,
        # that wait was every webhook's, at every turn of the lock (at 1,000/s, p50 5.4-8.7 -> 3.7-5.5 ms).
        room = max(0, self.MAX_BATCH - len(batch))
        joining, self._waiting = self._waiting[:room], self._waiting[room:]
        self._run_reads([job for job in joining if job.read])
        batch += [job for job in joining if not job.read]
        if batch:
            self._run_writes(batch)
        else:
            self._lock.release()
        self._drain_soon()

    def _run_reads(self, reads: list[_Job]) -> None:
        conn = self.conn
        for job in reads:
            try:
                job.result = job.fn()
            except BaseException as exc:  # a job's failure is its caller's: the batch machinery goes on
                job.error = exc
            if conn.in_transaction:  # left open, it would swallow the next batch's BEGIN
                conn.execute("ROLLBACK")
                self._pending_rollback()
                job.error = job.error or RuntimeError("a read left a transaction open; it was rolled back")
        _settle(reads)

    def _run_writes(self, batch: list[_Job]) -> None:
        conn, loop = self.conn, self._loop
        assert loop is not None and self._committer is not None
        if self._refused is None:
            self._refused = self._replaced()
        if self._refused is not None:  # every write is refused (webhooks answer 503) until a restart
            self._lock.release()
            for job in batch:
                job.error = self._refused
            _settle(batch)
            return
        try:
            conn.execute("BEGIN IMMEDIATE")
            pending = pending_of(conn)
            if pending is not None:
                pending.begin()
        except sqlite3.Error as exc:
            self._lock.release()
            now = loop.time()
            self._busy_since = self._busy_since if self._busy_since is not None else now
            if _busy(exc) and now - self._busy_since < self.busy_timeout_ms / 1000:
                self._waiting[:0] = batch  # another process writes: try again shortly, in the same order
                self._committing = True  # nothing else may start meanwhile
                loop.call_later(self.BUSY_RETRY_SECONDS, self._retry)
                return
            self._busy_since = None
            for job in batch:  # locked past busy_timeout: every caller hears it (webhooks answer 503)
                job.error = exc
            _settle(batch)
            return
        self._busy_since = None
        done, rest = self._run_jobs(batch)
        if rest:  # SQLite rolled the whole transaction back: answer who it hit, run the others again
            self._lock.release()
            _settle(done)
            self._waiting[:0] = rest
            return
        if not conn.in_transaction:  # the one job failed and was rolled back: there is nothing to commit
            self._lock.release()
            _settle(done)
            return
        self._committing = True
        self._committer.submit(self._commit, lambda _, error: self._committed(done, error))

    def _replaced(self) -> sqlite3.OperationalError | None:
        """The error to refuse writes with when the journal was deleted, moved or replaced since it was opened.

        SQLite writes on into the file it has open, which a restart no longer finds: a signal answered 200 now
        would be gone then, with the orders placed for it (nothing to recover or follow). One stat per batch.
        """
        now = _identity(self.path)
        if self._identity is None or now == self._identity:
            return None
        found = "nothing" if now is None else "another file"
        log.error("the journal %s was deleted or replaced while the daemon ran (%s is there now): no more writes "
                  "until a restart (put the journal back first, if it was moved)", self.path, found)  # fmt: skip
        return sqlite3.OperationalError(
            f"the journal the daemon opened is no longer the file at {self.path} ({found} is there now): its writes "
            "would be lost; restart the daemon (put the journal back first, if it was moved)"
        )

    def _pending_rollback(self) -> None:
        """The writer's transaction rolled back: the memory changed inside it goes with it."""
        pending = pending_of(self.conn)
        if pending is not None:
            pending.rollback()

    def _retry(self) -> None:
        self._committing = False
        self._drain()

    def _run_jobs(self, batch: list[_Job]) -> tuple[list[_Job], list[_Job]]:
        """Run each job in its savepoint; return (jobs to answer, jobs to run again if SQLite aborted it all)."""
        conn = self.conn
        alone = len(batch) == 1  # nothing to keep apart: the transaction itself is the job's savepoint
        pending = pending_of(conn)
        for index, job in enumerate(batch):
            if not alone:
                conn.execute("SAVEPOINT job")
                _job_savepoint[id(conn)] = conn.total_changes
                if pending is not None:
                    pending.job_mark = pending.mark()
            try:
                try:
                    job.result = job.fn()
                finally:
                    _job_savepoint.pop(id(conn), None)  # only ever the job's own: no other code sees it
                if not alone:
                    conn.execute("RELEASE job")
            except BaseException as exc:  # a job's failure is its caller's: the batch machinery goes on
                job.error = exc
                if not conn.in_transaction:  # SQLite aborted the whole transaction (disk full, I/O error)
                    self._pending_rollback()
                    # The jobs before it lost their writes through no fault of theirs: they run again (their memory
                    # went back with `pending`). Failed with this job's error, an execution's step failed its signal
                    # for a webhook's SQLITE_FULL, one the journal's reserve would have had room for. Those that
                    # failed on their own run again too: a `Duplicate` may name a signal of the batch now gone.
                    for earlier in batch[:index]:
                        earlier.result, earlier.error = None, None
                    return [job], [*batch[:index], *batch[index + 1 :]]
                if alone:
                    conn.execute("ROLLBACK")
                    self._pending_rollback()
                    return batch, []
                conn.execute("ROLLBACK TO job")
                conn.execute("RELEASE job")
                if pending is not None:
                    pending.undo_to(pending.job_mark)
        return batch, []

    def _commit(self) -> None:
        """On the commit thread: make the batch durable, or roll it back."""
        conn = self.conn
        began = time.perf_counter()
        try:
            conn.execute("COMMIT")
        except sqlite3.Error:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        finally:
            self._lock.release()  # before the sync: the other process's next write need not wait for our disk
        if self._wal_sync is not None:
            try:
                self._wal_sync.sync()
            except OSError as exc:  # committed, but not known to be on the disk: nobody may hear it was
                log.error("the journal's WAL could not be synced: %s; no more writes until a restart (check the disk)",
                          exc)  # fmt: skip
                self._refused = sqlite3.OperationalError(
                    f"disk I/O error: the journal could not be synced ({exc}); restart the daemon once the disk is fine"
                )
                raise self._refused from exc
        took = time.perf_counter() - began
        for observer in self.commit_observers:
            try:
                observer(took)
            except Exception:  # the batch is committed: an observer's bug must not report it lost
                log.exception("commit observer failed")

    def _committed(self, batch: list[_Job], error: BaseException | None) -> None:
        """Back on the event loop: answer the batch, then start the next one."""
        self._committing = False
        pending = pending_of(self.conn) if self._conn is not None else None
        if pending is not None:
            # The memory kept beside the journal follows its COMMIT here, on the event loop, as every read of it runs.
            # A sync that failed after the COMMIT keeps it: the journal holds those rows, and writes are refused.
            if self.conn.in_transaction or (error is not None and self._refused is None):
                pending.rollback()
            else:
                pending.commit()
        if error is not None:
            for job in batch:
                # Even a job that raised gets this error: a `Duplicate` names a signal of this very batch,
                # which is now gone, so answering "duplicate" (200) would acknowledge a lost signal.
                job.error = error
        _settle(batch)
        # Not at once: the callers just answered run first (their wake-ups are queued ahead of this), and
        # the next write each of them makes (an execution's next step) joins the next batch rather than
        # waiting for the one after it.
        assert self._loop is not None
        self._drain_scheduled = True
        self._loop.call_soon(self._drain)

    def close_sync(self) -> None:
        """Close the connection (CLI use)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def close(self) -> None:
        """Finish the waiting work, stop the commit thread and close the connections."""
        while self._waiting or self._committing or self._drain_scheduled:
            await asyncio.sleep(0.001)
        if self._committer is not None:
            self._committer.shutdown()
            self._committer = None
        if self._wal_sync is not None:
            self._wal_sync.close()
            self._wal_sync = None
        self._loop = None
        if self.checkpointer is not None:
            self.checkpointer.stop()
            self.checkpointer = None
        if self._reader is not None:
            self._reader.close()
            self._reader = None
        self._lock.close()
        self.close_sync()
